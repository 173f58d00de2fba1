"""Hard limits on a corpus's quality metrics: crossing one fails the stage, naming metric, value and limit.

Each limit is a key of ``postprocess`` in params.yaml (None disables it); a recipe may override any of them
in ``postprocess.recipes.<R>.limits``. A metric that was not computed (None, e.g. a skipped membership
audit) is not checked and is reported as such.
"""

from __future__ import annotations

import dataclasses
from collections.abc import Mapping
from typing import Any, Literal

from clinsynth.errors import InputError
from clinsynth.params import ConfigError


class QualityGateError(InputError, RuntimeError):
    """A synthetic corpus crossed a hard quality limit; the message names metric, value, limit and param."""


# limit key -> (metric path in metrics/quality_R.json, kind)
LIMIT_METRICS: dict[str, tuple[str, Literal["max", "min"]]] = {
    "max_degenerate_fraction": ("degeneracy.dropped_fraction", "max"),
    "max_check_dropped_fraction": ("checks.dropped_fraction", "max"),
    "max_dropped_fraction": ("leakage.dropped_fraction", "max"),
    "max_duplicate_fraction": ("dedup.dropped_fraction", "max"),
    "min_kept_fraction": ("counts.kept_fraction", "min"),
    "min_distinct_2": ("diversity.distinct_2", "min"),
    "max_self_bleu": ("diversity.self_bleu", "max"),
    "min_distinct_2_ratio": ("diversity.distinct_2_ratio", "min"),
    "max_self_bleu_gap": ("diversity.self_bleu_gap", "max"),
    "max_membership_auc": ("membership.auc", "max"),
}


@dataclasses.dataclass(frozen=True)
class Limit:
    key: str  # e.g. "max_dropped_fraction"
    value: float | None  # None: disabled
    param: str  # where it was set, e.g. "postprocess.max_dropped_fraction"


def resolve_limits(defaults: Mapping[str, float | None], overrides: Mapping[str, float | None],
                   recipe: str) -> list[Limit]:
    """The limits in force for ``recipe``: ``postprocess.<key>`` unless ``postprocess.recipes.<R>.limits`` has it."""
    unknown = sorted(set(overrides) - set(LIMIT_METRICS))
    if unknown:
        raise ConfigError(f"params.yaml: postprocess.recipes.{recipe}.limits: unknown key {unknown[0]!r}; "
                          f"valid keys: {', '.join(sorted(LIMIT_METRICS))}")
    limits = []
    for key in LIMIT_METRICS:
        if key in overrides:
            limits.append(Limit(key, overrides[key], f"postprocess.recipes.{recipe}.limits.{key}"))
        else:
            limits.append(Limit(key, defaults[key], f"postprocess.{key}"))
    return limits


def metric_at(metrics: Mapping[str, Any], path: str) -> Any:
    value: Any = metrics
    for part in path.split("."):
        value = value.get(part) if isinstance(value, Mapping) else None
    return value


def _fmt(x: float) -> str:
    return str(round(float(x), 4))


def evaluate_limits(metrics: Mapping[str, Any], limits: list[Limit], recipe: str) -> tuple[dict[str, Any], list[str]]:
    """(a report per limit for the metrics file, failure messages). ``metrics`` is read, not changed."""
    report, failures = {}, []
    for limit in limits:
        path, kind = LIMIT_METRICS[limit.key]
        value = metric_at(metrics, path)
        entry = {"metric": path, "value": value, "limit": limit.value, "param": limit.param}
        if limit.value is None or value is None:
            report[limit.key] = {**entry, "status": "disabled" if limit.value is None else "not_measured"}
            continue
        crossed = value > limit.value if kind == "max" else value < limit.value
        report[limit.key] = {**entry, "status": "failed" if crossed else "passed"}
        if crossed:
            op = ">" if kind == "max" else "<"
            failures.append(f"quality_{recipe}: {path} = {_fmt(value)} {op} {kind} {_fmt(limit.value)} ({limit.param})")
    return report, failures


def raise_on_failures(failures: list[str]) -> None:
    """Raise :class:`QualityGateError` with one line per crossed limit; nothing when all passed."""
    if failures:
        raise QualityGateError("\n".join(failures))
