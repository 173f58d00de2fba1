"""Stage generate@R: data/prompts/R.jsonl -> data/generations/R.jsonl + R.rejections.jsonl, via the cache.

metrics/generate_R.json is deterministic (the same for a fresh and a cached run); cache hits, wall
time and tokens/s go to the git-ignored metrics/timing/generate_R.json.

Sharded (docs/scale.md): ``generate.py R --shard I/N`` generates only shard I of N (N must equal
``generate.shards``) into ``<generate.shard_dir>/R/I-of-N/``; ``generate.py R --merge`` merges the
``generate.shards`` shards into the very files an unsharded run writes, byte for byte.
"""

from __future__ import annotations

import argparse
from pathlib import Path

from clinsynth.generation.cache import GenerationCache
from clinsynth.generation.engine import ProgressBar, generate
from clinsynth.generation.factory import GenerateConfig, make_backend
from clinsynth.generation.shards import GENERATIONS, METRICS, REJECTIONS, ShardOutput, ShardSpec, merge_shards, \
    select_shard, shard_dir_for
from clinsynth.params import ConfigError, load_base, load_params
from clinsynth.recipes.registry import load_recipe
from clinsynth.records import read_json, read_jsonl, write_json, write_jsonl


def main(recipe_name: str, shard: str | None = None, merge: bool = False) -> None:
    base = load_base()
    cfg = load_params("generate", GenerateConfig)
    prompts = list(read_jsonl(Path(base.paths.prompts) / f"{recipe_name}.jsonl"))
    out, timing_dir = Path(base.paths.generations), Path(base.paths.metrics) / "timing"
    label = f"generate@{recipe_name}"
    if merge:
        return merge_main(recipe_name, cfg, prompts, out, Path(base.paths.metrics))
    spec = ShardSpec.parse(shard) if shard is not None else None
    if spec is not None:
        if spec.count != cfg.shards:
            raise ConfigError(f"--shard {spec}: params.yaml generate.shards is {cfg.shards}, so --merge would "
                              f"read {cfg.shards} shards; set generate.shards: {spec.count} or use --shard I/{cfg.shards}")
        prompts = select_shard(prompts, spec)
        label += f" shard {spec}"
    recipe = load_recipe(recipe_name)
    backend = make_backend(cfg, base.profile)
    bar = ProgressBar(len(prompts), label)
    with GenerationCache(base.paths.cache) as cache:
        result = generate(prompts, cfg.sampling_for(recipe_name), backend, cache, recipe.parse_completion, on_outcome=bar)
    bar.close()
    if spec is None:
        write_jsonl(out / f"{recipe_name}.jsonl", result.generations)
        write_jsonl(out / f"{recipe_name}.rejections.jsonl", result.rejections)
        write_json(Path(base.paths.metrics) / f"generate_{recipe_name}.json", result.metrics)
        write_json(timing_dir / f"generate_{recipe_name}.json", result.timing)
    else:
        folder = shard_dir_for(cfg.shard_dir, recipe_name, spec)
        write_jsonl(folder / GENERATIONS, result.generations)
        write_jsonl(folder / REJECTIONS, result.rejections)
        write_json(folder / METRICS, result.metrics)
        write_json(timing_dir / f"generate_{recipe_name}.shard-{spec.name}.json", result.timing)
    m, t = result.metrics, result.timing
    print(f"{label}: {m['requests']} requests, {t['cache_hits']} cached, {t['generated']} generated "
          f"({t['tokens_per_s']} tok/s), {m['generations']} kept, {m['rejected_total']} rejected {m['rejected']}")


def merge_main(recipe_name: str, cfg: GenerateConfig, prompts: list[dict], out: Path, metrics_dir: Path) -> None:
    specs = [ShardSpec(i, cfg.shards) for i in range(cfg.shards)]
    shards = []
    for spec in specs:
        folder = shard_dir_for(cfg.shard_dir, recipe_name, spec)
        if not (folder / METRICS).exists():
            raise FileNotFoundError(f"{folder / METRICS}: shard {spec} of generate@{recipe_name} has not run; run "
                                    f"`python stages/generate.py {recipe_name} --shard {spec}` (or its DVC stage)")
        shards.append(ShardOutput(spec, list(read_jsonl(folder / GENERATIONS)), list(read_jsonl(folder / REJECTIONS)),
                                  read_json(folder / METRICS)))
    merged = merge_shards([p["id"] for p in prompts], shards, where=f"{cfg.shard_dir}/{recipe_name}")
    write_jsonl(out / f"{recipe_name}.jsonl", merged.generations)
    write_jsonl(out / f"{recipe_name}.rejections.jsonl", merged.rejections)
    write_json(metrics_dir / f"generate_{recipe_name}.json", merged.metrics)
    timings = [metrics_dir / "timing" / f"generate_{recipe_name}.shard-{s.name}.json" for s in specs]
    found = [read_json(p) for p in timings if p.exists()]  # shards run elsewhere leave no timing here
    timing = {"shards": cfg.shards, "shards_timed_here": len(found),
              **{k: sum(t[k] for t in found) for k in ("cache_hits", "generated", "generated_completion_tokens")},
              "max_shard_wall_s": max((t["wall_s"] for t in found), default=0.0)}
    write_json(metrics_dir / "timing" / f"generate_{recipe_name}.json", timing)
    m = merged.metrics
    print(f"generate@{recipe_name}: merged {cfg.shards} shards: {m['requests']} requests, {m['generations']} kept, "
          f"{m['rejected_total']} rejected {m['rejected']}")


if __name__ == "__main__":
    from clinsynth.errors import run_stage

    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("recipe")
    group = parser.add_mutually_exclusive_group()
    group.add_argument("--shard", metavar="I/N", help="generate only shard I (0-based) of N")
    group.add_argument("--merge", action="store_true", help="merge the generate.shards shards into today's outputs")
    args = parser.parse_args()
    run_stage(main, args.recipe, shard=args.shard, merge=args.merge)
