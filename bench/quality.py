"""Leakage check throughput: N synthetic notes against M source notes (issue target: 10k vs 50k <= 60 s).

    python bench/quality.py [--sources 50000] [--synthetic 10000] [--tokens 250]

Texts are drawn from a Zipf-like vocabulary so n-gram statistics look like prose; every tenth synthetic
note carries a planted 30-token verbatim copy, and the run checks that all of them are caught.
"""

from __future__ import annotations

import argparse
import random
import time

from clinsynth.quality.leakage import NgramIndex, tokenize


def make_texts(rng: random.Random, count: int, tokens: int, vocab: list[str], weights: list[float]) -> list[str]:
    return [" ".join(rng.choices(vocab, weights, k=tokens)) for _ in range(count)]


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--sources", type=int, default=50_000)
    parser.add_argument("--synthetic", type=int, default=10_000)
    parser.add_argument("--tokens", type=int, default=250)
    parser.add_argument("--n", type=int, default=8)
    args = parser.parse_args()
    rng = random.Random(0)
    vocab = [f"tok{i}" for i in range(20_000)]
    weights = [1.0 / (rank + 1) for rank in range(len(vocab))]
    sources = make_texts(rng, args.sources, args.tokens, vocab, weights)
    synthetic = make_texts(rng, args.synthetic, args.tokens, vocab, weights)
    planted = set(range(0, args.synthetic, 10))
    for i in planted:
        src = tokenize(rng.choice(sources))
        start = rng.randrange(len(src) - 30)
        synthetic[i] = synthetic[i] + " " + " ".join(src[start : start + 30])

    t0, c0 = time.perf_counter(), time.process_time()
    index = NgramIndex(args.n).add(sources)
    t_build, c_build = time.perf_counter() - t0, time.process_time() - c0
    t0, c0 = time.perf_counter(), time.process_time()
    leaks = [index.measure(text) for text in synthetic]
    t_query, c_query = time.perf_counter() - t0, time.process_time() - c0
    caught = sum(1 for i in planted if leaks[i].longest_span >= 30)
    print(f"sources: {args.sources} notes x {args.tokens} tokens; synthetic: {args.synthetic}; n={args.n}")
    # CPU seconds of this process beside wall seconds: on a shared machine the wall time includes waiting
    print(f"index build: {t_build:.1f} s wall, {c_build:.1f} s CPU ({len(index):,} distinct n-grams)")
    print(f"leakage check: {t_query:.1f} s wall, {c_query:.1f} s CPU ({args.synthetic / t_query:,.0f} notes/s)")
    print(f"total: {t_build + t_query:.1f} s wall, {c_build + c_query:.1f} s CPU (target <= 60 s)")
    print(f"planted 30-token copies caught: {caught}/{len(planted)}")


if __name__ == "__main__":
    main()
