"""Which dtype gives the same text under other CPU kernels? Replies per dtype, alone vs batched, per kernel set.

    PYTHONPATH=src .venv/bin/python bench/dtype_repro.py                     # 8 prompts x 24 tokens
    PYTHONPATH=src .venv/bin/python bench/dtype_repro.py --n 16 --max-new-tokens 48 --dtypes float16
    PYTHONPATH=src .venv/bin/python bench/dtype_repro.py --temperature 0.7 --top-p 0.95   # sampled, seeded per request

For each kernel set (one subprocess each, since torch and oneDNN read these variables once, at load) and each
dtype, the packaged SmolLM2 generates N prompts x M tokens (greedy by default: only arithmetic decides; or
sampled with each request's own seed, as the pipeline does), once each alone and once all in one batch. The
reference is the dtype's replies alone under the CPU's native kernels; the table counts the replies identical
to it, and the batched replies identical to the same run's alone ones (batch invariance under that kernel
set). A kernel set stands in for another CPU: ``ATEN_CPU_CAPABILITY=default|avx2|avx512`` picks ATen's
vectorised kernels (a CPU without AVX-512 runs the avx2 ones), ``ONEDNN_MAX_CPU_ISA`` caps the ISA oneDNN
may use for its matmuls (AVX2: no AVX-512; AVX512_CORE: no BF16/FP16/AMX instructions; AVX512_CORE_FP16: no
AMX). Prints figures; asserts nothing. Prompts: the
test fixture chunks under the three rephrase templates (as bench/generate.py), real clinical text.
"""

from __future__ import annotations

import argparse
import importlib.util
import json
import os
import subprocess
import sys
import tempfile
import time
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]
DTYPES = ["float32", "bfloat16", "float16"]
# name -> environment: each a CPU the replies may meet (see the module docstring)
KERNEL_SETS = {
    "native": {},
    "aten=avx2": {"ATEN_CPU_CAPABILITY": "avx2"},
    "aten=default": {"ATEN_CPU_CAPABILITY": "default"},
    "onednn=AVX512_CORE_FP16": {"ONEDNN_MAX_CPU_ISA": "AVX512_CORE_FP16"},
    "onednn=AVX512_CORE": {"ONEDNN_MAX_CPU_ISA": "AVX512_CORE"},
    "onednn=AVX2": {"ONEDNN_MAX_CPU_ISA": "AVX2"},
    "avx2 CPU (aten=avx2 + onednn=AVX2)": {"ATEN_CPU_CAPABILITY": "avx2", "ONEDNN_MAX_CPU_ISA": "AVX2"},
    "2 threads": {"BENCH_THREADS": "2"},
}


def load_bench_generate():
    spec = importlib.util.spec_from_file_location("bench_generate", REPO / "bench" / "generate.py")
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def worker(args: argparse.Namespace) -> None:
    """In a fresh process with the kernel set's environment: replies per dtype, alone and batched."""
    from clinsynth.generation.transformers_backend import prefer_sleeping_threads

    prefer_sleeping_threads()
    import torch

    from clinsynth.generation.transformers_backend import TransformersBackend, TransformersConfig
    from clinsynth.generation.types import SamplingParams
    from clinsynth.generation.engine import to_request

    threads = int(os.environ.get("BENCH_THREADS", args.threads))
    prompts = json.loads(Path(args.worker).read_text(encoding="utf-8"))
    sampling = SamplingParams(temperature=args.temperature, top_p=args.top_p, max_new_tokens=args.max_new_tokens)
    requests = [to_request(p, sampling) for p in prompts]
    out = {"capability": torch.backends.cpu.get_cpu_capability(), "threads": threads, "torch": torch.__version__,
           "dtypes": {}}
    for dtype in args.dtypes:
        start = time.perf_counter()
        backend = TransformersBackend(TransformersConfig(model=args.model, dtype=dtype, batch_size=len(requests),
                                                         threads=threads))
        try:
            batched = {c.request_id: c.text for c in backend.generate(requests)}
            alone = {r.id: next(iter(backend.generate([r]))).text for r in requests}
        except RuntimeError as exc:  # a kernel this dtype needs is missing under the forced ISA: a figure, not a crash
            out["dtypes"][dtype] = {"error": str(exc).splitlines()[0][:120]}
            continue
        out["dtypes"][dtype] = {"alone": alone, "batched": batched, "seconds": round(time.perf_counter() - start, 1)}
    Path(args.out).write_text(json.dumps(out, sort_keys=True), encoding="utf-8")


