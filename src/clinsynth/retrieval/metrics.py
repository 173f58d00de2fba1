"""Ranking metrics and per-patient search (BM25 and dense).

Contracts: a ranking is a list of chunk ids, best first, covering every chunk the query was
searched over; ``relevant`` a set of chunk ids (non-empty). For one query:

* reciprocal rank = 1 / rank of the first relevant chunk (ranks start at 1);
* average precision = mean over relevant chunks of precision at each one's rank;
* recall@k = |relevant in the top k| / |relevant|.

MRR and MAP are their means over queries. Ties in a score vector are broken by a seeded random
order per query (``tiebreak``), not by chunk order, so a system that gives every chunk the same
score (BM25 on a query sharing no word with the patient's notes) scores like chance.
"""

from __future__ import annotations

import random
from collections import defaultdict
from collections.abc import Iterable, Mapping, Sequence
from typing import Any

import numpy as np

KS = (1, 5, 10)


def reciprocal_rank(ranking: Sequence[str], relevant: set[str]) -> float:
    for rank, chunk in enumerate(ranking, start=1):
        if chunk in relevant:
            return 1.0 / rank
    return 0.0


def average_precision(ranking: Sequence[str], relevant: set[str]) -> float:
    if not relevant:
        raise ValueError("average_precision: empty relevant set; every query needs a relevant chunk")
    hits, total = 0, 0.0
    for rank, chunk in enumerate(ranking, start=1):
        if chunk in relevant:
            hits += 1
            total += hits / rank
    return total / len(relevant)


def recall_at_k(ranking: Sequence[str], relevant: set[str], k: int) -> float:
    return len(relevant.intersection(ranking[:k])) / len(relevant)


def query_metrics(ranking: Sequence[str], relevant: Iterable[str], ks: Sequence[int] = KS) -> dict[str, float]:
    rel = set(relevant)
    return {"ap": average_precision(ranking, rel), "rr": reciprocal_rank(ranking, rel),
            **{f"recall@{k}": recall_at_k(ranking, rel, k) for k in ks}}


def summarize(per_query: Sequence[dict[str, float]]) -> dict[str, float]:
    """Means over queries, named MRR / MAP / Recall@k, rounded to 4 decimals; ``queries`` = count."""
    n = len(per_query)
    if not n:
        return {"queries": 0}
    out: dict[str, float] = {"queries": n, "mrr": sum(q["rr"] for q in per_query) / n,
                             "map": sum(q["ap"] for q in per_query) / n}
    for key in per_query[0]:
        if key.startswith("recall@"):
            out[key] = sum(q[key] for q in per_query) / n
    return {k: (round(v, 4) if isinstance(v, float) else v) for k, v in out.items()}


def report(queries: Sequence[Mapping[str, Any]], rankings: Mapping[str, Sequence[str]],
           groups: Sequence[str] = ("match", "kind")) -> dict[str, Any]:
    """``{"overall": {...}, "by_match": {m: {...}}, "by_kind": {...}}`` over ``queries`` (dicts with id, relevant)."""
    scored = [(q, query_metrics(rankings[q["id"]], q["relevant"])) for q in queries]
    out: dict[str, Any] = {"overall": summarize([m for _, m in scored])}
    for group in groups:
        buckets: dict[str, list[dict[str, float]]] = defaultdict(list)
        for q, m in scored:
            buckets[q[group]].append(m)
        out[f"by_{group}"] = {key: summarize(values) for key, values in sorted(buckets.items())}
    return out


def rank_by_scores(ids: Sequence[str], scores: np.ndarray, tiebreak_key: str) -> list[str]:
    """``ids`` sorted by descending score; equal scores in a random order seeded by ``tiebreak_key``."""
    noise = list(range(len(ids)))
    random.Random(tiebreak_key).shuffle(noise)
    order = np.lexsort((np.asarray(noise), -np.asarray(scores, dtype=np.float64)))
    return [ids[i] for i in order]


def bm25_scores(chunk_texts: Sequence[str], query_texts: Sequence[str], k1: float = 1.5, b: float = 0.75) -> np.ndarray:
    """BM25 (bm25s, Lucene variant, English stopwords, no stemming) of each query over the chunks: ``[Q, N]``."""
    import bm25s

    retriever = bm25s.BM25(k1=k1, b=b)
    retriever.index(bm25s.tokenize(list(chunk_texts), stopwords="en", show_progress=False), show_progress=False)
    tokenized = bm25s.tokenize(list(query_texts), stopwords="en", return_ids=False, show_progress=False)
    return np.stack([retriever.get_scores(tokens) if tokens else np.zeros(len(chunk_texts), dtype=np.float32)
                     for tokens in tokenized])
