"""METEOR as an ``evaluate.Metric`` module: ``evaluate.load("src/clinsynth/evaluation/meteor.py")``.

Same computation as evaluate's hub ``meteor`` (which cannot be fetched offline): nltk's
``meteor_score`` per pair with alpha=0.9, beta=3, gamma=0.5, averaged over pairs. Tokenization is
``nltk.word_tokenize(text, preserve_line=True)`` (no punkt download). WordNet comes from Debian's
``wordnet-base`` + ``wordnet-sense-index`` (:mod:`clinsynth.evaluation.wordnet`, light enough for the
preflight check; ``make demo`` installs the packages). Check: evaluate's documented example scores 0.6944.
"""

from __future__ import annotations

import datasets
import evaluate

from clinsynth.evaluation.wordnet import LEXNAMES, WORDNET_FILES, ensure_wordnet, nltk_data_dir  # noqa: F401


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
