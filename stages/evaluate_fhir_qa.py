"""Stage evaluate_fhir_qa: relevance P/R/F1 and answer METEOR/ROUGE-L on test-split patients -> metrics/fhir_qa.json.

Relevance: the cross-encoder vs lexical overlap on the templated test pairs, both thresholds tuned on the
dev-split patients' pairs. Answers, on a seeded sample of ``answers.max_questions`` templated test questions:
the base generator and the LoRA adapter (finetune_fhir_answer), each given the gold resources and, end to
end, the relevance model's predictions (a lexical shortlist of ``candidates`` resources of the patient's whole
record, scored by the cross-encoder; P >= its dev-tuned threshold, at most ``top_k``), through the engine's
cache with ``answers.sampling`` (temperature 0: greedy). The extractive floor pastes the same resources.
"""

from __future__ import annotations

import dataclasses
import os
import random
import time
from collections import defaultdict
from pathlib import Path

os.environ.setdefault("HF_HUB_OFFLINE", "1")
os.environ.setdefault("TRANSFORMERS_OFFLINE", "1")

from clinsynth.fhir.answers import answer_requests, evaluate_answers, extractive_answers, score_answers  # noqa: E402
from clinsynth.fhir.flatten import Resource  # noqa: E402
from clinsynth.fhir.relevance import Pair, relevance_report, select_predicted, set_prf, shortlist  # noqa: E402
from clinsynth.fhir.templated import Question  # noqa: E402
from clinsynth.generation.cache import GenerationCache  # noqa: E402
from clinsynth.generation.factory import GenerateConfig, make_backend  # noqa: E402
from clinsynth.generation.types import SamplingParams  # noqa: E402
from clinsynth.params import load_base, load_params  # noqa: E402
from clinsynth.records import read_json, read_jsonl, write_json  # noqa: E402
from clinsynth.training.cross_encoder import load_cross_encoder, predict_proba, set_determinism  # noqa: E402


@dataclasses.dataclass(frozen=True)
class AnswerSettings:
    max_questions: int  # seeded sample of the test questions answered by each model; 0: all
    adapter: str  # finetune_fhir_answer's LoRA adapter
    template: str  # the answer prompt
    sampling: SamplingParams  # temperature 0: greedy
    candidates: int  # end to end: lexically shortlisted resources per question, scored by the cross-encoder
    top_k: int  # end to end: at most this many predicted resources


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
    answers: AnswerSettings


def predict_resources(questions, patients, model, tokenizer, meta, cfg: EvaluateFhirQaConfig, threshold: float):
    """question id -> predicted resource ids (end to end over the patient's whole record)."""
    shortlists = {q.id: shortlist(q.question, patients[q.patient_id], cfg.answers.candidates) for q in questions}
    pairs = [(q.question, r.text) for q in questions for r in shortlists[q.id]]
    scores = iter(predict_proba(model, tokenizer, pairs, meta["max_length"], cfg.batch_size))
    return {q.id: select_predicted([(r.id, next(scores)) for r in shortlists[q.id]], threshold, cfg.answers.top_k)
            for q in questions}


def main() -> None:
    base = load_base()
    cfg = load_params("evaluate_fhir_qa", EvaluateFhirQaConfig)
    gen = load_params("generate", GenerateConfig)
    set_determinism(base.seed, cfg.threads)
    test = [Pair(**row) for row in read_jsonl(cfg.pairs)]
    dev = [Pair(**row) for row in read_jsonl(cfg.dev_pairs)]
    questions = [Question(**row) for row in read_jsonl(cfg.questions)]
    patients: dict[str, list[Resource]] = defaultdict(list)
    for row in read_jsonl(cfg.resources):
        if row["split"] == "test":
            patients[row["patient_id"]].append(Resource(**row))
    by_id = {r.id: r for rs in patients.values() for r in rs}
    model, tokenizer, meta = load_cross_encoder(cfg.model_dir)
    start = time.perf_counter()
    scores = {name: predict_proba(model, tokenizer, [(p.question, p.text) for p in pairs], meta["max_length"], cfg.batch_size)
              for name, pairs in (("test", test), ("dev", dev))}
    relevance = relevance_report(test, scores["test"], dev, scores["dev"], {q.id: q.template for q in questions},
                                 cfg.default_threshold)
    n = cfg.answers.max_questions
    asked = sorted(random.Random(base.seed).sample(questions, n), key=lambda q: q.id) if 0 < n < len(questions) else questions
    predicted = predict_resources(asked, patients, model, tokenizer, meta, cfg, relevance["model"]["threshold"])
    relevance["end_to_end"] = {**set_prf({q.id: q.resource_ids for q in asked}, predicted),
                               "candidates": cfg.answers.candidates, "top_k": cfg.answers.top_k}
    score_seconds = time.perf_counter() - start
    references = [q.answer for q in asked]
    answers: dict = {"extractive_baseline": {
        "gold": score_answers(extractive_answers(asked, by_id, cfg.max_context_resources), references),
        "predicted": score_answers(extractive_answers(
            [dataclasses.replace(q, resource_ids=predicted[q.id]) for q in asked], by_id, cfg.max_context_resources),
            references)}}
    answers["extractive_baseline"] = {m: {k: round(v, 4) for k, v in s.items()} for m, s in answers["extractive_baseline"].items()}
    timing = {"score_seconds": round(score_seconds, 1), "pairs": len(test) + len(dev)}
    with GenerationCache(base.paths.cache) as cache:
        for name, adapter in (("base", None), ("lora", cfg.answers.adapter)):
            start = time.perf_counter()
            backend = make_backend(dataclasses.replace(gen, backend="transformers", transformers=dataclasses.replace(
                gen.transformers, adapter=adapter)), base.profile)
            answers[name] = {}
            for mode, chosen in (("gold", None), ("predicted", predicted)):
                requests = answer_requests(asked, by_id, cfg.answers.template, cfg.answers.sampling, base.seed,
                                           cfg.max_context_resources, predicted=chosen)
                answers[name][mode] = evaluate_answers(asked, requests, backend, cache=cache).metrics
            timing[f"answer_seconds_{name}"] = round(time.perf_counter() - start, 1)
    lora_facts = read_json(Path(cfg.answers.adapter) / "training.json")
    metrics = {"relevance": relevance, "answers": answers,
               "training": {"relevance": {"train_data": meta.get("train_data"), "counts": meta.get("train_counts")},
                            "answer_lora": {k: lora_facts.get(k) for k in ("train_data", "pairs", "llm_questions",
                                                                           "templated_questions", "steps", "loss_last")}},
               "counts": {"test_questions": len(questions), "answer_questions": len(asked), "test_pairs": len(test),
                          "test_positive": sum(p.label for p in test), "dev_pairs": len(dev)}}
    write_json(Path(base.paths.metrics) / "fhir_qa.json", metrics)
    write_json(Path(base.paths.metrics) / "timing" / "evaluate_fhir_qa.json", timing)
    r, a = relevance, answers
    print(f"evaluate_fhir_qa: {len(test)} test pairs; F1 model {r['model']['f1']} vs lexical {r['lexical_baseline']['f1']}, "
          f"end to end {r['end_to_end']['f1']}; METEOR gold base {a['base']['gold']['meteor']} lora {a['lora']['gold']['meteor']}, "
          f"predicted base {a['base']['predicted']['meteor']} lora {a['lora']['predicted']['meteor']}; {timing}")


if __name__ == "__main__":
    main()
