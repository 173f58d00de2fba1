"""ROUGE-L as an ``evaluate.Metric`` module: ``evaluate.load("src/clinsynth/evaluation/rouge.py")``.

``rouge_score``'s longest-common-subsequence F-measure (Porter stemming on, as evaluate's hub
``rouge`` does by default with ``use_stemmer=True``), averaged over prediction/reference pairs.
"""

from __future__ import annotations

import datasets
import evaluate


class RougeL(evaluate.Metric):
    def _info(self):
        return evaluate.MetricInfo(
            description="ROUGE-L F-measure (rouge-score), mean over prediction/reference pairs.",
            citation="Lin 2004, ROUGE: A Package for Automatic Evaluation of Summaries",
            inputs_description="predictions: list of str; references: list of str (one per prediction)",
            features=datasets.Features({"predictions": datasets.Value("string"), "references": datasets.Value("string")}),
        )

    def _compute(self, predictions, references, use_stemmer=True):
        from rouge_score import rouge_scorer

        scorer = rouge_scorer.RougeScorer(["rougeL"], use_stemmer=use_stemmer)
        scores = [scorer.score(ref, pred)["rougeL"].fmeasure for pred, ref in zip(predictions, references)]
        return {"rougeL": sum(scores) / len(scores) if scores else 0.0}
