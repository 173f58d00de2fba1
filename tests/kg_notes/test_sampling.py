import math
import random
from collections import Counter

import pytest

from clinsynth.recipes import kg_notes as kn


# ---- code weights: p(c) = ln(1 + f) / sum ln(1 + f) --------------------------------------------------
def test_log_weights_hand_computed():
    # ln 2 : ln 4 : ln 8 = 1 : 2 : 3
    weights = kn.code_weights({"A": 1, "B": 3, "C": 7}, "log")
    assert weights == pytest.approx({"A": 1 / 6, "B": 2 / 6, "C": 3 / 6})


def test_frequency_and_uniform_weights_hand_computed():
    assert kn.code_weights({"A": 1, "B": 3, "C": 7}, "frequency") == pytest.approx({"A": 1 / 11, "B": 3 / 11, "C": 7 / 11})
    assert kn.code_weights({"A": 1, "B": 3}, "uniform") == {"A": 0.5, "B": 0.5}


def test_log_weighting_draws_rare_codes_more_than_their_frequency():
    freqs = {"rare": 1, "common": 99}
    log, freq = kn.code_weights(freqs, "log"), kn.code_weights(freqs, "frequency")
    assert log["rare"] == pytest.approx(math.log(2) / (math.log(2) + math.log(100)))  # 0.1308
    assert log["rare"] > freq["rare"] == 0.01


def test_code_frequencies_count_notes_per_code(notes):
    assert kn.code_frequencies(notes) == {"A01": 2, "B01": 2, "E01": 1}
    assert kn.code_frequencies(notes, "test") == {"A01": 1, "B01": 1}


def test_targets_rare_and_explicit_are_uniform():
    freqs = {"A": 1, "B": 3, "C": 7}
    assert kn.target_weights(freqs, "rare", "log", 3) == {"A": 0.5, "B": 0.5}
    assert kn.target_weights(freqs, ["Q99", "A", "Q99"], "log", 3) == {"A": 0.5, "Q99": 0.5}
    with pytest.raises(kn.SamplingError, match="selects no code"):
        kn.target_weights(freqs, "rare", "log", 0)
    with pytest.raises(kn.SamplingError, match="expected 'all', 'rare' or a list"):
        kn.target_weights(freqs, "most", "log", 3)


def test_no_codes_is_a_specific_error():
    with pytest.raises(kn.SamplingError, match="no train note carries meta.icd10"):
        kn.code_weights({}, "log")


# ---- symptoms: softmax(idf / T) over the disease -> symptom table ---------------------------------------
def test_idf_and_softmax_hand_computed(tiny_kg):
    table = kn.build_symptom_table(kn.kg_symptom_rows(tiny_kg))
    assert table.n_diseases == 6
    assert table.idf == pytest.approx({"HP:1": math.log(6), "HP:2": math.log(3), "HP:3": math.log(1.5), "HP:4": math.log(3)})
    # exp(ln 6) : exp(ln 3) : exp(ln 1.5) = 6 : 3 : 1.5
    weights = kn.symptom_weights(tiny_kg.symptoms_of("ICD10CM:A01"), table, 1.0)
    assert weights == pytest.approx({"HP:1": 6 / 10.5, "HP:2": 3 / 10.5, "HP:3": 1.5 / 10.5})
    # T = 2: square roots
    weights = kn.symptom_weights(["HP:1", "HP:3"], table, 2.0)
    assert weights["HP:1"] == pytest.approx(6 ** 0.5 / (6 ** 0.5 + 1.5 ** 0.5))


def test_bad_temperature():
    with pytest.raises(kn.SamplingError, match="temperature 0: expected > 0"):
        kn.symptom_weights(["x"], kn.SymptomTable({}, 1), 0)


def test_weighted_sample_is_seeded_distinct_and_follows_weights(tiny_kg):
    table = kn.build_symptom_table(kn.kg_symptom_rows(tiny_kg))
    weights = kn.symptom_weights(tiny_kg.symptoms_of("ICD10CM:A01"), table, 1.0)
    first = kn.weighted_sample(weights, 2, random.Random(7))
    assert first == kn.weighted_sample(weights, 2, random.Random(7))
    assert len(set(first)) == 2
    assert sorted(kn.weighted_sample(weights, 10, random.Random(1))) == ["HP:1", "HP:2", "HP:3"]
    rng = random.Random(3)
    counts = Counter(kn.weighted_sample(weights, 1, rng)[0] for _ in range(4000))
    assert counts["HP:1"] / 4000 == pytest.approx(6 / 10.5, abs=0.03)
    assert counts["HP:3"] / 4000 == pytest.approx(1.5 / 10.5, abs=0.03)


def test_draw_count_bounds():
    rng = random.Random(0)
    assert {kn.draw_count(3, 1, rng) for _ in range(200)} == {1, 2, 3}
    with pytest.raises(kn.SamplingError, match="expected 0 <= min <= max"):
        kn.draw_count(1, 2, rng)


# ---- code -> nodes --------------------------------------------------------------------------------------
@pytest.mark.parametrize("code, nodes, how", [
    ("A01", ["ICD10CM:A01"], "self"),
    ("E01", ["ICD10CM:E01.1"], "descendant"),
    ("A01.1", ["ICD10CM:A01"], "ancestor"),
    ("F01.1", ["ICD10CM:F01.2"], "relative"),
    ("Z99", [], "none"),
    ("Q00", [], "not_in_kg"),
])
def test_resolve_nodes(tiny_kg, code, nodes, how):
    assert kn.resolve_nodes(tiny_kg, code, tiny_kg.symptoms_of) == (nodes, how)


def test_group_ancestors_are_never_used(tiny_kg):
    # A01's parent is the Group A00-B99: a chapter/block is not a disease
    assert "ICD10CM:A00-B99" in tiny_kg.hypernyms("ICD10CM:A01")
    assert kn.resolve_nodes(tiny_kg, "A01.1", tiny_kg.symptoms_of, max_up=3)[0] == ["ICD10CM:A01"]


def test_synonym_variation(tiny_kg):
    always = [kn.symptom_record(tiny_kg, "HP:1", 1.0, 4, random.Random(s))["text"] for s in range(40)]
    never = {kn.symptom_record(tiny_kg, "HP:1", 0.0, 4, random.Random(s))["text"] for s in range(40)}
    assert set(always) == {"Pyrexia", "High temperature"}  # the long synonym with brackets/commas is never used
    assert never == {"Fever"}
    record = kn.symptom_record(tiny_kg, "HP:1", 1.0, 4, random.Random(0))
    assert record["variants"] == ["Fever", "Pyrexia", "High temperature", "Fever (finding) of unknown origin, NOS"]
