"""The FHIR QA evaluation: relevance P/R/F1 and answer METEOR/ROUGE-L on test-split patients (evaluate_fhir_qa).

Relevance: the cross-encoder vs lexical overlap on the templated test pairs, both thresholds tuned on the
dev-split patients' pairs. Answers, on a seeded sample of ``answers.max_questions`` templated test questions:
the base generator and the LoRA adapter (finetune_fhir_answer), each given the gold resources and, end to
end, the relevance model's predictions (a lexical shortlist of ``candidates`` resources of the patient's whole
record, scored by the cross-encoder; P >= its dev-tuned threshold, at most ``top_k``), through the engine's
cache with ``answers.sampling`` (temperature 0: greedy), rendered with ``fhir.answer.template`` and
``fhir.answer.max_context_resources`` as the LoRA's training pairs were. The extractive floor pastes the
same resources.

``training_modes`` is the separate-vs-sequential switch. ``separate`` is all of the above (keys ``relevance``,
``answers``). ``sequential`` (key ``sequential``) evaluates finetune_fhir_sequential's ONE adapter on both
tasks: relevance by its P(yes) (:mod:`clinsynth.fhir.relevance_lm`, ``fhir.relevance_lm``) on a seeded sample
of ``sequential.max_pairs`` test and dev pairs (0: all), threshold tuned on the dev sample as the
cross-encoder's; end to end on the same lexical shortlist; answers from the same adapter through the cache.
``modes`` puts the modes side by side; ``templates`` names each template (and its sha) that rendered a prompt.
"""

from __future__ import annotations

import dataclasses
import json
import random
import time
from collections import defaultdict
from collections.abc import Callable
from pathlib import Path
from typing import Any, Literal

from clinsynth.fhir.answers import answer_requests, evaluate_answers, extractive_answers, score_answers
from clinsynth.fhir.flatten import Resource
from clinsynth.fhir.relevance import Pair, prf, relevance_report, sample_indices, select_predicted, set_prf, shortlist
from clinsynth.fhir.templated import Question
from clinsynth.fhir.training import FhirConfig, template_facts
from clinsynth.generation.cache import GenerationCache
from clinsynth.generation.factory import GenerateConfig, make_backend
from clinsynth.generation.types import SamplingParams
from clinsynth.params import ConfigError, Fraction, NonNegativeInt, PositiveInt
from clinsynth.prompting import Template
from clinsynth.records import read_json, read_jsonl

Mode = Literal["separate", "sequential"]
PairScorer = Callable[[list[tuple[str, str]]], list[float]]
MODES = ("separate", "sequential")


@dataclasses.dataclass(frozen=True)
class AnswerSettings:
    max_questions: NonNegativeInt  # seeded sample of the test questions answered by each model; 0: all
    sampling: SamplingParams  # temperature 0: greedy
    candidates: PositiveInt  # end to end: lexically shortlisted resources per question, scored by the relevance model
    top_k: PositiveInt  # end to end: at most this many predicted resources


@dataclasses.dataclass(frozen=True)
class SequentialSettings:
    max_pairs: NonNegativeInt  # seeded sample of the test pairs and of the dev pairs scored by the LM; 0: all
    batch_size: PositiveInt


@dataclasses.dataclass(frozen=True)
class EvaluateFhirQaConfig:
    training_modes: list[Mode]  # separate: MiniLM + answer LoRA | sequential: one adapter for both tasks
    questions: str  # qa_test.jsonl
    pairs: str  # pairs_test.jsonl
    dev_pairs: str  # pairs_dev.jsonl: tunes the model's and the baseline's thresholds
    default_threshold: Fraction  # also reported: the model at this P(relevant), untuned
    batch_size: PositiveInt
    threads: PositiveInt
    answers: AnswerSettings
    sequential: SequentialSettings


@dataclasses.dataclass(frozen=True)
class EvalData:
    """The test data: pairs, questions (``asked``: the answered sample), the test patients' records."""

    test: list[Pair]
    dev: list[Pair]
    questions: list[Question]
    asked: list[Question]
    patients: dict[str, list[Resource]]

    @property
    def by_id(self) -> dict[str, Resource]:
        return {r.id: r for rs in self.patients.values() for r in rs}

    @property
    def templates(self) -> dict[str, str]:
        """question id -> its question template (relevance is reported per template)."""
        return {q.id: q.template for q in self.questions}


