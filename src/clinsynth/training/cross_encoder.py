"""A cross-encoder: a sequence classifier over text pairs (``[CLS] a [SEP] b [SEP]``), trained on CPU.

Generic: FHIR QA relevance uses it with (question, flattened resource) pairs; any pair task can.
The model comes from a ``model_factory``, called after seeding (tests build a tiny ``BertConfig``
model offline; the pipeline loads the packaged MiniLM with a fresh classification head). Training is deterministic for a given seed, thread count and
data: seeded shuffling, ``torch.use_deterministic_algorithms(True)``, fixed ``torch.set_num_threads``.
Batches are padded to their longest pair (not to ``max_length``), which is what keeps CPU steps short.
"""

from __future__ import annotations

import contextlib
import dataclasses
import json
import time
from collections.abc import Callable, Sequence
from pathlib import Path
from typing import Any

import torch
from tqdm import tqdm

from clinsynth.errors import InputError
from clinsynth.training import precision
from clinsynth.training.history import Checkpointer, History, current_lr, fingerprint, state_digest
from clinsynth.params import (ConfigError, Fraction, NonNegativeFloat, NonNegativeInt, PositiveFloat, PositiveInt,
                              package_path)

LABELS = ("not_relevant", "relevant")


@dataclasses.dataclass(frozen=True)
class CrossEncoderConfig:
    max_length: PositiveInt = 128  # tokens of question + resource together; the resource side is truncated first
    batch_size: PositiveInt = 16
    max_steps: PositiveInt = 300
    learning_rate: PositiveFloat = 5e-5
    warmup_ratio: Fraction = 0.1
    weight_decay: NonNegativeFloat = 0.01
    bf16: bool = False  # bfloat16 autocast; measured slower than float32 at these small batches on CPU
    threads: PositiveInt = 1  # fixed for reproducibility; 2 threads on 2 shared cores ran 5x slower than 1
    freeze_layers: NonNegativeInt = 3  # embeddings + the lowest N encoder layers get no gradient (halves step time)


@dataclasses.dataclass(frozen=True)
class TrainResult:
    steps: int
    examples_seen: int
    loss_first: float  # mean loss of the first 10% of steps
    loss_last: float  # mean loss of the last 10% of steps
    seconds: float  # wall clock
    cpu_seconds: float  # this process's CPU time: what the run costs on an idle machine
    history: History = dataclasses.field(default_factory=History)  # per-step loss and learning rate


def resolve_model_dir(name: str) -> Path:
    """``pkg:<package>/<sub/dir>`` -> that folder inside an installed package; otherwise a local path."""
    path = package_path(name)
    if not path.is_dir():
        raise FileNotFoundError(f"model {name!r}: {path} is not a directory; expected a Hugging Face model folder")
    return path


def pretrained_factory(model_dir: Path | str) -> Callable[[], torch.nn.Module]:
    """A factory loading ``AutoModelForSequenceClassification`` with a fresh 2-label head, offline."""
    def factory() -> torch.nn.Module:
        from transformers import AutoModelForSequenceClassification

        return AutoModelForSequenceClassification.from_pretrained(
            str(model_dir), num_labels=len(LABELS), id2label=dict(enumerate(LABELS)),
            label2id={label: i for i, label in enumerate(LABELS)}, local_files_only=True)
    return factory


def set_determinism(seed: int, threads: int) -> None:
    torch.manual_seed(seed)
    torch.set_num_threads(threads)
    torch.use_deterministic_algorithms(True)


def freeze_lower_layers(model: torch.nn.Module, n: int) -> None:
    """Freeze the embeddings and the first ``n`` encoder layers of a BERT-like model (no-op for n=0)."""
    if n <= 0:
        return
    base = model.base_model
    layers = getattr(getattr(base, "encoder", None), "layer", None)
    if layers is None or not hasattr(base, "embeddings"):
        raise ConfigError(f"freeze_layers={n}: {type(model).__name__} has no embeddings/encoder.layer; set freeze_layers: 0")
    if n > len(layers):
        raise ConfigError(f"freeze_layers={n}: the model has only {len(layers)} encoder layers")
    for module in [base.embeddings, *layers[:n]]:
        for param in module.parameters():
            param.requires_grad = False


def _autocast(enabled: bool):
    return precision.autocast(enabled)


def encode(tokenizer, pairs: Sequence[tuple[str, str]], max_length: int) -> dict[str, torch.Tensor]:
    """Tokenize pairs, truncating the second text first, padded to the longest pair: each tensor ``[B, T]``."""
    firsts, seconds = [a for a, _ in pairs], [b for _, b in pairs]
    return tokenizer(firsts, seconds, truncation="longest_first", max_length=max_length,
                     padding=True, return_tensors="pt")


