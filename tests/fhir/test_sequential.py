"""The sequential training mode: relevance as yes/no generation, P(yes), one LoRA continued over two phases."""

import dataclasses

import pytest
import torch

from clinsynth.fhir.relevance import Pair, PairConfig, relevance_report, sample_indices
from clinsynth.fhir.relevance_lm import (NO, YES, RelevanceLmError, answer_token_ids, encode_prompts, relevance_lora_pairs,
                                         relevance_messages, score_relevance)
from clinsynth.fhir.synthetic import AnswerData, RelevanceData, answer_training_pairs, relevance_training_pairs
from clinsynth.training import lora

from .test_corpus import gated_record
PAIRS = [Pair("q1", "r1", "What is the last body weight?", "Observation | Body Weight | 2021-06-10 | 78 kg | final", 1),
         Pair("q1", "r2", "What is the last body weight?", "Condition | Essential hypertension | onset 2001 | active", 0),
         Pair("q2", "r3", "Has the patient had an appendectomy?", "Procedure | Appendectomy | 2010-01-02 | completed", 1),
         Pair("q2", "r4", "Has the patient had an appendectomy?", "Immunization | Influenza vaccine | 2019 | completed", 0)]


@pytest.fixture(scope="module")
def tiny(tiny_model_dir):
    from transformers import AutoModelForCausalLM, AutoTokenizer

    tokenizer = AutoTokenizer.from_pretrained(tiny_model_dir)
    return lambda: AutoModelForCausalLM.from_pretrained(tiny_model_dir, dtype=torch.float32), tokenizer


@pytest.fixture(scope="module")
def template(test_templates):
    return test_templates["relevance"]


def _lora_state(model) -> dict[str, torch.Tensor]:
    return {k: v.detach().clone() for k, v in model.named_parameters() if "lora_" in k}


def test_relevance_prompt_and_targets(template):
    system, user = relevance_messages(PAIRS[0].question, PAIRS[0].text, template)
    assert (system.role, system.content) == ("system", "SYSTEM")
    assert user.content == f"Q: {PAIRS[0].question}\nR: {PAIRS[0].text}"
    pairs = relevance_lora_pairs(PAIRS, template)
    assert [p.reply for p in pairs] == [YES, NO, YES, NO]
    assert [m["role"] for m in pairs[0].messages] == ["system", "user"] and pairs[0].messages[1]["content"] == user.content


def test_answer_token_ids_are_the_first_reply_tokens(tiny, template):
    _, tokenizer = tiny
    yes, no = answer_token_ids(tokenizer)  # the byte tokenizer: "y" and "n"
    assert (tokenizer.convert_ids_to_tokens(yes), tokenizer.convert_ids_to_tokens(no)) == ("y", "n")
    # training tokenizes the reply "yes" + eos: its first label is the token the scorer reads
    ids, labels, _ = lora.encode_pair(tokenizer, relevance_lora_pairs(PAIRS[:1], template)[0], 512, 2)
    assert [t for t in labels if t != -100][0] == yes


def test_answer_token_ids_must_differ():
    class SameFirstToken:
        def __call__(self, text, add_special_tokens=False):
            return {"input_ids": [7, len(text)]}

    with pytest.raises(RelevanceLmError, match=r"starts 'yes' with \[7\] and 'no' with \[7\]"):
        answer_token_ids(SameFirstToken())


def test_score_relevance_matches_an_unpadded_forward_in_any_batch(tiny, template):
    factory, tokenizer = tiny
    model = factory().eval()
    examples = [(p.question, p.text) for p in PAIRS]
    one = score_relevance(model, tokenizer, examples, template, 512, batch_size=1, progress=False)
    batched = score_relevance(model, tokenizer, examples, template, 512, batch_size=3, progress=False)
    assert batched == pytest.approx(one, abs=1e-5) and all(0.0 < s < 1.0 for s in one)
    yes, no = answer_token_ids(tokenizer)
    ids = torch.tensor([encode_prompts(tokenizer, examples[1:2], template, 512)[0]])
    with torch.no_grad():
        logits = model(input_ids=ids).logits[0, -1]
    assert one[1] == pytest.approx(torch.softmax(logits[[yes, no]], -1)[0].item(), abs=1e-5)
    # max_length keeps the end of the prompt (the question of a long prompt is cut first, as in training)
    assert len(encode_prompts(tokenizer, examples[:1], template, 40)[0]) == 40


