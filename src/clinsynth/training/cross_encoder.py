"""A cross-encoder over text pairs (``[CLS] a [SEP] b [SEP]`` -> one relevance logit), trained on CPU with
sentence-transformers' ``CrossEncoderTrainer``.

Generic: FHIR QA relevance uses it with (question, flattened resource) pairs; any binary pair task can.
The model is a ``sentence_transformers.CrossEncoder`` with one output (``num_labels=1``), trained with
``BinaryCrossEntropyLoss``; its score is ``sigmoid(logit)`` = P(relevant) in [0, 1] (``CrossEncoder.predict``),
so a relevance decision is ``score >= threshold`` as before. The model comes from a ``model_factory``, called
after seeding (tests load a tiny ``BertConfig`` model saved offline; the pipeline loads the packaged MiniLM, which
sentence-transformers converts to a cross-encoder with a freshly initialised head). Pairs are tokenized by the
model (``truncation="longest_first"`` to ``max_length``: the longer text, the resource, is cut first), padded to
the longest pair of the batch.

Deterministic for a given seed, thread count and data: the trainer's seeded sampler (``seed``/``data_seed``),
``torch.use_deterministic_algorithms(True)``, fixed ``torch.set_num_threads`` (:func:`set_determinism`).
A per-step history comes through :class:`~clinsynth.training.trainer_support.HistoryCallback`; checkpoints are the
trainer's (:class:`~clinsynth.training.trainer_support.TrainerCheckpoint`). The saved directory is a
sentence-transformers model (``CrossEncoder(path)`` loads it) with the library's model card (``README.md``,
filled from :class:`CrossEncoderCard`) and ``cross_encoder.json`` (labels, max_length, training facts).
"""

from __future__ import annotations

import dataclasses
import json
import logging
import time
from collections.abc import Callable, Sequence
from pathlib import Path
from typing import TYPE_CHECKING, Any

import torch

from clinsynth.errors import InputError
from clinsynth.params import (ConfigError, Fraction, NonNegativeFloat, NonNegativeInt, PositiveFloat, PositiveInt,
                              package_path)
from clinsynth.training.history import History, fingerprint, state_digest

if TYPE_CHECKING:  # transformers is imported where a training runs, not by the config's importers
    from clinsynth.training.trainer_support import TrainerCheckpoint

log = logging.getLogger(__name__)
LABELS = ("not_relevant", "relevant")  # the score is P(LABELS[1])


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
class CrossEncoderCard:
    """What the model card says beyond what the trainer fills in (hyperparameters, losses, versions)."""

    model_name: str = "clinsynth relevance cross-encoder"
    task_name: str = "pair relevance classification"
    train_datasets: tuple[str, ...] = ()  # names of the training data (no Hub ids: nothing is fetched)
    language: str = "en"


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


def card_data(card: CrossEncoderCard):
    from sentence_transformers.cross_encoder import CrossEncoderModelCardData

    return CrossEncoderModelCardData(language=card.language, model_name=card.model_name, task_name=card.task_name,
                                     train_datasets=[{"name": n} for n in card.train_datasets],
                                     local_files_only=True, generate_widget_examples=False)


def pretrained_factory(model_dir: Path | str, max_length: int,
                       card: CrossEncoderCard = CrossEncoderCard()) -> Callable[[], Any]:
    """A factory loading ``model_dir`` as a one-logit ``CrossEncoder`` (a fresh head where it has none), offline."""
    def factory():
        from sentence_transformers import CrossEncoder

        return CrossEncoder(str(model_dir), num_labels=1, max_length=max_length, device="cpu",
                            local_files_only=True, model_card_data=card_data(card))
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


def training_args(cfg: CrossEncoderConfig, seed: int, checkpoint: TrainerCheckpoint, progress: bool):
    from sentence_transformers.cross_encoder import CrossEncoderTrainingArguments

    from clinsynth.training.trainer_support import common_args

    return CrossEncoderTrainingArguments(
        **checkpoint.trainer_args(),
        **common_args(cfg.max_steps, cfg.batch_size, cfg.learning_rate, int(cfg.warmup_ratio * cfg.max_steps),
                      cfg.weight_decay, 1.0, cfg.bf16, seed, progress))


