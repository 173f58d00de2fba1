"""Stage evaluate_fhir_qa: relevance P/R/F1 and answer METEOR/ROUGE-L on test-split patients -> metrics/fhir_qa.json.

Relevance: the cross-encoder vs lexical overlap on the templated test pairs, both thresholds tuned on the
dev-split patients' pairs. Answers, on a seeded sample of ``answers.max_questions`` templated test questions:
the base generator and the LoRA adapter (finetune_fhir_answer), each given the gold resources and, end to
end, the relevance model's predictions (a lexical shortlist of ``candidates`` resources of the patient's whole
record, scored by the cross-encoder; P >= its dev-tuned threshold, at most ``top_k``), through the engine's
cache with ``answers.sampling`` (temperature 0: greedy). The extractive floor pastes the same resources.

``training_modes`` is the separate-vs-sequential switch. ``separate`` is all of the above (keys ``relevance``,
``answers``). ``sequential`` (key ``sequential``) evaluates finetune_fhir_sequential's ONE adapter on both
tasks: relevance by its P(yes) (:mod:`clinsynth.fhir.relevance_lm`) on a seeded sample of ``sequential.max_pairs``
test and dev pairs (0: all), threshold tuned on the dev sample as the cross-encoder's; end to end on the same
lexical shortlist; answers from the same adapter through the cache. ``modes`` puts the modes side by side.
"""

from __future__ import annotations

import dataclasses
import json
import os
import random
import time
from collections import defaultdict
from collections.abc import Callable
from pathlib import Path
from typing import Literal

os.environ.setdefault("HF_HUB_OFFLINE", "1")
os.environ.setdefault("TRANSFORMERS_OFFLINE", "1")

from clinsynth.fhir.answers import answer_requests, evaluate_answers, extractive_answers, score_answers  # noqa: E402
from clinsynth.fhir.flatten import Resource  # noqa: E402
from clinsynth.fhir.relevance import (Pair, prf, relevance_report, sample_indices, select_predicted, set_prf,  # noqa: E402
                                      shortlist)
from clinsynth.fhir.relevance_lm import score_relevance  # noqa: E402
from clinsynth.fhir.templated import Question  # noqa: E402
from clinsynth.generation.cache import GenerationCache  # noqa: E402
from clinsynth.generation.factory import GenerateConfig, make_backend  # noqa: E402
from clinsynth.generation.types import SamplingParams  # noqa: E402
from clinsynth.params import ConfigError, Fraction, NonNegativeInt, PositiveInt, load_base, load_params  # noqa: E402
from clinsynth.preflight import require  # noqa: E402
from clinsynth.records import read_json, read_jsonl, write_json  # noqa: E402
from clinsynth.training.cross_encoder import load_cross_encoder, predict_proba, set_determinism  # noqa: E402
from clinsynth.training.lora import load_adapted  # noqa: E402

Mode = Literal["separate", "sequential"]
PairScorer = Callable[[list[tuple[str, str]]], list[float]]


@dataclasses.dataclass(frozen=True)
class AnswerSettings:
    max_questions: NonNegativeInt  # seeded sample of the test questions answered by each model; 0: all
    adapter: str  # finetune_fhir_answer's LoRA adapter
    template: str  # the answer prompt
    sampling: SamplingParams  # temperature 0: greedy
    candidates: PositiveInt  # end to end: lexically shortlisted resources per question, scored by the cross-encoder
    top_k: PositiveInt  # end to end: at most this many predicted resources


@dataclasses.dataclass(frozen=True)
class SequentialSettings:
    adapter: str  # finetune_fhir_sequential's LoRA adapter (on generate.transformers.model)
    template: str  # relevance as generation (the phase 1 prompt)
    max_length: PositiveInt  # prompt tokens kept (from the right), as in phase 1
    max_pairs: NonNegativeInt  # seeded sample of the test pairs and of the dev pairs scored by the LM; 0: all
    batch_size: PositiveInt


@dataclasses.dataclass(frozen=True)
class EvaluateFhirQaConfig:
    training_modes: list[Mode]  # separate: MiniLM + answer LoRA | sequential: one adapter for both tasks
    model_dir: str
    resources: str
    questions: str  # qa_test.jsonl
    pairs: str  # pairs_test.jsonl
    dev_pairs: str  # pairs_dev.jsonl: tunes the model's and the baseline's thresholds
    default_threshold: Fraction  # also reported: the model at this P(relevant), untuned
    max_context_resources: PositiveInt  # resources shown per question for answers
    batch_size: PositiveInt
    threads: PositiveInt
    answers: AnswerSettings
    sequential: SequentialSettings


