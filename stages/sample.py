"""Stage sample@R: recipe R's sources x its templates -> data/prompts/R.jsonl (sorted by prompt id)."""

from __future__ import annotations

from collections import Counter
from pathlib import Path

from clinsynth.params import load_base
from clinsynth.prompting import build_prompts, load_template
from clinsynth.recipes import load_recipe_params
from clinsynth.recipes.registry import load_recipe
from clinsynth.records import write_json, write_jsonl


def main(recipe_name: str) -> None:
    base = load_base()
    recipe = load_recipe(recipe_name)
    cfg = load_recipe_params("sample", recipe_name, recipe.SampleConfig)
    templates = [load_template(base.paths.prompts_dir, name) for name in cfg.templates]
    records = recipe.read_sources(base.paths)
    chosen = recipe.select_sources(records, cfg, base.seed)
    # a recipe may render some sources under only some templates (kg_notes' upsample draws)
    templates_for = getattr(recipe, "templates_for", None)
    # sample.<R>.contract (default none): the recipe's reply contract per prompt, enforced while decoding
    contract_for = getattr(recipe, "build_contract", None) if getattr(cfg, "contract", "none") != "none" else None
    prompts = build_prompts(recipe_name, templates, chosen, recipe.build_vars, recipe.source_ids, base.seed,
                            templates_for=(lambda source: templates_for(source, cfg)) if templates_for else None,
                            build_contract=(lambda source: contract_for(source, cfg)) if contract_for else None)
    write_jsonl(Path(base.paths.prompts) / f"{recipe_name}.jsonl", (p.to_dict() for p in prompts))
    per_template = dict(sorted(Counter(p.template for p in prompts).items()))
    metrics = {"sources_read": len(records), "sources_sampled": len(chosen), "prompts": len(prompts),
               "per_template": per_template, "template_sha": {t.name: t.sha for t in templates}}
    write_json(Path(base.paths.metrics) / f"sample_{recipe_name}.json", metrics)
    print(f"sample@{recipe_name}: {len(records)} sources read, {len(chosen)} sampled, {len(prompts)} prompts {per_template}")


if __name__ == "__main__":
    from clinsynth.errors import run_stage

    run_stage(main)
