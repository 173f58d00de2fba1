"""Flattening, baseline/augmented pairing, direction of improvement, matrix detection, recipe of a file."""

import dataclasses

import pytest

from clinsynth.report.compare import as_matrix, flatten, pair_comparisons, unpaired
from clinsynth.report.inputs import recipe_of


def test_flatten_keeps_numbers_by_dotted_key_in_document_order():
    obj = {"b": {"x": 1, "ok": True, "name": "n", "none": None}, "a": [0.5, {"y": 2}]}
    assert flatten(obj) == {"b.x": 1, "a.0": 0.5, "a.1.y": 2}
    assert flatten(3.0) == {"value": 3.0}


def test_pairs_differ_only_in_the_baseline_augmented_component():
    flat = flatten({"ner": {"baseline": {"strict": {"f1": 0.6}}, "augmented": {"strict": {"f1": 0.66}}},
                    "re": {"f1": {"baseline": 0.4, "augmented": 0.38}},
                    "icd.baseline.hit@1": 0.2,          # no augmented twin: not a pair
                    "other": {"augmented": {"f1": 0.9}}, "n": 31})
    pairs = pair_comparisons(flat)
    assert [(c.metric, c.baseline, c.augmented) for c in pairs] == [("ner.strict.f1", 0.6, 0.66), ("re.f1", 0.4, 0.38)]
    assert pairs[0].delta == pytest.approx(0.06) and pairs[0].relative == pytest.approx(0.1)
    assert unpaired(flat, pairs) == {"icd.baseline.hit@1": 0.2, "other.augmented.f1": 0.9, "n": 31}


@pytest.mark.parametrize(("metric", "baseline", "augmented", "verdict"), [
    ("f1", 0.5, 0.6, "better"), ("f1", 0.6, 0.5, "worse"), ("f1", 0.5, 0.5, "same"),
    ("mlm_loss", 2.0, 1.5, "better"), ("decoder_perplexity", 20.0, 21.0, "worse"), ("hit@1", 0, 0.1, "better"),
])
def test_verdict_follows_the_direction_of_the_metric(metric, baseline, augmented, verdict):
    (c,) = pair_comparisons({f"baseline.{metric}": baseline, f"augmented.{metric}": augmented})
    assert c.verdict == verdict


def test_lower_is_better_patterns_are_configurable():
    (c,) = pair_comparisons({"baseline.rank": 3, "augmented.rank": 2}, lower_is_better=["rank"])
    assert c.is_lower_better and c.verdict == "better" and c.relative == pytest.approx(-1 / 3)
    (zero,) = pair_comparisons({"baseline.f1": 0, "augmented.f1": 0.1})
    assert zero.relative is None


def test_matrix_is_a_mapping_of_scalar_rows():
    assert as_matrix({"real": {"ppl": 21.1, "loss": 3}, "mix": {"ppl": 20.4, "oov": 0}}) == (["real", "mix"], ["ppl", "loss", "oov"])
    assert as_matrix({"real": {"ppl": 21.1}}) is None                        # one row: not a table
    assert as_matrix({"a": {"x": {"y": 1}}, "b": {"x": 2}}) is None           # nested
    assert as_matrix([1, 2]) is None


@pytest.mark.parametrize(("path", "recipe"), [
    ("metrics/quality_kg_notes.json", "kg_notes"), ("metrics/generate_rephrase.json", "rephrase"),
    ("metrics/rephrase.json", "rephrase"), ("metrics/rephrase_corpora.json", "rephrase"),
    ("metrics/fhir_qa_testset.json", "fhir_qa"), ("metrics/plots/brat_augment_ner_loss.csv", "brat_augment"),
    ("metrics/sample_rephrase.json", "rephrase"), ("metrics/plots/train_icd_full_v1_augmented.json", "kg_notes"),
    ("metrics/plots/confusion_icd_baseline_v1_baseline.json", "kg_notes"), ("metrics/kg.json", None), ("metrics/kg_build.json", None), ("metrics/fhir_ingest.json", None),
])
def test_a_file_belongs_to_the_recipe_its_name_starts_with(path, recipe):
    assert recipe_of(path, ["rephrase", "kg_notes", "brat_augment", "retrieval", "fhir_qa"]) == recipe


def test_an_icd_confusion_file_is_read_as_counts_and_drawn_as_a_heatmap(tmp_path):
    from clinsynth.records import write_json
    from clinsynth.report.inputs import Confusion, read_curve
    from clinsynth.report.plots import plot_png

    path = tmp_path / "confusion_icd_full_v1_augmented.json"
    write_json(path, [{"actual": "E11.9", "predicted": "E11.9"}, {"actual": "I10", "predicted": "E11.9"}])
    confusion = read_curve(path)
    assert isinstance(confusion, Confusion) and confusion.labels == ["E11.9", "I10"]
    assert confusion.counts == [[1, 0], [1, 0]]
    fewer = dataclasses.replace(confusion, counts=[[1, 0], [0, 0]])
    assert plot_png(confusion).startswith(b"\x89PNG") and plot_png(confusion) != plot_png(fewer)
