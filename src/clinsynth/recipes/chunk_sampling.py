"""Seeded selection of note chunks, shared by the recipes that prompt one chunk at a time.

Chunk records are ``{id, note_id, patient_id, split, start, end, text}`` from ``data/interim/chunks.jsonl``.
"""

from __future__ import annotations

import random
from collections.abc import Sequence
from typing import Any


def select_chunks(records: Sequence[dict[str, Any]], *, split: str, min_chars: int, max_chars: int,
                  max_chunks: int, seed: int) -> list[dict[str, Any]]:
    """Chunks of ``split`` whose stripped text has ``min_chars`` to ``max_chars`` characters (0: no upper
    bound); a seeded sample of ``max_chunks`` of them (0: all), sorted by id.

    The pool is sorted by id before sampling, so the choice does not depend on the input order.
    """
    if max_chars and max_chars < min_chars:
        raise ValueError(f"max_chars ({max_chars}) is below min_chars ({min_chars}): no chunk can qualify")
    pool = sorted((r for r in records if r["split"] == split
                   and min_chars <= len(r["text"].strip()) <= (max_chars or float("inf"))),
                  key=lambda r: r["id"])
    if max_chunks and len(pool) > max_chunks:
        pool = sorted(random.Random(seed).sample(pool, max_chunks), key=lambda r: r["id"])
    return pool
