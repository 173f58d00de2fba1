"""score_variant on a hand-computed case; the repository params load into every brat_augment config."""

from pathlib import Path

from clinsynth.brat import Document, Entity, Relation
from clinsynth.params import load_params
from clinsynth.brat import augment
from clinsynth.recipes import brat_augment
from clinsynth.brat.silver import BratSilverConfig, SilverConfig
from clinsynth.evaluation.ner_re import EvaluateBratAugmentConfig
from clinsynth.training.ner_re import TrainNerConfig

ROOT = Path(__file__).resolve().parents[2]
TEXT = "metformin for type 2 diabetes and aspirin for pain"


def doc(entities, relations=()):
    return Document("d", TEXT, tuple(Entity(f"T{i}", label, ((s, e),), TEXT[s:e])
                                     for i, (label, s, e) in enumerate(entities, 1)), tuple(relations))


GOLD = doc([("Medication", 0, 9), ("Condition", 14, 29), ("Medication", 34, 41), ("Condition", 46, 50)],
           [Relation("R1", "Treats", "T1", "T2"), Relation("R2", "Treats", "T3", "T4")])


def test_score_variant_hand_computed():
    # predicted: metformin exact; "2 diabetes" overlaps (lenient only); "aspirin for" overlaps; pain missed;
    # an extra Condition "for" and a Procedure (not a scored label)
    pred = doc([("Medication", 0, 9), ("Condition", 19, 29), ("Medication", 34, 45), ("Condition", 10, 13),
                ("Procedure", 46, 50)])
    on_gold = doc([("Medication", 0, 9), ("Condition", 14, 29), ("Medication", 34, 41), ("Condition", 46, 50)],
                  [Relation("R1", "Treats", "T1", "T2"), Relation("R2", "Treats", "T1", "T4")])
    end_to_end = doc([("Medication", 0, 9), ("Condition", 19, 29)], [Relation("R1", "Treats", "T1", "T2")])
    scores = augment.score_variant([GOLD], [pred], [on_gold], [end_to_end], ["Condition", "Medication"], ["Treats"])
    strict, lenient = scores["ner"]["strict"], scores["ner"]["lenient"]
    assert (strict["tp"], strict["fp"], strict["fn"]) == (1, 3, 3)
    assert (lenient["tp"], lenient["fp"], lenient["fn"]) == (3, 1, 1)
    assert lenient["precision"] == 0.75 and lenient["recall"] == 0.75
    assert scores["ner"]["per_label"]["Medication"] == {"strict_f1": 0.5, "lenient_f1": 1.0}
    assert "Procedure" not in scores["ner"]["per_label"]
    assert (scores["re"]["tp"], scores["re"]["fp"], scores["re"]["fn"]) == (1, 1, 1)
    # end to end: the relation's condition span is wrong, so it does not count
    assert (scores["re_end_to_end"]["tp"], scores["re_end_to_end"]["fp"], scores["re_end_to_end"]["fn"]) == (0, 1, 2)


def test_repository_params_load_into_the_brat_augment_configs():
    params = ROOT / "params.yaml"
    assert load_params("brat_silver", BratSilverConfig, params).max_docs["test"] == 40
    assert issubclass(BratSilverConfig, SilverConfig)
    assert load_params("decode_brat_augment", augment.DecodeConfig, params).min_entity_recall == 1.0
    assert load_params("train_ner", TrainNerConfig, params).ner.max_steps > 0
    assert load_params("evaluate_brat_augment", EvaluateBratAugmentConfig, params).variants == ["baseline", "augmented"]
    from clinsynth.recipes import load_recipe_params

    cfg = load_recipe_params("sample", "brat_augment", brat_augment.SampleConfig, params)
    assert cfg.templates == ["brat_augment.rewrite.v1"]


def test_confusion_rows_hand_computed():
    from clinsynth.evaluation.ner_re import confusion_rows

    # tokens: metformin for type 2 diabetes and aspirin for pain; Procedure is not a model label -> O
    pred = doc([("Medication", 0, 9), ("Condition", 19, 29), ("Medication", 34, 45), ("Condition", 10, 13),
                ("Procedure", 46, 50)])
    rows = confusion_rows([GOLD], [pred], ["Condition", "Medication"])
    assert [(r["actual"], r["predicted"]) for r in rows] == [
        ("Medication", "Medication"), ("O", "Condition"), ("Condition", "O"), ("Condition", "Condition"),
        ("Condition", "Condition"), ("O", "O"), ("Medication", "Medication"), ("O", "Medication"), ("Condition", "O")]


def test_confusion_rows_need_the_prediction_of_each_document():
    import pytest

    from clinsynth.errors import InputError
    from clinsynth.evaluation.ner_re import confusion_rows

    with pytest.raises(InputError, match="gold document 'd'"):
        confusion_rows([GOLD], [], ["Condition"])

