import pytest

from clinsynth.params import ConfigError
from clinsynth.quality.gates import LIMIT_METRICS, QualityGateError, evaluate_limits, raise_on_failures, resolve_limits

DEFAULTS = dict.fromkeys(LIMIT_METRICS, None) | {"max_dropped_fraction": 0.5, "min_distinct_2": 0.2}


def test_crossing_a_limit_fails_with_the_exact_message():
    metrics = {"leakage": {"dropped_fraction": 0.62}, "diversity": {"distinct_2": 0.5}}
    report, failures = evaluate_limits(metrics, resolve_limits(DEFAULTS, {}, "rephrase"), "rephrase")
    assert failures == ["quality_rephrase: leakage.dropped_fraction = 0.62 > max 0.5 (postprocess.max_dropped_fraction)"]
    assert report["max_dropped_fraction"]["status"] == "failed"
    assert report["min_distinct_2"]["status"] == "passed"
    with pytest.raises(QualityGateError) as info:
        raise_on_failures(failures)
    assert str(info.value) == "quality_rephrase: leakage.dropped_fraction = 0.62 > max 0.5 (postprocess.max_dropped_fraction)"


def test_min_limits_and_recipe_overrides_name_their_param():
    metrics = {"leakage": {"dropped_fraction": 0.1}, "diversity": {"distinct_2": 0.15}}
    limits = resolve_limits(DEFAULTS, {"min_distinct_2": 0.3}, "kg_notes")
    _, failures = evaluate_limits(metrics, limits, "kg_notes")
    assert failures == ["quality_kg_notes: diversity.distinct_2 = 0.15 < min 0.3 "
                        "(postprocess.recipes.kg_notes.limits.min_distinct_2)"]


def test_unmeasured_and_disabled_limits_are_not_checked():
    metrics = {"membership": {"auc": None}, "leakage": {"dropped_fraction": 0.9}}
    limits = resolve_limits(DEFAULTS | {"max_membership_auc": 0.7}, {"max_dropped_fraction": None}, "rephrase")
    report, failures = evaluate_limits(metrics, limits, "rephrase")
    assert failures == []
    assert report["max_membership_auc"]["status"] == "not_measured"
    assert report["max_dropped_fraction"]["status"] == "disabled"
    raise_on_failures(failures)


def test_unknown_override_key_lists_the_valid_ones():
    with pytest.raises(ConfigError, match=r"postprocess.recipes.rephrase.limits: unknown key 'max_leak'; valid keys: "
                                          r"max_check_dropped_fraction, max_degenerate_fraction, max_dropped_fraction"):
        resolve_limits(DEFAULTS, {"max_leak": 0.1}, "rephrase")
