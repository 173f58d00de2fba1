"""Two-stage contrastive training of the bi-encoder (stage I: KG pairs, stage II: LLM pairs).

``train_retriever(model_factory, tokenizer, stages, chunks, cfg, seed, on_stage_end)`` builds the
model once and runs the stages in order on the same weights (fresh optimizer and warm-up per stage),
calling ``on_stage_end(name, model, result)`` after each so the caller saves a checkpoint.

A step: ``batch_size`` pairs from a seeded permutation (epochs cycle), queries embedded with
gradients, chunks either looked up in embeddings computed once by the untrained model
(``tune: query``) or embedded with gradients (``tune: shared``); ``sim [B, B]`` = cosine; row i's
positive is chunk i (and its copies), negatives the other chunks except false negatives (chunks
whose concepts include the query's KG nodes, or that contain the query text). Deterministic for a
seed, thread count and data (``torch.use_deterministic_algorithms``).
"""

from __future__ import annotations

import contextlib
import dataclasses
import time
from collections.abc import Callable, Sequence
from typing import Literal

import torch
from tqdm import tqdm

from clinsynth.errors import InputError
from clinsynth.training import precision
from clinsynth.params import ConfigError
from clinsynth.retrieval.abbreviations import name_key
from clinsynth.retrieval.encoder import embed, encode_texts, tokenize_texts
from clinsynth.retrieval.losses import LossConfig, contrastive_loss
from clinsynth.retrieval.pairs import Pair, TrainChunk
from clinsynth.training.cross_encoder import set_determinism


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
    loss: LossConfig = LossConfig()
    stage1: StageConfig = StageConfig()
    stage2: StageConfig = StageConfig(max_steps=40)


@dataclasses.dataclass(frozen=True)
class TrainRetrieverConfig:
    model: str  # "pkg:<package>/<dir>" or a local Hugging Face folder
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


def _autocast(enabled: bool):
    return precision.autocast(enabled)


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


def batch_masks(batch: Sequence[Pair], chunks: dict[str, TrainChunk],
                chunk_keys: dict[str, str]) -> tuple[torch.Tensor, torch.Tensor]:
    """``pos, neg [B, B]``: same chunk = positive; a chunk about the query's concept = neither."""
    size = len(batch)
    pos = torch.zeros(size, size, dtype=torch.bool)
    neg = torch.zeros(size, size, dtype=torch.bool)
    for i, pair in enumerate(batch):
        nodes, key = set(pair.nodes), f" {name_key(pair.query)} "
        for j, other in enumerate(batch):
            if other.chunk_id == pair.chunk_id:
                pos[i, j] = True
            elif not nodes.intersection(chunks[other.chunk_id].concepts) and key not in chunk_keys[other.chunk_id]:
                neg[i, j] = True
    return pos, neg


def _check_pairs(name: str, pairs: Sequence[Pair], chunks: dict[str, TrainChunk]) -> None:
    missing = sorted({p.chunk_id for p in pairs} - set(chunks))
    if missing:
        raise InputError(f"{name}: {len(missing)} pairs cite chunks not in the training chunks (first {missing[0]!r})")


