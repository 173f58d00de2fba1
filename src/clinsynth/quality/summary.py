"""Distributions for metrics files: percentiles and histogram buckets, not only a mean; stable rounding."""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

import numpy as np

PERCENTILES = (50, 90, 95, 99)


def bucket_label(lo: float, hi: float | None) -> str:
    return f"[{lo:g},{hi:g})" if hi is not None else f"[{lo:g},inf)"


def summarize(values: Sequence[float], edges: Sequence[float] | None = None) -> dict[str, Any]:
    """``{n, mean, p50, p90, p95, p99, max, histogram}``; histogram buckets are ``[edges[i], edges[i+1])``
    plus a last open bucket ``[edges[-1], inf)``; values below ``edges[0]`` are counted in the first bucket.
    Without ``edges`` there is no histogram.

    Percentiles use numpy's default (linear) interpolation; an empty input gives zeros.
    """
    if edges is None:
        return {k: v for k, v in summarize(values, [0.0]).items() if k != "histogram"}
    if list(edges) != sorted(set(edges)) or not edges:
        raise ValueError(f"histogram edges must be strictly increasing and non-empty, got {list(edges)}")
    arr = np.asarray(values, dtype=float)
    uppers = list(edges[1:]) + [None]
    labels = [bucket_label(lo, hi) for lo, hi in zip(edges, uppers)]
    if arr.size == 0:
        stats = {"n": 0, "mean": 0.0, "max": 0.0, **{f"p{p}": 0.0 for p in PERCENTILES}}
        return {**stats, "histogram": dict.fromkeys(labels, 0)}
    # index of the bucket holding each value: number of inner edges <= value
    which = np.searchsorted(np.asarray(edges[1:], dtype=float), arr, side="right")
    counts = np.bincount(which, minlength=len(labels))
    stats = {"n": int(arr.size), "mean": float(arr.mean()), "max": float(arr.max())}
    stats.update({f"p{p}": float(np.percentile(arr, p)) for p in PERCENTILES})
    return {**stats, "histogram": {label: int(c) for label, c in zip(labels, counts)}}


def round_floats(obj: Any, digits: int = 4) -> Any:
    """Round every float in a nested dict/list structure (metrics files must diff cleanly)."""
    if isinstance(obj, float):
        return round(obj, digits)
    if isinstance(obj, dict):
        return {k: round_floats(v, digits) for k, v in obj.items()}
    if isinstance(obj, (list, tuple)):
        return [round_floats(v, digits) for v in obj]
    return obj
