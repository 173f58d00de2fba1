"""Stage evaluate_retrieval: MRR/MAP/Recall@k per patient for BM25, the untuned encoder, stage I, stage I+II.

The models are loaded with ``SentenceTransformer``; retriever.json says which chunk tower each one uses.
"""

from __future__ import annotations

import os
import time
from pathlib import Path

os.environ.setdefault("HF_HUB_OFFLINE", "1")
os.environ.setdefault("TRANSFORMERS_OFFLINE", "1")

from clinsynth.params import load_base, load_params  # noqa: E402
from clinsynth.records import read_jsonl, write_json  # noqa: E402
from clinsynth.retrieval.encoder import set_determinism  # noqa: E402
from clinsynth.retrieval.evaluation import EvaluateRetrievalConfig, evaluate_systems, retriever_systems  # noqa: E402


def main() -> None:
    base = load_base()
    cfg = load_params("evaluate_retrieval", EvaluateRetrievalConfig)
    set_determinism(base.seed, cfg.threads)
    queries = list(read_jsonl(cfg.queries))
    systems = retriever_systems(cfg.models_dir)
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