def predict_resources(questions, patients, score: PairScorer, cfg: EvaluateFhirQaConfig, threshold: float):
    """question id -> predicted resource ids (end to end over the patient's whole record)."""
    shortlists = {q.id: shortlist(q.question, patients[q.patient_id], cfg.answers.candidates) for q in questions}
    pairs = [(q.question, r.text) for q in questions for r in shortlists[q.id]]
    scores = iter(score(pairs))
    return {q.id: select_predicted([(r.id, next(scores)) for r in shortlists[q.id]], threshold, cfg.answers.top_k)
            for q in questions}


def answer_backend(gen: GenerateConfig, adapter: str | None, profile: str):
    return make_backend(dataclasses.replace(gen, backend="transformers", transformers=dataclasses.replace(
        gen.transformers, adapter=adapter)), profile)


def answer_metrics(asked, by_id, cfg: EvaluateFhirQaConfig, backend, cache, seed: int, predicted) -> dict:
    """``{"gold": ..., "predicted": ...}``: one answer model given the gold resources, then the predicted ones."""
    out = {}
    for mode, chosen in (("gold", None), ("predicted", predicted)):
        requests = answer_requests(asked, by_id, cfg.answers.template, cfg.answers.sampling, seed,
                                   cfg.max_context_resources, predicted=chosen)
        out[mode] = evaluate_answers(asked, requests, backend, cache=cache).metrics
    return out


def mode_row(relevance: dict, answers: dict, test_pairs: int) -> dict:
    """One row of the side-by-side ``modes`` table."""
    model, e2e = relevance["model"], relevance["end_to_end"]
    return {"relevance_precision": model["precision"], "relevance_recall": model["recall"], "relevance_f1": model["f1"],
            "relevance_threshold": model["threshold"], "relevance_test_pairs": test_pairs, "end_to_end_f1": e2e["f1"],
            **{f"{m}_{k}": answers[k][m] for k in ("gold", "predicted") for m in ("meteor", "rougeL")}}


def evaluate_separate(cfg: EvaluateFhirQaConfig, gen: GenerateConfig, seed: int, profile: str, test, dev, templates,
                      asked, patients, by_id, cache) -> tuple[dict, dict, tuple[list[float], float]]:
    """The cross-encoder (relevance) and the answer LoRA, with the lexical, extractive and base-model references ->
    (metrics, timing, (cross-encoder test scores, its dev-tuned threshold))."""
    model, tokenizer, meta = load_cross_encoder(cfg.model_dir)
    start = time.perf_counter()

    def score(pairs: list[tuple[str, str]]) -> list[float]:
        return predict_proba(model, tokenizer, pairs, meta["max_length"], cfg.batch_size)

    scores = {name: score([(p.question, p.text) for p in pairs]) for name, pairs in (("test", test), ("dev", dev))}
    relevance = relevance_report(test, scores["test"], dev, scores["dev"], templates, cfg.default_threshold)
    predicted = predict_resources(asked, patients, score, cfg, relevance["model"]["threshold"])
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
    for name, adapter in (("base", None), ("lora", cfg.answers.adapter)):
        start = time.perf_counter()
        answers[name] = answer_metrics(asked, by_id, cfg, answer_backend(gen, adapter, profile), cache, seed, predicted)
        timing[f"answer_seconds_{name}"] = round(time.perf_counter() - start, 1)
    lora_facts = read_json(Path(cfg.answers.adapter) / "training.json")
    metrics = {"relevance": relevance, "answers": answers,
               "training": {"relevance": {"train_data": meta.get("train_data"), "counts": meta.get("train_counts")},
                            "answer_lora": {k: lora_facts.get(k) for k in ("train_data", "pairs", "llm_questions",
                                                                           "templated_questions", "steps", "loss_last")}}}
    r, a = relevance, answers
    print(f"evaluate_fhir_qa: separate: {len(test)} test pairs; F1 model {r['model']['f1']} vs lexical "
          f"{r['lexical_baseline']['f1']}, end to end {r['end_to_end']['f1']}; METEOR gold base {a['base']['gold']['meteor']} "
          f"lora {a['lora']['gold']['meteor']}, predicted base {a['base']['predicted']['meteor']} lora "
          f"{a['lora']['predicted']['meteor']}")
    return metrics, timing, (scores["test"], relevance["model"]["threshold"])


