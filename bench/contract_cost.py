"""Cost of decoding under a reply contract: tokens/s with and without, same prompts, same model. Asserts nothing.

    .venv/bin/python bench/contract_cost.py                       # 48 requests x 48 new tokens, batch 48
    .venv/bin/python bench/contract_cost.py --model /path/to/smollm2-135m-instruct --threads 1

Each arm runs in its own subprocess (a fresh torch, no shared warm-up): ``none`` (no contract: the
unchanged decode loop) and ``json`` (retrieval_queries' JSON-schema contract) and ``brat`` (a
brat_augment markup regex). The requests are retrieval_queries prompts over the fixture chunks
(cycled, each with its own seed). Besides tokens/s (which also moves with how many rows finish
early, since replies differ under a contract), each constrained arm reports the time spent in the
grammar engine itself: mask computation + token commit per constrained token, and its share of the
wall time; that is the masking cost proper. Run ``uptime`` beside it: the figures move with load.
"""

from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys
import time
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]
ARMS = ("none", "json", "brat")
BRAT_SEGMENT = "Started [[Drug: metformin]] for [[Disease_disorder: type 2 diabetes]]; [[Sign_symptom: cough]] resolved."


def build_requests(n: int, max_new_tokens: int, arm: str):
    from clinsynth.generation.types import Message, Request, SamplingParams
    from clinsynth.recipes import brat_augment, retrieval_queries
    from clinsynth.records import read_jsonl

    chunks = list(read_jsonl(REPO / "tests/fixtures/generation/chunks.jsonl"))
    sampling = SamplingParams(temperature=0.7, top_p=0.95, max_new_tokens=max_new_tokens)
    contract = None
    if arm == "json":
        contract = retrieval_queries.build_contract({})
    elif arm == "brat":
        contract = brat_augment.build_contract({"segment": {"encoded": BRAT_SEGMENT}})
    requests = []
    for i in range(n):
        text = chunks[i % len(chunks)]["text"]
        messages = (Message("user", "List the diseases, procedures and drugs this note mentions, as JSON "
                                    f'{{"diseases": [...], "procedures": [...], "drugs": [...]}}:\n{text}'),)
        requests.append(Request(f"r{i:03d}", messages, 1000 + i, sampling, contract))
    return requests


def run_arm(args: argparse.Namespace) -> dict:
    """One arm in this process: generate every request once, time it, and time the grammar engine's calls."""
    from clinsynth.generation.transformers_backend import TransformersBackend, TransformersConfig, prefer_sleeping_threads

    prefer_sleeping_threads()
    from clinsynth.generation import contracts

    engine = {"s": 0.0, "calls": 0}

    def timed(method):
        def wrapper(self, *a):
            start = time.perf_counter()
            try:
                return method(self, *a)
            finally:
                engine["s"] += time.perf_counter() - start
                engine["calls"] += method.__name__ == "mask"
        wrapper.__name__ = method.__name__
        return wrapper

    contracts.RowMatcher.mask = timed(contracts.RowMatcher.mask)
    contracts.RowMatcher.advance = timed(contracts.RowMatcher.advance)
    backend = TransformersBackend(TransformersConfig(model=args.model, dtype=args.dtype, batch_size=args.batch,
                                                     threads=args.threads))
    requests = build_requests(args.n, args.max_new_tokens, args.arm)
    start = time.perf_counter()
    results = list(backend.generate(requests))
    wall = time.perf_counter() - start
    tokens = sum(getattr(r, "n_completion_tokens", 0) for r in results)
    out = {"arm": args.arm, "requests": len(requests), "completion_tokens": tokens, "wall_s": round(wall, 2),
           "tokens_per_s": round(tokens / wall, 2), "failures": sum(not hasattr(r, "text") for r in results)}
    if args.arm != "none":
        out.update(engine_s=round(engine["s"], 3), engine_share=round(engine["s"] / wall, 4),
                   engine_us_per_token=round(1e6 * engine["s"] / max(1, engine["calls"]), 1))
        if args.arm == "json":
            out["valid_json"] = sum(_is_json(r.text) for r in results if hasattr(r, "text"))
    return out


def _is_json(text: str) -> bool:
    try:
        json.loads(text)
    except json.JSONDecodeError:
        return False
    return True


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--model", default=str(REPO / "models/generator/smollm2-135m-instruct"))
    parser.add_argument("--dtype", default="float16")
    parser.add_argument("--n", type=int, default=48)
    parser.add_argument("--batch", type=int, default=48)
    parser.add_argument("--max-new-tokens", type=int, default=48)
    parser.add_argument("--threads", type=int, default=None)
    parser.add_argument("--arms", default=",".join(ARMS), help="comma-separated subset of " + ", ".join(ARMS))
    parser.add_argument("--arm", choices=ARMS, help=argparse.SUPPRESS)  # the worker of one arm
    args = parser.parse_args()
    if args.arm:
        print(json.dumps(run_arm(args)))
        return
    env = {**os.environ, "PYTHONPATH": str(REPO / "src") + os.pathsep + os.environ.get("PYTHONPATH", "")}
    passed = [a for a in sys.argv[1:] if not a.startswith("--arms")]
    print(f"model {args.model}, {args.n} requests x {args.max_new_tokens} new tokens, batch {args.batch}, "
          f"{args.dtype}, load {os.getloadavg()[0]:.2f}")
    rows = []
    for arm in args.arms.split(","):
        done = subprocess.run([sys.executable, __file__, *passed, "--arm", arm], env=env, check=True,
                              capture_output=True, text=True)
        rows.append(json.loads(done.stdout.strip().splitlines()[-1]))
        print(json.dumps(rows[-1]), flush=True)
    base = next((r for r in rows if r["arm"] == "none"), None)
    for row in rows:
        if base and row is not base:
            print(f"{row['arm']}: {row['tokens_per_s'] / base['tokens_per_s']:.3f}x the tokens/s of no contract; "
                  f"grammar engine {row['engine_us_per_token']} us/token, {100 * row['engine_share']:.1f}% of wall")
    print(f"load after: {os.getloadavg()[0]:.2f}")


if __name__ == "__main__":
    main()
