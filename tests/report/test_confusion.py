"""Confusion-matrix plot files (dvc's `confusion` template rows) in the report: counted, drawn, filed by recipe."""

from __future__ import annotations

import json

from clinsynth.report.inputs import Confusion, Curve, read_curve, recipe_of, stem_recipe
from clinsynth.report.plots import plot_png
from clinsynth.review import recipe_of as review_recipe_of


def test_actual_predicted_rows_are_counted_with_outside_last(tmp_path):
    path = tmp_path / "confusion_ner_baseline.json"
    rows = [{"actual": "Drug", "predicted": "Drug"}, {"actual": "Drug", "predicted": "O"},
            {"actual": "O", "predicted": "O"}, {"actual": "O", "predicted": "O"},
            {"actual": "Condition", "predicted": "Drug"}]
    path.write_text(json.dumps(rows), encoding="utf-8")
    confusion = read_curve(path)
    assert isinstance(confusion, Confusion)
    assert confusion.labels == ["Condition", "Drug", "O"]
    assert confusion.counts == [[0, 1, 0], [0, 1, 1], [0, 0, 2]]
    assert plot_png(confusion).startswith(b"\x89PNG")


def test_a_history_stays_a_curve(tmp_path):
    path = tmp_path / "train_icd_augmented.json"
    path.write_text(json.dumps([{"step": 1, "loss": 0.7, "learning_rate": 1e-3}]), encoding="utf-8")
    assert isinstance(read_curve(path), Curve)


def test_stage_named_plots_belong_to_their_recipe():
    recipes = ["rephrase", "kg_notes", "brat_augment", "retrieval", "fhir_qa"]
    assert recipe_of("metrics/plots/confusion_ner_augmented.json", recipes) == "brat_augment"
    assert recipe_of("metrics/plots/train_icd_upsampled.json", recipes) == "kg_notes"
    assert recipe_of("metrics/plots/train_retriever_stage1.json", recipes) == "retrieval"
    assert recipe_of("metrics/plots/finetune_fhir_sequential_phase1.json", recipes) == "fhir_qa"
    assert stem_recipe("train_nerve") is None  # a prefix counts only up to an underscore
    assert review_recipe_of("metrics/plots/train_ner_baseline.json") == "brat_augment"
