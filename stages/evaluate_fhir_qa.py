"""Stage evaluate_fhir_qa: relevance P/R/F1 and answer METEOR/ROUGE-L on test-split patients -> metrics/fhir_qa.json.

``training_modes``: ``separate`` (train_fhir_relevance's cross-encoder + finetune_fhir_answer's LoRA, vs the
lexical, extractive and base-model references) and/or ``sequential`` (finetune_fhir_sequential's one adapter on
both tasks); with both, ``modes`` puts them side by side. Answers go through the engine's cache, rendered with
``fhir.answer.template``; see :mod:`clinsynth.fhir.evaluation` for what each figure is.
"""

from __future__ import annotations

import os
from pathlib import Path

os.environ.setdefault("HF_HUB_OFFLINE", "1")
os.environ.setdefault("TRANSFORMERS_OFFLINE", "1")

from clinsynth.fhir.evaluation import EvalSetup, EvaluateFhirQaConfig, evaluate_fhir_qa, read_eval_data  # noqa: E402
from clinsynth.fhir.training import FhirConfig  # noqa: E402
from clinsynth.generation.cache import GenerationCache  # noqa: E402
from clinsynth.generation.factory import GenerateConfig  # noqa: E402
from clinsynth.params import load_base, load_params  # noqa: E402
from clinsynth.preflight import require  # noqa: E402
from clinsynth.prompting import load_template  # noqa: E402
from clinsynth.records import write_json  # noqa: E402


def main() -> None:
    require("wordnet")  # METEOR's WordNet comes from Debian packages: say so now, not after the models ran
    base = load_base()
    cfg = load_params("evaluate_fhir_qa", EvaluateFhirQaConfig)
    fhir = load_params("fhir", FhirConfig)
    gen = load_params("generate", GenerateConfig)
    templates = {"answer": load_template(base.paths.prompts_dir, fhir.answer.template),
                 "relevance": load_template(base.paths.prompts_dir, fhir.relevance_lm.template)}
    data = read_eval_data(cfg, fhir.resources, base.seed)
    with GenerationCache(base.paths.cache) as cache:
        result = evaluate_fhir_qa(EvalSetup(cfg, fhir, gen, templates, cache, base.seed, base.profile), data)
    write_json(Path(base.paths.metrics) / "fhir_qa.json", result.metrics)
    write_json(Path(base.paths.metrics) / "timing" / "evaluate_fhir_qa.json", result.timing)
    print(result.summary)


if __name__ == "__main__":
    from clinsynth.errors import run_stage

    run_stage(main)
