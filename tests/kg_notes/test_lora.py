import json

import pytest
import torch

from transformers import TrainerCallback

from clinsynth.training import lora
from clinsynth.training.trainer_support import TrainerCheckpoint

CHAT = ("{% for m in messages %}<|im_start|>{{ m['role'] }} {{ m['content'] }}<|im_end|> {% endfor %}"
        "{% if add_generation_prompt %}<|im_start|>assistant {% endif %}")
WORDS = ["<pad>", "<unk>", "<|im_start|>", "<|im_end|>", "user", "assistant", "write", "a", "note", "for",
         "diabetes", "patient", "has", "thirst", "fever"]


@pytest.fixture(scope="module")
def tokenizer():
    from tokenizers import Tokenizer, models, pre_tokenizers
    from transformers import PreTrainedTokenizerFast

    tok = Tokenizer(models.WordLevel({w: i for i, w in enumerate(WORDS)}, unk_token="<unk>"))
    tok.pre_tokenizer = pre_tokenizers.WhitespaceSplit()
    fast = PreTrainedTokenizerFast(tokenizer_object=tok, pad_token="<pad>", unk_token="<unk>", eos_token="<|im_end|>")
    fast.chat_template = CHAT
    return fast


def tiny_llama():
    from transformers import LlamaConfig, LlamaForCausalLM

    torch.manual_seed(0)
    return LlamaForCausalLM(LlamaConfig(vocab_size=len(WORDS), hidden_size=16, intermediate_size=32, num_hidden_layers=1,
                                        num_attention_heads=2, num_key_value_heads=2, max_position_embeddings=64))


PAIRS = [lora.Pair([{"role": "user", "content": "write a note for diabetes"}], "patient has thirst"),
         lora.Pair([{"role": "user", "content": "write a note for fever"}], "patient has fever")]


def test_encode_pair_labels_only_the_reply(tokenizer):
    ids, labels, truncated = lora.encode_pair(tokenizer, PAIRS[0], max_length=32, min_reply_tokens=4)
    reply = [WORDS.index(w) for w in ("patient", "has", "thirst", "<|im_end|>")]
    assert ids[-4:] == reply and labels[-4:] == reply and not truncated
    assert set(labels[:-4]) == {-100} and len(ids) == len(labels)


def test_encode_pair_truncates_prompt_from_the_left_then_the_reply(tokenizer):
    ids, labels, truncated = lora.encode_pair(tokenizer, PAIRS[0], max_length=6, min_reply_tokens=3)
    assert truncated and len(ids) == 6 and labels[-3:] == [WORDS.index(w) for w in ("patient", "has", "thirst")]
    with pytest.raises(lora.LoraTrainingError, match="min_reply_tokens 8 >= max_length 8"):
        lora.encode_pair(tokenizer, PAIRS[0], 8, 8)


CFG = lora.LoraTrainConfig(r=4, alpha=8, max_length=32, min_reply_tokens=4, batch_size=2, max_steps=30,
                           learning_rate=0.05, warmup_steps=2, threads=1)


def lora_state(model) -> dict[str, torch.Tensor]:
    return {k: v.detach().clone() for k, v in model.named_parameters() if "lora_" in k}


def states_equal(a, b) -> bool:
    sa, sb = lora_state(a), lora_state(b)
    return sa.keys() == sb.keys() and bool(sa) and all(torch.equal(v, sb[k]) for k, v in sa.items())