def train_stage(name: str, model: torch.nn.Module, tokenizer, pairs: Sequence[Pair], chunks: dict[str, TrainChunk],
                cfg: TrainConfig, stage: StageConfig, seed: int, frozen: dict[str, torch.Tensor] | None = None,
                progress: bool = True) -> StageResult:
    """Train ``model`` in place on ``pairs`` for ``stage.max_steps`` steps.

    ``frozen``: chunk id -> fixed embedding ``[H]`` (``tune: query``); None embeds chunks with ``model``.
    """
    from transformers import get_linear_schedule_with_warmup

    _check_pairs(name, pairs, chunks)
    if not pairs:
        raise InputError(f"{name}: no training pairs")
    set_determinism(seed, cfg.threads)
    generator = torch.Generator().manual_seed(seed)
    chunk_keys = {cid: f" {name_key(chunks[cid].text)} " for cid in {p.chunk_id for p in pairs}}
    trainable = [p for p in model.parameters() if p.requires_grad]
    optimizer = torch.optim.AdamW([{"params": [p for p in trainable if p.ndim > 1], "weight_decay": stage.weight_decay},
                                   {"params": [p for p in trainable if p.ndim <= 1], "weight_decay": 0.0}],
                                  lr=stage.learning_rate)
    scheduler = get_linear_schedule_with_warmup(optimizer, int(stage.warmup_ratio * stage.max_steps), stage.max_steps)
    model.train()
    losses: list[float] = []
    order: list[int] = []
    start = time.perf_counter()
    for _ in tqdm(range(stage.max_steps), desc=f"{name}: train", unit="step", disable=not progress):
        if len(order) < stage.batch_size:
            order += torch.randperm(len(pairs), generator=generator).tolist()
        batch, order = [pairs[i] for i in order[:stage.batch_size]], order[stage.batch_size:]
        pos, neg = batch_masks(batch, chunks, chunk_keys)
        with _autocast(cfg.bf16):
            queries = embed(model, tokenize_texts(tokenizer, [p.query for p in batch], cfg.query_max_length))  # [B, H]
            if frozen is not None:
                docs = torch.stack([frozen[p.chunk_id] for p in batch])  # [B, H], no gradient
            else:
                docs = embed(model, tokenize_texts(tokenizer, [chunks[p.chunk_id].text for p in batch],
                                                   cfg.chunk_max_length))
        loss = contrastive_loss(queries @ docs.T, pos, neg, cfg.loss)
        loss.backward()
        torch.nn.utils.clip_grad_norm_(trainable, 1.0)
        optimizer.step()
        scheduler.step()
        optimizer.zero_grad(set_to_none=True)
        losses.append(loss.item())
    model.eval()
    tenth = max(1, len(losses) // 10)
    return StageResult(name, len(losses), len(pairs), sum(losses[:tenth]) / tenth, sum(losses[-tenth:]) / tenth,
                       time.perf_counter() - start)


def train_retriever(model_factory: Callable[[], torch.nn.Module], tokenizer,
                    stages: Sequence[tuple[str, Sequence[Pair], StageConfig]], chunks: dict[str, TrainChunk],
                    cfg: TrainConfig, seed: int,
                    on_stage_end: Callable[[str, torch.nn.Module, StageResult], None] | None = None,
                    progress: bool = True) -> tuple[list[StageResult], float]:
    """Build the model with ``model_factory``, train the stages in order on the same weights.

    A stage without pairs is skipped (0 steps) and its checkpoint is the previous stage's weights.

    Returns the stage results and the seconds spent embedding chunks up front. With ``tune: query``
    the chunk tower is the untrained model: every stage's chunks are embedded once, before stage I.
    """
    for name, pairs, _ in stages:
        _check_pairs(name, pairs, chunks)
    set_determinism(seed, cfg.threads)
    model = model_factory()
    frozen = None
    start = time.perf_counter()
    if cfg.tune == "query":
        used = sorted({p.chunk_id for _, pairs, _ in stages for p in pairs})
        vectors = encode_texts(model, tokenizer, [chunks[c].text for c in used], cfg.chunk_max_length,
                               cfg.encode_batch_size, progress, desc="encode train chunks")
        frozen = dict(zip(used, vectors))
    encode_seconds = time.perf_counter() - start
    freeze(model, cfg.freeze_embeddings, cfg.freeze_layers)
    results = []
    for k, (name, pairs, stage) in enumerate(stages):
        if not pairs:  # e.g. every LLM reply rejected: the stage keeps the previous weights, reported as 0 steps
            results.append(StageResult(name, 0, 0, 0.0, 0.0, 0.0))
            if on_stage_end is not None:
                on_stage_end(name, model, results[-1])
            continue
        result = train_stage(name, model, tokenizer, pairs, chunks, cfg, stage, seed + k, frozen, progress)
        results.append(result)
        if on_stage_end is not None:
            on_stage_end(name, model, result)
    return results, encode_seconds
