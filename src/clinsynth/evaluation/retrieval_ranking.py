"""Retrieval MRR, MAP and Recall@k as an ``evaluate.Metric`` module:
``evaluate.load("src/clinsynth/evaluation/retrieval_ranking.py")``.

The figures are :mod:`clinsynth.retrieval.metrics`' (``query_metrics`` per query, ``summarize`` over queries:
what ``evaluate_retrieval`` reports, rounded to 4 decimals); this file only adapts the inputs. One row per query:

* ``predictions``: the chunk (document) ids ranked best first, every candidate the query was searched over;
* ``references``: the relevant ids (a non-empty set, written as a list).

Keyword argument ``ks`` (default ``(1, 5, 10)``). Returns ``{"queries", "mrr", "map", "recall@k"...}``.
"""

from __future__ import annotations

import datasets
import evaluate

from clinsynth.retrieval import metrics


class RetrievalRanking(evaluate.Metric):
    def _info(self):
        return evaluate.MetricInfo(
            description="Mean reciprocal rank, mean average precision and recall@k over queries.",
            citation="clinsynth (src/clinsynth/retrieval/metrics.py)",
            inputs_description="predictions: per query, list of str (ids best first); references: per query, "
                               "list of str (the relevant ids, non-empty). kwargs: ks.",
            features=datasets.Features({"predictions": datasets.List(datasets.Value("string")),
                                        "references": datasets.List(datasets.Value("string"))}),
        )

    def _compute(self, predictions, references, ks=metrics.KS):
        return metrics.summarize([metrics.query_metrics(ranking, relevant, ks)
                                  for ranking, relevant in zip(predictions, references)])
