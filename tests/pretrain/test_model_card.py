"""The saved rephrase LMs carry a model card stating only what the stage measured, and load with from_pretrained."""

import torch
from huggingface_hub import ModelCard

from clinsynth.pretraining import corpora as rc
from clinsynth.training import lm

DEC = lm.DecoderConfig(hidden_size=16, intermediate_size=32, num_hidden_layers=1, num_attention_heads=2, seq_len=8)
TRAIN = lm.TrainConfig(batch_size=4, learning_rate=0.01, warmup_steps=1, bf16=False, seed=5)


def test_decoder_card_states_corpus_budget_and_held_out_figure_and_reloads(tmp_path, chunks, word_tokenizer):
    lm.make_deterministic(1)
    real_docs = rc.tokenize(word_tokenizer, [c["text"] for c in chunks])
    test_docs = rc.tokenize(word_tokenizer, [t.text for t in rc.real_texts(chunks, "test")])
    corpus = rc.build_corpora(["real"], chunks, [])["real"]
    docs = rc.group_docs(corpus, word_tokenizer)
    run = lm.DecoderRun(token_budget=64, vocab="real", eval_max_tokens=0, model=DEC, train=TRAIN)
    (model, vocab), metrics, _ = rc.pretrain_decoder(docs, real_docs, test_docs, word_tokenizer, run, "repeat")
    card = lm.model_card("decoder", "real", model, metrics, "test", compact_vocab=True)
    card.save(tmp_path / "README.md")
    model.save_pretrained(tmp_path)
    text = ModelCard.load(tmp_path / "README.md").text
    assert card.data.pipeline_tag == "text-generation" and card.data.library_name == "transformers"
    assert "corpus `real`" in text and f"**{metrics['train_tokens']} tokens**" in text
    assert f"{metrics['steps']} optimizer steps" in text and f"{model.num_parameters()} parameters" in text
    assert f"Perplexity **{metrics['perplexity']}**" in text and "vocab_map.json" in text
    from transformers import AutoModelForCausalLM

    again = AutoModelForCausalLM.from_pretrained(tmp_path)
    assert all(torch.equal(v, again.state_dict()[k]) for k, v in model.state_dict().items())


def test_an_untrained_or_unscored_model_claims_no_training_and_no_figure():
    model = lm.decoder_factory(DEC, vocab_size=6)()
    card = lm.model_card("decoder", "none", model, {"vocab_size": 6}, "test", compact_vocab=True)
    assert "Not trained (corpus `none`)" in card.text and "Not measured by the stage." in card.text
    assert "Perplexity" not in card.text and "tokens**" not in card.text
    encoder = lm.bert_factory(lm.EncoderConfig(16, 32, 1, 2), vocab_size=10, seq_len=8)()
    enc = lm.model_card("encoder", "real", encoder, {"mlm_loss": 5.1, "mlm_perplexity": 164.0, "test_masked_tokens": 9,
                                                     "steps": 2, "train_tokens": 64, "sources": []}, "test", False)
    assert enc.data.pipeline_tag == "fill-mask" and "MLM loss **5.1**" in enc.text and "full vocabulary" in enc.text
