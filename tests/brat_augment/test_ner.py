"""Token classification over BRAT windows: BIO alignment by offsets, windows, a tiny model trained offline."""

import pytest
import torch

from clinsynth.brat import Document, Entity, validate_document
from clinsynth.training import ner
from clinsynth.training.history import Checkpointer

LABELS = ner.bio_labels(["Medication", "Condition"])
CFG = ner.NerConfig(window_chars=120, max_length=64, batch_size=4, max_steps=12, learning_rate=5e-3,
                    warmup_ratio=0.0, eval_batch_size=8)


def test_bio_labels_are_sorted():
    assert LABELS == ("O", "B-Condition", "I-Condition", "B-Medication", "I-Medication")


def test_tags_follow_wordpieces_and_come_back_as_spans():
    # "[CLS] started metformin 500 mg for type 2 diabetes [SEP]" with hand-made offsets
    text = "started metformin 500 mg for type 2 diabetes"
    offsets = [(0, 0), (0, 7), (8, 12), (12, 17), (18, 21), (22, 24), (25, 28), (29, 33), (34, 35), (36, 44), (0, 0)]
    entities = [(8, 24, "Medication"), (29, 44, "Condition")]
    label2id = {label: i for i, label in enumerate(LABELS)}
    tags = ner.tag_offsets(offsets, entities, label2id)
    names = [LABELS[t] if t != ner.IGNORE else "-" for t in tags]
    assert names == ["-", "O", "B-Medication", "I-Medication", "I-Medication", "I-Medication", "O",
                     "B-Condition", "I-Condition", "I-Condition", "-"]
    assert ner.spans_from_tags(offsets, [n if n != "-" else "O" for n in names]) == entities
    assert text[8:24] == "metformin 500 mg"


@pytest.mark.parametrize("tags, expected", [
    (["I-Condition", "I-Condition"], [(0, 3, "Condition")]),  # an I without B starts an entity
    (["B-Condition", "B-Condition"], [(0, 1, "Condition"), (2, 3, "Condition")]),
    (["B-Condition", "I-Medication"], [(0, 1, "Condition"), (2, 3, "Medication")]),
    (["O", "I-Medication"], [(2, 3, "Medication")]),
])
def test_spans_from_inconsistent_tags(tags, expected):
    assert ner.spans_from_tags([(0, 1), (2, 3)], tags) == expected


def test_windows_never_cut_an_entity(silver, sentences):
    (doc,) = silver.documents["train"]
    windows = ner.make_windows(doc, sentences(doc.text), 120)
    assert sum(len(w.entities) for w in windows) == len(doc.entities)
    assert all(len(w.text) <= 120 or " " not in w.text for w in windows)
    for w in windows:
        assert w.text == doc.text[w.start:w.end]
        for s, e, label in w.entities:
            assert any(x.start == w.start + s and x.end == w.start + e and x.label == label for x in doc.entities)


def test_long_sentence_is_cut_outside_entities():
    text = "aa bb cc dd ee ff"
    pieces = ner.cut_long(0, len(text), text, 7, inside=lambda i: 3 < i < 8)  # "bb cc" is an entity
    assert [text[s:e] for s, e in pieces] == ["aa", "bb cc", "dd ee", "ff"]


def test_added_windows_skip_what_the_baseline_has():
    a = ner.Window("d", 0, 3, "abc", ())
    b = ner.Window("d.aug", 0, 3, "abc", ())
    c = ner.Window("d.aug", 4, 7, "xyz", ((0, 1, "Condition"),))
    windows, added = ner.add_new_windows([a], [b, c, c])
    assert windows == [a, c] and added == 1


@pytest.fixture(scope="module")
def windows(silver, sentences):
    return [w for d in silver.documents["train"] for w in ner.make_windows(d, sentences(d.text), CFG.window_chars)]


def test_tiny_model_trains_deterministically_and_predicts_valid_documents(silver, windows, tokenizer, tiny_factory):
    runs = []
    for _ in range(2):
        model, result = ner.train_ner(tiny_factory, tokenizer, windows, LABELS, CFG, seed=7, progress=False)
        predicted = ner.predict_entities(model, tokenizer, silver.documents["train"], windows, LABELS, CFG,
                                         progress=False)
        runs.append((result.loss_first, result.loss_last, predicted))
    assert result.steps == 12 and result.examples_seen == 48
    assert result.loss_last < result.loss_first
    assert runs[0] == runs[1]
    for document in runs[0][2]:
        assert validate_document(document) == [] and document.relations == ()


def test_save_and_load_round_trip(tmp_path, silver, windows, tokenizer, tiny_factory):
    model, _ = ner.train_ner(tiny_factory, tokenizer, windows, LABELS, ner.NerConfig(**{**CFG.__dict__, "max_steps": 2}), 1,
                             progress=False)
    docs = silver.documents["train"]
    before = ner.predict_entities(model, tokenizer, docs, windows, LABELS, CFG, progress=False)
    facts = {"variant": "baseline", "documents": 1, "windows": len(windows), "steps": 2, "loss_first": 1.5,
             "loss_last": 1.25, "ner": {"max_steps": 2}}
    card = ner.model_card(LABELS, facts, "sentence-transformers/all-MiniLM-L6-v2", "data/demo/brat")
    ner.save_ner(model, tokenizer, tmp_path / "ner", LABELS, facts, card)
    loaded, loaded_tokenizer, meta = ner.load_ner(tmp_path / "ner")
    assert meta == {"labels": list(LABELS), **facts}
    from huggingface_hub import ModelCard
    from transformers import AutoModelForTokenClassification

    saved = ModelCard.load(tmp_path / "ner" / "README.md")
    assert saved.data.library_name == "transformers" and saved.data.pipeline_tag == "token-classification"
    assert saved.data.base_model == "sentence-transformers/all-MiniLM-L6-v2"
    assert "data/demo/brat" in saved.text and "`max_steps` | `2`" in saved.text and "B-Medication" in saved.text
    assert AutoModelForTokenClassification.from_pretrained(tmp_path / "ner").config.id2label[1] == "B-Condition"
    assert ner.predict_entities(loaded, loaded_tokenizer, docs, windows, meta["labels"], CFG, progress=False) == before


