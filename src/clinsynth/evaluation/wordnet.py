"""WordNet 3.0 for METEOR's synonym stage, without importing nltk, evaluate or datasets.

No wheel on the package index ships WordNet 3.0 data; Debian's ``wordnet-base`` + ``wordnet-sense-index``
do (/usr/share/wordnet, or ``$CLINSYNTH_WORDNET_SOURCE``). On first use the files are copied (nltk refuses
symlinks out of its data dir) into ``$CLINSYNTH_NLTK_DATA`` (default ``~/.cache/clinsynth/nltk_data``)
with the ``lexnames`` file Debian omits. :func:`missing_wordnet` is the cheap check the preflight uses:
it copies nothing.
"""

from __future__ import annotations

import os
import shutil
from pathlib import Path

DEFAULT_SOURCE = "/usr/share/wordnet"
DEBIAN_PACKAGES = ("wordnet-base", "wordnet-sense-index")
WORDNET_FILES = [f"{kind}.{pos}" for kind in ("data", "index") for pos in ("noun", "verb", "adj", "adv")] + [
    f"{pos}.exc" for pos in ("noun", "verb", "adj", "adv")] + ["index.sense", "cntlist.rev"]
# The 45 WordNet 3.0 lexicographer files: number, name, syntactic category (1 noun, 2 verb, 3 adj, 4 adv).
LEXNAMES = ["adj.all 3", "adj.pert 3", "adv.all 4"] + [f"noun.{n} 1" for n in (
    "Tops act animal artifact attribute body cognition communication event feeling food group location motive "
    "object person phenomenon plant possession process quantity relation shape state substance time").split()] + [
    f"verb.{n} 2" for n in (
        "body change cognition communication competition consumption contact creation emotion motion perception "
        "possession social stative weather").split()] + ["adj.ppl 3"]


def wordnet_source() -> Path:
    """Where Debian's WordNet files are read from (read at call time, so tests and users can repoint it)."""
    return Path(os.environ.get("CLINSYNTH_WORDNET_SOURCE", DEFAULT_SOURCE))


def nltk_data_dir() -> Path:
    default = Path(os.environ.get("XDG_CACHE_HOME", Path.home() / ".cache")) / "clinsynth" / "nltk_data"
    return Path(os.environ.get("CLINSYNTH_NLTK_DATA", default))


def missing_wordnet(target: Path | None = None, source: Path | None = None) -> list[str]:
    """Files ``source`` lacks, or [] when WordNet is usable (already copied into ``target``, or complete)."""
    target, source = target or nltk_data_dir(), source or wordnet_source()
    if (target / "corpora" / "wordnet" / "lexnames").exists():  # written last: the copy is complete
        return []
    return [name for name in WORDNET_FILES if not (source / name).is_file()]


def ensure_wordnet(target: Path | None = None, source: Path | None = None) -> Path:
    """Make WordNet 3.0 loadable by nltk (copying Debian's files once) and return the nltk data dir."""
    import nltk

    target, source = target or nltk_data_dir(), source or wordnet_source()
    wordnet = target / "corpora" / "wordnet"
    if not (wordnet / "lexnames").exists():
        missing = missing_wordnet(target, source)
        if missing:
            raise FileNotFoundError(f"WordNet for METEOR: {source} lacks {missing[:3]}; install the Debian packages "
                                    f"{' and '.join(DEBIAN_PACKAGES)} (or set CLINSYNTH_WORDNET_SOURCE)")
        wordnet.mkdir(parents=True, exist_ok=True)
        for name in WORDNET_FILES:
            shutil.copyfile(source / name, wordnet / name)
        lines = [f"{i:02d}\t{name}\t{pos}" for i, (name, pos) in enumerate(item.split() for item in LEXNAMES)]
        (wordnet / "lexnames").write_text("\n".join(lines) + "\n", encoding="utf-8")
    if str(target) not in nltk.data.path:
        nltk.data.path.insert(0, str(target))
    return target
