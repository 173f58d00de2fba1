"""Relation extraction as a logistic regression over candidate entity pairs within a sentence window.

Candidates: every (``arg1_label`` entity, ``arg2_label`` entity) pair of a document whose sentences are at
most ``window`` apart; a candidate is positive when the document has ``label(Arg1, Arg2)`` on that pair.
Features are binary strings (docs/brat_augment.md): both mentions' texts and words, the drug's lead word
crossed with the condition's text and words (what the drug treats is mostly lexical knowledge), the
sentence distance bucket, the order, and whether the condition mention is the nearest one of its text.

Why not a neural RE head: on CPU the two NER fine-tunings already take the budget, and in the templated
demo notes the relation is never stated in a sentence (drugs and conditions sit in separate sections),
so what can be learnt is drug-condition association and proximity, which a linear model learns exactly
and deterministically. The model is saved as JSON (feature -> weight), not a pickle.
"""

from __future__ import annotations

import dataclasses
import json
import math
import re
from collections.abc import Callable, Sequence
from pathlib import Path
from typing import Any

from clinsynth.brat import Document, Entity, Relation
from clinsynth.errors import InputError
from clinsynth.params import Fraction, NonNegativeInt, PositiveFloat, PositiveInt

Span = tuple[int, int]
_WORD = re.compile(r"[a-z][a-z\-]+")


@dataclasses.dataclass(frozen=True)
class RelationConfig:
    label: str = "Treats"
    arg1_label: str = "Medication"
    arg2_label: str = "Condition"
    window: NonNegativeInt = 12  # sentences between the two mentions of a candidate
    c: PositiveFloat = 1.0  # inverse L2 regularisation strength
    threshold: Fraction = 0.5  # P(relation) at or above which a candidate becomes a relation
    max_iter: PositiveInt = 1000


@dataclasses.dataclass(frozen=True)
class Candidate:
    doc_id: str
    arg1: str
    arg2: str
    features: tuple[str, ...]
    positive: bool


@dataclasses.dataclass(frozen=True)
class RelationModel:
    weights: dict[str, float]
    bias: float
    config: RelationConfig

    def probability(self, features: Sequence[str]) -> float:
        z = self.bias + sum(self.weights.get(f, 0.0) for f in features)
        return 1.0 / (1.0 + math.exp(-z))


def _sentence(sentences: Sequence[Span], position: int) -> int:
    return max((i for i, (s, _) in enumerate(sentences) if s <= position), default=0)


def _bucket(distance: int) -> str:
    return next(name for limit, name in ((0, "0"), (1, "1"), (2, "2"), (5, "3-5"), (9, "6-9")) if distance <= limit) \
        if distance <= 9 else "10+"


def pair_features(a1: Entity, a2: Entity, distance: int, is_nearest: bool) -> tuple[str, ...]:
    t1, t2 = a1.text.lower(), a2.text.lower()
    w1, w2 = _WORD.findall(t1), _WORD.findall(t2)
    head = w1[0] if w1 else t1
    features = {f"a1={t1}", f"a2={t2}", f"head|a2={head}|{t2}", f"dist={_bucket(distance)}",
                f"order={'a1_first' if a1.start < a2.start else 'a2_first'}", f"nearest={is_nearest}",
                f"nearest|dist={is_nearest}|{_bucket(distance)}"}
    features |= {f"a1w={w}" for w in w1} | {f"a2w={w}" for w in w2} | {f"head|a2w={head}|{w}" for w in w2}
    return tuple(sorted(features))


