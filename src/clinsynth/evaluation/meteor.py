"""METEOR as an ``evaluate.Metric`` module: ``evaluate.load("src/clinsynth/evaluation/meteor.py")``.

Same computation as evaluate's hub ``meteor`` (which cannot be fetched offline): nltk's
``meteor_score`` per pair with alpha=0.9, beta=3, gamma=0.5, averaged over pairs. Tokenization is
``nltk.word_tokenize(text, preserve_line=True)`` (no punkt download). WordNet comes from Debian's
``wordnet-base`` + ``wordnet-sense-index`` (/usr/share/wordnet): on first use its files are copied
(nltk refuses symlinks out of its data dir) into ``$CLINSYNTH_NLTK_DATA`` (default
``~/.cache/clinsynth/nltk_data``) with the ``lexnames`` file Debian omits. Check: evaluate's documented
example scores 0.6944.
"""

from __future__ import annotations

import os
import shutil
from pathlib import Path

import datasets
import evaluate

WORDNET_SOURCE = Path(os.environ.get("CLINSYNTH_WORDNET_SOURCE", "/usr/share/wordnet"))
WORDNET_FILES = [f"{kind}.{pos}" for kind in ("data", "index") for pos in ("noun", "verb", "adj", "adv")] + [
    f"{pos}.exc" for pos in ("noun", "verb", "adj", "adv")] + ["index.sense", "cntlist.rev"]
# The 45 WordNet 3.0 lexicographer files: number, name, syntactic category (1 noun, 2 verb, 3 adj, 4 adv).
LEXNAMES = ["adj.all 3", "adj.pert 3", "adv.all 4"] + [f"noun.{n} 1" for n in (
    "Tops act animal artifact attribute body cognition communication event feeling food group location motive "
    "object person phenomenon plant possession process quantity relation shape state substance time").split()] + [
    f"verb.{n} 2" for n in (
        "body change cognition communication competition consumption contact creation emotion motion perception "
        "possession social stative weather").split()] + ["adj.ppl 3"]


def nltk_data_dir() -> Path:
    default = Path(os.environ.get("XDG_CACHE_HOME", Path.home() / ".cache")) / "clinsynth" / "nltk_data"
    return Path(os.environ.get("CLINSYNTH_NLTK_DATA", default))


def ensure_wordnet(target: Path | None = None, source: Path = WORDNET_SOURCE) -> Path:
    """Make WordNet 3.0 loadable by nltk (copying Debian's files once) and return the nltk data dir."""
    import nltk

    target = target or nltk_data_dir()
    wordnet = target / "corpora" / "wordnet"
    if not (wordnet / "lexnames").exists():
        missing = [name for name in WORDNET_FILES if not (source / name).is_file()]
        if missing:
            raise FileNotFoundError(f"WordNet for METEOR: {source} lacks {missing[:3]}; install the Debian packages "
                                    "wordnet-base and wordnet-sense-index (or set CLINSYNTH_WORDNET_SOURCE)")
        wordnet.mkdir(parents=True, exist_ok=True)
        for name in WORDNET_FILES:
            shutil.copyfile(source / name, wordnet / name)
        lines = [f"{i:02d}\t{name}\t{pos}" for i, (name, pos) in enumerate(item.split() for item in LEXNAMES)]
        (wordnet / "lexnames").write_text("\n".join(lines) + "\n", encoding="utf-8")
    if str(target) not in nltk.data.path:
        nltk.data.path.insert(0, str(target))
    return target


def tokenize(text: str) -> list[str]:
    import nltk

    return nltk.word_tokenize(text, preserve_line=True)


class Meteor(evaluate.Metric):
    def _info(self):
        return evaluate.MetricInfo(
            description="METEOR (nltk, WordNet 3.0 synonyms, Porter stems), mean over prediction/reference pairs.",
            citation="Banerjee & Lavie 2005, METEOR: An Automatic Metric for MT Evaluation",
            inputs_description="predictions: list of str; references: list of str (one per prediction)",
            features=datasets.Features({"predictions": datasets.Value("string"), "references": datasets.Value("string")}),
        )

    def _download_and_prepare(self, dl_manager):
        ensure_wordnet()

    def _compute(self, predictions, references, alpha=0.9, beta=3, gamma=0.5):
        from nltk.translate.meteor_score import meteor_score

        ensure_wordnet()
        scores = [meteor_score([tokenize(ref)], tokenize(pred), alpha=alpha, beta=beta, gamma=gamma)
                  for pred, ref in zip(predictions, references)]
        return {"meteor": sum(scores) / len(scores) if scores else 0.0}
