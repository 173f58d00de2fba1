"""Shared fixtures. Add yours below; keep each fixture offline and small."""

from __future__ import annotations

import json
import os
from pathlib import Path

import pytest

# Before any test imports torch: OpenMP threads sleep at barriers instead of spinning, as the
# generation backend arranges (transformers_backend.prefer_sleeping_threads); on the shared 2-core
# machine spinning threads made the slow SmolLM2 tests ~10x slower.
os.environ.setdefault("OMP_WAIT_POLICY", "PASSIVE")



@pytest.fixture(autouse=True)
def _logging_not_left_configured():
    """run_stage and the CLI configure logging for their process (clinsynth.errors.configure_logging); a test
    that calls them in-process must not leave INFO lines switched on for the tests after it."""
    yield
    import logging

    from clinsynth.errors import _StderrHandler

    root = logging.getLogger()
    for handler in [h for h in root.handlers if isinstance(h, _StderrHandler)]:
        root.removeHandler(handler)
    root.setLevel(logging.WARNING)
    logging.getLogger("clinsynth").setLevel(logging.NOTSET)


CHAT_TEMPLATE = (
    "{% for message in messages %}<|im_start|>{{ message['role'] }}\n{{ message['content'] }}<|im_end|>\n"
    "{% endfor %}{% if add_generation_prompt %}<|im_start|>assistant\n{% endif %}"
)
SPECIAL_TOKENS = ["<|endoftext|>", "<|im_start|>", "<|im_end|>"]


def build_tiny_tokenizer():
    """A byte-level tokenizer (one token per byte, no merges) with ChatML specials: built offline in ms."""
    from tokenizers import Tokenizer, decoders, models, pre_tokenizers
    from transformers import PreTrainedTokenizerFast

    alphabet = sorted(pre_tokenizers.ByteLevel.alphabet())
    vocab = {tok: i for i, tok in enumerate(SPECIAL_TOKENS + alphabet)}
    core = Tokenizer(models.BPE(vocab=vocab, merges=[]))
    core.pre_tokenizer = pre_tokenizers.ByteLevel(add_prefix_space=False, use_regex=False)
    core.decoder = decoders.ByteLevel()
    core.add_special_tokens(SPECIAL_TOKENS)
    tokenizer = PreTrainedTokenizerFast(tokenizer_object=core, bos_token="<|im_start|>", eos_token="<|im_end|>",
                                        pad_token="<|im_end|>", unk_token="<|endoftext|>")
    tokenizer.chat_template = CHAT_TEMPLATE
    return tokenizer


def build_tiny_model(out_dir: Path, seed: int = 0) -> Path:
    """A 2-layer Llama (hidden 64, GQA 4/2 heads of 32) on the byte tokenizer, saved as a HF directory.

    head_dim 32 keeps every linear layer's output at 64 features or more: on an Intel Xeon with AVX512-FP16,
    oneDNN's float16 GEMM with 32 or fewer output features (the default head_dim 16 gives k_proj 2 x 16 = 32)
    rounds a row differently with 2 rows than with 4 (18 of 300 random draws), which broke batch invariance
    there; SmolLM2's narrowest layer has 192 (docs/generation.md "Batch invariance").

    Weights are random; the EOS row of the (untied) output layer is scaled up so rows stop at
    different lengths, which exercises dropping finished rows from the batch.
    """
    import torch
    from transformers import LlamaConfig, LlamaForCausalLM

    tokenizer = build_tiny_tokenizer()
    eos = tokenizer.convert_tokens_to_ids("<|im_end|>")
    config = LlamaConfig(vocab_size=len(tokenizer), hidden_size=64, intermediate_size=128, num_hidden_layers=2,
                         num_attention_heads=4, num_key_value_heads=2, head_dim=32, max_position_embeddings=1024,
                         tie_word_embeddings=False, bos_token_id=tokenizer.bos_token_id, eos_token_id=eos,
                         pad_token_id=eos, initializer_range=0.2)
    torch.manual_seed(seed)
    model = LlamaForCausalLM(config)
    with torch.no_grad():
        model.lm_head.weight[eos] *= 2.5
    model.generation_config.eos_token_id = eos
    model.generation_config.pad_token_id = eos
    model.save_pretrained(out_dir)
    tokenizer.save_pretrained(out_dir)
    return out_dir


@pytest.fixture(scope="session")
def tiny_model_dir(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A tiny random chat model directory, built once per session (loads in well under a second)."""
    return build_tiny_model(tmp_path_factory.mktemp("tiny_model") / "tiny-llama")


@pytest.fixture()
def chunk_records() -> list[dict]:
    path = Path(__file__).parent / "fixtures" / "generation" / "chunks.jsonl"
    return [json.loads(line) for line in path.read_text(encoding="utf-8").splitlines() if line.strip()]


def _copy_checkout(dest: Path) -> Path:
    """What a fresh clone would hold (tracked and untracked-but-not-ignored files), committed in a new git repo."""
    import shutil
    import subprocess

    root = Path(__file__).resolve().parents[1]
    files = subprocess.run(["git", "ls-files", "-co", "--exclude-standard", "-z"], cwd=root, check=True,
                           capture_output=True, text=True).stdout.split("\0")
    for rel in filter(None, files):
        if (root / rel).is_file():
            (dest / rel).parent.mkdir(parents=True, exist_ok=True)
            shutil.copy2(root / rel, dest / rel)
    for cmd in (["git", "init", "-q"], ["git", "add", "-A"],
                ["git", "-c", "user.email=t@t", "-c", "user.name=t", "commit", "-qm", "copy"]):
        subprocess.run(cmd, cwd=dest, check=True, capture_output=True)
    return dest


@pytest.fixture(scope="session")
def copy_checkout():
    """``copy_checkout(dest)``: a fresh-clone copy of this repository at ``dest``, for real DVC runs."""
    return _copy_checkout
