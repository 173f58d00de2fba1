"""Stage evaluate_retrieval: MRR/MAP/Recall@k per patient for BM25, the untuned encoder, stage I, stage I+II."""

from __future__ import annotations

import dataclasses
import os
import time
from pathlib import Path

os.environ.setdefault("HF_HUB_OFFLINE", "1")
os.environ.setdefault("TRANSFORMERS_OFFLINE", "1")

from clinsynth.params import PositiveInt, load_base, load_params  # noqa: E402
from clinsynth.records import read_json, read_jsonl, write_json  # noqa: E402
from clinsynth.retrieval.encoder import META_FILE, load_pretrained, load_retriever  # noqa: E402
from clinsynth.retrieval.evaluation import DenseSystem, evaluate_systems  # noqa: E402
from clinsynth.training.cross_encoder import set_determinism  # noqa: E402


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


def main() -> None:
    base = load_base()
    cfg = load_params("evaluate_retrieval", EvaluateRetrievalConfig)
    set_determinism(base.seed, cfg.threads)
    queries = list(read_jsonl(cfg.queries))
    models = Path(cfg.models_dir)
    meta = read_json(models / "stage1" / META_FILE)
    systems = [dense_system("untuned", None, meta["base_model"], meta),
               dense_system("stage1", models / "stage1", meta["base_model"], meta),
               dense_system("stage1+2", models / "stage2", meta["base_model"], read_json(models / "stage2" / META_FILE))]
    cpu = time.process_time()
    results, timing = evaluate_systems(queries, list(read_jsonl(base.paths.chunks)), systems, base.seed, cfg.batch_size)
    write_json(Path(base.paths.metrics) / "retrieval.json", {"queries": len(queries), "systems": results})
    timing["cpu_s"] = time.process_time() - cpu
    write_json(Path(base.paths.metrics) / "timing" / "evaluate_retrieval.json",
               {k: round(v, 2) for k, v in timing.items()})
    print("evaluate_retrieval: " + "; ".join(f"{name} MRR {r['overall']['mrr']} MAP {r['overall']['map']}"
                                             for name, r in results.items()))


if __name__ == "__main__":
    from clinsynth.errors import run_stage

    run_stage(main)
