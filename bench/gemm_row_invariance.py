"""Are a linear layer's output rows independent of how many rows the GEMM runs? Asserts nothing.

    .venv/bin/python bench/gemm_row_invariance.py                 # SmolLM2's widths and the test models'
    .venv/bin/python bench/gemm_row_invariance.py --dtypes float16 --shapes 64x32 576x192

Batch invariance (docs/generation.md) needs every row of ``x @ W.T`` to be bit-identical whether the GEMM runs
2, 4 or 16 rows (decode never runs one: the ghost row). For each ``KxN`` shape and dtype, random weights and
``--draws`` random inputs of 16 rows: a draw counts as differing when any of its row counts 2..16 gives a row
other than the 16-row GEMM. The CPU's kernels decide this (oneDNN's float16 path on an AVX512-FP16 Xeon: only
layers with <= 32 outputs differed), so run it on the machine whose outputs you compare.
"""

from __future__ import annotations

import argparse
import json

DEFAULT_SHAPES = ["576x192", "576x576", "576x1536", "1536x576", "576x49152",  # SmolLM2-135M
                  "64x32", "64x64", "64x128", "128x64", "64x259"]  # the tests' tiny Llamas


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--shapes", nargs="+", default=DEFAULT_SHAPES, help="KxN: in and out features")
    parser.add_argument("--dtypes", nargs="+", default=["float16", "bfloat16", "float32"])
    parser.add_argument("--draws", type=int, default=200, help="random inputs per shape (a tenth for N > 1000)")
    parser.add_argument("--threads", type=int, default=1)
    args = parser.parse_args()

    import torch

    torch.set_num_threads(args.threads)
    print(json.dumps({"torch": torch.__version__, "threads": args.threads,
                      "capability": torch.backends.cpu.get_cpu_capability()}))
    for name in args.dtypes:
        dtype = getattr(torch, name)
        for shape in args.shapes:
            k, n = (int(x) for x in shape.split("x"))
            gen = torch.Generator().manual_seed(0)
            layer = torch.nn.Linear(k, n, bias=False).to(dtype)
            with torch.no_grad():
                layer.weight.copy_(torch.randn(n, k, generator=gen) * 0.2)
                draws = args.draws if n <= 1000 else max(1, args.draws // 10)
                differing = 0
                for _ in range(draws):
                    x = (torch.randn(16, 1, k, generator=gen) * 2).to(dtype)
                    full = layer(x)
                    differing += any(not torch.equal(layer(x[:m]), full[:m]) for m in range(2, 16))
            print(json.dumps({"dtype": name, "shape": shape, "draws": draws, "differing": differing}), flush=True)


if __name__ == "__main__":
    main()
