"""Stage finetune_generator: LoRA on (codes + symptoms found in a real train note -> that note) pairs.

The pairs are rendered with the kg_notes template the adapter will be used with (``template``), without the
example; the adapter directory is what ``kg_notes_generate_lora`` (and ``generate.transformers.adapter``) load.
Per-step history: metrics/plots/finetune_generator.json; a killed run resumes from <checkpoints>/finetune_generator/.
"""

from __future__ import annotations

from pathlib import Path

from clinsynth.kg import KnowledgeGraph
from clinsynth.params import load_base, load_params
from clinsynth.prompting import load_template
from clinsynth.records import read_jsonl, write_json
from clinsynth.training.generator_lora import FinetuneGeneratorConfig, finetune_generator
from clinsynth.training.lora import save_adapter


def main() -> None:
    base = load_base()
    cfg = load_params("finetune_generator", FinetuneGeneratorConfig)
    notes = list(read_jsonl(base.paths.notes))
    kg = KnowledgeGraph.load(base.paths.kg_graph)
    template = load_template(base.paths.prompts_dir, cfg.template)
    run = finetune_generator(notes, kg, template, cfg, base.seed, str(Path(base.paths.checkpoints) / "finetune_generator"))
    save_adapter(run.model, cfg.out_dir, run.facts, run.card)
    write_json(Path(base.paths.metrics) / "kg_notes_finetune.json", run.facts)
    write_json(Path(base.paths.metrics) / "plots" / "finetune_generator.json", run.history)
    write_json(Path(base.paths.metrics) / "timing" / "finetune_generator.json", run.timing)
    print(run.summary)


if __name__ == "__main__":
    from clinsynth.errors import run_stage

    run_stage(main)
