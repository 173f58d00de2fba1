"""The paired bootstrap on hand-made cases: a known effect is found, a zero effect is not, pairing matters."""

from __future__ import annotations

import numpy as np
import pytest
from scipy import stats

from clinsynth.evaluation.paired import (f1_of, macro_f1_of, mean_of, paired_bootstrap, perplexity_of,
                                         verdict_of)


def arms(effect: float, items: int = 200, seeds: int = 3, noise: float = 0.02, spread: float = 0.3, rng_seed=1):
    """Per-item scores with a strong item difficulty shared by both arms, seed noise, and a constant effect."""
    rng = np.random.default_rng(rng_seed)
    difficulty = rng.normal(0.5, spread, size=items)
    base = difficulty + rng.normal(0, noise, size=(seeds, items))
    aug = difficulty + effect + rng.normal(0, noise, size=(seeds, items))
    return base, aug


def test_a_known_effect_is_detected_and_its_interval_covers_it():
    base, aug = arms(effect=0.03)
    result = paired_bootstrap(base, aug, mean_of, metric="mrr", seed=0)
    assert result.verdict == "helps"
    assert result.low <= 0.03 <= result.high
    assert result.delta == pytest.approx(aug.mean() - base.mean())
    assert result.mde < 0.03
    assert len(result.baseline_per_seed) == 3 and result.items == 200


def test_a_harmful_effect_is_called_hurts():
    base, aug = arms(effect=-0.03)
    assert paired_bootstrap(base, aug, seed=0).verdict == "hurts"


def test_a_zero_effect_is_not_detected():
    base, aug = arms(effect=0.0)
    result = paired_bootstrap(base, aug, seed=0)
    assert result.verdict == "no detectable difference"
    assert result.low < 0 < result.high


def test_identical_arms_give_a_zero_interval_without_failing():
    base, _ = arms(effect=0.0)
    result = paired_bootstrap(base, base.copy(), seed=0)
    assert (result.delta, result.low, result.high, result.mde) == (0.0, 0.0, 0.0, 0.0)
    assert result.verdict == "no detectable difference" and result.method == "percentile"


def test_pairing_matters():
    """A small effect under a large item spread: the paired interval excludes 0, an unpaired one does not."""
    base, aug = arms(effect=0.02, items=150, spread=0.4, noise=0.01)
    paired = paired_bootstrap(base, aug, seed=0)
    unpaired = stats.bootstrap((aug.mean(0), base.mean(0)), lambda a, b, axis=-1: a.mean(axis) - b.mean(axis),
                               n_resamples=2000, rng=np.random.default_rng(0), vectorized=True)
    assert paired.verdict == "helps"
    assert unpaired.confidence_interval.low < 0 < unpaired.confidence_interval.high
    assert (paired.high - paired.low) < (unpaired.confidence_interval.high - unpaired.confidence_interval.low) / 5


def test_seeds_are_averaged_inside_each_resample():
    """One seed of the augmented arm is bad: the delta is the mean over seeds, not seed 0's."""
    base, aug = arms(effect=0.05, seeds=3)
    aug[2] -= 0.15
    result = paired_bootstrap(base, aug, seed=0)
    assert result.delta == pytest.approx(0.05 - 0.05, abs=0.01)
    assert result.augmented_per_seed[2] < result.augmented_per_seed[0] - 0.1


def test_same_inputs_same_result_and_the_seed_is_the_only_randomness():
    base, aug = arms(effect=0.01)
    assert paired_bootstrap(base, aug, seed=7) == paired_bootstrap(base, aug, seed=7)
    other = paired_bootstrap(base, aug, seed=8)
    assert other.delta == paired_bootstrap(base, aug, seed=7).delta
    assert other.low != paired_bootstrap(base, aug, seed=7).low


def test_f1_is_resampled_as_a_ratio_of_sums():
    rng = np.random.default_rng(3)
    counts = rng.integers(0, 4, size=(2, 60, 3)).astype(float)  # [S, N, (tp, fp, fn)]
    better = counts.copy()
    better[..., 0] += 1  # one more true positive per document
    result = paired_bootstrap(counts, better, f1_of, metric="strict_f1", seed=0)
    tp, fp, fn = counts.sum(1).T
    assert result.baseline == pytest.approx(np.mean(2 * tp / (2 * tp + fp + fn)))
    assert result.verdict == "helps"


def test_macro_f1_averages_labels():
    # two labels, label-major (tp, fp, fn): label A perfect, label B never found
    item = np.array([1.0, 0, 0, 0, 0, 1])
    summed = np.tile(item, (4, 1)).sum(0)
    assert macro_f1_of(summed, 4) == pytest.approx(0.5)


def test_perplexity_lower_is_better():
    rng = np.random.default_rng(5)
    tokens = rng.integers(20, 60, size=(3, 80)).astype(float)
    nll = tokens * rng.normal(3.0, 0.3, size=(1, 80))
    base = np.stack([nll, tokens], axis=-1)
    aug = np.stack([nll - 0.2 * tokens, tokens], axis=-1)
    result = paired_bootstrap(base, aug, perplexity_of, metric="perplexity", higher_is_better=False, seed=0)
    assert result.delta < 0 and result.verdict == "helps"


def test_more_items_make_a_smaller_detectable_effect():
    small = paired_bootstrap(*arms(effect=0.0, items=50, spread=0.3, noise=0.1), seed=0)
    large = paired_bootstrap(*arms(effect=0.0, items=800, spread=0.3, noise=0.1), seed=0)
    assert large.mde < small.mde / 2.5  # ~ 1 / sqrt(16) = 1/4


def test_arms_of_different_shapes_are_refused():
    base, aug = arms(effect=0.0)
    with pytest.raises(ValueError, match="same seeds and the same test items"):
        paired_bootstrap(base, aug[:, :-1])


def test_verdict_reads_the_interval_by_direction():
    assert verdict_of(0.01, 0.2, higher_is_better=True) == "helps"
    assert verdict_of(0.01, 0.2, higher_is_better=False) == "hurts"
    assert verdict_of(-0.1, 0.2, higher_is_better=True) == "no detectable difference"


def test_the_json_entry_is_rounded_and_complete():
    entry = paired_bootstrap(*arms(effect=0.03), seed=0, metric="mrr").to_json()
    assert entry["metric"] == "mrr" and entry["verdict"] == "helps"
    assert all(len(str(v).split(".")[-1]) <= 4 for v in entry["baseline_per_seed"])
