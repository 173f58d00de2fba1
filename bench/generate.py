"""Benchmark of the generation engine on the same prompts and model. Prints figures; asserts nothing.

    .venv/bin/python bench/generate.py                 # 16 requests x 48 new tokens (a few minutes, 2 cores)
    .venv/bin/python bench/generate.py --n 48 --max-new-tokens 96 --threads 2

Reports tokens/s for (a) a naive per-request ``model.generate`` loop, (b) our transformers backend
(batched seeded decode), (c) llama-cpp-python on the same GGUF if installed; then the cache-hit
fraction after editing one of three templates (expected 2/3) and the generated-twice count after
a SIGKILL at ~50% and a rerun (expected 0); then (d) tokens/s of our backend with and without a reply
contract (``bench/contract_cost.py``'s arms, each in its own subprocess, at ``--batch-size``; ``--skip
contracts`` leaves it out). Prompts come from ``data/prompts/rephrase.jsonl`` if it
exists, else from the test fixture chunks rendered under the rephrase templates.
"""

from __future__ import annotations

import argparse
import json
import os
import shutil
import signal
import sqlite3
import subprocess
import sys
import tempfile
import time
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]
TEMPLATES = ["rephrase.general.v1", "rephrase.medical.v1", "rephrase.style.v1"]


def fixture_prompts(prompts_dir: Path, n_chunks: int) -> list[dict]:
    from clinsynth.prompting import build_prompts, load_template
    from clinsynth.recipes.registry import load_recipe
    from clinsynth.records import dumps, read_jsonl

    recipe = load_recipe("rephrase")
    chunks_file = REPO / "data/interim/chunks.jsonl"
    if not chunks_file.exists():
        chunks_file = REPO / "tests/fixtures/generation/chunks.jsonl"
    chunks = recipe.select_sources(list(read_jsonl(chunks_file)), recipe.SampleConfig(TEMPLATES, n_chunks), 13)
    templates = [load_template(prompts_dir, name) for name in TEMPLATES]
    prompts = build_prompts("rephrase", templates, chunks, recipe.build_vars, recipe.source_ids, 13)
    return [json.loads(dumps(p.to_dict())) for p in prompts]


def load_prompts(n: int) -> list[dict]:
    path = REPO / "data/prompts/rephrase.jsonl"
    rows = [json.loads(line) for line in path.read_text().splitlines()] if path.exists() else []
    return (rows or fixture_prompts(REPO / "prompts", n))[:n]


def bench_naive(model_dir: str, requests, dtype) -> tuple[int, float]:
    """(a) one ``model.generate`` call per request, transformers' default attention."""
    import torch
    from transformers import AutoModelForCausalLM, AutoTokenizer

    tok = AutoTokenizer.from_pretrained(model_dir)
    model = AutoModelForCausalLM.from_pretrained(model_dir, dtype=dtype).eval()
    tokens, start = 0, time.perf_counter()
    for r in requests:
        ids = tok.apply_chat_template([{"role": m.role, "content": m.content} for m in r.messages],
                                      add_generation_prompt=True, return_tensors="pt", return_dict=True)
        torch.manual_seed(r.seed)
        with torch.inference_mode():
            out = model.generate(**ids, do_sample=True, temperature=r.sampling.temperature, top_p=r.sampling.top_p,
                                 max_new_tokens=r.sampling.max_new_tokens, pad_token_id=tok.pad_token_id)
        new = out[0, ids["input_ids"].shape[1]:]
        tokens += new.numel() - int(new.numel() > 0 and int(new[-1]) == tok.eos_token_id)  # EOS not counted
    return tokens, time.perf_counter() - start


def bench_ours(model_dir: str, requests, threads: int, batch_size: int) -> tuple[int, float]:
    from clinsynth.generation.transformers_backend import TransformersBackend, TransformersConfig

    backend = TransformersBackend(TransformersConfig(model=model_dir, batch_size=batch_size, threads=threads))
    start = time.perf_counter()
    tokens = sum(c.n_completion_tokens for c in backend.generate(requests))
    return tokens, time.perf_counter() - start