@dataclasses.dataclass(frozen=True)
class EvalSetup:
    """Everything the evaluation runs with besides the data."""

    cfg: EvaluateFhirQaConfig
    fhir: FhirConfig
    gen: GenerateConfig  # the generator (generate.transformers) the answer backends load
    templates: dict[str, Template]  # "answer", "relevance" (fhir.answer.template, fhir.relevance_lm.template)
    cache: GenerationCache
    seed: int
    profile: str


@dataclasses.dataclass(frozen=True)
class EvalResult:
    metrics: dict[str, Any]  # metrics/fhir_qa.json
    timing: dict[str, Any]  # metrics/timing/evaluate_fhir_qa.json
    summary: str  # the stage's log line


def check_modes(modes: list[str]) -> None:
    if not modes or len(set(modes)) != len(modes):
        raise ConfigError(f"params.yaml: evaluate_fhir_qa.training_modes: {modes!r}; expected a non-empty list of "
                          f"distinct modes: {', '.join(MODES)}")


def read_eval_data(cfg: EvaluateFhirQaConfig, resources: str, seed: int) -> EvalData:
    """The test/dev pairs, the test questions (a seeded sample of ``answers.max_questions`` answered) and the
    test-split patients' resources."""
    questions = [Question(**row) for row in read_jsonl(cfg.questions)]
    patients: dict[str, list[Resource]] = defaultdict(list)
    for row in read_jsonl(resources):
        if row["split"] == "test":
            patients[row["patient_id"]].append(Resource(**row))
    n = cfg.answers.max_questions
    asked = sorted(random.Random(seed).sample(questions, n), key=lambda q: q.id) if 0 < n < len(questions) else questions
    return EvalData([Pair(**row) for row in read_jsonl(cfg.pairs)], [Pair(**row) for row in read_jsonl(cfg.dev_pairs)],
                    questions, asked, dict(patients))


def predict_resources(setup: EvalSetup, data: EvalData, score: PairScorer, threshold: float) -> dict[str, list[str]]:
    """question id -> predicted resource ids (end to end over the patient's whole record)."""
    answers = setup.cfg.answers
    shortlists = {q.id: shortlist(q.question, data.patients[q.patient_id], answers.candidates) for q in data.asked}
    scores = iter(score([(q.question, r.text) for q in data.asked for r in shortlists[q.id]]))
    return {q.id: select_predicted([(r.id, next(scores)) for r in shortlists[q.id]], threshold, answers.top_k)
            for q in data.asked}


def end_to_end(setup: EvalSetup, data: EvalData, predicted: dict[str, list[str]]) -> dict[str, Any]:
    return {**set_prf({q.id: q.resource_ids for q in data.asked}, predicted),
            "candidates": setup.cfg.answers.candidates, "top_k": setup.cfg.answers.top_k}


def answer_metrics(setup: EvalSetup, data: EvalData, adapter: str | None, predicted: dict[str, list[str]]) -> dict:
    """``{"gold": ..., "predicted": ...}``: one answer model given the gold resources, then the predicted ones."""
    gen = setup.gen
    backend = make_backend(dataclasses.replace(gen, backend="transformers", transformers=dataclasses.replace(
        gen.transformers, adapter=adapter)), setup.profile)
    out = {}
    for mode, chosen in (("gold", None), ("predicted", predicted)):
        requests = answer_requests(data.asked, data.by_id, setup.templates["answer"], setup.cfg.answers.sampling,
                                   setup.seed, setup.fhir.answer.max_context_resources, predicted=chosen)
        out[mode] = evaluate_answers(data.asked, requests, backend, cache=setup.cache).metrics
    return out


