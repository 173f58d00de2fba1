"""Stage fhir_qa_testset: templated questions (answers computed from the record) + relevance pairs.

Train-split patients give the relevance classifier's training pairs; test-split patients the test set.
"""

from __future__ import annotations

from collections import Counter, defaultdict
from pathlib import Path

from clinsynth.fhir.flatten import Resource
from clinsynth.fhir.relevance import FhirQaTestsetConfig, make_pairs, pair_counts
from clinsynth.fhir.templated import generate_questions
from clinsynth.params import load_base, load_params
from clinsynth.records import read_jsonl, write_json, write_jsonl


def main() -> None:
    base = load_base()
    cfg = load_params("fhir_qa_testset", FhirQaTestsetConfig)
    patients: dict[str, dict[str, list[Resource]]] = defaultdict(lambda: defaultdict(list))
    for row in read_jsonl(cfg.resources):
        patients[row["split"]][row["patient_id"]].append(Resource(**row))
    metrics = {}
    for split in cfg.splits:
        questions = generate_questions(patients[split], cfg.questions, base.seed)
        pairs = make_pairs(questions, patients[split], cfg.pairs, base.seed)
        write_jsonl(Path(cfg.out_dir) / f"qa_{split}.jsonl", questions)
        write_jsonl(Path(cfg.out_dir) / f"pairs_{split}.jsonl", pairs)
        metrics[split] = {"patients": len(patients[split]), "questions": len(questions),
                          "by_template": dict(sorted(Counter(q.template for q in questions).items())), **pair_counts(pairs)}
    write_json(Path(base.paths.metrics) / "fhir_qa_testset.json", metrics)
    print(f"fhir_qa_testset: {metrics}")


if __name__ == "__main__":
    from clinsynth.errors import run_stage

    run_stage(main)
