"""Exact and near-duplicate removal, explainable: every dropped record names the kept record it duplicates.

Records are visited in the order given (the caller sorts them by id, so the result does not depend on
file order); the first of a group is kept. For each record:

1. *exact*: its normalised text (tokens of :func:`clinsynth.quality.leakage.tokenize` joined by spaces)
   equals a kept record's -> dropped, Jaccard 1.0.
2. *near*: MinHash LSH (``datasketch``, permutations seeded) over token k-gram shingles proposes kept
   candidates; the exact Jaccard of the shingle sets decides. The record is dropped as a duplicate of the
   candidate with the highest exact Jaccard (ties: smallest id) when that is >= ``threshold``.

LSH only proposes; the decision uses the exact Jaccard, so a dropped pair always really is that similar.
Since a spurious candidate only costs one exact Jaccard, the bands are tuned for recall
(``recall_weight`` 0.95 with 128 permutations at threshold 0.8: 16 bands of 8 rows, a pair at Jaccard 0.8
is proposed with probability 0.95, at 0.85 with 0.994, at 0.9 with 0.9999). A pair LSH fails to
propose is kept; raise ``num_perm`` or ``recall_weight`` to tighten it.
"""

from __future__ import annotations

import dataclasses
import hashlib
from collections.abc import Sequence
from typing import Annotated, Literal

from datasketch import MinHash, MinHashLSH
from tqdm import tqdm

from clinsynth.params import Fraction, PositiveInt, Range
from clinsynth.quality.leakage import tokenize


@dataclasses.dataclass(frozen=True)
class DedupConfig:
    shingle: PositiveInt = 3  # tokens per shingle
    num_perm: PositiveInt = 128  # MinHash permutations
    threshold: Fraction = 0.8  # Jaccard of shingle sets at or above which a record is a near-duplicate
    recall_weight: Annotated[float, Range(0, 1, min_open=True, max_open=True)] = 0.95  # LSH band tuning: weight of missed pairs vs spurious candidates (in (0, 1))


@dataclasses.dataclass(frozen=True)
class Duplicate:
    id: str
    duplicate_of: str  # a kept record's id
    kind: Literal["exact", "near"]
    jaccard_estimated: float  # MinHash estimate
    jaccard_exact: float  # of the shingle sets


def shingles(text: str, k: int) -> frozenset[str]:
    """Token k-grams joined by spaces; a text shorter than k tokens is one shingle (possibly empty)."""
    tokens = tokenize(text)
    if len(tokens) < k:
        return frozenset([" ".join(tokens)])
    return frozenset(" ".join(tokens[i : i + k]) for i in range(len(tokens) - k + 1))


def jaccard(a: frozenset[str], b: frozenset[str]) -> float:
    return len(a & b) / len(a | b) if a or b else 1.0


def find_duplicates(items: Sequence[tuple[str, str]], cfg: DedupConfig, seed: int,
                    progress: bool = False) -> list[Duplicate]:
    """``items`` are ``(id, text)`` pairs with unique ids; returns the dropped ones in visiting order."""
    if not 0.0 < cfg.threshold <= 1.0:
        raise ValueError(f"dedup threshold must be in (0, 1], got {cfg.threshold}")
    sets = [shingles(text, cfg.shingle) for _, text in items]
    sketches = MinHash.bulk(([s.encode() for s in sorted(sh)] for sh in sets), num_perm=cfg.num_perm, seed=seed)
    lsh = MinHashLSH(threshold=cfg.threshold, num_perm=cfg.num_perm,
                     weights=(1.0 - cfg.recall_weight, cfg.recall_weight))
    kept_by_text: dict[str, str] = {}
    index_of = {item_id: i for i, (item_id, _) in enumerate(items)}
    dropped: list[Duplicate] = []
    for i, (item_id, text) in enumerate(tqdm(items, desc="dedup", unit="rec", disable=not progress)):
        key = hashlib.sha256(" ".join(tokenize(text)).encode()).hexdigest()
        if key in kept_by_text:
            dropped.append(Duplicate(item_id, kept_by_text[key], "exact", 1.0, 1.0))
            continue
        best = None  # (exact Jaccard, kept id): highest Jaccard, then smallest id
        for cand in sorted(lsh.query(sketches[i])):
            score = jaccard(sets[i], sets[index_of[cand]])
            if best is None or score > best[0]:
                best = (score, cand)
        if best is not None and best[0] >= cfg.threshold:
            estimated = sketches[i].jaccard(sketches[index_of[best[1]]])
            dropped.append(Duplicate(item_id, best[1], "near", float(estimated), best[0]))
            continue
        kept_by_text[key] = item_id
        lsh.insert(item_id, sketches[i])
    return dropped