def extractive_metrics(setup: EvalSetup, data: EvalData, predicted: dict[str, list[str]]) -> dict:
    """The no-model floor on the gold and on the predicted resources."""
    by_id, n, references = data.by_id, setup.fhir.answer.max_context_resources, [q.answer for q in data.asked]
    chosen = {"gold": data.asked,
              "predicted": [dataclasses.replace(q, resource_ids=predicted[q.id]) for q in data.asked]}
    return {mode: {k: round(v, 4) for k, v in score_answers(extractive_answers(qs, by_id, n), references).items()}
            for mode, qs in chosen.items()}


def mode_row(relevance: dict, answers: dict, test_pairs: int) -> dict:
    """One row of the side-by-side ``modes`` table."""
    model, e2e = relevance["model"], relevance["end_to_end"]
    return {"relevance_precision": model["precision"], "relevance_recall": model["recall"], "relevance_f1": model["f1"],
            "relevance_threshold": model["threshold"], "relevance_test_pairs": test_pairs, "end_to_end_f1": e2e["f1"],
            **{f"{m}_{k}": answers[k][m] for k in ("gold", "predicted") for m in ("meteor", "rougeL")}}


def evaluate_separate(setup: EvalSetup, data: EvalData) -> tuple[dict, dict, tuple[list[float], float]]:
    """The cross-encoder (relevance) and the answer LoRA, with the lexical, extractive and base-model references ->
    (metrics, timing, (cross-encoder test scores, its dev-tuned threshold))."""
    from clinsynth.training.cross_encoder import load_cross_encoder, predict_proba

    models = setup.fhir.models
    model, meta = load_cross_encoder(models.relevance)  # sentence_transformers.CrossEncoder(path)
    start = time.perf_counter()

    def score(pairs: list[tuple[str, str]]) -> list[float]:
        # P(relevant) = sigmoid of the one logit, pairs cut to the max_length the model was trained with
        return predict_proba(model, pairs, setup.cfg.batch_size)

    scores = {name: score([(p.question, p.text) for p in pairs]) for name, pairs in (("test", data.test),
                                                                                     ("dev", data.dev))}
    relevance = relevance_report(data.test, scores["test"], data.dev, scores["dev"], data.templates,
                                 setup.cfg.default_threshold)
    predicted = predict_resources(setup, data, score, relevance["model"]["threshold"])
    relevance["end_to_end"] = end_to_end(setup, data, predicted)
    timing = {"score_seconds": round(time.perf_counter() - start, 1), "pairs": len(data.test) + len(data.dev)}
    answers: dict = {"extractive_baseline": extractive_metrics(setup, data, predicted)}
    for name, adapter in (("base", None), ("lora", models.answer)):
        start = time.perf_counter()
        answers[name] = answer_metrics(setup, data, adapter, predicted)
        timing[f"answer_seconds_{name}"] = round(time.perf_counter() - start, 1)
    lora_facts = read_json(Path(models.answer) / "training.json")
    lora_keys = ("train_data", "pairs", "llm_questions", "templated_questions", "steps", "loss_last", "template",
                 "template_sha")
    metrics = {"relevance": relevance, "answers": answers,
               "training": {"relevance": {"train_data": meta.get("train_data"), "counts": meta.get("train_counts")},
                            "answer_lora": {k: lora_facts.get(k) for k in lora_keys}}}
    return metrics, timing, (scores["test"], relevance["model"]["threshold"])


