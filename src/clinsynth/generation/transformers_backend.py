"""The embedded backend: a local causal LM through transformers, batched with a seeded decode loop.

Loads a HF model directory (e.g. the ``generator_model`` stage's output) or a GGUF file
(dequantized at load), optionally merges a LoRA adapter (peft), and applies the tokenizer's chat
template. Requests are grouped by sampling params, sorted by prompt length (longest first) and
decoded in batches of ``batch_size`` with left padding (:func:`clinsynth.generation.sampling.decode`);
each reply is yielded the moment its row finishes.

Determinism: row-wise attention (:mod:`clinsynth.generation.attention`) + a per-request
generator make a request's text independent of its batch in float16 (measured bit-identical
alone vs batch of 16); bfloat16 on an AMX Xeon and float32 are not, see docs/generation.md. The
dtype is always an explicit param (``auto`` is refused): it decides the text.
torch is imported lazily so ``clinsynth.generation`` imports without it.

A request with a reply contract (``Request.contract``) decodes under an llguidance matcher of its own
(:mod:`clinsynth.generation.contracts`), built here; requests without one get none, and a batch without
any calls :func:`~clinsynth.generation.sampling.decode` exactly as before.
"""

from __future__ import annotations

import dataclasses
import itertools
import logging
import os
import sys
from collections.abc import Iterator, Sequence
from pathlib import Path

from clinsynth.generation.model_store import ModelStoreError, model_identity, offline, weights_sha256
from clinsynth.generation.types import Completion, Contract, ContractError, Failure, Message, Request
from clinsynth.params import ConfigError

log = logging.getLogger(__name__)

DTYPES = ("float16", "bfloat16", "float32")


def check_dtype(name: str, where: str = "params.yaml: generate.transformers.dtype") -> str:
    """``name`` if it is one of :data:`DTYPES`; ``auto`` and anything else raise ConfigError saying why."""
    if name == "auto":
        raise ConfigError(
            f"{where}: 'auto' is refused: the dtype decides the text, so it must be written down, not chosen by "
            "the CPU (on an AMX Xeon auto chose bfloat16, which gave other text than the committed float16 "
            "outputs and was not batch-invariant there). Set one of float16 | bfloat16 | float32; float16 "
            "reproduces the committed outputs (docs/generation.md: what is reproducible across CPUs)")
    if name not in DTYPES:
        raise ConfigError(f"{where}: expected one of float16 | bfloat16 | float32, got {name!r}")
    return name


@dataclasses.dataclass(frozen=True)
class TransformersConfig:
    """``params.yaml: generate.transformers``. ``dtype`` is checked by :func:`check_dtype` (no ``auto``)."""

    model: str = "models/generator/smollm2-135m-instruct"  # HF directory or .gguf file
    adapter: str | None = None  # LoRA adapter directory (peft), merged at load
    dtype: str = "float16"  # float16 | bfloat16 | float32: decides the text, so never chosen for you
    batch_size: int = 16
    threads: int | None = None  # torch intra-op threads; null keeps torch's default
    max_context: int | None = None  # override config.max_position_embeddings

    def __post_init__(self) -> None:
        check_dtype(self.dtype)


def cpu_flags() -> set[str]:
    """The CPU feature flags of /proc/cpuinfo (empty where it cannot be read)."""
    try:
        text = Path("/proc/cpuinfo").read_text(encoding="utf-8")
    except OSError:
        return set()
    return {flag for line in text.splitlines() if line.startswith("flags") for flag in line.split(":", 1)[1].split()}


def auto_dtype_name(flags: set[str], has_cuda: bool = False) -> str:
    """The dtype the removed ``dtype: auto`` chose for these CPU flags (a speed hint, never applied).

    bfloat16 with AMX (tile matmuls) or on CUDA; float16 where AVX512-FP16 has native half FMAs
    (measured on this project's CPU, no AMX: fp16 GEMMs ~1.75x bf16, and SmolLM2's fp16 logits
    10x closer to float32 than bf16's); bfloat16 with AVX512-BF16 alone; float32 elsewhere (not
    batch-invariant, see docs/generation.md). float16 overflows past 65504: the decode loop stops
    with an error naming ``dtype: bfloat16`` if a model's activations get there.
    """
    if has_cuda or "amx_bf16" in flags:
        return "bfloat16"
    if "avx512_fp16" in flags:
        return "float16"
    if "avx512_bf16" in flags:
        return "bfloat16"
    return "float32"


def prefer_sleeping_threads() -> None:
    """Set ``OMP_WAIT_POLICY=PASSIVE`` unless set: torch's OpenMP threads then sleep at barriers.

    On a shared 2-core machine the default (spin-waiting) policy makes every parallel region wait
    for a descheduled sibling: measured at load ~5, SmolLM2 decode GEMMs took 46 ms/step with 2
    spinning threads, 2.4 ms with 2 passive threads and 1.5-2.5 ms with 1 thread; 8 real prompts x
    32 tokens took 133 s vs 10.7 s. libgomp reads the variable when torch is first imported, so
    this only acts before that (the backend and the benchmark call it first); ``OMP_WAIT_POLICY``
    in the environment wins.
    """
    if "torch" not in sys.modules:
        os.environ.setdefault("OMP_WAIT_POLICY", "PASSIVE")


def resolve_dtype(name: str):
    """The torch dtype named ``name`` (one of :data:`DTYPES`; ``auto`` raises ConfigError)."""
    import torch

    return getattr(torch, check_dtype(name))