def evaluate_sequential(cfg: EvaluateFhirQaConfig, gen: GenerateConfig, seed: int, profile: str, test, dev, templates,
                        asked, patients, by_id, cache, separate: tuple[list[float], float] | None) -> tuple[dict, dict]:
    """The sequential adapter on both tasks -> (metrics, timing); ``separate`` = (cross-encoder test scores, its
    threshold) to score the cross-encoder on the same sampled pairs."""
    from transformers import AutoTokenizer

    seq, start = cfg.sequential, time.perf_counter()
    model = load_adapted(gen.transformers.model, seq.adapter)
    tokenizer = AutoTokenizer.from_pretrained(gen.transformers.model, local_files_only=True)

    def score(pairs: list[tuple[str, str]]) -> list[float]:
        return score_relevance(model, tokenizer, pairs, seq.template, seq.max_length, seq.batch_size)

    test_idx, dev_idx = sample_indices(len(test), seq.max_pairs, seed), sample_indices(len(dev), seq.max_pairs, seed)
    test_s, dev_s = [test[i] for i in test_idx], [dev[i] for i in dev_idx]
    relevance = relevance_report(test_s, score([(p.question, p.text) for p in test_s]), dev_s,
                                 score([(p.question, p.text) for p in dev_s]), templates, cfg.default_threshold)
    if separate is not None:
        scores, threshold = separate
        relevance["cross_encoder_same_pairs"] = {**prf([p.label for p in test_s], [int(scores[i] >= threshold)
                                                                                  for i in test_idx]),
                                                 "threshold": threshold}
    predicted = predict_resources(asked, patients, score, cfg, relevance["model"]["threshold"])
    relevance["end_to_end"] = {**set_prf({q.id: q.resource_ids for q in asked}, predicted),
                               "candidates": cfg.answers.candidates, "top_k": cfg.answers.top_k}
    timing = {"sequential_score_seconds": round(time.perf_counter() - start, 1)}
    del model
    start = time.perf_counter()
    answers = answer_metrics(asked, by_id, cfg, answer_backend(gen, seq.adapter, profile), cache, seed, predicted)
    timing["answer_seconds_sequential"] = round(time.perf_counter() - start, 1)
    facts = read_json(Path(seq.adapter) / "training.json")
    counts = {"test_pairs": len(test_s), "test_positive": sum(p.label for p in test_s), "dev_pairs": len(dev_s),
              "max_pairs": seq.max_pairs, "end_to_end_pairs": len(asked) * cfg.answers.candidates}
    training = {phase: {k: facts[phase].get(k) for k in ("train_data", "pairs", "steps", "loss_first", "loss_last")}
                for phase in ("relevance", "answer")}
    return {"relevance": relevance, "answers": answers, "counts": counts, "training": training}, timing


def main() -> None:
    require("wordnet")  # METEOR's WordNet comes from Debian packages: say so now, not after the models ran
    base = load_base()
    cfg = load_params("evaluate_fhir_qa", EvaluateFhirQaConfig)
    gen = load_params("generate", GenerateConfig)
    if not cfg.training_modes or len(set(cfg.training_modes)) != len(cfg.training_modes):
        raise ConfigError(f"params.yaml: evaluate_fhir_qa.training_modes: {cfg.training_modes!r}; expected a "
                          "non-empty list of distinct modes: separate, sequential")
    set_determinism(base.seed, cfg.threads)
    test = [Pair(**row) for row in read_jsonl(cfg.pairs)]
    dev = [Pair(**row) for row in read_jsonl(cfg.dev_pairs)]
    questions = [Question(**row) for row in read_jsonl(cfg.questions)]
    templates = {q.id: q.template for q in questions}
    patients: dict[str, list[Resource]] = defaultdict(list)
    for row in read_jsonl(cfg.resources):
        if row["split"] == "test":
            patients[row["patient_id"]].append(Resource(**row))
    by_id = {r.id: r for rs in patients.values() for r in rs}
    n = cfg.answers.max_questions
    asked = sorted(random.Random(base.seed).sample(questions, n), key=lambda q: q.id) if 0 < n < len(questions) else questions
    metrics: dict = {}
    timing: dict = {}
    separate = None
    with GenerationCache(base.paths.cache) as cache:
        if "separate" in cfg.training_modes:
            metrics, timing, separate = evaluate_separate(cfg, gen, base.seed, base.profile, test, dev, templates,
                                                          asked, patients, by_id, cache)
        metrics["counts"] = {"test_questions": len(questions), "answer_questions": len(asked), "test_pairs": len(test),
                             "test_positive": sum(p.label for p in test), "dev_pairs": len(dev)}
        if "sequential" in cfg.training_modes:
            metrics["sequential"], seq_timing = evaluate_sequential(cfg, gen, base.seed, base.profile, test, dev,
                                                                    templates, asked, patients, by_id, cache, separate)
            timing |= seq_timing
    if "sequential" in cfg.training_modes:  # separate alone writes exactly the keys it always wrote
        seq = metrics["sequential"]
        rows = {"separate": lambda: (metrics["relevance"], metrics["answers"]["lora"], len(test)),
                "sequential": lambda: (seq["relevance"], seq["answers"], seq["counts"]["test_pairs"])}
        metrics["modes"] = {m: mode_row(*rows[m]()) for m in cfg.training_modes}
    write_json(Path(base.paths.metrics) / "fhir_qa.json", metrics)
    write_json(Path(base.paths.metrics) / "timing" / "evaluate_fhir_qa.json", timing)
    print(f"evaluate_fhir_qa: {cfg.training_modes}: modes {json.dumps(metrics.get('modes'), sort_keys=True)}; {timing}")


if __name__ == "__main__":
    from clinsynth.errors import run_stage

    run_stage(main)
