"""Stage evaluate_fhir_qa: relevance P/R/F1 on test-split patients, model vs lexical baseline.

Both decision thresholds are tuned on the dev-split patients' pairs (neither trained on nor tested).

Answer generation with an LLM (base vs LoRA) plugs in through clinsynth.fhir.answers.evaluate_answers
once the generation engine's backends land; here the answer metrics are scored for an extractive floor.
"""

from __future__ import annotations

import dataclasses
import os
import time
from pathlib import Path

os.environ.setdefault("HF_HUB_OFFLINE", "1")
os.environ.setdefault("TRANSFORMERS_OFFLINE", "1")

from clinsynth.fhir.answers import extractive_answers, score_answers  # noqa: E402
from clinsynth.fhir.flatten import Resource  # noqa: E402
from clinsynth.fhir.relevance import Pair, relevance_report  # noqa: E402
from clinsynth.fhir.templated import Question  # noqa: E402
from clinsynth.params import load_base, load_params  # noqa: E402
from clinsynth.records import read_jsonl, write_json  # noqa: E402
from clinsynth.training.cross_encoder import load_cross_encoder, predict_proba, set_determinism  # noqa: E402


@dataclasses.dataclass(frozen=True)
class EvaluateFhirQaConfig:
    model_dir: str
    resources: str
    questions: str  # qa_test.jsonl
    pairs: str  # pairs_test.jsonl
    dev_pairs: str  # pairs_dev.jsonl: tunes the model's and the baseline's thresholds
    default_threshold: float  # also reported: the model at this P(relevant), untuned
    max_context_resources: int  # resources shown per question for answers
    batch_size: int
    threads: int


def main() -> None:
    base = load_base()
    cfg = load_params("evaluate_fhir_qa", EvaluateFhirQaConfig)
    set_determinism(base.seed, cfg.threads)
    test = [Pair(**row) for row in read_jsonl(cfg.pairs)]
    dev = [Pair(**row) for row in read_jsonl(cfg.dev_pairs)]
    questions = [Question(**row) for row in read_jsonl(cfg.questions)]
    by_id = {row["id"]: Resource(**row) for row in read_jsonl(cfg.resources) if row["split"] == "test"}
    model, tokenizer, meta = load_cross_encoder(cfg.model_dir)
    start = time.perf_counter()
    scores = {name: predict_proba(model, tokenizer, [(p.question, p.text) for p in pairs], meta["max_length"], cfg.batch_size)
              for name, pairs in (("test", test), ("dev", dev))}
    seconds = time.perf_counter() - start
    relevance = relevance_report(test, scores["test"], dev, scores["dev"], {q.id: q.template for q in questions},
                                 cfg.default_threshold)
    answers = score_answers(extractive_answers(questions, by_id, cfg.max_context_resources), [q.answer for q in questions])
    metrics = {"relevance": relevance,
               "answers": {"extractive_baseline": {k: round(v, 4) for k, v in sorted(answers.items())}},
               "counts": {"test_questions": len(questions), "test_pairs": len(test),
                          "test_positive": sum(p.label for p in test), "dev_pairs": len(dev)}}
    write_json(Path(base.paths.metrics) / "fhir_qa.json", metrics)
    write_json(Path(base.paths.metrics) / "timing" / "evaluate_fhir_qa.json",
               {"score_seconds": round(seconds, 1), "pairs": len(test) + len(dev)})
    r = relevance
    print(f"evaluate_fhir_qa: {len(test)} test pairs; F1 model {r['model']['f1']} vs lexical {r['lexical_baseline']['f1']}; "
          f"extractive METEOR {metrics['answers']['extractive_baseline']['meteor']}")


if __name__ == "__main__":
    main()