def test_two_phases_continue_one_adapter(tiny, template):
    factory, tokenizer = tiny
    cfg = lora.LoraTrainConfig(r=4, alpha=8, max_length=256, min_reply_tokens=2, batch_size=2, max_steps=12,
                               learning_rate=0.05, warmup_steps=1, threads=1)
    yes_pairs = [dataclasses.replace(p, label=1) for p in PAIRS]
    examples = [(p.question, p.text) for p in PAIRS]
    before = sum(score_relevance(factory(), tokenizer, examples, template, 256, progress=False)) / 4
    phase1, first = lora.train_lora(factory, tokenizer, relevance_lora_pairs(yes_pairs, template), cfg, seed=3,
                                    progress=False)
    after = sum(score_relevance(phase1, tokenizer, examples, template, 256, progress=False)) / 4
    assert after > max(before, 0.9)  # the scorer reads the token the training targets
    snapshot = _lora_state(phase1)
    answers = [lora.Pair([{"role": "user", "content": "When?"}], "2021-06-10, 78 kg")]
    # phase 2 at learning rate 0 leaves the adapter as phase 1 left it: the starting point is phase 1's adapter
    frozen, _ = lora.train_lora(lambda: phase1, tokenizer, answers, dataclasses.replace(cfg, learning_rate=0.0), seed=3,
                                progress=False)
    assert frozen is phase1 and list(frozen.peft_config) == ["default"]
    assert all(torch.equal(v, snapshot[k]) for k, v in _lora_state(frozen).items())
    model, second = lora.train_lora(lambda: phase1, tokenizer, answers, cfg, seed=3, progress=False)
    assert second.trainable_parameters == first.trainable_parameters and second.loss_last < second.loss_first
    changed = [k for k, v in _lora_state(model).items() if not torch.equal(v, snapshot[k])]
    assert changed and set(_lora_state(model)) == set(snapshot)


def test_lm_scores_tune_the_threshold_on_dev_like_the_cross_encoder():
    test, dev = PAIRS, PAIRS[::-1]
    report = relevance_report(test, [0.9, 0.4, 0.6, 0.1], dev, [0.05, 0.7, 0.3, 0.8], {"q1": "a", "q2": "b"})
    assert report["model"]["threshold"] == 0.7 and report["model"]["f1"] == 0.6667  # 0.7 on test: tp 1, fn 1
    assert report["model_default_threshold"]["f1"] == 1.0


def test_sample_indices_seeded_in_order():
    assert sample_indices(5, 0, 1) == [0, 1, 2, 3, 4] and sample_indices(3, 9, 1) == [0, 1, 2]
    picked = sample_indices(100, 10, 13)
    assert picked == sorted(picked) and len(set(picked)) == 10 and picked == sample_indices(100, 10, 13)


def test_training_pairs_follow_the_train_data_switch(resources, test_templates):
    rows = [{**dataclasses.asdict(r), "split": "train"} for r in resources]
    templated = [dataclasses.asdict(p) for p in PAIRS]

    def unread():
        raise AssertionError("read although train_data does not use it")
        yield

    pairs = relevance_training_pairs(RelevanceData("templated", "pairs.jsonl", PairConfig()), [], templated, unread(), 13)
    assert pairs == {"templated": PAIRS, "llm": []}
    record = gated_record([resources[1].id], prompt_id="g1", patient_id=resources[0].patient_id, answer="Then.")
    both = relevance_training_pairs(RelevanceData("both", "pairs.jsonl", PairConfig()), [record], templated, rows, 13)
    assert both["templated"] == PAIRS and [p.resource_id for p in both["llm"] if p.label] == [resources[1].id]
    data = AnswerData("llm", "qa.jsonl", "fhir_qa.answer.v1", 0, 8, lora.LoraTrainConfig())
    answers, counts = answer_training_pairs(data, test_templates["answer"], [record], unread(), rows, 13)
    assert counts == {"llm_questions": 1, "templated_questions": 0} and [p.reply for p in answers] == ["Then."]