def train_cross_encoder(model_factory: Callable[[], Any], examples: Sequence[tuple[str, str, int]],
                        cfg: CrossEncoderConfig, seed: int, progress: bool = True,
                        checkpoint: TrainerCheckpoint | None = None, callbacks: Sequence[Any] = ()
                        ) -> tuple[Any, TrainResult]:
    """Build a ``CrossEncoder`` with ``model_factory`` (after seeding, so a fresh head is initialised the same way
    every run) and fine-tune it on (a, b, label) examples for ``cfg.max_steps`` steps (epochs cycle).

    With a ``checkpoint``, a checkpoint of the same run is resumed and one saved every ``checkpoint.every`` steps;
    it is deleted when the training completes. ``callbacks`` are more ``TrainerCallback``\\ s (tests kill a run)."""
    from datasets import Dataset
    from sentence_transformers.cross_encoder import CrossEncoderTrainer
    from sentence_transformers.cross_encoder.losses import BinaryCrossEntropyLoss

    from clinsynth.training.trainer_support import HistoryCallback, TrainerCheckpoint

    if not examples:
        raise InputError("train_cross_encoder: no training examples")
    checkpoint = checkpoint or TrainerCheckpoint()
    set_determinism(seed, cfg.threads)
    model = model_factory()
    if model.num_labels != 1:
        raise ConfigError(f"train_cross_encoder: the model has {model.num_labels} outputs; expected 1 (num_labels=1)")
    model.max_seq_length = cfg.max_length
    freeze_lower_layers(model.model, cfg.freeze_layers)
    data = Dataset.from_dict({"a": [a for a, _, _ in examples], "b": [b for _, b, _ in examples],
                              "label": [float(y) for *_, y in examples]})
    resume = checkpoint.resume_from(fingerprint("train_cross_encoder", cfg, seed, list(examples),
                                                state_digest(model)))
    history = HistoryCallback()
    trainer = CrossEncoderTrainer(model=model, args=training_args(cfg, seed, checkpoint, progress),
                                  train_dataset=data, loss=BinaryCrossEntropyLoss(model),
                                  callbacks=[history, *callbacks])
    start, cpu_start = time.perf_counter(), time.process_time()
    trainer.train(resume_from_checkpoint=resume)
    seconds, cpu_seconds = time.perf_counter() - start, time.process_time() - cpu_start
    checkpoint.finish()
    model.eval()
    rows = history.history
    return model, TrainResult(steps=len(rows), examples_seen=len(rows) * cfg.batch_size,
                              loss_first=rows.loss_first(), loss_last=rows.loss_last(), seconds=seconds,
                              cpu_seconds=cpu_seconds, history=rows)


def predict_proba(model: Any, pairs: Sequence[tuple[str, str]], batch_size: int = 64,
                  progress: bool = True) -> list[float]:
    """P(relevant) = sigmoid(logit) for each pair, in input order (``CrossEncoder.predict``)."""
    if not pairs:
        return []
    scores = model.predict([list(p) for p in pairs], batch_size=batch_size, show_progress_bar=progress,
                           convert_to_numpy=True)
    return [float(s) for s in scores]


def save_cross_encoder(model: Any, out_dir: Path | str, meta: dict[str, Any]) -> None:
    """The sentence-transformers model (weights, tokenizer, model card ``README.md``) + ``cross_encoder.json``
    (labels, max_length, training facts)."""
    out = Path(out_dir)
    out.mkdir(parents=True, exist_ok=True)
    # the card's "training time" is wall clock: without it two identical runs write identical files (timing
    # goes to metrics/timing/)
    model.model_card_data._training_start_time = None
    model.save_pretrained(str(out))
    info = {"labels": list(LABELS), **meta}
    (out / "cross_encoder.json").write_text(json.dumps(info, sort_keys=True, indent=2) + "\n", encoding="utf-8")


def load_cross_encoder(model_dir: Path | str) -> tuple[Any, dict[str, Any]]:
    """(``CrossEncoder``, meta) saved by :func:`save_cross_encoder`."""
    from sentence_transformers import CrossEncoder

    model_dir = Path(model_dir)
    meta_path = model_dir / "cross_encoder.json"
    if not meta_path.is_file():
        raise InputError(f"{model_dir}: no cross_encoder.json; expected a directory written by save_cross_encoder "
                         "(stage train_fhir_relevance); rerun it")
    meta = json.loads(meta_path.read_text(encoding="utf-8"))
    model = CrossEncoder(str(model_dir), device="cpu", local_files_only=True)
    if model.max_seq_length != meta.get("max_length", model.max_seq_length):
        raise InputError(f"{model_dir}: the model cuts pairs at {model.max_seq_length} tokens, cross_encoder.json "
                         f"says it was trained at {meta['max_length']}; expected the two to agree: rerun "
                         "train_fhir_relevance")
    return model.eval(), meta
