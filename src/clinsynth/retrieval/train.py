"""Two-stage contrastive training of the bi-encoder (stage I: KG pairs, stage II: LLM pairs) with
sentence-transformers' ``SentenceTransformerTrainer``.

``train_retriever(model_factory, stages, chunks, cfg, seed, ...)`` builds the model once and runs the
stages in order on the same weights, one trainer per stage (fresh optimizer and warm-up per stage),
calling ``on_stage_end(name, model, result)`` after each so the caller saves the model.

A step: ``batch_size`` pairs from the trainer's seeded batch sampler (epochs cycle until
``max_steps``); each row is (query text, [chunk text,] pair index). ``MaskedContrastiveLoss``
embeds the queries with gradients and the chunks either from a table computed once by the
untrained model (``tune: query``) or with gradients (``tune: shared``); ``sim [B, B]`` = cosine;
row i's positive is chunk i (and its copies), negatives the other chunks except false negatives.
AdamW (no decay on biases and LayerNorm), linear warm-up then decay, gradient norm clipped at 1.
Deterministic for a seed, thread count and data (``torch.use_deterministic_algorithms``).

Checkpoints: with ``checkpoint_every`` > 0 and a ``checkpoints`` folder, stage S saves the trainer's
state every ``checkpoint_every`` steps under ``<checkpoints>/train_retriever_<S>/checkpoint-<step>/``
next to ``fingerprint.json`` (``Checkpointer.trainer_resume``; settings, seed, data, the weights the stage starts from); a rerun resumes
from the newest checkpoint when the fingerprint matches and discards the folder when it does not. The
folder is deleted when the stage completes (a kill in stage II retrains stage I, to the same weights,
then resumes stage II).
"""

from __future__ import annotations

import dataclasses
import hashlib
import logging
import tempfile
import time
from collections.abc import Callable, Mapping, Sequence
from pathlib import Path
from typing import TYPE_CHECKING, Any, Literal

import torch

from clinsynth.errors import InputError
from clinsynth.training import precision
from clinsynth.params import ConfigError, NonNegativeInt
from clinsynth.retrieval.encoder import encode, set_determinism, set_lengths
from clinsynth.retrieval.losses import LossConfig, MaskedContrastiveLoss
from clinsynth.retrieval.pairs import Pair, TrainChunk
from clinsynth.training.history import Checkpointer, History, fingerprint, history_from_log, state_digest

if TYPE_CHECKING:
    from sentence_transformers import SentenceTransformer
    from transformers import TrainerCallback

log = logging.getLogger(__name__)
COLUMNS = {"query": "query", "chunk": "document"}  # dataset column -> task (truncation length) it is tokenized as


@dataclasses.dataclass(frozen=True)
class StageConfig:
    max_steps: int = 100
    batch_size: int = 32
    learning_rate: float = 5e-5
    warmup_ratio: float = 0.1
    weight_decay: float = 0.01


@dataclasses.dataclass(frozen=True)
class TrainConfig:
    tune: Literal["query", "shared"] = "query"
    query_max_length: int = 32
    chunk_max_length: int = 256
    freeze_embeddings: bool = True  # the 30k x 384 word-embedding matrix is half of MiniLM; its AdamW update dominates a step
    freeze_layers: int = 0  # also freeze the lowest N transformer layers
    bf16: bool = False  # bfloat16 autocast (measured slower than float32 on the shared 2-core CPU)
    threads: int = 1
    encode_batch_size: int = 64
    checkpoint_every: NonNegativeInt = 0  # steps between resumable checkpoints of a stage (0: none)
    loss: LossConfig = LossConfig()
    stage1: StageConfig = StageConfig()
    stage2: StageConfig = StageConfig(max_steps=40)


@dataclasses.dataclass(frozen=True)
class TrainRetrieverConfig:
    model: str  # "pkg:<package>/<dir>" or a local sentence-transformers folder
    data_dir: str  # retrieval_pairs' out_dir
    out_dir: str
    train: TrainConfig


@dataclasses.dataclass(frozen=True)
class StageResult:
    name: str
    steps: int
    pairs: int
    loss_first: float  # mean loss over the first 10% of steps
    loss_last: float  # mean loss over the last 10% of steps
    seconds: float
    history: History = dataclasses.field(default_factory=History)  # per-step {step, loss, learning_rate}
    resumed_from: int = 0  # the checkpoint step this run started from (0: from the start)


def freeze(model: torch.nn.Module, embeddings: bool, layers: int) -> None:
    """Freeze the embeddings and/or the lowest ``layers`` encoder layers of a BERT-like model."""
    base = getattr(model, "base_model", model)
    blocks = getattr(getattr(base, "encoder", None), "layer", None)
    if (embeddings or layers) and (blocks is None or not hasattr(base, "embeddings")):
        raise ConfigError(f"freeze: {type(model).__name__} has no embeddings/encoder.layer; set freeze_embeddings: false, "
                         "freeze_layers: 0")
    if layers > len(blocks or ()):
        raise ConfigError(f"freeze_layers={layers}: the model has only {len(blocks)} encoder layers")
    modules = ([base.embeddings] if embeddings else []) + list((blocks or [])[:layers])
    for module in modules:
        for param in module.parameters():
            param.requires_grad = False