def bench_llama_cpp(requests, threads: int) -> tuple[int, float] | str:
    try:
        import llama_cpp
    except ImportError as exc:
        return f"not installed ({exc})"
    from clinsynth.generation.model_store import packaged_gguf

    llm = llama_cpp.Llama(model_path=str(packaged_gguf()), n_ctx=2048, n_threads=threads, verbose=False)
    tokens, start = 0, time.perf_counter()
    for r in requests:
        out = llm.create_chat_completion([{"role": m.role, "content": m.content} for m in r.messages],
                                         temperature=r.sampling.temperature, top_p=r.sampling.top_p,
                                         max_tokens=r.sampling.max_new_tokens, seed=r.seed)
        tokens += out["usage"]["completion_tokens"]
    return tokens, time.perf_counter() - start


def template_edit_hits(model_dir: str, threads: int, n_chunks: int, max_new: int, work: Path) -> tuple[int, int]:
    """Generate k chunks x 3 templates, edit one template, regenerate: (cache hits, requests)."""
    from clinsynth.generation.cache import GenerationCache
    from clinsynth.generation.engine import generate
    from clinsynth.generation.transformers_backend import TransformersBackend, TransformersConfig
    from clinsynth.generation.types import SamplingParams
    from clinsynth.prompting import template_path
    from clinsynth.recipes.registry import load_recipe

    prompts_dir = work / "prompts"
    shutil.copytree(REPO / "prompts", prompts_dir)
    backend = TransformersBackend(TransformersConfig(model=model_dir, threads=threads))
    sampling = SamplingParams(temperature=0.7, top_p=0.95, max_new_tokens=max_new)
    parse = load_recipe("rephrase").parse_completion
    with GenerationCache(work / "edit.sqlite") as cache:
        generate(fixture_prompts(prompts_dir, n_chunks), sampling, backend, cache, parse)
        path = template_path(prompts_dir, "rephrase.style.v1")
        path.write_text(path.read_text().replace("SOAP-style", "problem-oriented"))
        result = generate(fixture_prompts(prompts_dir, n_chunks), sampling, backend, cache, parse)
    return result.timing["cache_hits"], result.metrics["requests"]


def worker(args: argparse.Namespace) -> None:
    """Subprocess body for the kill test: generate the prompts in --worker-prompts into the cache."""
    from clinsynth.generation.cache import GenerationCache
    from clinsynth.generation.engine import run_requests
    from clinsynth.generation.transformers_backend import TransformersBackend, TransformersConfig
    from clinsynth.generation.types import SamplingParams
    from clinsynth.generation.engine import to_request

    prompts = json.loads(Path(args.worker_prompts).read_text())
    sampling = SamplingParams(temperature=0.7, top_p=0.95, max_new_tokens=args.max_new_tokens)
    backend = TransformersBackend(TransformersConfig(model=args.model, threads=args.threads, batch_size=4))
    with GenerationCache(args.worker_cache) as cache:
        print(sum(not o.cached for o in run_requests([to_request(p, sampling) for p in prompts], backend, cache)))


