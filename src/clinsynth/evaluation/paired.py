"""Does the synthetic corpus help? A paired bootstrap over test items, seeds averaged inside each resample.

A comparison has two arms (``baseline``: real data only; ``augmented``: real + synthetic) trained with the
same seeds and scored on the same test items (documents, queries, questions, notes). Each arm's scores come
as per-item *components* ``[S seeds, N items, K]``: what an item adds to the metric's sums (a reciprocal
rank, K=1; an item's (tp, fp, fn), K=3; a text's (NLL sum, tokens), K=2). An :data:`Aggregate` turns the
components summed over a set of items into the metric, so F1 and perplexity are resampled as what they are
(ratios of sums), not as means of per-item ratios.

One resample draws N item indices with replacement, **the same indices for both arms and every seed**
(that is the pairing: an item hard for the baseline is hard for the augmented model too, and that shared
difficulty cancels in the delta), computes the metric per seed and arm on those items, averages over seeds,
and takes ``augmented - baseline``. ``scipy.stats.bootstrap`` draws the resamples and builds the interval
(BCa by default; percentile where BCa is undefined, e.g. a delta that never varies).

The verdict reads the interval: it excludes 0 on the better side -> ``helps``, on the worse side ->
``hurts``, else ``no detectable difference``. ``mde`` is the smallest true delta this test set and this
noise would detect with the given power: ``(z_{1-alpha/2} + z_power) * standard error`` of the delta; a
``no detectable difference`` with an MDE of 0.10 says only that an effect below ~0.10 cannot be ruled out.
"""

from __future__ import annotations

import dataclasses
import math
import warnings
from collections.abc import Callable
from typing import Literal

import numpy as np
from scipy import stats

Aggregate = Callable[[np.ndarray, int], np.ndarray]
"""``(components summed over items [..., K], number of items) -> metric [...]`` (vectorised over leading axes)."""

Verdict = Literal["helps", "hurts", "no detectable difference"]
VERDICTS: tuple[Verdict, ...] = ("helps", "hurts", "no detectable difference")
DIRECTION = {"helps": 1, "no detectable difference": 0, "hurts": -1}
"""The verdict as a number in the metrics file, so ``dvc metrics diff`` (numbers only) shows a verdict move."""


def mean_of(summed: np.ndarray, n: int) -> np.ndarray:
    """K=1 per-item scores (reciprocal rank, hit@k, METEOR): their mean."""
    return summed[..., 0] / n


def f1_of(summed: np.ndarray, n: int) -> np.ndarray:
    """K=3 per-item (tp, fp, fn): micro F1 = 2tp / (2tp + fp + fn); 0 where nothing was predicted or gold."""
    tp, fp, fn = summed[..., 0], summed[..., 1], summed[..., 2]
    denominator = 2 * tp + fp + fn
    return np.divide(2 * tp, denominator, out=np.zeros_like(denominator, dtype=float), where=denominator > 0)


def macro_f1_of(summed: np.ndarray, n: int) -> np.ndarray:
    """K=3L per-item (tp, fp, fn) for each of L labels, label-major: the mean over labels of each label's F1."""
    per_label = summed.reshape(*summed.shape[:-1], -1, 3)
    return f1_of(per_label, n).mean(axis=-1)


def perplexity_of(summed: np.ndarray, n: int) -> np.ndarray:
    """K=2 per-item (NLL sum in nats, tokens): exp(total NLL / total tokens). Lower is better."""
    return np.exp(summed[..., 0] / summed[..., 1])


@dataclasses.dataclass(frozen=True)
class PairedResult:
    metric: str
    higher_is_better: bool
    items: int
    seeds: int
    baseline: float  # the metric on all items, mean over seeds
    augmented: float
    delta: float  # augmented - baseline
    low: float  # the interval of the delta
    high: float
    confidence: float
    mde: float  # smallest |delta| detectable at `power` (two-sided, alpha = 1 - confidence)
    power: float
    verdict: Verdict
    baseline_per_seed: tuple[float, ...]
    augmented_per_seed: tuple[float, ...]
    method: str  # the interval scipy built: BCa, or percentile where BCa is undefined
    resamples: int

    def to_json(self, digits: int = 4) -> dict:
        """A metrics-file entry with floats rounded (stable bytes for ``dvc metrics diff``)."""
        row = dataclasses.asdict(self) | {"direction": DIRECTION[self.verdict]}
        return {k: _round(v, digits) for k, v in row.items()}


