"""Stage kg_notes_generate_lora: kg_notes prompts of ``templates`` -> replies of the generator + LoRA adapter.

The engine's ``generate@kg_notes`` uses ``generate.transformers`` (the base model); this stage runs the
same engine (cache, backend, parser, ``generate.sampling.kg_notes``) with ``adapter`` set, so the two
corpora differ only by the adapter. Writes data/generations/kg_notes_lora.jsonl (+ rejections).
"""

from __future__ import annotations

from pathlib import Path

from clinsynth.generation.cache import GenerationCache
from clinsynth.generation.engine import ProgressBar, generate
from clinsynth.generation.factory import GenerateConfig, make_backend
from clinsynth.params import load_base, load_params
from clinsynth.recipes import kg_notes
from clinsynth.records import read_jsonl, write_json, write_jsonl
from clinsynth.training.lora_generation import KgNotesGenerateLoraConfig, adapter_prompts, with_adapter


def main() -> None:
    base = load_base()
    cfg = load_params("kg_notes_generate_lora", KgNotesGenerateLoraConfig)
    gen = with_adapter(load_params("generate", GenerateConfig), cfg.adapter)
    kg_notes.check_draw_sets(cfg.draw_sets, "kg_notes_generate_lora.draw_sets")
    prompts = adapter_prompts(read_jsonl(Path(base.paths.prompts) / "kg_notes.jsonl"), cfg)
    backend = make_backend(gen, base.profile)
    bar = ProgressBar(len(prompts), "kg_notes_generate_lora")
    with GenerationCache(base.paths.cache) as cache:
        result = generate(prompts, gen.sampling_for("kg_notes"), backend, cache, kg_notes.parse_completion, on_outcome=bar)
    bar.close()
    out = Path(base.paths.generations)
    write_jsonl(out / f"{cfg.out}.jsonl", result.generations)
    write_jsonl(out / f"{cfg.out}.rejections.jsonl", result.rejections)
    write_json(Path(base.paths.metrics) / "kg_notes_generate_lora.json", result.metrics)
    write_json(Path(base.paths.metrics) / "timing" / "kg_notes_generate_lora.json", result.timing)
    print(f"kg_notes_generate_lora: {len(prompts)} prompts, {result.timing['cache_hits']} cached, "
          f"{len(result.generations)} kept, {len(result.rejections)} rejected")


if __name__ == "__main__":
    from clinsynth.errors import run_stage

    run_stage(main)