def backend_identity(weights: str, dtype) -> str:
    """``<name>@<weights sha>[+lora@<sha>];<dtype>;decode-v<N>``: everything that decides the text.

    The dtype changes the logits and :data:`~clinsynth.generation.sampling.DECODE_VERSION` names the
    decode algorithm, so a different dtype or a decode change that alters text never reuses a
    cached reply.
    """
    from clinsynth.generation.sampling import DECODE_VERSION

    return f"{weights};{str(dtype).removeprefix('torch.')};decode-v{DECODE_VERSION}"


class TransformersBackend:
    """Backend over a local model; see the module docstring for batching and determinism."""

    def __init__(self, config: TransformersConfig) -> None:
        prefer_sleeping_threads()
        import torch
        from transformers import AutoModelForCausalLM, AutoTokenizer

        from clinsynth.generation.attention import register

        offline()
        self.config = config
        if config.threads:
            torch.set_num_threads(config.threads)
        path = Path(config.model)
        ident = model_identity(path)  # raises ModelStoreError when missing
        load = {"gguf_file": path.name} if path.is_file() else {}
        where = path.parent if path.is_file() else path
        self.dtype = resolve_dtype(config.dtype)
        self.tokenizer = AutoTokenizer.from_pretrained(where, **load)
        model = AutoModelForCausalLM.from_pretrained(where, dtype=self.dtype, attn_implementation=register(), **load)
        weights = str(ident)
        if config.adapter:
            model = self._merge_adapter(model, Path(config.adapter))
            weights += f"+lora@{weights_sha256(Path(config.adapter))[:16]}"
        self._identity = backend_identity(weights, self.dtype)
        log.info("transformers backend: %s, %d threads, identity %s", where, torch.get_num_threads(), self._identity)
        # in metrics/generate_R.json: what ran (dvc metrics diff shows a change of either)
        self.info = {"dtype": str(self.dtype).removeprefix("torch."), "torch": torch.__version__}
        self.model = model.eval()
        if self.tokenizer.chat_template is None:
            raise ModelStoreError(f"{path}: the tokenizer has no chat template; use an instruct/chat model")
        self.pad_id = self.tokenizer.pad_token_id if self.tokenizer.pad_token_id is not None else self.tokenizer.eos_token_id
        self.eos_ids = self._eos_ids()
        self.context = config.max_context or int(getattr(model.config, "max_position_embeddings", 2048))
        self._matchers = None  # MatcherFactory, built when a request first carries a contract

    def _merge_adapter(self, model, adapter: Path):
        from peft import PeftModel

        if not adapter.is_dir():
            raise ModelStoreError(f"{adapter}: adapter directory not found (generate.transformers.adapter)")
        return PeftModel.from_pretrained(model, adapter).merge_and_unload()

    def _eos_ids(self) -> set[int]:
        ids = {self.tokenizer.eos_token_id}
        configured = getattr(self.model.generation_config, "eos_token_id", None)
        ids.update(configured if isinstance(configured, list) else [configured])
        return {i for i in ids if i is not None}

    @property
    def identity(self) -> str:
        return self._identity

    def _matcher(self, contract: Contract):
        """A fresh grammar matcher for one request's contract (the llguidance tokenizer is built on first use)."""
        if self._matchers is None:
            from clinsynth.generation.contracts import MatcherFactory

            self._matchers = MatcherFactory(self.tokenizer, int(self.model.config.vocab_size), self.eos_ids)
        return self._matchers(contract)

    def encode(self, messages: Sequence[Message]) -> list[int]:
        """Chat-templated token ids of ``messages``, with the assistant turn opened."""
        encoded = self.tokenizer.apply_chat_template(
            [{"role": m.role, "content": m.content} for m in messages],
            add_generation_prompt=True, tokenize=True, return_dict=True)
        return list(encoded["input_ids"])

    def generate(self, requests: Sequence[Request]) -> Iterator[Completion | Failure]:
        """Yield a Completion per request as its row finishes; prompts that do not fit fail with their length."""
        from clinsynth.generation.sampling import decode

        encoded, matchers = [], {}
        for request in requests:
            ids = self.encode(request.messages)
            if len(ids) + request.sampling.max_new_tokens > self.context:
                yield Failure(request.id, "prompt_too_long",
                              f"prompt has {len(ids)} tokens; + max_new_tokens {request.sampling.max_new_tokens} "
                              f"exceeds the model context of {self.context} tokens")
                continue
            if request.contract is not None:
                try:
                    matchers[request.id] = self._matcher(request.contract)
                except ContractError as exc:
                    yield Failure(request.id, "contract_invalid", str(exc))
                    continue
            encoded.append((request, ids))
        by_sampling = lambda item: repr(item[0].sampling)  # noqa: E731 - group key
        for _, group in itertools.groupby(sorted(encoded, key=by_sampling), key=by_sampling):
            rows = sorted(group, key=lambda item: (-len(item[1]), item[0].id))
            for start in range(0, len(rows), self.config.batch_size):
                batch = rows[start:start + self.config.batch_size]
                row_matchers = [matchers.get(r.id) for r, _ in batch]
                results = decode(self.model, [ids for _, ids in batch], [r.seed for r, _ in batch],
                                 batch[0][0].sampling, self.eos_ids, self.pad_id,
                                 row_matchers if any(m is not None for m in row_matchers) else None)
                for row in results:
                    request, ids = batch[row.index]
                    text = self.tokenizer.decode(list(row.token_ids), skip_special_tokens=True)
                    yield Completion(request.id, text, row.finish_reason, len(ids), len(row.token_ids))
