"""Task 1, resource relevance: (question, flattened resource) pairs, a lexical baseline, P/R/F1.

Pairs come from templated questions: up to ``max_positives`` gold resources per question and
``negatives_per_positive`` negatives from the same patient's other resources (at least that many for
a question with no gold resource), a ``hard_fraction`` of them of the same resource type as the gold
(Procedure for "No" questions). A resource sharing a code with a gold resource is never a negative:
"Body Weight 2015" and "Body Weight 2019" are equally relevant to a question about body weight.
"""

from __future__ import annotations

import dataclasses
import random
import re
from collections.abc import Iterable, Sequence

from clinsynth.fhir.flatten import Resource
from clinsynth.fhir.templated import Question, TemplateConfig

TOKEN = re.compile(r"[a-z0-9]+")
STOPWORDS = frozenset(
    "a an and any are as at be been by did do does for from had has have in is it its last of on or the "
    "patient recorded taking that this to was were what when which with".split())


@dataclasses.dataclass(frozen=True)
class Pair:
    question_id: str
    resource_id: str
    question: str
    text: str  # the flattened resource
    label: int  # 1 relevant, 0 not


@dataclasses.dataclass(frozen=True)
class PairConfig:
    max_positives: int = 8
    negatives_per_positive: int = 3
    hard_fraction: float = 0.5


def make_pairs(questions: Sequence[Question], patients: dict[str, list[Resource]], cfg: PairConfig, seed: int) -> list[Pair]:
    """Labelled pairs for each question (seeded per question id, so adding a question changes no other)."""
    pairs = []
    for q in questions:
        rng = random.Random(f"{seed}:{q.id}")
        resources = patients[q.patient_id]
        by_id = {r.id: r for r in resources}
        gold = [by_id[i] for i in q.resource_ids]
        positives = sorted(rng.sample(gold, min(cfg.max_positives, len(gold))), key=lambda r: r.id)
        codes = {r.code for r in gold if r.code}
        pool = [r for r in resources if r.id not in set(q.resource_ids) and r.code not in codes]
        n_neg = cfg.negatives_per_positive * max(len(positives), 1)
        kinds = {r.type for r in gold} or {"Procedure"}
        hard = [r for r in pool if r.type in kinds]
        n_hard = min(len(hard), round(n_neg * cfg.hard_fraction))
        chosen = rng.sample(hard, n_hard)
        taken = {r.id for r in chosen}
        easy = [r for r in pool if r.id not in taken]
        chosen += rng.sample(easy, min(len(easy), n_neg - n_hard))
        pairs += [Pair(q.id, r.id, q.question, r.text, 1) for r in positives]
        pairs += [Pair(q.id, r.id, q.question, r.text, 0) for r in sorted(chosen, key=lambda r: r.id)]
    return pairs


def tokens(text: str) -> set[str]:
    return {t for t in TOKEN.findall(text.lower()) if t not in STOPWORDS}


def overlap_score(question: str, text: str) -> float:
    """Share of the question's content words found in the resource text (0 when the question has none)."""
    q = tokens(question)
    return len(q & tokens(text)) / len(q) if q else 0.0


def prf(labels: Sequence[int], predicted: Sequence[int]) -> dict[str, float | int]:
    """Precision/recall/F1 of the positive class, rounded to 4 decimals, with the counts."""
    tp = sum(1 for y, p in zip(labels, predicted) if y and p)
    fp = sum(1 for y, p in zip(labels, predicted) if not y and p)
    fn = sum(1 for y, p in zip(labels, predicted) if y and not p)
    precision = tp / (tp + fp) if tp + fp else 0.0
    recall = tp / (tp + fn) if tp + fn else 0.0
    f1 = 2 * precision * recall / (precision + recall) if precision + recall else 0.0
    return {"precision": round(precision, 4), "recall": round(recall, 4), "f1": round(f1, 4), "tp": tp, "fp": fp, "fn": fn}


def best_threshold(scores: Sequence[float], labels: Sequence[int]) -> float:
    """The score threshold (predict relevant when score >= t) with the highest F1; ties -> lower t."""
    best_t, best_f1 = 1.0, -1.0
    for t in sorted(set(scores)):
        f1 = prf(labels, [int(s >= t) for s in scores])["f1"]
        if f1 > best_f1:
            best_t, best_f1 = t, f1
    return best_t


