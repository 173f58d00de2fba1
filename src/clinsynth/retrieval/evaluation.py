"""Per-patient retrieval over the held-out query set, for BM25 and any number of dense encoders.

Each query searches only its own patient's chunks. A dense system is a
(query tower, chunk tower) pair of ``SentenceTransformer`` models; systems sharing a chunk tower
(``tune: query`` retrievers and the untuned encoder all keep the pre-trained chunk tower) share one
chunk encoding. Queries go through ``encode_query`` cut at ``query_max_length`` tokens, chunks through
``encode_document`` cut at ``chunk_max_length``: mean pooling, L2-normalised, scored by cosine (dot).
"""

from __future__ import annotations

import dataclasses
import logging
import time
from collections import defaultdict
from collections.abc import Callable, Mapping, Sequence
from pathlib import Path
from typing import TYPE_CHECKING, Any

import numpy as np
import torch

from clinsynth.errors import InputError
from clinsynth.params import PositiveInt
from clinsynth.records import read_json
from clinsynth.retrieval.encoder import META_FILE, encode, load_chunk_tower, load_encoder, set_lengths
from clinsynth.retrieval.metrics import bm25_scores, rank_by_scores, report

if TYPE_CHECKING:
    from sentence_transformers import SentenceTransformer

log = logging.getLogger(__name__)


@dataclasses.dataclass(frozen=True)
class DenseSystem:
    name: str
    load_query_tower: Callable[[], SentenceTransformer]
    chunk_tower: str  # key of the chunk tower (systems with the same key share chunk embeddings)
    load_chunk_tower: Callable[[], SentenceTransformer]
    query_max_length: PositiveInt = 32
    chunk_max_length: PositiveInt = 256


@dataclasses.dataclass(frozen=True)
class EvaluateRetrievalConfig:
    queries: str  # retrieval_queryset output
    models_dir: str  # train_retriever out_dir: <models_dir>/stage1, <models_dir>/stage2
    batch_size: PositiveInt = 64
    threads: PositiveInt = 1


def dense_system(name: str, path: Path | None, base_model: str, meta: dict) -> DenseSystem:
    """``path`` None: the untuned ``base_model`` for both towers; else the retriever saved at ``path``."""
    tower = base_model if path is None or meta["chunk_tower"] != "same" else str(path)

    def load_query() -> SentenceTransformer:
        model = load_encoder(base_model if path is None else path)
        set_lengths(model, meta["query_max_length"], meta["chunk_max_length"])
        return model

    def load_chunk() -> SentenceTransformer:
        return load_query() if path is None else load_chunk_tower(path, meta)

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
            model = system.load_chunk_tower()
            set_lengths(model, system.query_max_length, system.chunk_max_length)
            flat = [c for p in sorted(by_patient) for c in by_patient[p]]
            log.info("encode chunks (%s): %d", system.chunk_tower, len(flat))
            vectors = encode(model, [c["text"] for c in flat], "document", batch_size, progress)
            chunk_cache[system.chunk_tower] = {p: vectors[[k for k, c in enumerate(flat) if c["patient_id"] == p]]
                                               for p in by_patient}
            timing[f"encode_chunks_seconds:{system.chunk_tower}"] = time.perf_counter() - start
            timing["chunks"] = len(flat)
        start = time.perf_counter()
        model = system.load_query_tower()
        set_lengths(model, system.query_max_length, system.chunk_max_length)
        log.info("encode queries (%s): %d", system.name, len(queries))
        q_vectors = encode(model, [q["text"] for q in queries], "query", batch_size, progress)
        c_vectors = chunk_cache[system.chunk_tower]
        results[system.name] = report(queries, rank_all(
            queries, by_patient, lambda p, idx: (q_vectors[idx] @ c_vectors[p].T).numpy(), seed))
        timing[f"{system.name}_query_seconds"] = time.perf_counter() - start
    return results, timing
