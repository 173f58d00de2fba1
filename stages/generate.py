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
from clinsynth.generation.shards import ShardSpec, merge_recipe_shards, run_files, select_shard
from clinsynth.params import ConfigError, load_base, load_params
from clinsynth.recipes.registry import load_recipe
from clinsynth.records import read_jsonl, write_json, write_jsonl


def main(recipe_name: str, shard: str | None = None, merge: bool = False) -> None:
    base = load_base()
    cfg = load_params("generate", GenerateConfig)
    prompts = list(read_jsonl(Path(base.paths.prompts) / f"{recipe_name}.jsonl"))
    label = f"generate@{recipe_name}"
    spec = ShardSpec.parse(shard) if shard is not None else None
    files = run_files(recipe_name, spec, base.paths.generations, base.paths.metrics, cfg.shard_dir)
    if merge:
        run = merge_recipe_shards(recipe_name, [p["id"] for p in prompts], cfg.shard_dir, cfg.shards,
                                  Path(base.paths.metrics) / "timing")
        result, timing = run.output, run.timing
    else:
        if spec is not None and spec.count != cfg.shards:
            raise ConfigError(f"--shard {spec}: params.yaml generate.shards is {cfg.shards}, so --merge would "
                              f"read {cfg.shards} shards; set generate.shards: {spec.count} or use --shard I/{cfg.shards}")
        if spec is not None:
            prompts, label = select_shard(prompts, spec), f"{label} shard {spec}"
        recipe, backend = load_recipe(recipe_name), make_backend(cfg, base.profile)
        bar = ProgressBar(len(prompts), label)
        with GenerationCache(base.paths.cache) as cache:
            result = generate(prompts, cfg.sampling_for(recipe_name), backend, cache, recipe.parse_completion, on_outcome=bar)
        bar.close()
        timing = result.timing
    write_jsonl(files.generations, result.generations)
    write_jsonl(files.rejections, result.rejections)
    write_json(files.metrics, result.metrics)
    write_json(files.timing, timing)
    m, t = result.metrics, timing
    done = (f"merged {cfg.shards} shards: {m['requests']} requests" if merge else f"{m['requests']} requests, "
            f"{t['cache_hits']} cached, {t['generated']} generated ({t['tokens_per_s']} tok/s)")
    print(f"{label}: {done}, {m['generations']} kept, {m['rejected_total']} rejected {m['rejected']}")


if __name__ == "__main__":
    from clinsynth.errors import run_stage, add_log_options

    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("recipe")
    group = parser.add_mutually_exclusive_group()
    group.add_argument("--shard", metavar="I/N", help="generate only shard I (0-based) of N")
    group.add_argument("--merge", action="store_true", help="merge the generate.shards shards into today's outputs")
    args = add_log_options(parser).parse_args()
    run_stage(main, args.recipe, shard=args.shard, merge=args.merge, log_args=args)