def run_worker(name: str, extra_env: dict[str, str], args: argparse.Namespace, prompts_file: Path, tmp: Path) -> dict:
    out = tmp / f"{len(list(tmp.iterdir()))}.json"
    env = {**os.environ, **extra_env}
    cmd = [sys.executable, __file__, "--worker", str(prompts_file), "--out", str(out), "--model", args.model,
           "--max-new-tokens", str(args.max_new_tokens), "--threads", str(args.threads), "--temperature",
           str(args.temperature), "--top-p", str(args.top_p), "--dtypes", *args.dtypes]
    proc = subprocess.run(cmd, env=env, capture_output=True, text=True)
    if proc.returncode != 0:
        return {"error": proc.stderr.strip().splitlines()[-1] if proc.stderr.strip() else f"exit {proc.returncode}"}
    return json.loads(out.read_text(encoding="utf-8"))


def same(a: dict[str, str], b: dict[str, str]) -> int:
    return sum(a[k] == b.get(k) for k in a)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--n", type=int, default=8, help="prompts")
    parser.add_argument("--max-new-tokens", type=int, default=24)
    parser.add_argument("--threads", type=int, default=1)
    parser.add_argument("--temperature", type=float, default=0.0,
                        help="0: greedy; 0.7 with --top-p 0.95: as params.yaml")
    parser.add_argument("--top-p", type=float, default=1.0)
    parser.add_argument("--dtypes", nargs="+", default=DTYPES, choices=DTYPES)
    parser.add_argument("--kernels", nargs="+", default=list(KERNEL_SETS), choices=list(KERNEL_SETS))
    parser.add_argument("--model", help="HF model dir (default: the packaged SmolLM2 GGUF, converted to a temp dir)")
    parser.add_argument("--save", help="also write the replies of every run to this JSON file")
    parser.add_argument("--report", help="print the table of a --save file, run nothing")
    parser.add_argument("--worker", help=argparse.SUPPRESS)
    parser.add_argument("--out", help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.worker:
        return worker(args)
    if args.report:
        saved = json.loads(Path(args.report).read_text(encoding="utf-8"))
        args.dtypes = saved["dtypes"]
        return report(saved["results"], args, saved["n"])
    with tempfile.TemporaryDirectory() as tmp_name:
        tmp = Path(tmp_name)
        if args.model is None:
            from clinsynth.generation.model_store import convert_gguf, packaged_gguf

            args.model = str(tmp / "smollm2-135m-instruct")
            convert_gguf(packaged_gguf(), Path(args.model), "smollm2-135m-instruct")
        prompts = load_bench_generate().fixture_prompts(REPO / "prompts", args.n)[:args.n]
        prompts_file = tmp / "prompts.json"
        prompts_file.write_text(json.dumps(prompts), encoding="utf-8")
        (tmp / "runs").mkdir()
        how = "greedy" if args.temperature == 0 else f"sampled (temperature {args.temperature}, top-p {args.top_p})"
        print(f"# {len(prompts)} prompts x {args.max_new_tokens} new tokens, {how}, {args.threads} thread(s), "
              f"cpus={os.cpu_count()}, load avg at start {os.getloadavg()}")
        results = {name: run_worker(name, KERNEL_SETS[name], args, prompts_file, tmp / "runs") for name in args.kernels}
    if args.save:
        Path(args.save).write_text(json.dumps({"dtypes": args.dtypes, "n": len(prompts), "results": results},
                                              sort_keys=True), encoding="utf-8")
    report(results, args, len(prompts))


def report(results: dict[str, dict], args: argparse.Namespace, n: int) -> None:
    """Identical replies to the reference (the dtype's replies alone, native kernels), per kernel set and dtype.

    Each cell: alone = reference / batched = reference / batched = its own alone (batch invariance there).
    """
    ref = results.get("native", {}).get("dtypes", {})
    print("| kernel set | ATen capability | " + " | ".join(f"{d}: alone / batched / invariant" for d in args.dtypes)
          + " | s |")
    print("| --- | --- | " + " | ".join("---" for _ in args.dtypes) + " | --- |")
    for name, res in results.items():
        if "error" in res:
            print(f"| {name} | error: {res['error'][:80]} |")
            continue
        cells = []
        for dtype in args.dtypes:
            got, base = res["dtypes"][dtype], ref.get(dtype, {}).get("alone", {})
            cells.append(f"error: {got['error'][:60]}" if "error" in got
                         else f"{same(got['alone'], base)} / {same(got['batched'], base)} / "
                         f"{same(got['batched'], got['alone'])}")
        seconds = sum(d.get("seconds", 0) for d in res["dtypes"].values())
        print(f"| {name} | {res['capability']} | " + " | ".join(cells) + f" | {seconds:.0f} |")
    ok = {d: r for d, r in ref.items() if "alone" in r}
    if len(ok) > 1 and "float32" in ok:
        print("\nnative, alone, vs float32 alone: " + ", ".join(
            f"{d} {same(ok[d]['alone'], ok['float32']['alone'])}/{n}" for d in ok if d != "float32"))


if __name__ == "__main__":
    main()
