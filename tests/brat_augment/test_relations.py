"""Relation candidates, features and the logistic regression, on the fixture silver document."""

import dataclasses

import pytest

from clinsynth.brat import score_relations
from clinsynth.training import relations

CFG = relations.RelationConfig()


def test_candidates_are_labelled_by_the_gold_relations(silver, sentences):
    (doc,) = silver.documents["train"]
    candidates = relations.candidates(doc, sentences(doc.text), CFG)
    n_drugs = sum(e.label == "Medication" for e in doc.entities)
    n_conditions = sum(e.label == "Condition" for e in doc.entities)
    # the plan's drug is more than 12 sentences from the chief complaint's condition: 14 of 3 x 5 pairs
    assert len(candidates) == 14 and n_drugs * n_conditions == 15
    assert {(c.arg1, c.arg2) for c in candidates if c.positive} == {(r.arg1, r.arg2) for r in doc.relations}
    positive = next(c for c in candidates if c.positive)
    assert "nearest=True" in positive.features and "a2=essential hypertension" in positive.features


def test_window_limits_candidates(silver, sentences):
    (doc,) = silver.documents["train"]
    assert relations.candidates(doc, sentences(doc.text), dataclasses.replace(CFG, window=0)) == []


def test_trained_model_recovers_its_training_relations_and_round_trips(tmp_path, silver, sentences):
    docs = silver.documents["train"]
    model = relations.train_relations(relations.all_candidates(docs, sentences, CFG), dataclasses.replace(CFG, c=100.0), 13)
    predicted = relations.predict_relations(model, docs, sentences)
    assert score_relations(docs, predicted).micro.f1 == 1.0
    relations.save_relations(model, tmp_path / "re.json", {"candidates": 1})
    loaded = relations.load_relations(tmp_path / "re.json")
    assert loaded == model
    assert relations.predict_relations(loaded, docs, sentences) == predicted


def test_one_class_only_is_a_clear_error(silver, sentences):
    (doc,) = silver.documents["test"]  # no relation in note_b
    with pytest.raises(ValueError, match="all negative; expected both classes"):
        relations.train_relations(relations.all_candidates([doc], sentences, CFG), CFG, 13)
