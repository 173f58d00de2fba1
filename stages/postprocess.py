"""Stage postprocess@C: prompts, generations, rejections and the real notes -> data/synthetic/C/ + metrics/quality_C.json.

data/synthetic/C/ gets records.jsonl, dropped.jsonl, CARD.md (a Hugging Face dataset card), card.json and
parquet/ (records.parquet when ``postprocess.parquet`` is on for the profile, else empty).

    python stages/postprocess.py rephrase

C is a corpus, one of ``postprocess.corpora``: the generations ``data/generations/C.jsonl`` answering the
prompts of recipe ``postprocess.corpora[C]`` (``kg_notes_lora`` answers the ``kg_notes`` prompts).

Writes every output, then fails (QualityGateError) if a hard limit was crossed, so the corpus that failed
can be inspected (``clinsynth quality why-dropped ID``) while ``dvc repro`` still stops non-zero.
"""

from __future__ import annotations

from pathlib import Path

from clinsynth.kg import KnowledgeGraph
from clinsynth.params import ConfigError, load_base, load_params
from clinsynth.quality.card import build_card, file_sha256, write_card
from clinsynth.quality.gates import raise_on_failures
from clinsynth.quality.postprocess import PostprocessConfig, postprocess
from clinsynth.quality.table import corpus_configs, json_columns, write_corpus_parquet
from clinsynth.recipes.registry import load_recipe
from clinsynth.records import Generation, Note, Prompt, Rejection, read_records, write_json, write_jsonl


def main(corpus: str) -> None:
    base = load_base()
    cfg = load_params("postprocess", PostprocessConfig)
    if corpus not in cfg.corpora:
        raise ConfigError(f"params.yaml: postprocess.corpora has no corpus {corpus!r}; it lists {sorted(cfg.corpora)} "
                          f"(corpus -> the recipe whose prompts it answers)")
    recipe = cfg.corpora[corpus]
    paths = {"prompts": Path(base.paths.prompts) / f"{recipe}.jsonl",
             "generations": Path(base.paths.generations) / f"{corpus}.jsonl",
             "rejections": Path(base.paths.generations) / f"{corpus}.rejections.jsonl",
             "notes": Path(base.paths.notes)}
    records = {name: read_records(paths[name], cls) for name, cls in
               (("prompts", Prompt), ("generations", Generation), ("rejections", Rejection), ("notes", Note))}
    kg = KnowledgeGraph.load(base.paths.kg_graph) if cfg.fidelity.kg_concepts else None
    result = postprocess(recipe, records["prompts"], records["generations"], records["rejections"],
                         records["notes"], cfg, base.seed, progress=True, corpus=corpus, kg=kg,
                         check=load_recipe(recipe).CHECK)
    out = Path(cfg.synthetic_dir) / corpus
    write_jsonl(out / "records.jsonl", result.kept)
    write_jsonl(out / "dropped.jsonl", result.dropped)
    write_corpus_parquet(out, result.kept, cfg.parquet)
    inputs = {str(p): file_sha256(p) for p in paths.values()}
    write_card(out, build_card(corpus, records["prompts"], records["generations"], result.metrics, inputs, base.seed,
                               license=cfg.card.license, task_categories=cfg.card.task_categories.get(recipe, []),
                               data_files=corpus_configs(cfg.parquet), json_columns=json_columns() if cfg.parquet else ()))
    write_json(Path(base.paths.metrics) / f"quality_{corpus}.json", result.metrics)
    write_json(Path(base.paths.metrics) / "timing" / f"quality_{corpus}.json", result.timings)
    c = result.metrics["counts"]
    print(f"postprocess@{corpus}: {c['prompts']} prompts, {c['generations']} generations, "
          f"{c['rejected_at_generation_total']} rejected at generation {c['rejected_at_generation']}, "
          f"{c['dropped_total']} dropped {c['dropped']}, {c['kept']} kept -> {out}")
    raise_on_failures(result.failures)


if __name__ == "__main__":
    from clinsynth.errors import run_stage

    run_stage(main)
