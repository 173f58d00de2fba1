"""Stage train_fhir_relevance: a cross-encoder (MiniLM) on (question, resource, relevant?) train pairs.

``fhir.relevance.train_data`` picks the training questions: ``llm`` (the gated corpus postprocess@fhir_qa
kept, ``fhir.corpus``: positives = the cited resources, negatives = other resources of that patient),
``templated`` (fhir_qa_testset's train-split pairs) or ``both``. Evaluation is always on the templated
test-split questions (:func:`clinsynth.fhir.training.train_relevance`).
"""

from __future__ import annotations

import os
from pathlib import Path

os.environ.setdefault("HF_HUB_OFFLINE", "1")
os.environ.setdefault("TRANSFORMERS_OFFLINE", "1")

from clinsynth.fhir.training import FhirConfig, TrainFhirRelevanceConfig, read_inputs, train_relevance  # noqa: E402
from clinsynth.params import load_base, load_params  # noqa: E402
from clinsynth.records import write_json  # noqa: E402
from clinsynth.training.cross_encoder import save_cross_encoder  # noqa: E402


def main() -> None:
    base = load_base()
    fhir = load_params("fhir", FhirConfig)
    cfg = load_params("train_fhir_relevance", TrainFhirRelevanceConfig)
    run = train_relevance(cfg, fhir, read_inputs(fhir, relevance=True, answer=False), base.seed,
                          str(Path(base.paths.checkpoints) / "train_fhir_relevance"))
    save_cross_encoder(run.model, fhir.models.relevance, run.facts)
    write_json(Path(base.paths.metrics) / "plots" / "train_fhir_relevance.json", run.history[""])
    write_json(Path(base.paths.metrics) / "timing" / "train_fhir_relevance.json", run.timing)
    print(run.summary)


if __name__ == "__main__":
    from clinsynth.errors import run_stage

    run_stage(main)
