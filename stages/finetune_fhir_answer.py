"""Stage finetune_fhir_answer: LoRA of the generator on (question + its relevant resources -> answer) pairs.

``fhir.answer.train_data``: ``llm`` (the gated corpus's LLM-written questions, their cited resources and
answers), ``templated`` (fhir_qa_testset's train-split questions) or ``both``. Pairs are rendered with the
answer template the evaluation uses (``fhir.answer.template``; gold resources, newest first). ``qlora: true``
loads the base in 4-bit NF4 (bitsandbytes) and fails at once, naming what is missing, where bitsandbytes or
CUDA is not available. This is the answer model of the ``separate`` training mode; the ``sequential`` mode
(finetune_fhir_sequential) continues one adapter from relevance to these same pairs (docs/fhir_qa.md).
Per-step history: metrics/plots/finetune_fhir_answer.json; a killed run resumes from
<checkpoints>/finetune_fhir_answer/.
"""

from __future__ import annotations

import os
from pathlib import Path

os.environ.setdefault("HF_HUB_OFFLINE", "1")
os.environ.setdefault("TRANSFORMERS_OFFLINE", "1")

from clinsynth.fhir.training import FhirConfig, FinetuneFhirAnswerConfig, finetune_answer, read_inputs  # noqa: E402
from clinsynth.params import load_base, load_params  # noqa: E402
from clinsynth.prompting import load_template  # noqa: E402
from clinsynth.records import write_json  # noqa: E402
from clinsynth.training.lora import save_adapter  # noqa: E402


def main() -> None:
    base = load_base()
    fhir = load_params("fhir", FhirConfig)
    cfg = load_params("finetune_fhir_answer", FinetuneFhirAnswerConfig)
    template = load_template(base.paths.prompts_dir, fhir.answer.template)
    run = finetune_answer(cfg, fhir, read_inputs(fhir, relevance=False, answer=True), template, base.seed,
                          str(Path(base.paths.checkpoints) / "finetune_fhir_answer"))
    save_adapter(run.model, fhir.models.answer, run.facts, run.card)
    write_json(Path(base.paths.metrics) / "plots" / "finetune_fhir_answer.json", run.history[""])
    write_json(Path(base.paths.metrics) / "finetune_fhir_answer.json", run.facts)
    write_json(Path(base.paths.metrics) / "timing" / "finetune_fhir_answer.json", run.timing)
    print(run.summary)


if __name__ == "__main__":
    from clinsynth.errors import run_stage

    run_stage(main)
