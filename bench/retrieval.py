"""Benchmark: chunk encoding throughput and per-query latency of the dense retriever over the demo index.

    python bench/retrieval.py [--model models/retrieval/stage2] [--chunks N] [--threads 1] [--queries 200]

Encodes chunks (all splits, or the first N) with the chunk tower, then times queries one at a time:
query encoding + exact search (one matrix product over the whole index, and over one patient's
chunks, as the evaluation does) + top-10, and exact search over ``--scale`` random vectors to show
how brute force grows. Prints figures; asserts nothing. Wall and CPU seconds.
"""

from __future__ import annotations

import argparse
import os
import statistics
import sys
import time
from pathlib import Path

os.environ.setdefault("HF_HUB_OFFLINE", "1")
sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "src"))

import torch  # noqa: E402

from clinsynth.records import read_jsonl  # noqa: E402
from clinsynth.retrieval.encoder import encode, load_chunk_tower, load_retriever  # noqa: E402


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--model", default="models/retrieval/stage2")
    ap.add_argument("--chunks-file", default="data/interim/chunks.jsonl")
    ap.add_argument("--chunks", type=int, default=0, help="first N chunks (0: all)")
    ap.add_argument("--queries", type=int, default=200)
    ap.add_argument("--threads", type=int, default=1)
    ap.add_argument("--batch-size", type=int, default=64)
    ap.add_argument("--scale", type=int, default=100_000, help="also time exact search over N random vectors (0: skip)")
    args = ap.parse_args()
    torch.set_num_threads(args.threads)
    query_model, meta = load_retriever(args.model)
    chunk_model = load_chunk_tower(args.model, meta)
    chunks = list(read_jsonl(args.chunks_file))
    chunks = chunks[:args.chunks] if args.chunks else chunks
    texts = [c["text"] for c in chunks]
    wall, cpu = time.perf_counter(), time.process_time()
    index = encode(chunk_model, texts, "document", args.batch_size)
    wall, cpu = time.perf_counter() - wall, time.process_time() - cpu
    print(f"encode: {len(texts)} chunks in {wall:.1f} s wall / {cpu:.1f} s CPU -> {len(texts) / wall:.1f} chunks/s "
          f"({args.threads} thread(s), batch {args.batch_size}, max {meta['chunk_max_length']} tokens); "
          f"index {tuple(index.shape)} float32 = {index.numel() * 4 / 2**20:.1f} MiB")
    patient = chunks[0]["patient_id"]
    rows = torch.tensor([i for i, c in enumerate(chunks) if c["patient_id"] == patient])
    terms = ["hypertension", "HTN", "type 2 diabetes", "viral sinusitis", "acetaminophen", "APAP", "chest x-ray",
             "otitis media", "middle ear infection", "migraine"]
    encode_ms, search_ms, patient_ms = [], [], []
    with torch.inference_mode():
        for k in range(args.queries):
            t0 = time.perf_counter()
            q = encode(query_model, [terms[k % len(terms)]], "query", 1, progress=False)
            t1 = time.perf_counter()
            torch.topk(index @ q[0], k=min(10, len(index)))
            t2 = time.perf_counter()
            torch.topk(index[rows] @ q[0], k=min(10, len(rows)))
            t3 = time.perf_counter()
            encode_ms.append((t1 - t0) * 1e3)
            search_ms.append((t2 - t1) * 1e3)
            patient_ms.append((t3 - t2) * 1e3)
    med = statistics.median
    p95 = lambda xs: sorted(xs)[int(0.95 * (len(xs) - 1))]  # noqa: E731
    print(f"query: encode median {med(encode_ms):.1f} ms (p95 {p95(encode_ms):.1f}); exact search over {len(index)} "
          f"chunks median {med(search_ms):.3f} ms (p95 {p95(search_ms):.3f}); over one patient's {len(rows)} chunks "
          f"median {med(patient_ms):.3f} ms; {args.queries} queries")
    if args.scale:
        big = torch.nn.functional.normalize(torch.randn(args.scale, index.shape[1], generator=torch.Generator().manual_seed(0)), dim=-1)
        times = []
        for k in range(20):
            t0 = time.perf_counter()
            torch.topk(big @ big[k], k=10)
            times.append((time.perf_counter() - t0) * 1e3)
        print(f"exact search over {args.scale} random {index.shape[1]}-d vectors ({big.numel() * 4 / 2**20:.0f} MiB): "
              f"median {med(times):.1f} ms per query")


if __name__ == "__main__":
    main()