def _check_pairs(name: str, pairs: Sequence[Pair], chunks: Mapping[str, TrainChunk]) -> None:
    missing = sorted({p.chunk_id for p in pairs} - set(chunks))
    if missing:
        raise InputError(f"{name}: {len(missing)} pairs cite chunks not in the training chunks (first {missing[0]!r})")


def pair_dataset(pairs: Sequence[Pair], chunks: Mapping[str, TrainChunk], with_chunks: bool):
    """A ``datasets.Dataset``: ``query``, ``chunk`` (with ``with_chunks``), ``label`` (the pair's index)."""
    from datasets import Dataset

    columns: dict[str, list[Any]] = {"query": [p.query for p in pairs]}
    if with_chunks:
        columns["chunk"] = [chunks[p.chunk_id].text for p in pairs]
    columns["label"] = list(range(len(pairs)))
    return Dataset.from_dict(columns)


def _data_digest(pairs: Sequence[Pair], chunks: Mapping[str, TrainChunk]) -> str:
    used = sorted({p.chunk_id for p in pairs})
    return fingerprint([dataclasses.asdict(p) for p in pairs], [dataclasses.asdict(chunks[c]) for c in used])


def _tensor_digest(t: torch.Tensor | None) -> str:
    return "" if t is None else hashlib.sha256(t.contiguous().view(torch.uint8).numpy().tobytes()).hexdigest()


def _quiet_progress():
    """The trainer's tqdm bar (rate, ETA, left on screen) without its per-step log-dict prints (the history file has them)."""
    from transformers.trainer_callback import ProgressCallback

    class QuietProgress(ProgressCallback):
        def on_log(self, args, state, control, logs=None, **kwargs):
            return None

    return QuietProgress()


def training_arguments(output_dir: str, stage: StageConfig, cfg: TrainConfig, seed: int, n_pairs: int,
                       checkpoint_every: int, progress: bool):
    from sentence_transformers import SentenceTransformerTrainingArguments

    return SentenceTransformerTrainingArguments(
        output_dir=output_dir, max_steps=stage.max_steps, per_device_train_batch_size=stage.batch_size,
        learning_rate=stage.learning_rate, warmup_steps=int(stage.warmup_ratio * stage.max_steps),
        weight_decay=stage.weight_decay, lr_scheduler_type="linear", optim="adamw_torch", max_grad_norm=1.0,
        seed=seed, data_seed=seed, use_cpu=True, bf16=precision.use_bf16(cfg.bf16), report_to="none", logging_steps=1,
        save_strategy="steps" if checkpoint_every else "no", save_steps=max(1, checkpoint_every), save_total_limit=1,
        # fewer pairs than a batch: every batch holds them all (no empty epoch)
        dataloader_drop_last=n_pairs >= stage.batch_size, dataloader_num_workers=0,
        router_mapping=COLUMNS, disable_tqdm=not progress)


def describe_card(model: SentenceTransformer, name: str, tune: str, dataset_name: str,
                  base_model: str | None) -> None:
    """Our model card data: what the folder is (a query tower only with ``tune: query``), base model, pairs."""
    card = model.model_card_data
    base = base_model or "the untrained model"
    card.model_name = (f"clinsynth retriever {name}: query tower; chunks are embedded by the base model {base} "
                       "(tune: query, the chunk tower was kept fixed)" if tune == "query"
                       else f"clinsynth retriever {name}: one siamese encoder for queries and chunks (tune: shared)")
    card.train_datasets = [{"name": dataset_name}]
    card.add_tags(["clinsynth", f"tune:{tune}", "dense-retrieval"])
    if base_model is not None:
        card.base_model = base_model  # a local model spec: the card cannot look it up on the Hub (offline)


