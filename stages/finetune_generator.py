"""Stage finetune_generator: LoRA on (codes + symptoms found in a real train note -> that note) pairs.

The pairs are rendered with the kg_notes template the adapter will be used with (``template``), without the
example; the adapter directory is what ``kg_notes_generate_lora`` (and ``generate.transformers.adapter``) load.
"""

from __future__ import annotations

import dataclasses
from pathlib import Path

from clinsynth.kg import KnowledgeGraph
from clinsynth.params import load_base, load_params
from clinsynth.prompting import load_template
from clinsynth.records import read_jsonl, write_json
from clinsynth.training.generator_lora import FinetuneGeneratorConfig, finetune_pairs
from clinsynth.training.lora import save_adapter, train_lora


def main() -> None:
    from transformers import AutoModelForCausalLM, AutoTokenizer

    base = load_base()
    cfg = load_params("finetune_generator", FinetuneGeneratorConfig)
    notes = list(read_jsonl(base.paths.notes))
    kg = KnowledgeGraph.load(base.paths.kg_graph)
    template = load_template(base.paths.prompts_dir, cfg.template)
    built = finetune_pairs(notes, kg, template, cfg, base.seed)
    tokenizer = AutoTokenizer.from_pretrained(cfg.base_model, local_files_only=True)
    factory = lambda: AutoModelForCausalLM.from_pretrained(cfg.base_model, dtype="float32", local_files_only=True)  # noqa: E731
    model, result = train_lora(factory, tokenizer, built.pairs, cfg.train, base.seed)
    facts = {k: v for k, v in dataclasses.asdict(result).items() if k != "seconds"}
    facts |= {"loss_first": round(result.loss_first, 4), "loss_last": round(result.loss_last, 4),
              "template": cfg.template, "template_sha": template.sha, "base_model": cfg.base_model,
              "pairs_with_symptoms": built.with_symptoms}
    save_adapter(model, cfg.out_dir, facts)
    write_json(Path(base.paths.metrics) / "kg_notes_finetune.json", facts)
    write_json(Path(base.paths.metrics) / "timing" / "finetune_generator.json", {"seconds": round(result.seconds, 1)})
    print(f"finetune_generator: {len(built.pairs)} pairs, {result.steps} steps, loss {result.loss_first:.3f} -> "
          f"{result.loss_last:.3f} in {result.seconds:.0f} s -> {cfg.out_dir}")


if __name__ == "__main__":
    from clinsynth.errors import run_stage

    run_stage(main)
