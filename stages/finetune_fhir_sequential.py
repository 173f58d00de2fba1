"""Stage finetune_fhir_sequential: ONE LoRA adapter of the generator, tuned on relevance, then on answers.

The ``sequential`` training mode of FHIR QA (the paper's one-model variant; ``separate`` = train_fhir_relevance's
MiniLM + finetune_fhir_answer's LoRA). Phase 1: the relevance pairs train_fhir_relevance trains on
(``fhir.relevance``), rendered as generation (``fhir.relevance_lm.template`` -> "yes"/"no"), a seeded sample of
``relevance.max_pairs``. Phase 2: the SAME adapter continues on finetune_fhir_answer's pairs with
``fhir.answer.train`` (:func:`clinsynth.fhir.training.finetune_sequential`). Per-step history per phase:
metrics/plots/finetune_fhir_sequential_{relevance,answer}.json; checkpoints <checkpoints>/finetune_fhir_sequential_<phase>/.
"""

from __future__ import annotations

import os
from pathlib import Path

os.environ.setdefault("HF_HUB_OFFLINE", "1")
os.environ.setdefault("TRANSFORMERS_OFFLINE", "1")

from clinsynth.fhir.training import (FhirConfig, FinetuneFhirSequentialConfig, finetune_sequential,  # noqa: E402
                                     read_inputs)
from clinsynth.params import load_base, load_params  # noqa: E402
from clinsynth.prompting import load_template  # noqa: E402
from clinsynth.records import write_json  # noqa: E402
from clinsynth.training.lora import save_adapter  # noqa: E402


def main() -> None:
    base = load_base()
    fhir = load_params("fhir", FhirConfig)
    cfg = load_params("finetune_fhir_sequential", FinetuneFhirSequentialConfig)
    templates = {"relevance": load_template(base.paths.prompts_dir, fhir.relevance_lm.template),
                 "answer": load_template(base.paths.prompts_dir, fhir.answer.template)}
    run = finetune_sequential(cfg, fhir, read_inputs(fhir, relevance=True, answer=True), templates, base.seed,
                              str(Path(base.paths.checkpoints) / "finetune_fhir_sequential"))
    save_adapter(run.model, fhir.models.sequential, run.facts, run.card)
    for phase, rows in run.history.items():
        write_json(Path(base.paths.metrics) / "plots" / f"finetune_fhir_sequential_{phase}.json", rows)
    write_json(Path(base.paths.metrics) / "finetune_fhir_sequential.json", run.facts)
    write_json(Path(base.paths.metrics) / "timing" / "finetune_fhir_sequential.json", run.timing)
    print(run.summary)


if __name__ == "__main__":
    from clinsynth.errors import run_stage

    run_stage(main)
