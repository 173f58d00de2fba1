"""Stage evaluate_fhir_qa: relevance P/R/F1 on test-split patients, model vs lexical baseline.

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
    train_pairs: str  # pairs_train.jsonl (tunes the baseline's threshold)
    threshold: float  # P(relevant) at or above which the model says relevant
    max_context_resources: int  # resources shown per question for answers
    batch_size: int
    threads: int


def main() -> None:
    base = load_base()
    cfg = load_params("evaluate_fhir_qa", EvaluateFhirQaConfig)
    set_determinism(base.seed, cfg.threads)
    test = [Pair(**row) for row in read_jsonl(cfg.pairs)]
    train = [Pair(**row) for row in read_jsonl(cfg.train_pairs)]
    questions = [Question(**row) for row in read_jsonl(cfg.questions)]
    by_id = {row["id"]: Resource(**row) for row in read_jsonl(cfg.resources) if row["split"] == "test"}
    model, tokenizer, meta = load_cross_encoder(cfg.model_dir)
    start = time.perf_counter()
    scores = predict_proba(model, tokenizer, [(p.question, p.text) for p in test], meta["max_length"], cfg.batch_size)
    seconds = time.perf_counter() - start
    relevance = relevance_report(test, scores, cfg.threshold, train, {q.id: q.template for q in questions})
    answers = score_answers(extractive_answers(questions, by_id, cfg.max_context_resources), [q.answer for q in questions])
    metrics = {"relevance": relevance,
               "answers": {"extractive_baseline": {k: round(v, 4) for k, v in sorted(answers.items())}},
               "counts": {"test_questions": len(questions), "test_pairs": len(test),
                          "test_positive": sum(p.label for p in test), "train_pairs": len(train)}}
    write_json(Path(base.paths.metrics) / "fhir_qa.json", metrics)
    write_json(Path(base.paths.metrics) / "timing" / "evaluate_fhir_qa.json",
               {"score_seconds": round(seconds, 1), "pairs": len(test)})
    r = relevance
    print(f"evaluate_fhir_qa: {len(test)} test pairs; F1 model {r['model']['f1']} vs lexical {r['lexical_baseline']['f1']}; "
          f"extractive METEOR {metrics['answers']['extractive_baseline']['meteor']}")


if __name__ == "__main__":
    main()
