"""Task 2, answer generation (evaluation side): prompts from a question + its resources, any Backend.

``answer_requests`` renders the answer template (a :class:`~clinsynth.prompting.Template`, e.g.
``fhir_qa.answer.v1``, through :func:`~clinsynth.prompting.render_messages`) for each question with either its gold
resources or the ones a relevance model predicted (newest first, at most ``max_resources``), one
:class:`~clinsynth.generation.types.Request` per question with a seed from ``request_seed``.
``evaluate_answers`` sends them through a Backend (base model, LoRA adapter, an OpenAI-compatible
server: whatever implements the Protocol), scores replies against the reference answers with
METEOR and ROUGE-L, and counts backend failures (scored as empty answers, so they cost, not vanish).
"""

from __future__ import annotations

import dataclasses
from collections import Counter
from collections.abc import Callable, Mapping, Sequence
from pathlib import Path

from tqdm import tqdm

from clinsynth.fhir.flatten import Resource
from clinsynth.fhir.templated import Question
from clinsynth.generation.cache import GenerationCache
from clinsynth.generation.engine import run_requests
from clinsynth.generation.types import Backend, Completion, Message, Request, SamplingParams, request_seed
from clinsynth.prompting import Template, render_messages

Scorer = Callable[[list[str], list[str]], dict[str, float]]
METRICS_DIR = Path(__file__).resolve().parents[1] / "evaluation"


@dataclasses.dataclass(frozen=True)
class AnswerRow:
    question_id: str
    question: str
    reference: str
    prediction: str  # "" when the backend failed
    failure: str  # "" or the backend's Failure.reason


@dataclasses.dataclass(frozen=True)
class AnswerEvaluation:
    metrics: dict[str, float | int | dict[str, int]]
    rows: list[AnswerRow]


def context_resources(ids: Sequence[str], by_id: Mapping[str, Resource], max_resources: int) -> list[Resource]:
    """The resources to show: newest first (the templates ask about the latest), at most ``max_resources``."""
    found = [by_id[i] for i in ids if i in by_id]
    return sorted(found, key=lambda r: (r.date, r.id), reverse=True)[:max_resources]


def answer_messages(question: str, shown: Sequence[Resource], template: Template) -> tuple[Message, ...]:
    """The chat the answer model sees (also what the LoRA answer pairs are rendered with); the template's
    variables: ``question`` and ``resources`` (``[{text}]``, in the order shown)."""
    return render_messages(template, {"question": question, "resources": [{"text": r.text} for r in shown]})


def answer_requests(questions: Sequence[Question], by_id: Mapping[str, Resource], template: Template,
                    sampling: SamplingParams, base_seed: int, max_resources: int = 20,
                    predicted: Mapping[str, Sequence[str]] | None = None) -> list[Request]:
    """One Request per question; ``predicted`` (question id -> resource ids) replaces the gold ids when given."""
    mode = "gold" if predicted is None else "predicted"
    requests = []
    for q in questions:
        ids = q.resource_ids if predicted is None else predicted.get(q.id, [])
        messages = answer_messages(q.question, context_resources(ids, by_id, max_resources), template)
        request_id = f"{q.id}:answer:{mode}"
        requests.append(Request(request_id, messages, request_seed(base_seed, request_id), sampling))
    return requests


def score_answers(predictions: list[str], references: list[str]) -> dict[str, float]:
    """METEOR and ROUGE-L (our evaluate modules, loaded by path: works offline)."""
    import evaluate

    meteor = evaluate.load(str(METRICS_DIR / "meteor.py"))
    rouge = evaluate.load(str(METRICS_DIR / "rouge.py"))
    return {**meteor.compute(predictions=predictions, references=references),
            **rouge.compute(predictions=predictions, references=references)}


def evaluate_answers(questions: Sequence[Question], requests: Sequence[Request], backend: Backend,
                     scorer: Scorer = score_answers, cache: GenerationCache | None = None,
                     progress: bool = True) -> AnswerEvaluation:
    """Generate an answer for each request (paired with ``questions`` by position) and score them.

    With a ``cache`` the requests go through the engine's cache discipline (:func:`run_requests`): a
    rerun generates nothing, a killed run resumes.
    """
    if len(questions) != len(requests):
        raise ValueError(f"evaluate_answers: {len(questions)} questions but {len(requests)} requests")
    replies = {}
    items = backend.generate(requests) if cache is None else (o.result for o in run_requests(requests, backend, cache))
    for item in tqdm(items, total=len(requests), desc="answer questions", unit="q", leave=True, disable=not progress):
        replies[item.request_id] = item
    rows = []
    for q, req in zip(questions, requests):
        reply = replies.get(req.id)
        if isinstance(reply, Completion):
            rows.append(AnswerRow(q.id, q.question, q.answer, reply.text.strip(), ""))
        else:
            rows.append(AnswerRow(q.id, q.question, q.answer, "", reply.reason if reply else "no_reply"))
    scores = scorer([r.prediction for r in rows], [r.reference for r in rows]) if rows else {}
    failures = Counter(r.failure for r in rows if r.failure)
    metrics = {**{k: round(v, 4) for k, v in scores.items()}, "questions": len(rows),
               "answered": len(rows) - sum(failures.values()), "failures": dict(sorted(failures.items())),
               "model": backend.identity}
    return AnswerEvaluation(metrics, rows)


def extractive_answers(questions: Sequence[Question], by_id: Mapping[str, Resource], max_resources: int) -> list[str]:
    """A no-model floor: each question's context resources pasted as its answer."""
    return [" ".join(r.text for r in context_resources(q.resource_ids, by_id, max_resources)) for q in questions]
