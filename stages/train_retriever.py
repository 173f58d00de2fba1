"""Stage train_retriever: stage I (KG pairs) then stage II (LLM pairs) -> models/retrieval/{stage1,stage2}/.

Each model folder is a sentence-transformers model (``SentenceTransformer(path)``, with the model card the
library writes) plus retriever.json; the per-step history goes to metrics/plots/train_retriever_<stage>.json.
A killed run resumes from <checkpoints>/train_retriever_<stage>/ (train.checkpoint_every).
"""

from __future__ import annotations

import os
import time
from pathlib import Path

os.environ.setdefault("HF_HUB_OFFLINE", "1")
os.environ.setdefault("TRANSFORMERS_OFFLINE", "1")

from clinsynth.params import load_base, load_params  # noqa: E402
from clinsynth.records import read_jsonl, write_json  # noqa: E402
from clinsynth.retrieval.encoder import load_encoder, save_retriever  # noqa: E402
from clinsynth.retrieval.pairs import Pair, TrainChunk  # noqa: E402
from clinsynth.retrieval.train import TrainRetrieverConfig, train_retriever  # noqa: E402


def main() -> None:
    base = load_base()
    cfg = load_params("train_retriever", TrainRetrieverConfig)
    data = Path(cfg.data_dir)
    chunks = {row["id"]: TrainChunk(**row) for row in read_jsonl(data / "train_chunks.jsonl")}
    stages = [("stage1", [Pair(**r) for r in read_jsonl(data / "pairs_stage1.jsonl")], cfg.train.stage1),
              ("stage2", [Pair(**r) for r in read_jsonl(data / "pairs_stage2.jsonl")], cfg.train.stage2)]
    chunk_tower = cfg.model if cfg.train.tune == "query" else "same"
    meta = {"base_model": cfg.model, "chunk_tower": chunk_tower, "pooling": "mean", "normalize": True,
            "tune": cfg.train.tune, "query_max_length": cfg.train.query_max_length,
            "chunk_max_length": cfg.train.chunk_max_length}

    def save(name, model, result):
        save_retriever(model, Path(cfg.out_dir) / name, {**meta, "stage": name, "steps": result.steps,
                                                         "pairs": result.pairs})
        write_json(Path(base.paths.metrics) / "plots" / f"train_retriever_{name}.json", result.history.plot_rows())

    cpu = time.process_time()
    results, encode_s = train_retriever(
        lambda: load_encoder(cfg.model), stages, chunks, cfg.train, base.seed, on_stage_end=save,
        checkpoints=base.paths.checkpoints, datasets={n: f"{data / f'pairs_{n}.jsonl'}" for n, _, _ in stages},
        base_model=cfg.model)
    cpu = time.process_time() - cpu  # CPU seconds (all threads): on a shared machine wall time mostly measures the others
    write_json(Path(base.paths.metrics) / "retrieval_train.json",
               {r.name: {"steps": r.steps, "pairs": r.pairs, "loss_first": round(r.loss_first, 4),
                         "loss_last": round(r.loss_last, 4)} for r in results} | {"train_chunks": len(chunks)})
    write_json(Path(base.paths.metrics) / "timing" / "train_retriever.json",
               {"encode_chunks_s": round(encode_s, 1), "threads": cfg.train.threads, "cpu_s": round(cpu, 1),
                **{f"{r.name}_s": round(r.seconds, 1) for r in results},
                **{f"{r.name}_s_per_step": round(r.seconds / max(1, r.steps), 3) for r in results}})
    print("train_retriever: " + "; ".join(f"{r.name} {r.steps} steps on {r.pairs} pairs in {r.seconds:.0f} s, loss "
                                          f"{r.loss_first:.3f} -> {r.loss_last:.3f}" for r in results)
          + f"; chunk encoding {encode_s:.0f} s")


if __name__ == "__main__":
    from clinsynth.errors import run_stage

    run_stage(main)