def kill_and_resume(args: argparse.Namespace, prompts: list[dict], work: Path) -> dict:
    """SIGKILL a generating subprocess at ~50% of its commits, rerun it, count keys written twice."""
    from clinsynth.generation.cache import GenerationCache

    (work / "kill.json").write_text(json.dumps(prompts))
    cache = work / "kill.sqlite"
    cmd = [sys.executable, __file__, "--worker-prompts", str(work / "kill.json"), "--worker-cache", str(cache),
           "--model", args.model, "--threads", str(args.threads), "--max-new-tokens", str(args.max_new_tokens)]

    def committed() -> int:
        try:
            with sqlite3.connect(cache, timeout=5) as db:
                return db.execute("SELECT COUNT(*) FROM completions").fetchone()[0]
        except sqlite3.OperationalError:
            return 0

    proc = subprocess.Popen(cmd, stdout=subprocess.PIPE, stderr=subprocess.DEVNULL)
    while committed() < len(prompts) // 2 and proc.poll() is None:
        time.sleep(0.01)
    os.kill(proc.pid, signal.SIGKILL)
    proc.wait()
    before = committed()
    rerun = subprocess.run(cmd, capture_output=True, text=True, check=True)
    with GenerationCache(cache) as store:
        stats = store.stats()
    return {"requests": len(prompts), "committed_at_kill": before, "rerun_generated": int(rerun.stdout.split()[-1]),
            "entries": stats.entries, "generated_twice": stats.generated_twice}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--model", default=str(REPO / "models/generator/smollm2-135m-instruct"))
    parser.add_argument("--n", type=int, default=16, help="requests for the throughput runs")
    parser.add_argument("--max-new-tokens", type=int, default=48)
    parser.add_argument("--threads", type=int, default=2)
    parser.add_argument("--batch-size", type=int, default=16)
    parser.add_argument("--skip", nargs="*", default=[], choices=["naive", "ours", "llama_cpp", "edit", "kill",
                                                                      "contracts"])
    parser.add_argument("--worker-prompts", help=argparse.SUPPRESS)
    parser.add_argument("--worker-cache", help=argparse.SUPPRESS)
    args = parser.parse_args()
    from clinsynth.generation.transformers_backend import TransformersConfig, prefer_sleeping_threads, resolve_dtype

    prefer_sleeping_threads()  # before torch loads: (a), (b) and the workers all run with sleeping OpenMP threads
    if args.worker_prompts:
        return worker(args)
    import torch

    from clinsynth.generation.model_store import offline
    from clinsynth.generation.types import SamplingParams
    from clinsynth.generation.engine import to_request

    offline()
    torch.set_num_threads(args.threads)
    dtype = resolve_dtype(TransformersConfig().dtype)  # what bench_ours runs
    prompts = load_prompts(args.n)
    sampling = SamplingParams(temperature=0.7, top_p=0.95, max_new_tokens=args.max_new_tokens)
    requests = [to_request(p, sampling) for p in prompts]
    print(f"# {len(requests)} requests x {args.max_new_tokens} new tokens, {args.threads} threads, {dtype}, "
          f"cpus={os.cpu_count()}, OMP_WAIT_POLICY={os.environ.get('OMP_WAIT_POLICY')}, "
          f"load avg at start {os.getloadavg()}")
    rows = {}
    if "naive" not in args.skip:
        rows["(a) naive model.generate loop"] = bench_naive(args.model, requests, dtype)
    if "ours" not in args.skip:
        rows[f"(b) ours (batch {args.batch_size})"] = bench_ours(args.model, requests, args.threads, args.batch_size)
    if "llama_cpp" not in args.skip:
        rows["(c) llama-cpp-python, same GGUF"] = bench_llama_cpp(requests, args.threads)
    print(f"{'backend':40s} {'tokens':>7s} {'seconds':>8s} {'tok/s':>7s}")
    for name, value in rows.items():
        if isinstance(value, str):
            print(f"{name:40s} {value}")
        else:
            print(f"{name:40s} {value[0]:7d} {value[1]:8.1f} {value[0] / value[1]:7.1f}")
    rates = {k[:3]: v[0] / v[1] for k, v in rows.items() if not isinstance(v, str)}
    if "(b)" in rates:
        for other in ("(a)", "(c)"):
            if other in rates:
                print(f"speed-up (b)/{other}: {rates['(b)'] / rates[other]:.2f}x")
    with tempfile.TemporaryDirectory() as tmp:
        if "edit" not in args.skip:
            hits, total = template_edit_hits(args.model, args.threads, 4, 16, Path(tmp))
            print(f"cache hits after editing 1 of 3 templates: {hits}/{total} = {hits / total:.3f} (expected 0.667)")
        if "kill" not in args.skip:
            kill = kill_and_resume(args, load_prompts(max(args.n, 16)), Path(tmp))
            print(f"SIGKILL at ~50% then rerun: {kill} (expected generated_twice 0, "
                  f"rerun_generated = requests - committed_at_kill)")
    if "contracts" not in args.skip:
        print("(d) reply contracts, our backend (bench/contract_cost.py arms):", flush=True)
        env = {**os.environ, "PYTHONPATH": str(REPO / "src") + os.pathsep + os.environ.get("PYTHONPATH", "")}
        subprocess.run([sys.executable, str(REPO / "bench/contract_cost.py"), "--model", args.model, "--n", str(args.n),
                        "--batch", str(args.batch_size), "--max-new-tokens", str(args.max_new_tokens),
                        "--threads", str(args.threads), "--dtype", str(dtype).removeprefix("torch.")],
                       env=env, check=True)
    print(f"# load avg at end {os.getloadavg()}")


if __name__ == "__main__":
    main()
