"""LLM-written training questions: the prompt (``prompts/fhir_qa/questions.v1.j2``) and its reply parser.

The generation engine renders one :class:`QuestionSeed` (a seeded subset of one patient's
resources, each shown as ``R<n>: <flattened text>``) with :func:`build_messages`, and hands the reply
text to :func:`parse_completion`, which returns a :class:`GeneratedQuestion` or a counted
:class:`Rejection` -- never an exception. Reply format: one JSON object
``{"question": str, "resource_ids": [ref, ...], "answer": str}``; a ```json fence or text around the
object is tolerated (the object starting at the first '{' is read). Rejection reasons are :data:`REJECTION_REASONS`.
"""

from __future__ import annotations

import dataclasses
import hashlib
import json
import random
import re
from pathlib import Path
from typing import Any

from clinsynth.fhir.flatten import Resource
from clinsynth.generation.types import Message

REJECTION_REASONS = ("no_json", "invalid_json", "missing_field", "wrong_type", "empty_field",
                     "unknown_resource_id")
FIELDS = ("question", "resource_ids", "answer")
QUESTION_TYPES = ("Condition", "MedicationRequest", "Observation", "Procedure", "Immunization", "AllergyIntolerance",
                  "CarePlan", "Encounter")


@dataclasses.dataclass(frozen=True)
class SeedResource:
    ref: str  # "R1", what the prompt shows and the reply cites
    id: str  # the FHIR resource id
    text: str


@dataclasses.dataclass(frozen=True)
class QuestionSeed:
    id: str  # prompt id "<patient_id>:q<n>"
    patient_id: str
    resources: list[SeedResource]


@dataclasses.dataclass(frozen=True)
class GeneratedQuestion:
    id: str
    patient_id: str
    question: str
    resource_ids: list[str]  # FHIR ids, mapped back from the refs
    answer: str


@dataclasses.dataclass(frozen=True)
class Rejection:
    prompt_id: str
    reason: str  # one of REJECTION_REASONS
    detail: str


def render_chat(template: Path | str, **variables: Any) -> tuple[Message, ...]:
    """Render a ``.j2`` whose ``{% set system %}`` block is the system message and whose body is the user message."""
    import jinja2

    path = Path(template)
    env = jinja2.Environment(loader=jinja2.FileSystemLoader(str(path.parent)), undefined=jinja2.StrictUndefined,
                             keep_trailing_newline=False)
    module = env.get_template(path.name).make_module(variables)
    system = str(getattr(module, "system", "")).strip()
    user = str(module).strip()
    return ((Message("system", system),) if system else ()) + (Message("user", user),)


def template_sha(template: Path | str) -> str:
    return hashlib.sha256(Path(template).read_bytes()).hexdigest()


def sample_question_seeds(patients: dict[str, list[Resource]], per_patient: int, min_resources: int,
                          max_resources: int, seed: int) -> list[QuestionSeed]:
    """``per_patient`` seeds per patient, each ``min..max`` resources of :data:`QUESTION_TYPES`, seeded."""
    seeds = []
    for patient_id in sorted(patients):
        rng = random.Random(f"{seed}:{patient_id}:questions")
        pool = [r for r in patients[patient_id] if r.type in QUESTION_TYPES]
        for n in range(per_patient if pool else 0):
            k = min(len(pool), rng.randint(min_resources, max_resources))
            chosen = sorted(rng.sample(pool, k), key=lambda r: (r.date, r.id))
            seeds.append(QuestionSeed(f"{patient_id}:q{n}", patient_id,
                                      [SeedResource(f"R{i}", r.id, r.text) for i, r in enumerate(chosen, start=1)]))
    return seeds


def build_messages(seed: QuestionSeed, template: Path | str) -> tuple[Message, ...]:
    return render_chat(template, resources=[{"ref": r.ref, "text": r.text} for r in seed.resources])


FENCE = re.compile(r"```(?:json)?\s*(.*?)```", re.DOTALL)


def _json_object(text: str) -> tuple[dict[str, Any] | None, str | None]:
    """(decoded object, None) or (None, "reason:detail") for the JSON object at the first '{' in ``text``
    (inside a ```json fence when there is one)."""
    fenced = FENCE.search(text)
    body = fenced.group(1) if fenced else text
    start = body.find("{")
    if start < 0:
        return None, "no_json"
    try:
        value, _ = json.JSONDecoder().raw_decode(body[start:])
    except json.JSONDecodeError as exc:
        return None, f"invalid_json:{exc.msg} at char {exc.pos}"
    return value, None


def parse_completion(text: str, seed: QuestionSeed) -> GeneratedQuestion | Rejection:
    """Reply text -> GeneratedQuestion, or a Rejection whose reason is one of REJECTION_REASONS."""
    value, problem = _json_object(text)
    if problem is not None:
        reason, _, detail = problem.partition(":")
        return Rejection(seed.id, reason, detail or f"no '{{' in reply {text[:80]!r}")
    missing = [f for f in FIELDS if f not in value]
    if missing:
        return Rejection(seed.id, "missing_field", f"missing {missing}; expected keys {list(FIELDS)}")
    question, ids, answer = value["question"], value["resource_ids"], value["answer"]
    if not isinstance(question, str) or not isinstance(answer, str) or not isinstance(ids, list) \
            or not all(isinstance(i, str) for i in ids):
        return Rejection(seed.id, "wrong_type", "expected question: str, resource_ids: list of str, answer: str; got "
                         f"{type(question).__name__}, {type(ids).__name__}, {type(answer).__name__}")
    if not question.strip() or not answer.strip() or not ids:
        empty = [f for f, v in zip(FIELDS, (question.strip(), ids, answer.strip())) if not v]
        return Rejection(seed.id, "empty_field", f"empty {empty}")
    by_ref = {r.ref.lower(): r.id for r in seed.resources} | {r.id.lower(): r.id for r in seed.resources}
    unknown = [i for i in ids if i.strip().lower() not in by_ref]
    if unknown:
        return Rejection(seed.id, "unknown_resource_id",
                         f"cites {unknown[:3]} not among the prompt's {[r.ref for r in seed.resources]}")
    resolved = list(dict.fromkeys(by_ref[i.strip().lower()] for i in ids))
    return GeneratedQuestion(seed.id, seed.patient_id, question.strip(), resolved, answer.strip())
