"""Stage generate@R: data/prompts/R.jsonl -> data/generations/R.jsonl + R.rejections.jsonl, via the cache.

metrics/generate_R.json is deterministic (the same for a fresh and a cached run); cache hits, wall
time and tokens/s go to the git-ignored metrics/timing/generate_R.json.
"""

from __future__ import annotations

import sys
from pathlib import Path

from clinsynth.generation.cache import GenerationCache
from clinsynth.generation.engine import ProgressBar, generate
from clinsynth.generation.factory import GenerateConfig, make_backend
from clinsynth.params import load_base, load_params
from clinsynth.recipes import load_recipe
from clinsynth.records import read_jsonl, write_json, write_jsonl


def main(recipe_name: str) -> None:
    base = load_base()
    cfg = load_params("generate", GenerateConfig)
    recipe = load_recipe(recipe_name)
    sampling = cfg.sampling_for(recipe_name)
    prompts = list(read_jsonl(Path(base.paths.prompts) / f"{recipe_name}.jsonl"))
    backend = make_backend(cfg, base.profile)
    bar = ProgressBar(len(prompts), f"generate@{recipe_name}")
    with GenerationCache(base.paths.cache) as cache:
        result = generate(prompts, sampling, backend, cache, recipe.parse_completion, on_outcome=bar)
    bar.close()
    out = Path(base.paths.generations)
    write_jsonl(out / f"{recipe_name}.jsonl", result.generations)
    write_jsonl(out / f"{recipe_name}.rejections.jsonl", result.rejections)
    write_json(Path(base.paths.metrics) / f"generate_{recipe_name}.json", result.metrics)
    write_json(Path(base.paths.metrics) / "timing" / f"generate_{recipe_name}.json", result.timing)
    m, t = result.metrics, result.timing
    print(f"generate@{recipe_name}: {m['requests']} requests, {t['cache_hits']} cached, {t['generated']} generated "
          f"({t['tokens_per_s']} tok/s), {m['generations']} kept, {m['rejected_total']} rejected {m['rejected']}")


if __name__ == "__main__":
    main(sys.argv[1])
