"""Answer-generation plumbing with a fake Backend (real base vs LoRA runs come with the engine)."""

from collections.abc import Iterator, Sequence

from clinsynth.fhir.answers import answer_requests, context_resources, evaluate_answers, extractive_answers
from clinsynth.fhir.templated import TemplateConfig, generate_questions
from clinsynth.generation.types import Backend, Completion, Failure, Request, SamplingParams, request_seed
import pytest


class EchoBackend:
    """Answers with the first resource line of the prompt; fails requests whose id contains ``fail_on``."""

    def __init__(self, fail_on: str = "\0"):
        self.fail_on = fail_on
        self.seen: list[Request] = []

    @property
    def identity(self) -> str:
        return "echo@0"

    def generate(self, requests: Sequence[Request]) -> Iterator[Completion | Failure]:
        for req in reversed(requests):  # any order is allowed
            self.seen.append(req)
            if self.fail_on in req.id:
                yield Failure(req.id, "server_error", "boom")
                continue
            first = next((line[2:] for line in req.messages[-1].content.splitlines() if line.startswith("- ")), "")
            yield Completion(req.id, first, "stop", 10, 5)


@pytest.fixture
def template(test_templates):
    return test_templates["answer"]


def _setup(resources):
    questions = generate_questions({"p1": resources}, TemplateConfig(per_template=10, absent_procedures=0), 13)
    return questions, {r.id: r for r in resources}


def fake_scorer(predictions, references):
    return {"exact": sum(p == r for p, r in zip(predictions, references)) / len(predictions)}


def test_requests_render_question_and_gold_resources_newest_first(resources, template):
    questions, by_id = _setup(resources)
    weight = next(q for q in questions if q.id == "p1:last_observation:LOINC 29463-7")
    (req,) = answer_requests([weight], by_id, template, SamplingParams(temperature=0.0), base_seed=13)
    assert req.id == "p1:last_observation:LOINC 29463-7:answer:gold"
    assert req.seed == request_seed(13, req.id)
    system, user = req.messages
    assert system.role == "system" and user.role == "user"
    assert user.content.index("2021-06-10 | 78 kg") < user.content.index("2019-03-04 | 80.5 kg")
    assert user.content.endswith(f"Q: {weight.question}")


def test_predicted_resources_replace_gold(resources, template):
    questions, by_id = _setup(resources)
    q = questions[0]
    (req,) = answer_requests([q], by_id, template, SamplingParams(), 13, predicted={q.id: ["o4", "unknown"]})
    assert req.id.endswith(":answer:predicted")
    assert "Tobacco smoking status" in req.messages[-1].content
    assert context_resources(["o1", "o2"], by_id, max_resources=1) == [by_id["o2"]]


def test_evaluate_answers_counts_failures_and_scores(resources, template):
    questions, by_id = _setup(resources)
    requests = answer_requests(questions, by_id, template, SamplingParams(), 13)
    backend = EchoBackend(fail_on="had_procedure")
    assert isinstance(backend, Backend)
    result = evaluate_answers(questions, requests, backend, scorer=fake_scorer)
    assert result.metrics["questions"] == 8
    assert result.metrics["answered"] == 6
    assert result.metrics["failures"] == {"server_error": 2}
    assert result.metrics["model"] == "echo@0"
    assert result.metrics["exact"] == 0.0
    weight = next(r for r in result.rows if r.question_id == "p1:last_observation:LOINC 29463-7")
    assert weight.prediction == by_id["o2"].text and weight.failure == ""
    assert all(r.prediction == "" for r in result.rows if r.failure)


def test_extractive_floor(resources):
    questions, by_id = _setup(resources)
    texts = extractive_answers(questions, by_id, max_resources=20)
    assert texts[0] == " ".join(r.text for r in context_resources(questions[0].resource_ids, by_id, 20))
