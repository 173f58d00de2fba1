"""SmolLM2 decode speed and batch invariance under three CPU kernel paths, each in its own process.

    .venv/bin/python bench/kernel_paths.py [--dtype float16] [--n 16] [--max-new-tokens 48]

Arms: ``native`` (torch's defaults: oneDNN with every instruction the CPU has), ``mkldnn_off``
(``torch.backends.mkldnn.enabled = False``) and ``isa_cap`` (``ONEDNN_MAX_CPU_ISA=AVX512_CORE``: oneDNN without
FP16/BF16/AMX instructions). Each prints tokens/s for ``--n`` synthetic note prompts in one batch (1 thread, the
pipeline's sampling), and how many of the first 6 give the same text alone as in the batch. Asserts nothing.
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
ARMS = ("native", "mkldnn_off", "isa_cap")


def run_arm(args: argparse.Namespace) -> None:
    if args.arm == "isa_cap":
        os.environ["ONEDNN_MAX_CPU_ISA"] = "AVX512_CORE"  # read when oneDNN first runs: before torch is used
    from clinsynth.generation.transformers_backend import TransformersBackend, TransformersConfig, prefer_sleeping_threads

    prefer_sleeping_threads()
    import torch

    if args.arm == "mkldnn_off":
        torch.backends.mkldnn.enabled = False
    from clinsynth.generation.types import Message, Request, SamplingParams

    sampling = SamplingParams(temperature=0.7, top_p=0.95, max_new_tokens=args.max_new_tokens)
    words = ("patient presents with chest pain and shortness of breath history of hypertension diabetes "
             "on metformin follow up in two weeks").split()
    requests = [Request(f"r{i}", (Message("user", "Rewrite this note: " + " ".join(words[i % 9:] * (2 + i % 5))),),
                        1000 + i, sampling) for i in range(args.n)]
    backend = TransformersBackend(TransformersConfig(model=args.model, dtype=args.dtype, batch_size=args.n, threads=1))
    list(backend.generate(requests[:2]))  # warm-up
    start = time.perf_counter()
    batched = {c.request_id: c for c in backend.generate(requests)}
    wall = time.perf_counter() - start
    tokens = sum(c.n_completion_tokens for c in batched.values())
    alone = sum(next(iter(backend.generate([r]))).text == batched[r.id].text for r in requests[:6])
    print(json.dumps({"arm": args.arm, "dtype": args.dtype, "tokens_per_s": round(tokens / wall, 1), "tokens": tokens,
                      "wall_s": round(wall, 1), "alone_identical": f"{alone}/6"}), flush=True)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--arm", choices=ARMS, default=None, help="run one arm in this process")
    parser.add_argument("--model", default=str(REPO / "models/generator/smollm2-135m-instruct"))
    parser.add_argument("--dtype", default="float16")
    parser.add_argument("--n", type=int, default=16)
    parser.add_argument("--max-new-tokens", type=int, default=48)
    args = parser.parse_args()
    if args.arm:
        return run_arm(args)
    print(json.dumps({"load_average": os.getloadavg()}))
    for arm in ARMS:
        subprocess.run([sys.executable, __file__, "--arm", arm, "--model", args.model, "--dtype", args.dtype,
                        "--n", str(args.n), "--max-new-tokens", str(args.max_new_tokens)], check=True,
                       stderr=subprocess.DEVNULL)
    print(json.dumps({"load_average": os.getloadavg()}))


if __name__ == "__main__":
    main()