def train_cross_encoder(model_factory: Callable[[], torch.nn.Module], tokenizer,
                        examples: Sequence[tuple[str, str, int]], cfg: CrossEncoderConfig, seed: int,
                        progress: bool = True, checkpoint: Checkpointer | None = None
                        ) -> tuple[torch.nn.Module, TrainResult]:
    """Build a model with ``model_factory`` (after seeding, so a fresh head is initialised the same way
    every run) and fine-tune it on (a, b, label) examples for ``cfg.max_steps`` steps (epochs cycle).

    With a ``checkpoint``, a saved state of the same run is resumed and the state saved every
    ``checkpoint.every`` steps (see :mod:`clinsynth.training.history`)."""
    from transformers import get_linear_schedule_with_warmup

    if not examples:
        raise InputError("train_cross_encoder: no training examples")
    checkpoint = checkpoint or Checkpointer(None, 0)
    set_determinism(seed, cfg.threads)
    model = model_factory()
    generator = torch.Generator().manual_seed(seed)
    freeze_lower_layers(model, cfg.freeze_layers)
    trainable = [p for p in model.parameters() if p.requires_grad]
    decay = [p for p in trainable if p.ndim > 1]
    no_decay = [p for p in trainable if p.ndim <= 1]
    optimizer = torch.optim.AdamW([{"params": decay, "weight_decay": cfg.weight_decay},
                                   {"params": no_decay, "weight_decay": 0.0}], lr=cfg.learning_rate)
    scheduler = get_linear_schedule_with_warmup(optimizer, int(cfg.warmup_ratio * cfg.max_steps), cfg.max_steps)
    history, order, first = History(), [], 0
    if checkpoint.every:
        key = fingerprint("train_cross_encoder", cfg, seed, list(examples), state_digest(model))
        resumed = checkpoint.resume(key, model, optimizer, scheduler, [generator])
        if resumed is not None:
            history, order, first = resumed.history, resumed.state["order"], resumed.step
    model.train()
    start, cpu_start = time.perf_counter(), time.process_time()
    for step in tqdm(range(first, cfg.max_steps), desc="train cross-encoder", unit="step", disable=not progress,
                     initial=first, total=cfg.max_steps):
        if len(order) < cfg.batch_size:
            order += torch.randperm(len(examples), generator=generator).tolist()
        batch, order = [examples[i] for i in order[:cfg.batch_size]], order[cfg.batch_size:]
        inputs = encode(tokenizer, [(a, b) for a, b, _ in batch], cfg.max_length)
        labels = torch.tensor([y for _, _, y in batch], dtype=torch.long)
        with _autocast(cfg.bf16):
            logits = model(**inputs).logits  # [B, 2]
        loss = torch.nn.functional.cross_entropy(logits.float(), labels)
        loss.backward()
        torch.nn.utils.clip_grad_norm_(trainable, 1.0)
        lr = current_lr(optimizer)
        optimizer.step()
        scheduler.step()
        optimizer.zero_grad(set_to_none=True)
        history.record(step + 1, loss.item(), lr)
        checkpoint.step(step + 1, cfg.max_steps, model, optimizer, scheduler, [generator], history, {"order": order})
    checkpoint.finish()
    model.eval()
    return model, TrainResult(steps=len(history), examples_seen=len(history) * cfg.batch_size,
                              loss_first=history.loss_first(), loss_last=history.loss_last(),
                              seconds=time.perf_counter() - start, cpu_seconds=time.process_time() - cpu_start,
                              history=history)


@torch.inference_mode()
def predict_proba(model: torch.nn.Module, tokenizer, pairs: Sequence[tuple[str, str]], max_length: int,
                  batch_size: int = 64, bf16: bool = False, progress: bool = True) -> list[float]:
    """P(relevant) for each pair, in input order."""
    model.eval()
    scores: list[float] = []
    for i in tqdm(range(0, len(pairs), batch_size), desc="score pairs", unit="batch", disable=not progress):
        inputs = encode(tokenizer, pairs[i:i + batch_size], max_length)
        with _autocast(bf16):
            logits = model(**inputs).logits
        scores += torch.softmax(logits.float(), dim=-1)[:, 1].tolist()
    return scores


def save_cross_encoder(model, tokenizer, out_dir: Path | str, meta: dict[str, Any]) -> None:
    """Model + tokenizer (Hugging Face format) + ``cross_encoder.json`` (labels, max_length, training facts)."""
    out = Path(out_dir)
    out.mkdir(parents=True, exist_ok=True)
    model.save_pretrained(out)
    tokenizer.save_pretrained(out)
    info = {"labels": list(LABELS), **meta}
    (out / "cross_encoder.json").write_text(json.dumps(info, sort_keys=True, indent=2) + "\n", encoding="utf-8")


def load_cross_encoder(model_dir: Path | str):
    """(model, tokenizer, meta) saved by :func:`save_cross_encoder`."""
    from transformers import AutoModelForSequenceClassification, AutoTokenizer

    model_dir = Path(model_dir)
    meta = json.loads((model_dir / "cross_encoder.json").read_text(encoding="utf-8"))
    model = AutoModelForSequenceClassification.from_pretrained(str(model_dir), local_files_only=True)
    tokenizer = AutoTokenizer.from_pretrained(str(model_dir), local_files_only=True)
    return model.eval(), tokenizer, meta
