"""Metrics as tables: flattening, baseline-vs-augmented pairs, and which direction is better.

A metrics file is any JSON value. Flattened, every number gets a dotted key (``ner.baseline.f1``; list items
by index). Two keys that differ only in one component, ``baseline`` in one and ``augmented`` in the other,
form a :class:`Comparison` named by the key without that component (``ner.f1``). So a recipe that writes
``{"icd": {"baseline": {...}, "augmented": {...}}}`` gets its comparison table with no report code.
"""

from __future__ import annotations

import dataclasses
from typing import Any

BASELINE, AUGMENTED = "baseline", "augmented"
# A metric whose dotted key contains one of these (case-insensitive) improves when it goes down.
DEFAULT_LOWER_IS_BETTER = ("loss", "perplexity", "ppl", "nll", "error", "oov", "wer", "distance")


def is_number(value: Any) -> bool:
    return isinstance(value, (int, float)) and not isinstance(value, bool)


def flatten(obj: Any, prefix: str = "") -> dict[str, float]:
    """Every number in ``obj`` by dotted key, in document order (booleans, strings and nulls are skipped)."""
    if is_number(obj):
        return {prefix: obj} if prefix else {"value": obj}
    items = obj.items() if isinstance(obj, dict) else enumerate(obj) if isinstance(obj, list) else ()
    flat: dict[str, float] = {}
    for key, value in items:
        flat.update(flatten(value, f"{prefix}.{key}" if prefix else str(key)))
    return flat


@dataclasses.dataclass(frozen=True)
class Comparison:
    metric: str  # the dotted key without its baseline/augmented component
    baseline_key: str
    augmented_key: str
    baseline: float
    augmented: float
    is_lower_better: bool

    @property
    def delta(self) -> float:
        return self.augmented - self.baseline

    @property
    def relative(self) -> float | None:
        return self.delta / abs(self.baseline) if self.baseline else None

    @property
    def verdict(self) -> str:
        """``better``, ``worse`` or ``same`` for the augmented run."""
        if self.delta == 0:
            return "same"
        return "better" if (self.delta < 0) == self.is_lower_better else "worse"


def is_lower_better(key: str, patterns: tuple[str, ...] | list[str] = DEFAULT_LOWER_IS_BETTER) -> bool:
    return any(p.lower() in key.lower() for p in patterns)


def pair_comparisons(flat: dict[str, float], lower_is_better: tuple[str, ...] | list[str] = DEFAULT_LOWER_IS_BETTER
                     ) -> list[Comparison]:
    """Pairs of keys differing only by a ``baseline``/``augmented`` component, in the order of the baseline keys."""
    pairs = []
    for key, value in flat.items():
        parts = key.split(".")
        for i, part in enumerate(parts):
            if part != BASELINE:
                continue
            other = ".".join([*parts[:i], AUGMENTED, *parts[i + 1 :]])
            if other in flat:
                metric = ".".join(parts[:i] + parts[i + 1 :]) or key
                pairs.append(Comparison(metric, key, other, value, flat[other], is_lower_better(metric, lower_is_better)))
    return pairs


def unpaired(flat: dict[str, float], comparisons: list[Comparison]) -> dict[str, float]:
    """The numbers that are in no comparison (shown in a plain table)."""
    used = {k for c in comparisons for k in (c.baseline_key, c.augmented_key)}
    return {k: v for k, v in flat.items() if k not in used}


def as_matrix(obj: Any) -> tuple[list[str], list[str]] | None:
    """``(rows, columns)`` when ``obj`` is a mapping of at least two rows, each a mapping of scalars sharing
    keys (``{"real": {"ppl": 21.1, ...}, "real+rephrase": {...}}``); else None. Columns in first-seen order."""
    if not isinstance(obj, dict) or len(obj) < 2 or not all(isinstance(v, dict) and v for v in obj.values()):
        return None
    columns: list[str] = []
    for row in obj.values():
        if any(isinstance(v, (dict, list)) for v in row.values()):
            return None
        columns.extend(k for k in row if k not in columns)
    return list(obj), columns