def evaluate_sequential(setup: EvalSetup, data: EvalData,
                        separate: tuple[list[float], float] | None) -> tuple[dict, dict]:
    """The sequential adapter on both tasks -> (metrics, timing); ``separate`` = (cross-encoder test scores, its
    threshold) to score the cross-encoder on the same sampled pairs."""
    from transformers import AutoTokenizer

    from clinsynth.fhir.relevance_lm import score_relevance
    from clinsynth.training.lora import load_adapted

    seq, lm, adapter, start = setup.cfg.sequential, setup.fhir.relevance_lm, setup.fhir.models.sequential, time.perf_counter()
    model = load_adapted(setup.gen.transformers.model, adapter)
    tokenizer = AutoTokenizer.from_pretrained(setup.gen.transformers.model, local_files_only=True)

    def score(pairs: list[tuple[str, str]]) -> list[float]:
        return score_relevance(model, tokenizer, pairs, setup.templates["relevance"], lm.max_length, seq.batch_size)

    test_idx = sample_indices(len(data.test), seq.max_pairs, setup.seed)
    test_s = [data.test[i] for i in test_idx]
    dev_s = [data.dev[i] for i in sample_indices(len(data.dev), seq.max_pairs, setup.seed)]
    relevance = relevance_report(test_s, score([(p.question, p.text) for p in test_s]), dev_s,
                                 score([(p.question, p.text) for p in dev_s]), data.templates,
                                 setup.cfg.default_threshold)
    if separate is not None:
        scores, threshold = separate
        relevance["cross_encoder_same_pairs"] = {
            **prf([p.label for p in test_s], [int(scores[i] >= threshold) for i in test_idx]), "threshold": threshold}
    predicted = predict_resources(setup, data, score, relevance["model"]["threshold"])
    relevance["end_to_end"] = end_to_end(setup, data, predicted)
    timing = {"sequential_score_seconds": round(time.perf_counter() - start, 1)}
    del model
    start = time.perf_counter()
    answers = answer_metrics(setup, data, adapter, predicted)
    timing["answer_seconds_sequential"] = round(time.perf_counter() - start, 1)
    facts = read_json(Path(adapter) / "training.json")
    counts = {"test_pairs": len(test_s), "test_positive": sum(p.label for p in test_s), "dev_pairs": len(dev_s),
              "max_pairs": seq.max_pairs, "end_to_end_pairs": len(data.asked) * setup.cfg.answers.candidates}
    keys = ("train_data", "pairs", "steps", "loss_first", "loss_last", "template", "template_sha")
    training = {phase: {k: facts[phase].get(k) for k in keys} for phase in ("relevance", "answer")}
    return {"relevance": relevance, "answers": answers, "counts": counts, "training": training}, timing


def evaluate_fhir_qa(setup: EvalSetup, data: EvalData) -> EvalResult:
    """Every mode of ``training_modes`` (see the module docstring) -> metrics, timing and a log line."""
    from clinsynth.training.cross_encoder import set_determinism

    modes = setup.cfg.training_modes
    check_modes(modes)
    set_determinism(setup.seed, setup.cfg.threads)
    metrics: dict = {}
    timing: dict = {}
    separate = None
    if "separate" in modes:
        metrics, timing, separate = evaluate_separate(setup, data)
    metrics["counts"] = {"test_questions": len(data.questions), "answer_questions": len(data.asked),
                         "test_pairs": len(data.test), "test_positive": sum(p.label for p in data.test),
                         "dev_pairs": len(data.dev)}
    metrics["templates"] = {"answer": template_facts(setup.templates["answer"])}
    if "sequential" in modes:
        metrics["sequential"], seq_timing = evaluate_sequential(setup, data, separate)
        metrics["templates"]["relevance"] = template_facts(setup.templates["relevance"])
        timing |= seq_timing
        rows = {"separate": lambda: (metrics["relevance"], metrics["answers"]["lora"], len(data.test)),
                "sequential": lambda: (metrics["sequential"]["relevance"], metrics["sequential"]["answers"],
                                       metrics["sequential"]["counts"]["test_pairs"])}
        metrics["modes"] = {m: mode_row(*rows[m]()) for m in modes}
    return EvalResult(metrics, timing, summary(modes, metrics, timing))


def summary(modes: list[str], metrics: dict, timing: dict) -> str:
    line = f"evaluate_fhir_qa: {modes}"
    if "separate" in modes:
        r, a = metrics["relevance"], metrics["answers"]
        line += (f"; separate: {metrics['counts']['test_pairs']} test pairs, F1 model {r['model']['f1']} vs lexical "
                 f"{r['lexical_baseline']['f1']}, end to end {r['end_to_end']['f1']}; METEOR gold base "
                 f"{a['base']['gold']['meteor']} lora {a['lora']['gold']['meteor']}, predicted base "
                 f"{a['base']['predicted']['meteor']} lora {a['lora']['predicted']['meteor']}")
    return f"{line}; modes {json.dumps(metrics.get('modes'), sort_keys=True)}; {timing}"
