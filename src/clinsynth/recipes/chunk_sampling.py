"""Seeded selection of note chunks, shared by the recipes that prompt one chunk at a time.

Chunk records are ``{id, note_id, patient_id, split, start, end, text}`` from ``data/interim/chunks.jsonl``.
"""

from __future__ import annotations

import random
from collections.abc import Sequence
from typing import Any, Protocol

from clinsynth.params import ConfigError, NonNegativeInt, Paths
from clinsynth.records import read_jsonl


def select_chunks(records: Sequence[dict[str, Any]], *, split: str, min_chars: int, max_chars: int,
                  max_chunks: int, seed: int) -> list[dict[str, Any]]:
    """Chunks of ``split`` whose stripped text has ``min_chars`` to ``max_chars`` characters (0: no upper
    bound); a seeded sample of ``max_chunks`` of them (0: all), sorted by id.

    The pool is sorted by id before sampling, so the choice does not depend on the input order.
    """
    if max_chars and max_chars < min_chars:
        raise ConfigError(f"max_chars ({max_chars}) is below min_chars ({min_chars}): no chunk can qualify")
    pool = sorted((r for r in records if r["split"] == split
                   and min_chars <= len(r["text"].strip()) <= (max_chars or float("inf"))),
                  key=lambda r: r["id"])
    if max_chunks and len(pool) > max_chunks:
        pool = sorted(random.Random(seed).sample(pool, max_chunks), key=lambda r: r["id"])
    return pool


class ChunkSampleConfig(Protocol):
    """The ``SampleConfig`` fields a chunk-per-prompt recipe shares."""

    max_chunks: NonNegativeInt
    split: str
    min_chars: NonNegativeInt
    max_chars: NonNegativeInt


# The recipe interface (see clinsynth.recipes) for recipes that prompt one chunk at a time.

def read_sources(paths: Paths) -> list[dict[str, Any]]:
    return list(read_jsonl(paths.chunks))


def select_sources(records: Sequence[dict[str, Any]], cfg: ChunkSampleConfig, seed: int) -> list[dict[str, Any]]:
    """Chunks of ``cfg.split`` within ``min_chars``..``max_chars``; a seeded sample of ``max_chunks``, by id."""
    return select_chunks(records, split=cfg.split, min_chars=cfg.min_chars, max_chars=cfg.max_chars,
                         max_chunks=cfg.max_chunks, seed=seed)


def build_vars(record: dict[str, Any]) -> dict[str, Any]:
    return {"text": record["text"].strip()}


def source_ids(record: dict[str, Any]) -> Sequence[str]:
    return (record["id"],)
