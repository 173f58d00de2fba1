"""ICD-10 hit@k (and macro-F1) as an ``evaluate.Metric`` module: ``evaluate.load("src/clinsynth/evaluation/icd_hits.py")``.

The figures are :func:`clinsynth.evaluation.icd.evaluate`'s (the ones ``evaluate_kg_notes`` reports); this file
only adapts the inputs. One row per note:

* ``predictions``: the note's codes ranked by descending score (``["I10", "E11.9", ...]``);
* ``references``: the note's gold codes (a set, written as a list).

Keyword arguments: ``ks`` (default ``(1, 3, 5)``); ``predicted`` (per note, the codes predicted at the
threshold) adds ``macro_f1``; ``subset`` (codes, e.g. the rare ones) scores only the notes with a gold code
in it, on those codes. Returns ``{"notes", "codes", "hit@k"..., ["macro_f1"]}``.
"""

from __future__ import annotations

import datasets
import evaluate

from clinsynth.evaluation import icd


class IcdHits(evaluate.Metric):
    def _info(self):
        return evaluate.MetricInfo(
            description="Multi-label ICD-10 hit@k (a note hits when a top-k code is gold), mean over notes; "
                        "macro-F1 over the gold codes when the thresholded predictions are given.",
            citation="clinsynth (src/clinsynth/evaluation/icd.py)",
            inputs_description="predictions: per note, list of str (codes best first); references: per note, "
                               "list of str (gold codes). kwargs: ks, predicted (list of lists of str), subset.",
            features=datasets.Features({"predictions": datasets.List(datasets.Value("string")),
                                        "references": datasets.List(datasets.Value("string"))}),
        )

    def _compute(self, predictions, references, ks=(1, 3, 5), predicted=None, subset=None):
        out = icd.evaluate(predictions, predicted if predicted is not None else [[] for _ in references],
                           references, ks=ks, subset=subset)
        if predicted is None:
            del out["macro_f1"]
        return out