def test_train_lora_is_deterministic_lowers_the_loss_and_saves_a_peft_adapter(tokenizer, tmp_path):
    model, result = lora.train_lora(tiny_llama, tokenizer, PAIRS, CFG, seed=1, progress=False)
    again, second = lora.train_lora(tiny_llama, tokenizer, PAIRS, CFG, seed=1, progress=False)
    assert states_equal(model, again) and second.history.rows == result.history.rows
    other, _ = lora.train_lora(tiny_llama, tokenizer, PAIRS, CFG, seed=2, progress=False)
    assert not states_equal(model, other)
    assert result.loss_last < result.loss_first
    assert result.pairs == 2 and result.reply_tokens == 8 and result.trainable_parameters > 0
    rows = result.history.rows
    assert [r["step"] for r in rows] == list(range(1, 31)) and set(rows[0]) == {"step", "loss", "learning_rate"}
    assert rows[0]["learning_rate"] == 0.0 and rows[2]["learning_rate"] == pytest.approx(0.05)  # warmup 2 from 0
    card = lora.AdapterCard("test adapter", "finetune_test", "tiny-llama", "two toy pairs", {"r": 4})
    lora.save_adapter(model, tmp_path / "adapter", lora.result_facts(result), card)
    config = json.loads((tmp_path / "adapter" / "adapter_config.json").read_text())
    assert config["r"] == 4 and config["target_modules"] == ["q_proj", "v_proj"]
    from huggingface_hub import ModelCard
    saved = ModelCard.load(tmp_path / "adapter" / "README.md")
    assert saved.data.base_model == "tiny-llama" and saved.data.library_name == "peft" and "lora" in saved.data.tags
    assert "two toy pairs" in saved.text and f'| loss_last | {round(result.loss_last, 4)} |' in saved.text
    from peft import PeftModel
    reloaded = PeftModel.from_pretrained(tiny_llama(), tmp_path / "adapter")
    batch = lora.collate([lora.encode_pair(tokenizer, PAIRS[0], 32, 4)[:2]], 0)
    with torch.no_grad():
        assert torch.allclose(reloaded(input_ids=batch["input_ids"]).logits, model(input_ids=batch["input_ids"]).logits, atol=1e-5)


def test_the_loss_is_on_the_reply_tokens_only(tokenizer):
    """The trainer's loss (the model's own, on our labels) is the cross-entropy of the reply tokens alone."""
    model = lora.add_lora(tiny_llama(), CFG).eval()

    def loss(pair):
        batch = lora.collate([lora.encode_pair(tokenizer, pair, 32, 4)[:2]], 0)
        with torch.no_grad():
            out = model(**batch).loss
        manual = torch.nn.functional.cross_entropy(model(input_ids=batch["input_ids"]).logits[0, -5:-1],
                                                   batch["input_ids"][0, -4:])  # the 4 reply tokens
        return out.item(), manual.item(), batch["labels"]

    base, manual, labels = loss(PAIRS[0])
    assert base == pytest.approx(manual, abs=1e-6) and (labels != -100).sum().item() == 4
    same_reply = lora.Pair([{"role": "user", "content": "write a note for fever"}], PAIRS[0].reply)
    assert lora.encode_pair(tokenizer, same_reply, 32, 4)[1][-4:] == lora.encode_pair(tokenizer, PAIRS[0], 32, 4)[1][-4:]
    assert set(lora.encode_pair(tokenizer, same_reply, 32, 4)[1][:-4]) == {-100}
    assert loss(lora.Pair(PAIRS[0].messages, "patient has fever"))[0] != pytest.approx(base)


class KillAt(TrainerCallback):
    def __init__(self, step: int) -> None:
        self.step = step

    def on_step_end(self, args, state, control, **kwargs):
        if state.global_step == self.step:
            raise KeyboardInterrupt


def test_a_killed_training_resumes_to_the_same_adapter(tokenizer, tmp_path):
    full, result = lora.train_lora(tiny_llama, tokenizer, PAIRS, CFG, seed=1, progress=False)
    ckpt = tmp_path / "ckpt"
    with pytest.raises(KeyboardInterrupt):
        lora.train_lora(tiny_llama, tokenizer, PAIRS, CFG, seed=1, progress=False,
                        checkpoint=TrainerCheckpoint(ckpt, 10), callbacks=[KillAt(17)])
    assert (ckpt / "checkpoint-10" / "adapter_model.safetensors").is_file()
    resumed, again = lora.train_lora(tiny_llama, tokenizer, PAIRS, CFG, seed=1, progress=False,
                                     checkpoint=TrainerCheckpoint(ckpt, 10))
    assert not ckpt.exists() and states_equal(full, resumed) and again.history.rows == result.history.rows


def test_no_pairs():
    with pytest.raises(lora.LoraTrainingError, match="no training pairs"):
        lora.train_lora(tiny_llama, None, [], lora.LoraTrainConfig(), seed=0)


def test_adapter_config_target_modules_are_saved_sorted(tmp_path):
    # peft keeps target_modules as a set: the saved order followed PYTHONHASHSEED (a DVC output change
    # between two identical trainings); save_adapter sorts them
    path = tmp_path / "adapter_config.json"
    path.write_text(json.dumps({"target_modules": ["v_proj", "q_proj", "k_proj"], "r": 4}, indent=2))
    lora.normalize_adapter_config(path)
    assert path.read_text() == json.dumps({"r": 4, "target_modules": ["k_proj", "q_proj", "v_proj"]}, indent=2, sort_keys=True)