def test_prediction_of_a_document_without_windows_is_empty(tokenizer, tiny_factory):
    doc = Document("empty", "", (Entity("T1", "Condition", ((0, 0),), ""),)[:0])
    assert ner.predict_entities(tiny_factory(LABELS), tokenizer, [doc], [], LABELS, CFG, progress=False)[0].entities == ()


class Killed(Exception):
    """Stands for a kill in the same process: the Trainer stops after a step, its last checkpoint on disk
    (test_ner_kill.py kills a real subprocess)."""


def kill_after(step: int):
    from transformers import TrainerCallback

    class KillAfter(TrainerCallback):
        def on_step_end(self, args, state, control, **kwargs):
            if state.global_step == step:
                raise Killed(step)
    return KillAfter()


def test_same_seed_same_weights_other_seed_other_weights(windows, tokenizer, tiny_factory):
    cfg = ner.NerConfig(**{**CFG.__dict__, "max_steps": 5})
    a, _ = ner.train_ner(tiny_factory, tokenizer, windows, LABELS, cfg, seed=3, progress=False)
    b, _ = ner.train_ner(tiny_factory, tokenizer, windows, LABELS, cfg, seed=3, progress=False)
    c, _ = ner.train_ner(tiny_factory, tokenizer, windows, LABELS, cfg, seed=4, progress=False)
    assert all(torch.equal(v, b.state_dict()[k]) for k, v in a.state_dict().items())
    assert not all(torch.equal(v, c.state_dict()[k]) for k, v in a.state_dict().items())


def test_history_has_a_row_per_step_with_the_schedule(windows, tokenizer, tiny_factory):
    cfg = ner.NerConfig(**{**CFG.__dict__, "max_steps": 10, "warmup_ratio": 0.2})
    _, result = ner.train_ner(tiny_factory, tokenizer, windows, LABELS, cfg, seed=3, progress=False)
    rows = result.history.rows
    assert [r["step"] for r in rows] == list(range(1, 11)) and set(rows[0]) == {"step", "loss", "learning_rate"}
    lrs = [r["learning_rate"] for r in rows]  # the rate each step used: 0, then warmup to the peak, then decay
    assert lrs[0] == 0.0 and lrs[2] == pytest.approx(cfg.learning_rate) and lrs[-1] < lrs[2]


def test_a_killed_training_resumes_to_the_same_weights(tmp_path, windows, tokenizer, tiny_factory):
    full, result = ner.train_ner(tiny_factory, tokenizer, windows, LABELS, CFG, seed=7, progress=False)
    with pytest.raises(Killed):
        ner.train_ner(tiny_factory, tokenizer, windows, LABELS, CFG, seed=7, progress=False,
                      checkpoint=Checkpointer(tmp_path / "ckpt", every=4), callbacks=[kill_after(6)])
    # the step-4 checkpoint (save_total_limit=1); steps 5-6 are lost with the "process"
    assert sorted(p.name for p in (tmp_path / "ckpt").iterdir()) == ["checkpoint-4", "fingerprint.json"]
    resumed, again = ner.train_ner(tiny_factory, tokenizer, windows, LABELS, CFG, seed=7, progress=False,
                                   checkpoint=Checkpointer(tmp_path / "ckpt", every=4))
    assert not (tmp_path / "ckpt").exists()  # deleted once the training completed
    full_state, resumed_state = full.state_dict(), resumed.state_dict()
    assert all(torch.equal(full_state[k], resumed_state[k]) for k in full_state)
    assert again.history.rows == result.history.rows and again.loss_last == result.loss_last
    assert [r["step"] for r in result.history.rows] == list(range(1, 13))


def test_a_checkpoint_of_another_run_is_discarded(tmp_path, windows, tokenizer, tiny_factory, caplog):
    with pytest.raises(Killed):
        ner.train_ner(tiny_factory, tokenizer, windows, LABELS, CFG, seed=7, progress=False,
                      checkpoint=Checkpointer(tmp_path / "ckpt", every=4), callbacks=[kill_after(5)])
    fresh, _ = ner.train_ner(tiny_factory, tokenizer, windows, LABELS, CFG, seed=8, progress=False)
    other, _ = ner.train_ner(tiny_factory, tokenizer, windows, LABELS, CFG, seed=8, progress=False,
                             checkpoint=Checkpointer(tmp_path / "ckpt", every=4))
    assert "checkpoint of another run" in caplog.text
    assert all(torch.equal(v, other.state_dict()[k]) for k, v in fresh.state_dict().items())


def test_an_incomplete_checkpoint_folder_is_ignored(tmp_path):
    ckpt = Checkpointer(tmp_path / "ckpt", every=4)
    assert ckpt.trainer_resume("run-a") is None  # fresh: the fingerprint is written
    (tmp_path / "ckpt" / "checkpoint-4").mkdir()
    (tmp_path / "ckpt" / "checkpoint-4" / "trainer_state.json").write_text('{"global_step": 4}')
    (tmp_path / "ckpt" / "checkpoint-8").mkdir()  # killed mid-save: no trainer_state.json yet
    assert Checkpointer(tmp_path / "ckpt", every=4).trainer_resume("run-a") == str(tmp_path / "ckpt" / "checkpoint-4")
    assert not (tmp_path / "ckpt" / "checkpoint-8").exists()
