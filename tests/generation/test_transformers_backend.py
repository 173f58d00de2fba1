"""The transformers backend: identity, context limit, adapters; slow: the packaged SmolLM2."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from clinsynth.generation.cache import cache_key
from clinsynth.generation.model_store import IDENTITY_FILE, ModelStoreError, model_identity
from clinsynth.generation.sampling import DECODE_VERSION
from clinsynth.generation.transformers_backend import (
    TransformersBackend,
    TransformersConfig,
    auto_dtype_name,
    backend_identity,
)
from clinsynth.generation.types import Completion, Failure, Message, Request, SamplingParams


def backend(model: Path, **kw) -> TransformersBackend:
    return TransformersBackend(TransformersConfig(model=str(model), dtype="bfloat16", threads=1, **kw))


def test_identity_is_name_weights_hash_dtype_and_decode_version(tiny_model_dir: Path) -> None:
    ident = model_identity(tiny_model_dir)
    assert str(ident) == f"tiny-llama@{ident.weights_sha256[:16]}"
    assert backend(tiny_model_dir).identity == f"{ident};bfloat16;decode-v{DECODE_VERSION}"


def test_dtype_and_decode_version_change_the_cache_key(monkeypatch: pytest.MonkeyPatch) -> None:
    """Either changes the text of a request, so neither may reuse a cached reply."""
    import torch

    from clinsynth.generation import sampling

    request = Request("a", (Message("user", "hi"),), 1, SamplingParams(temperature=0.7, max_new_tokens=8))
    base = cache_key(backend_identity("m@ab", torch.bfloat16), request)
    assert cache_key(backend_identity("m@ab", torch.float16), request) != base
    monkeypatch.setattr(sampling, "DECODE_VERSION", DECODE_VERSION + 1)
    assert backend_identity("m@ab", torch.bfloat16).endswith(f";decode-v{DECODE_VERSION + 1}")
    assert cache_key(backend_identity("m@ab", torch.bfloat16), request) != base


def test_dtype_auto_is_refused_at_params_load_saying_why() -> None:
    """auto let the CPU decide the text (bfloat16 on an AMX Xeon: other text, not batch-invariant)."""
    from clinsynth.generation.factory import GenerateConfig
    from clinsynth.params import ConfigError, from_mapping

    with pytest.raises(ConfigError, match=r"generate.transformers.dtype: 'auto' is refused: the dtype decides the "
                                          r"text.*AMX Xeon.*Set one of float16 \| bfloat16 \| float32"):
        from_mapping(GenerateConfig, {"sampling": {}, "transformers": {"dtype": "auto"}}, "generate")
    with pytest.raises(ConfigError, match="expected one of float16 | bfloat16 | float32, got 'half'"):
        TransformersConfig(dtype="half")
    assert TransformersConfig().dtype == "float16"


@pytest.mark.parametrize(("flags", "expected"), [
    ({"avx512f", "avx512_bf16", "avx512_fp16"}, "float16"),  # this project's CPU: no AMX, native fp16 FMAs
    ({"avx512f", "avx512_bf16", "avx512_fp16", "amx_bf16"}, "bfloat16"),  # AMX tiles beat fp16 FMAs
    ({"avx512f", "avx512_bf16"}, "bfloat16"),
    ({"avx2"}, "float32"),
])
def test_auto_dtype_name_is_only_a_speed_hint(flags: set[str], expected: str) -> None:
    assert auto_dtype_name(flags) == expected


def test_backend_info_names_the_dtype_and_torch_that_ran(tiny_model_dir: Path) -> None:
    import torch

    assert backend(tiny_model_dir).info == {"dtype": "bfloat16", "torch": torch.__version__}


def test_missing_model_says_how_to_fix(tmp_path: Path) -> None:
    with pytest.raises(ModelStoreError, match="run `dvc repro generator_model`"):
        backend(tmp_path / "nope")


def test_prompt_longer_than_context_is_rejected_with_its_length(tiny_model_dir: Path) -> None:
    sampling = SamplingParams(temperature=0.0, max_new_tokens=8)
    requests = [Request("long", (Message("user", "x" * 1100),), 1, sampling),
                Request("short", (Message("user", "hi"),), 1, sampling)]
    results = {r.request_id: r for r in backend(tiny_model_dir).generate(requests)}
    assert isinstance(results["short"], Completion)
    failure = results["long"]
    assert isinstance(failure, Failure) and failure.reason == "prompt_too_long"
    assert "prompt has 11" in failure.detail and "context of 1024 tokens" in failure.detail


def test_a_lora_adapter_changes_identity_and_key(tiny_model_dir: Path, tmp_path: Path) -> None:
    import torch
    from peft import LoraConfig, get_peft_model
    from transformers import AutoModelForCausalLM

    model = AutoModelForCausalLM.from_pretrained(tiny_model_dir)
    peft_model = get_peft_model(model, LoraConfig(r=2, target_modules=["q_proj", "v_proj"], init_lora_weights=False))
    torch.manual_seed(0)
    peft_model.save_pretrained(tmp_path / "adapter")
    plain, tuned = backend(tiny_model_dir), backend(tiny_model_dir, adapter=str(tmp_path / "adapter"))
    weights, _, rest = plain.identity.partition(";")
    assert tuned.identity.startswith(weights + "+lora@") and tuned.identity.endswith(";" + rest)
    request = Request("a", (Message("user", "hi"),), 1, SamplingParams(temperature=0.0, max_new_tokens=8))
    assert cache_key(plain.identity, request) != cache_key(tuned.identity, request)


def test_identity_file_is_trusted_when_present(tiny_model_dir: Path, tmp_path: Path) -> None:
    import shutil

    copy = tmp_path / "m"
    shutil.copytree(tiny_model_dir, copy)
    (copy / IDENTITY_FILE).write_text(json.dumps({"name": "x", "weights_sha256": "ab" * 32}), encoding="utf-8")
    assert str(model_identity(copy)) == "x@" + "ab" * 8


@pytest.mark.slow
def test_gguf_conversion_and_smollm2_batch_invariance(tmp_path_factory: pytest.TempPathFactory) -> None:
    """The packaged GGUF converts to a HF dir, and 16 real prompts give byte-identical text alone and batched."""
    from clinsynth.generation.model_store import convert_gguf, packaged_gguf, weights_sha256

    out = tmp_path_factory.mktemp("smollm2") / "smollm2-135m-instruct"
    identity = convert_gguf(packaged_gguf(), out, "smollm2-135m-instruct")
    assert identity.weights_sha256 == weights_sha256(out) and len(identity.source_sha256) == 64
    assert json.loads((out / IDENTITY_FILE).read_text())["source"] == "SmolLM2-135M-Instruct.Q4_1.gguf"
    sampling = SamplingParams(temperature=0.7, top_p=0.95, max_new_tokens=24)
    topics = ["cough", "fever", "rash", "chest pain", "headache", "back pain", "fatigue", "nausea"]
    requests = [Request(f"r{i:02d}", (Message("user", f"Write a one-line clinical note about {topics[i % 8]}"
                                                      + " with history" * (i // 2) + "."),), 500 + i, sampling)
                for i in range(16)]
    # float16 only: bfloat16 on an AMX Xeon (2026-12-02) gave other text in a batch than alone for all 16
    # requests (docs/generation.md), so the project's dtype is float16
    for dtype in ("float16",):
        smol = TransformersBackend(TransformersConfig(model=str(out), dtype=dtype, batch_size=16, threads=2))
        batched = {c.request_id: c.text for c in smol.generate(requests)}
        alone = {r.id: next(iter(smol.generate([r]))).text for r in requests}
        assert batched == alone, dtype
        assert any(t.strip() for t in batched.values())


@pytest.mark.parametrize(("preset", "torch_first", "expected"), [
    (None, False, "PASSIVE"),  # the default: OpenMP threads sleep at barriers on a shared machine
    ("ACTIVE", False, "ACTIVE"),  # the user's choice wins
    (None, True, "unset"),  # too late once torch is loaded: leave the environment alone
])
def test_threads_sleep_unless_told_otherwise(preset: str | None, torch_first: bool, expected: str) -> None:
    import os
    import subprocess
    import sys

    env = {k: v for k, v in os.environ.items() if k != "OMP_WAIT_POLICY"}
    if preset:
        env["OMP_WAIT_POLICY"] = preset
    code = ("import os\n" + ("import torch\n" if torch_first else "")
            + "from clinsynth.generation.transformers_backend import prefer_sleeping_threads\n"
            + "prefer_sleeping_threads()\nprint(os.environ.get('OMP_WAIT_POLICY', 'unset'))")
    out = subprocess.run([sys.executable, "-c", code], env=env, capture_output=True, text=True, check=True)
    assert out.stdout.strip() == expected