def candidates(document: Document, sentences: Sequence[Span], cfg: RelationConfig) -> list[Candidate]:
    """Every candidate pair of ``document`` in the window, labelled by the document's relations."""
    sentence = {e.id: _sentence(sentences, e.start) for e in document.entities}
    gold = {(r.arg1, r.arg2) for r in document.relations if r.label == cfg.label}
    firsts = [e for e in document.entities if e.label == cfg.arg1_label]
    seconds = [e for e in document.entities if e.label == cfg.arg2_label]
    out = []
    for a1 in firsts:
        nearest: dict[str, tuple[int, int]] = {}
        for a2 in seconds:
            key = (abs(sentence[a2.id] - sentence[a1.id]), a2.start)
            nearest[a2.text.lower()] = min(nearest.get(a2.text.lower(), key), key)
        for a2 in seconds:
            distance = abs(sentence[a2.id] - sentence[a1.id])
            if distance > cfg.window:
                continue
            is_nearest = nearest[a2.text.lower()] == (distance, a2.start)
            out.append(Candidate(document.id, a1.id, a2.id, pair_features(a1, a2, distance, is_nearest),
                                 (a1.id, a2.id) in gold))
    return out


def all_candidates(documents: Sequence[Document], split_sentences: Callable[[str], list[Span]],
                   cfg: RelationConfig) -> list[Candidate]:
    return [c for d in documents for c in candidates(d, split_sentences(d.text), cfg)]


def train_relations(examples: Sequence[Candidate], cfg: RelationConfig, seed: int) -> RelationModel:
    """Fit the logistic regression (liblinear: deterministic for a seed) on labelled candidates."""
    import numpy as np
    from scipy.sparse import csr_matrix
    from sklearn.linear_model import LogisticRegression

    labels = [c.positive for c in examples]
    if len(set(labels)) < 2:
        raise InputError(f"train_relations: {len(examples)} candidates, all {'positive' if any(labels) else 'negative'}; "
                         f"expected both classes (is relation window {cfg.window} too small?)")
    names = sorted({f for c in examples for f in c.features})
    column = {name: i for i, name in enumerate(names)}
    # binary features as a CSR matrix with int32 indices (liblinear refuses int64 ones)
    indices = np.array([column[f] for c in examples for f in c.features], dtype=np.int32)
    indptr = np.cumsum([0] + [len(c.features) for c in examples], dtype=np.int32)
    x = csr_matrix((np.ones(len(indices)), indices, indptr), shape=(len(examples), len(names)))
    classifier = LogisticRegression(C=cfg.c, solver="liblinear", max_iter=cfg.max_iter, random_state=seed)
    classifier.fit(x, labels)
    weights = {name: float(w) for name, w in zip(names, classifier.coef_[0]) if w != 0.0}
    return RelationModel(weights, float(classifier.intercept_[0]), cfg)


def predict_relations(model: RelationModel, documents: Sequence[Document],
                      split_sentences: Callable[[str], list[Span]]) -> list[Document]:
    """Each document with its relations replaced by the predicted ones (ids ``R1..``)."""
    out = []
    for d in documents:
        found = [c for c in candidates(d, split_sentences(d.text), model.config)
                 if model.probability(c.features) >= model.config.threshold]
        relations = tuple(Relation(f"R{i}", model.config.label, c.arg1, c.arg2) for i, c in enumerate(found, start=1))
        out.append(dataclasses.replace(d, relations=relations))
    return out


def save_relations(model: RelationModel, path: Path | str, meta: dict[str, Any]) -> None:
    data = {"bias": model.bias, "config": dataclasses.asdict(model.config), "weights": model.weights, **meta}
    Path(path).parent.mkdir(parents=True, exist_ok=True)
    Path(path).write_text(json.dumps(data, sort_keys=True, indent=1) + "\n", encoding="utf-8")


def load_relations(path: Path | str) -> RelationModel:
    data = json.loads(Path(path).read_text(encoding="utf-8"))
    return RelationModel(data["weights"], data["bias"], RelationConfig(**data["config"]))


def add_new_candidates(base: Sequence[Candidate], extra: Sequence[Candidate]) -> tuple[list[Candidate], int]:
    """``base`` plus the candidates of ``extra`` whose (features, label) is new; returns (candidates, number added)."""
    seen = {(c.features, c.positive) for c in base}
    added = []
    for c in extra:
        if (c.features, c.positive) not in seen:
            seen.add((c.features, c.positive))
            added.append(c)
    return [*base, *added], len(added)
