"""Per-patient retrieval over the held-out query set, for BM25 and any number of dense encoders.

Each query searches only its own patient's chunks. A dense system is a
(query tower, chunk tower) pair; systems sharing a chunk tower (``tune: query`` retrievers and the
untuned encoder all keep the pre-trained chunk tower) share one chunk encoding.
"""

from __future__ import annotations

import dataclasses
import time
from collections import defaultdict
from collections.abc import Callable, Mapping, Sequence
from pathlib import Path
from typing import Any

import numpy as np
import torch

from clinsynth.errors import InputError
from clinsynth.params import PositiveInt
from clinsynth.records import read_json
from clinsynth.retrieval.encoder import META_FILE, encode_texts, load_pretrained, load_retriever
from clinsynth.retrieval.metrics import bm25_scores, rank_by_scores, report


@dataclasses.dataclass(frozen=True)
class DenseSystem:
    name: str
    load_query_tower: Callable[[], tuple[torch.nn.Module, Any]]  # -> (model, tokenizer)
    chunk_tower: str  # key of the chunk tower (systems with the same key share chunk embeddings)
    load_chunk_tower: Callable[[], tuple[torch.nn.Module, Any]]
    query_max_length: PositiveInt = 32
    chunk_max_length: PositiveInt = 256


@dataclasses.dataclass(frozen=True)
class EvaluateRetrievalConfig:
    queries: str  # retrieval_queryset output
    models_dir: str  # train_retriever out_dir: <models_dir>/stage1, <models_dir>/stage2
    batch_size: PositiveInt = 64
    threads: PositiveInt = 1


def dense_system(name: str, path: Path | None, base_model: str, meta: dict) -> DenseSystem:
    tower = base_model if path is None or meta["chunk_tower"] != "same" else str(path)
    load_query = (lambda: load_pretrained(base_model)) if path is None else (lambda: load_retriever(path)[:2])
    load_chunk = (lambda: load_pretrained(tower)) if tower == base_model else (lambda: load_retriever(path)[:2])
    return DenseSystem(name, load_query, tower, load_chunk, meta["query_max_length"], meta["chunk_max_length"])


def retriever_systems(models_dir: Path | str) -> list[DenseSystem]:
    """The untuned encoder, stage I and stage I+II, from train_retriever's ``<models_dir>/{stage1,stage2}/``."""
    models = Path(models_dir)
    meta = read_json(models / "stage1" / META_FILE)
    return [dense_system("untuned", None, meta["base_model"], meta),
            dense_system("stage1", models / "stage1", meta["base_model"], meta),
            dense_system("stage1+2", models / "stage2", meta["base_model"], read_json(models / "stage2" / META_FILE))]


def group_chunks(chunks: Sequence[Mapping[str, Any]], patients: set[str]) -> dict[str, list[Mapping[str, Any]]]:
    """The chunks of each patient, sorted by id (splits are by patient, so a query patient's chunks are held out)."""
    by_patient: dict[str, list[Mapping[str, Any]]] = defaultdict(list)
    for chunk in sorted(chunks, key=lambda c: c["id"]):
        if chunk["patient_id"] in patients:
            by_patient[chunk["patient_id"]].append(chunk)
    return by_patient


def rank_all(queries: Sequence[Mapping[str, Any]], by_patient: Mapping[str, Sequence[Mapping[str, Any]]],
             score: Callable[[str, list[int]], np.ndarray], seed: int) -> dict[str, list[str]]:
    """``{query id: ranking}``; ``score(patient, query indices)`` returns ``[len(indices), n_chunks]``."""
    per_patient: dict[str, list[int]] = defaultdict(list)
    for i, q in enumerate(queries):
        per_patient[q["patient_id"]].append(i)
    rankings = {}
    for patient, indices in sorted(per_patient.items()):
        ids = [c["id"] for c in by_patient[patient]]
        scores = score(patient, indices)
        for row, i in enumerate(indices):
            rankings[queries[i]["id"]] = rank_by_scores(ids, scores[row], f"{seed}:{queries[i]['id']}")
    return rankings


def evaluate_systems(queries: Sequence[Mapping[str, Any]], chunks: Sequence[Mapping[str, Any]],
                     systems: Sequence[DenseSystem], seed: int, batch_size: int = 64,
                     progress: bool = True) -> tuple[dict[str, Any], dict[str, float]]:
    """``({system: report}, {timing key: seconds})`` for BM25 then each dense system."""
    by_patient = group_chunks(chunks, {q["patient_id"] for q in queries})
    missing = sorted({q["patient_id"] for q in queries} - set(by_patient))
    if missing:
        raise InputError(f"{len(missing)} query patients have no chunks (first {missing[0]!r}); "
                         "the query set and chunks files are out of step: rerun retrieval_queryset")
    results, timing = {}, {}
    start = time.perf_counter()
    results["bm25"] = report(queries, rank_all(queries, by_patient, lambda p, idx: bm25_scores(
        [c["text"] for c in by_patient[p]], [queries[i]["text"] for i in idx]), seed))
    timing["bm25_seconds"] = time.perf_counter() - start
    chunk_cache: dict[str, dict[str, torch.Tensor]] = {}
    for system in systems:
        if system.chunk_tower not in chunk_cache:
            start = time.perf_counter()
            model, tokenizer = system.load_chunk_tower()
            flat = [c for p in sorted(by_patient) for c in by_patient[p]]
            vectors = encode_texts(model, tokenizer, [c["text"] for c in flat], system.chunk_max_length, batch_size,
                                   progress, desc=f"encode chunks ({system.chunk_tower})")
            chunk_cache[system.chunk_tower] = {p: vectors[[k for k, c in enumerate(flat) if c["patient_id"] == p]]
                                               for p in by_patient}
            timing[f"encode_chunks_seconds:{system.chunk_tower}"] = time.perf_counter() - start
            timing["chunks"] = len(flat)
        start = time.perf_counter()
        model, tokenizer = system.load_query_tower()
        q_vectors = encode_texts(model, tokenizer, [q["text"] for q in queries], system.query_max_length, batch_size,
                                 progress, desc=f"encode queries ({system.name})")
        c_vectors = chunk_cache[system.chunk_tower]
        results[system.name] = report(queries, rank_all(
            queries, by_patient, lambda p, idx: (q_vectors[idx] @ c_vectors[p].T).numpy(), seed))
        timing[f"{system.name}_query_seconds"] = time.perf_counter() - start
    return results, timing
