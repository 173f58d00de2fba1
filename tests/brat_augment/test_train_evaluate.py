"""train_variant -> saved folders (with the model card) -> evaluate_variants, a tiny model end to end."""

import dataclasses

from clinsynth.evaluation.ner_re import TOKEN, evaluate_variants
from clinsynth.records import write_json
from clinsynth.training import ner, relations
from clinsynth.training.ner_re import TrainNerConfig, train_variant


def test_a_trained_variant_is_scored_with_its_confusion_rows(tmp_path, silver, sentences, tokenizer, tiny_factory):
    cfg = TrainNerConfig(model="tiny", out_dir=str(tmp_path), augmented_dir="-", labels=["Condition", "Medication"],
                         on_invalid="fail", ner=ner.NerConfig(window_chars=120, max_length=64, batch_size=4, max_steps=3),
                         relations=relations.RelationConfig(label="Treats", arg1_label="Medication",
                                                            arg2_label="Condition"),
                         base_model="sentence-transformers/all-MiniLM-L6-v2")
    trained = train_variant("baseline", silver.documents["train"], (), sentences, tiny_factory, tokenizer, cfg, 5)
    out = tmp_path / "baseline"
    card = ner.model_card(trained.labels, trained.facts, cfg.base_model, "corpus", None)
    ner.save_ner(trained.ner_model, tokenizer, out / "ner", trained.labels, trained.facts, card)
    relations.save_relations(trained.relation_model, out / "relations.json", {})
    write_json(out / "train.json", trained.facts)
    assert "3 optimizer steps" in (out / "ner" / "README.md").read_text(encoding="utf-8")
    test = silver.documents["test"]
    metrics, predictions, confusion = evaluate_variants(test, tmp_path, ["baseline"], sentences)
    assert set(metrics["ner"]) == {"baseline"} and len(predictions["baseline"]) == len(test)
    rows = confusion["baseline"]
    assert len(rows) == sum(len(TOKEN.findall(d.text)) for d in test)
    assert {r["actual"] for r in rows} <= {"O", "Condition", "Medication"} and "Condition" in {r["actual"] for r in rows}
    assert dataclasses.asdict(cfg.ner)["max_steps"] == trained.facts["steps"] == 3