def pair_counts(pairs: Iterable[Pair]) -> dict[str, int]:
    pairs = list(pairs)
    return {"pairs": len(pairs), "positive": sum(p.label for p in pairs)}


def relevance_report(test: Sequence[Pair], test_scores: Sequence[float], dev: Sequence[Pair],
                     dev_scores: Sequence[float], templates: dict[str, str], default_threshold: float = 0.5) -> dict:
    """Model vs lexical overlap on the test pairs, each at the threshold with the best F1 on the dev pairs
    (patients of neither train nor test); the model also at ``default_threshold``.

    ``templates`` maps question id -> template name for the per-template F1 breakdown.
    """
    labels, dev_labels = [p.label for p in test], [p.label for p in dev]
    lexical = [overlap_score(p.question, p.text) for p in test]
    thresholds = {"model": best_threshold(dev_scores, dev_labels),
                  "lexical_baseline": best_threshold([overlap_score(p.question, p.text) for p in dev], dev_labels)}
    predicted = {"model": [int(s >= thresholds["model"]) for s in test_scores],
                 "model_default_threshold": [int(s >= default_threshold) for s in test_scores],
                 "lexical_baseline": [int(s >= thresholds["lexical_baseline"]) for s in lexical]}
    thresholds["model_default_threshold"] = default_threshold
    by_template = {}
    for name in sorted(set(templates.values())):
        idx = [i for i, p in enumerate(test) if templates.get(p.question_id) == name]
        by_template[name] = {k: prf([labels[i] for i in idx], [v[i] for i in idx])["f1"] for k, v in predicted.items()}
    report = {k: {**prf(labels, v), "threshold": round(thresholds[k], 4)} for k, v in predicted.items()}
    return {**report, "f1_by_template": by_template}


def shortlist(question: str, resources: Sequence[Resource], n: int) -> list[Resource]:
    """The ``n`` resources with the highest lexical overlap with ``question`` (ties: by id): the candidates a
    cross-encoder scores end to end, since scoring a whole record (~2,000 resources) per question is too slow."""
    return sorted(resources, key=lambda r: (-overlap_score(question, r.text), r.id))[:n]


def select_predicted(scored: Sequence[tuple[str, float]], threshold: float, top_k: int) -> list[str]:
    """Ids with P(relevant) >= ``threshold``, most probable first, at most ``top_k``."""
    kept = sorted((x for x in scored if x[1] >= threshold), key=lambda x: (-x[1], x[0]))
    return [i for i, _ in kept[:top_k]]


def set_prf(gold: dict[str, Sequence[str]], predicted: dict[str, Sequence[str]]) -> dict[str, float | int]:
    """Micro P/R/F1 of predicted resource sets against gold sets, over the questions of ``gold``."""
    tp = sum(len(set(gold[q]) & set(predicted.get(q, []))) for q in gold)
    fp = sum(len(set(predicted.get(q, [])) - set(gold[q])) for q in gold)
    fn = sum(len(set(gold[q]) - set(predicted.get(q, []))) for q in gold)
    labels = [1] * (tp + fn) + [0] * fp
    preds = [1] * tp + [0] * fn + [1] * fp
    return prf(labels, preds)


def sample_indices(n_total: int, n: int, seed: int) -> list[int]:
    """A seeded sample of ``n`` positions of ``range(n_total)``, in order; all when ``n`` is 0 or >= ``n_total``
    (the pairs a slow scorer, e.g. a causal LM's P(yes), is evaluated on)."""
    return sorted(random.Random(seed).sample(range(n_total), n)) if 0 < n < n_total else list(range(n_total))


@dataclasses.dataclass(frozen=True)
class FhirQaTestsetConfig:
    """``params.yaml: fhir_qa_testset``: templated questions and relevance pairs per split."""

    resources: str  # input: fhir_ingest's output
    questions: TemplateConfig
    pairs: PairConfig
    out_dir: str  # qa_{split}.jsonl and pairs_{split}.jsonl
    splits: list[str]
