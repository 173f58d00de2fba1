"""NER (strict and lenient) and relation P/R/F1 over BRAT documents as an ``evaluate.Metric`` module:
``evaluate.load("src/clinsynth/evaluation/brat_prf.py")``.

The figures are :func:`clinsynth.brat.metrics.score_entities` (strict, lenient) and ``score_relations``'
(what ``evaluate_brat_augment`` reports: micro-averaged over documents); this file only turns the flat rows
into :class:`clinsynth.brat.model.Document` s. One row per document, predictions and references alike::

    {"entities": [{"label": "Drug", "start": 10, "end": 19}, ...],        # [start, end) character offsets
     "relations": [{"label": "Treats", "arg1": 0, "arg2": 1}, ...]}       # arg1/arg2: indices into entities

An entity is one continuous span here (for discontinuous ones call ``clinsynth.brat.metrics`` on Documents).
Keyword argument ``labels`` restricts the labels scored. Returns ``{strict,lenient,relation}_{precision,recall,
f1,tp,fp,fn}`` and ``{strict,lenient,relation}_per_label`` (label -> the same six figures).
"""

from __future__ import annotations

import datasets
import evaluate

from clinsynth.brat.metrics import score_entities, score_relations
from clinsynth.brat.model import Document, Entity, Relation

ENTITY = {"label": datasets.Value("string"), "start": datasets.Value("int64"), "end": datasets.Value("int64")}
RELATION = {"label": datasets.Value("string"), "arg1": datasets.Value("int64"), "arg2": datasets.Value("int64")}
DOCUMENT = {"entities": datasets.List(ENTITY), "relations": datasets.List(RELATION)}


def to_document(doc_id: str, row: dict) -> Document:
    """A flat row as a Document: entities ``T1..``, relations ``R1..`` pointing at them by index."""
    entities = []
    for i, e in enumerate(row["entities"]):
        if not 0 <= e["start"] <= e["end"]:
            raise ValueError(f"document {doc_id}: entity {i} {e!r} has start > end or a negative offset; "
                             f"expected 0 <= start <= end")
        entities.append(Entity(f"T{i + 1}", e["label"], ((e["start"], e["end"]),), ""))
    relations = []
    for i, r in enumerate(row["relations"]):
        bad = [a for a in (r["arg1"], r["arg2"]) if not 0 <= a < len(entities)]
        if bad:
            raise ValueError(f"document {doc_id}: relation {i} {r!r} points at entity {bad[0]}; expected an index "
                             f"into its {len(entities)} entities")
        relations.append(Relation(f"R{i + 1}", r["label"], f"T{r['arg1'] + 1}", f"T{r['arg2'] + 1}"))
    return Document(doc_id, "", tuple(entities), tuple(relations))


class BratPRF(evaluate.Metric):
    def _info(self):
        return evaluate.MetricInfo(
            description="Entity (strict: same label and span; lenient: same label, overlapping, one-to-one) and "
                        "relation (label and both argument spans) precision/recall/F1, micro over documents.",
            citation="clinsynth (src/clinsynth/brat/metrics.py)",
            inputs_description="predictions, references: per document, {entities: [{label, start, end}], "
                               "relations: [{label, arg1, arg2}]} (args index the entities). kwargs: labels.",
            features=datasets.Features({"predictions": DOCUMENT, "references": DOCUMENT}),
        )

    def _compute(self, predictions, references, labels=None):
        gold = [to_document(str(i), row) for i, row in enumerate(references)]
        pred = [to_document(str(i), row) for i, row in enumerate(predictions)]
        out = {}
        for kind, scores in (("strict", score_entities(gold, pred, "strict", labels)),
                             ("lenient", score_entities(gold, pred, "lenient", labels)),
                             ("relation", score_relations(gold, pred, labels))):
            figures = scores.to_dict()
            out.update({f"{kind}_{k}": v for k, v in figures["micro"].items()})
            out[f"{kind}_per_label"] = figures["per_label"]
        return out
