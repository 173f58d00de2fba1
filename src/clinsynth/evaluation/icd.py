"""Multi-label ICD-10 classification metrics: hit@k and macro-F1, overall and on a code subset.

Inputs are per-note *rankings* (codes by descending score) plus the codes predicted at the threshold,
against each note's gold code set.

* ``hit@k`` (a note): 1 when any of the top-k ranked codes is a gold code, else 0; averaged over notes.
  On a subset of codes (the rare codes) only notes with a gold code in the subset count, and only hits on
  those gold codes.
* ``macro_f1``: per code, F1 of the predicted sets against the gold sets (over the evaluated notes),
  averaged over the codes of the gold sets (restricted to the subset when one is given). A gold code the
  model cannot predict (absent from its label space) counts with F1 0; predicted codes never in the gold
  sets are not averaged (they lower the precision of nothing) but are counted in ``predicted_codes``.
"""

from __future__ import annotations

import dataclasses
from collections.abc import Collection, Mapping, Sequence
from typing import Any

from clinsynth.errors import InputError
from clinsynth.params import ConfigError


class EvaluationError(InputError):
    """Rankings, predictions and gold sets are out of step."""


def hit_at_k(rankings: Sequence[Sequence[str]], gold: Sequence[Collection[str]], k: int) -> float:
    """Share of notes with a gold code among their top-``k`` ranked codes."""
    if len(rankings) != len(gold):
        raise EvaluationError(f"{len(rankings)} rankings for {len(gold)} gold sets; expected one per note")
    if k < 1:
        raise EvaluationError(f"k = {k}: expected k >= 1")
    if not gold:
        return 0.0
    return sum(bool(set(r[:k]) & set(g)) for r, g in zip(rankings, gold)) / len(gold)


def macro_f1(predicted: Sequence[Collection[str]], gold: Sequence[Collection[str]],
             codes: Collection[str] | None = None) -> float:
    """Mean over ``codes`` (default: every gold code) of the per-code F1 (0 when a code is never right)."""
    if len(predicted) != len(gold):
        raise EvaluationError(f"{len(predicted)} predicted sets for {len(gold)} gold sets")
    codes = sorted(set(codes) if codes is not None else {c for g in gold for c in g})
    if not codes:
        return 0.0
    total = 0.0
    for code in codes:
        tp = sum(code in p and code in g for p, g in zip(predicted, gold))
        fp = sum(code in p and code not in g for p, g in zip(predicted, gold))
        fn = sum(code not in p and code in g for p, g in zip(predicted, gold))
        total += 2 * tp / (2 * tp + fp + fn) if tp else 0.0
    return total / len(codes)


def evaluate(rankings: Sequence[Sequence[str]], predicted: Sequence[Collection[str]],
             gold: Sequence[Collection[str]], ks: Sequence[int] = (1, 3, 5),
             subset: Collection[str] | None = None) -> dict[str, Any]:
    """``{"notes", "codes", "hit@k"..., "macro_f1"}`` on every note, or only on notes with a ``subset`` gold code
    (gold sets then cut to the subset)."""
    if not len(rankings) == len(predicted) == len(gold):
        raise EvaluationError(f"{len(rankings)} rankings, {len(predicted)} predictions, {len(gold)} gold sets")
    rows = list(zip(rankings, predicted, gold))
    if subset is not None:
        keep = set(subset)
        rows = [(r, p, set(g) & keep) for r, p, g in rows if set(g) & keep]
    r_, p_, g_ = ([row[i] for row in rows] for i in range(3))
    codes = {c for g in g_ for c in g}
    out: dict[str, Any] = {"notes": len(rows), "codes": len(codes)}
    for k in ks:
        out[f"hit@{k}"] = hit_at_k(r_, g_, k)
    out["macro_f1"] = macro_f1(p_, g_, codes)
    return out


def rare_codes(train_counts: dict[str, int], gold: Sequence[Collection[str]], max_train_notes: int) -> set[str]:
    """Gold codes with at most ``max_train_notes`` real train notes (0 included: codes never seen in train)."""
    return {c for g in gold for c in g if train_counts.get(c, 0) <= max_train_notes}


def round_metrics(obj: Any, digits: int = 4) -> Any:
    if isinstance(obj, float):
        return round(obj, digits)
    if isinstance(obj, dict):
        return {k: round_metrics(v, digits) for k, v in obj.items()}
    if isinstance(obj, (list, tuple)):
        return [round_metrics(v, digits) for v in obj]
    return obj


# ---- per-variant results side by side (stage evaluate_kg_notes) -------------------------------------
@dataclasses.dataclass(frozen=True)
class EvaluateKgNotesConfig:
    results_dir: str  # train_icd's per-variant files
    variants: list[str]
    upsampled: list[str]  # the variants whose corpus includes the upsample (rare-code) draws
    quality: str  # kg_notes_corpora's metrics (symptom usage per variant)
    out: str

    def __post_init__(self) -> None:
        unknown = sorted(set(self.upsampled) - set(self.variants))
        if unknown:
            raise ConfigError(f"params.yaml evaluate_kg_notes.upsampled {unknown}: not in evaluate_kg_notes.variants "
                              f"{self.variants}")


def arm_name(variant: str, upsampled: list[str]) -> str:
    return f"real+synthetic(upsampled rare codes)[{variant}]" if variant in upsampled else f"real+synthetic[{variant}]"


def side_by_side(results: dict[str, dict], upsampled: list[str]) -> dict:
    """``{model: {subset: {arm: metrics + synthetic_notes}}}`` with ``real`` first (results: variant -> train_icd file)."""
    table: dict = {}
    for variant, result in results.items():
        for model, subsets in result["augmented"].items():
            for subset, metrics in subsets.items():
                rows = table.setdefault(model, {}).setdefault(subset, {})
                rows.setdefault("real", {**result["baseline"][model][subset], "synthetic_notes": 0})
                rows[arm_name(variant, upsampled)] = {**metrics, "synthetic_notes": result["synthetic_notes"]}
    return table


def kg_notes_table(results: dict[str, dict], quality: Mapping[str, Any], upsampled: list[str]) -> dict:
    """metrics/icd.json: train_icd's ``results`` (variant -> file) under ``icd.<arm>.<variant>``, each variant's
    synthetic note count and mean symptom usage (``quality``: kg_notes_corpora's ``variants``), the shared
    note counts, and the :func:`side_by_side` table under ``arms``."""
    table: dict = {"icd": {"baseline": {}, "augmented": {}}, "symptom_usage_mean": {}, "synthetic_notes": {}}
    for variant, result in results.items():
        for arm in ("baseline", "augmented"):
            table["icd"][arm][variant] = result[arm]
        table["synthetic_notes"][variant] = result["synthetic_notes"]
        table["symptom_usage_mean"][variant] = quality[variant]["symptom_usage"]["mean"]
        table |= {"test_notes": result["test_notes"], "train_notes": result["train_notes"], "rare_codes": result["rare_codes"]}
    table["arms"] = side_by_side(results, upsampled)
    return table