def train_stage(name: str, model: SentenceTransformer, pairs: Sequence[Pair], chunks: Mapping[str, TrainChunk],
                cfg: TrainConfig, stage: StageConfig, seed: int, frozen: tuple[torch.Tensor, dict[str, int]] | None,
                checkpoint_dir: Path | None = None, dataset_name: str | None = None, base_model: str | None = None,
                callbacks: Sequence[TrainerCallback] = (), progress: bool = True) -> StageResult:
    """Train ``model`` in place on ``pairs`` for ``stage.max_steps`` steps with a fresh trainer.

    ``frozen``: (``[n_chunks, H]`` fixed chunk embeddings, chunk id -> row) for ``tune: query``; None embeds
    chunks with ``model``.
    """
    from sentence_transformers import SentenceTransformerTrainer

    _check_pairs(name, pairs, chunks)
    if not pairs:
        raise InputError(f"{name}: no training pairs")
    set_determinism(seed, cfg.threads)
    table, rows = frozen if frozen is not None else (None, None)
    notes = {k: getattr(cfg, k) for k in ("tune", "freeze_embeddings", "freeze_layers", "query_max_length",
                                          "chunk_max_length", "threads")}
    loss = MaskedContrastiveLoss(model, pairs, chunks, cfg.loss, table, rows, notes)
    describe_card(model, name, "query" if frozen is not None else "shared", dataset_name or name, base_model)
    checkpoint = Checkpointer(checkpoint_dir, cfg.checkpoint_every)
    every = checkpoint.every
    resume = None
    with tempfile.TemporaryDirectory(prefix=f"train_retriever_{name}_") as scratch:
        if every:
            key = fingerprint("train_retriever", name, cfg, stage, seed, _data_digest(pairs, chunks),
                              state_digest(model), _tensor_digest(table))
            resume = checkpoint.trainer_resume(key)
        args = training_arguments(str(checkpoint_dir) if every else scratch, stage, cfg, seed, len(pairs), every,
                                  progress)
        trainer = SentenceTransformerTrainer(model=model, args=args, loss=loss, callbacks=list(callbacks),
                                             train_dataset=pair_dataset(pairs, chunks, frozen is None))
        if progress:
            from transformers.trainer_callback import ProgressCallback

            trainer.remove_callback(ProgressCallback)
            trainer.add_callback(_quiet_progress())
        start = time.perf_counter()
        trainer.train(resume_from_checkpoint=resume)
        seconds = time.perf_counter() - start
    history = history_from_log(trainer.state.log_history)
    checkpoint.finish()
    model.eval()
    resumed = int(Path(resume).name.rsplit("-", 1)[1]) if resume else 0
    return StageResult(name, len(history), len(pairs), history.loss_first(), history.loss_last(), seconds, history,
                       resumed)


def chunk_table(model: SentenceTransformer, stages: Sequence[tuple[str, Sequence[Pair], StageConfig]],
                chunks: Mapping[str, TrainChunk], cfg: TrainConfig,
                progress: bool = True) -> tuple[torch.Tensor, dict[str, int]]:
    """Every stage's chunks embedded once by ``model`` (``[n, H]``) and chunk id -> row, rows by sorted id."""
    used = sorted({p.chunk_id for _, pairs, _ in stages for p in pairs})
    vectors = encode(model, [chunks[c].text for c in used], "document", cfg.encode_batch_size, progress)
    return vectors, {c: i for i, c in enumerate(used)}


def train_retriever(model_factory: Callable[[], SentenceTransformer],
                    stages: Sequence[tuple[str, Sequence[Pair], StageConfig]], chunks: Mapping[str, TrainChunk],
                    cfg: TrainConfig, seed: int,
                    on_stage_end: Callable[[str, SentenceTransformer, StageResult], None] | None = None,
                    checkpoints: Path | str | None = None, datasets: Mapping[str, str] | None = None,
                    base_model: str | None = None, callbacks: Sequence[TrainerCallback] = (),
                    progress: bool = True) -> tuple[list[StageResult], float]:
    """Build the model with ``model_factory``, train the stages in order on the same weights.

    A stage without pairs is skipped (0 steps) and its model is the previous stage's weights.
    ``checkpoints``: the folder under which each stage keeps ``train_retriever_<stage>/``; ``datasets``:
    stage name -> the training data's name in the model card (default: the stage name); ``base_model``: the
    model spec the card names as base model.

    Returns the stage results and the seconds spent embedding chunks up front. With ``tune: query``
    the chunk tower is the untrained model: every stage's chunks are embedded once, before stage I.
    """
    for name, pairs, _ in stages:
        _check_pairs(name, pairs, chunks)
    set_determinism(seed, cfg.threads)
    model = model_factory()
    model.model_card_data.local_files_only = True
    model.model_card_data.generate_widget_examples = False
    set_lengths(model, cfg.query_max_length, cfg.chunk_max_length)
    start = time.perf_counter()
    frozen = chunk_table(model, stages, chunks, cfg, progress) if cfg.tune == "query" else None
    encode_seconds = time.perf_counter() - start
    freeze(model[0].auto_model, cfg.freeze_embeddings, cfg.freeze_layers)
    results: list[StageResult] = []
    for k, (name, pairs, stage) in enumerate(stages):
        if not pairs:  # e.g. every LLM reply rejected: the stage keeps the previous weights, reported as 0 steps
            results.append(StageResult(name, 0, 0, 0.0, 0.0, 0.0))
        else:
            directory = Path(checkpoints) / f"train_retriever_{name}" if checkpoints is not None else None
            before = [(datasets or {}).get(r.name, r.name) for r in results if r.steps]
            label = (datasets or {}).get(name, name) + (f" (after {', '.join(before)})" if before else "")
            results.append(train_stage(name, model, pairs, chunks, cfg, stage, seed + k, frozen, directory,
                                       label, base_model, callbacks, progress))
        if on_stage_end is not None:
            on_stage_end(name, model, results[-1])
    return results, encode_seconds