def _round(value, digits: int):
    if isinstance(value, float):
        return round(value, digits)
    if isinstance(value, tuple | list):
        return [_round(v, digits) for v in value]
    return value


def _as_components(scores: np.ndarray, name: str) -> np.ndarray:
    array = np.asarray(scores, dtype=float)
    if array.ndim == 2:  # [S, N]: one score per item
        array = array[..., None]
    if array.ndim != 3:
        raise ValueError(f"{name}: expected per-item scores [seeds, items] or components [seeds, items, K]; "
                         f"got shape {array.shape}")
    return array


def verdict_of(low: float, high: float, higher_is_better: bool) -> Verdict:
    if low > 0:
        return "helps" if higher_is_better else "hurts"
    if high < 0:
        return "hurts" if higher_is_better else "helps"
    return "no detectable difference"


def paired_bootstrap(baseline: np.ndarray, augmented: np.ndarray, aggregate: Aggregate = mean_of, *,
                     metric: str = "metric", higher_is_better: bool = True, resamples: int = 2000,
                     confidence: float = 0.95, power: float = 0.8, seed: int = 0,
                     method: Literal["BCa", "percentile"] = "BCa") -> PairedResult:
    """Compare two arms scored on the same items with the same seeds (see the module docstring).

    ``baseline`` and ``augmented``: ``[S, N]`` per-item scores or ``[S, N, K]`` per-item components; row s of
    both arms must come from the same training seed. ``seed`` fixes the resampling (same inputs, same result)."""
    base, aug = _as_components(baseline, "baseline"), _as_components(augmented, "augmented")
    if base.shape != aug.shape:
        raise ValueError(f"paired_bootstrap({metric}): baseline {base.shape} and augmented {aug.shape} differ; "
                         f"a paired comparison needs the same seeds and the same test items in both arms")
    seeds, items, _ = base.shape
    if items < 2:
        raise ValueError(f"paired_bootstrap({metric}): {items} test item(s); a bootstrap needs at least 2")
    arms = np.stack([base, aug])  # [2, S, N, K]

    def per_seed(index: np.ndarray) -> np.ndarray:
        """Metric per arm and seed on the items ``index`` [..., n] -> [..., 2, S]."""
        # Sums through draw counts [..., N] (how often each item was drawn), not by gathering the items: a
        # gather of [resamples, n, K] per arm and seed is gigabytes for a macro-F1 over many labels.
        flat = index.reshape(-1, index.shape[-1])
        counts = np.zeros((flat.shape[0], items))
        np.add.at(counts, (np.arange(flat.shape[0])[:, None], flat), 1.0)
        summed = np.einsum("bn,asnk->bask", counts, arms)  # [B, 2, S, K]
        values = aggregate(summed, index.shape[-1])  # [B, 2, S]
        return values.reshape(*index.shape[:-1], *values.shape[1:])

    def delta(index: np.ndarray, axis: int = -1) -> np.ndarray:
        values = per_seed(np.asarray(index, dtype=np.intp)).mean(axis=-1)  # seeds averaged inside the resample
        return values[..., 1] - values[..., 0]

    everything = per_seed(np.arange(items))  # [2, S]
    observed = float(everything[1].mean() - everything[0].mean())
    rng = np.random.default_rng(seed)
    with warnings.catch_warnings():  # BCa on a delta that never varies warns and returns nan: handled below
        warnings.simplefilter("ignore")
        result = stats.bootstrap((np.arange(items),), delta, n_resamples=resamples, vectorized=True,
                                 confidence_level=confidence, method=method, rng=rng)
    low, high, used = float(result.confidence_interval.low), float(result.confidence_interval.high), method
    if not (math.isfinite(low) and math.isfinite(high)):
        spread = result.bootstrap_distribution
        tail = (1 - confidence) / 2
        low, high = float(np.quantile(spread, tail)), float(np.quantile(spread, 1 - tail))
        used = "percentile"
    z = stats.norm.ppf(1 - (1 - confidence) / 2) + stats.norm.ppf(power)
    mde = float(z * result.standard_error)
    return PairedResult(metric=metric, higher_is_better=higher_is_better, items=items, seeds=seeds,
                        baseline=float(everything[0].mean()), augmented=float(everything[1].mean()),
                        delta=observed, low=low, high=high, confidence=confidence, mde=mde, power=power,
                        verdict=verdict_of(low, high, higher_is_better),
                        baseline_per_seed=tuple(float(v) for v in everything[0]),
                        augmented_per_seed=tuple(float(v) for v in everything[1]),
                        method=used, resamples=resamples)
