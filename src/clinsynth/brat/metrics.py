"""Entity and relation precision / recall / F1 over BRAT documents (gold vs predicted, paired by id).

- strict entity match: same label and the same spans (every fragment, exactly);
- lenient entity match: same label and any overlap between a fragment of each; matching is one-to-one
  (exact pairs first, then overlaps greedily in text order), so tp + fn = gold and tp + fp = predicted;
- relation match (strict): same relation label and, for both arguments, the same spans (argument
  roles in order; an argument that is an event is taken at its trigger's spans).

Counts are micro-averaged over all documents; ``per_label`` gives the same per label. A score with an
empty denominator is 0.0.
"""

from __future__ import annotations

import dataclasses
from collections import Counter, defaultdict
from collections.abc import Collection, Iterable, Sequence
from typing import Any, Literal

from clinsynth.brat.model import Document, Entity, Span

Mode = Literal["strict", "lenient"]


@dataclasses.dataclass(frozen=True)
class PRF:
    tp: int = 0
    fp: int = 0
    fn: int = 0

    @property
    def precision(self) -> float:
        return self.tp / (self.tp + self.fp) if self.tp + self.fp else 0.0

    @property
    def recall(self) -> float:
        return self.tp / (self.tp + self.fn) if self.tp + self.fn else 0.0

    @property
    def f1(self) -> float:
        p, r = self.precision, self.recall
        return 2 * p * r / (p + r) if p + r else 0.0

    def __add__(self, other: PRF) -> PRF:
        return PRF(self.tp + other.tp, self.fp + other.fp, self.fn + other.fn)

    def to_dict(self) -> dict[str, Any]:
        return {"tp": self.tp, "fp": self.fp, "fn": self.fn,
                "precision": self.precision, "recall": self.recall, "f1": self.f1}


@dataclasses.dataclass(frozen=True)
class Scores:
    micro: PRF
    per_label: dict[str, PRF]

    def to_dict(self) -> dict[str, Any]:
        return {"micro": self.micro.to_dict(), "per_label": {k: v.to_dict() for k, v in self.per_label.items()}}


def pair_documents(gold: Sequence[Document], pred: Sequence[Document]) -> list[tuple[Document, Document]]:
    """Gold and predicted documents paired by id; ValueError when the id sets differ."""
    by_id = {d.id: d for d in pred}
    missing, extra = sorted({d.id for d in gold} - set(by_id)), sorted(set(by_id) - {d.id for d in gold})
    if missing or extra:
        raise ValueError(f"gold and predicted documents differ: missing predictions {missing[:5]}, "
                         f"predictions without gold {extra[:5]}; expected the same document ids")
    return [(d, by_id[d.id]) for d in gold]


def score_entities(gold: Sequence[Document], pred: Sequence[Document], mode: Mode = "strict",
                   labels: Collection[str] | None = None) -> Scores:
    """Entity P/R/F1, ``mode`` strict or lenient (see the module docstring); ``labels`` restricts the labels."""
    if mode not in ("strict", "lenient"):
        raise ValueError(f"mode={mode!r}; expected 'strict' or 'lenient'")
    per_label: dict[str, PRF] = defaultdict(PRF)
    for g, p in pair_documents(gold, pred):
        for label in sorted({e.label for e in (*g.entities, *p.entities)}):
            if labels is not None and label not in labels:
                continue
            g_spans = [e.spans for e in g.entities if e.label == label]
            p_spans = [e.spans for e in p.entities if e.label == label]
            tp = _count_exact(g_spans, p_spans) if mode == "strict" else _count_lenient(g_spans, p_spans)
            per_label[label] += PRF(tp, len(p_spans) - tp, len(g_spans) - tp)
    return _scores(per_label)


def score_relations(gold: Sequence[Document], pred: Sequence[Document],
                    labels: Collection[str] | None = None) -> Scores:
    """Relation P/R/F1, strict on the relation label and both arguments' spans."""
    per_label: dict[str, PRF] = defaultdict(PRF)
    for g, p in pair_documents(gold, pred):
        g_keys, p_keys = _relation_keys(g), _relation_keys(p)
        for label in sorted({k[0] for k in (*g_keys, *p_keys)}):
            if labels is not None and label not in labels:
                continue
            g_label = [k for k in g_keys if k[0] == label]
            p_label = [k for k in p_keys if k[0] == label]
            tp = _count_exact(g_label, p_label)
            per_label[label] += PRF(tp, len(p_label) - tp, len(g_label) - tp)
    return _scores(per_label)


def _scores(per_label: dict[str, PRF]) -> Scores:
    ordered = dict(sorted(per_label.items()))
    return Scores(sum(ordered.values(), PRF()), ordered)


def _count_exact(gold: Iterable[Any], pred: Iterable[Any]) -> int:
    return sum((Counter(gold) & Counter(pred)).values())


def _overlaps(a: tuple[Span, ...], b: tuple[Span, ...]) -> bool:
    return any(s1 < e2 and s2 < e1 for s1, e1 in a for s2, e2 in b)


def _count_lenient(gold: list[tuple[Span, ...]], pred: list[tuple[Span, ...]]) -> int:
    left_gold, left_pred = Counter(gold), Counter(pred)
    exact = left_gold & left_pred
    left_gold.subtract(exact)
    left_pred.subtract(exact)
    remaining_pred = sorted(left_pred.elements())
    tp = sum(exact.values())
    for g in sorted(left_gold.elements()):
        for i, p in enumerate(remaining_pred):
            if _overlaps(g, p):
                del remaining_pred[i]
                tp += 1
                break
    return tp


def _relation_keys(document: Document) -> list[tuple[str, tuple[Span, ...], tuple[Span, ...]]]:
    entities: dict[str, Entity] = {e.id: e for e in document.entities}
    triggers = {ev.id: ev.trigger for ev in document.events}

    def spans(arg: str) -> tuple[Span, ...]:
        entity = entities.get(arg) or entities.get(triggers.get(arg, ""))
        if entity is None:
            raise ValueError(f"{document.id}: relation argument {arg!r} is neither an entity nor an event; "
                             f"expected a valid document (see clinsynth.brat.validation)")
        return entity.spans

    return [(r.label, spans(r.arg1), spans(r.arg2)) for r in document.relations]
