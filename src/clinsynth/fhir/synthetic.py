"""Training data from the LLM-written questions (recipe ``fhir_qa``), next to or instead of the templated ones.

``llm_questions`` turns the parsed generations (``data/generations/fhir_qa.jsonl``) into
:class:`~clinsynth.fhir.templated.Question` records (template ``llm_written``, gold = the resources the
reply cited, answer = the LLM's answer), so the pair builder of the relevance task
(:func:`clinsynth.fhir.relevance.make_pairs`: positives = cited resources, negatives = other resources of
that patient) and the answer pairs of the LoRA model treat both sources alike. ``training_questions``
applies the ``train_data`` switch (``llm`` | ``templated`` | ``both``). The test set is never built here:
it stays templated, from the test patients' records.
"""

from __future__ import annotations

import dataclasses
from collections.abc import Iterable, Mapping, Sequence
from pathlib import Path
from typing import Any, Literal

from clinsynth.fhir.answers import answer_messages, context_resources
from clinsynth.fhir.flatten import Resource
from clinsynth.fhir.templated import Question

TrainData = Literal["llm", "templated", "both"]
TRAIN_DATA = ("llm", "templated", "both")
LLM_TEMPLATE = "llm_written"


def llm_questions(generations: Iterable[Mapping[str, Any]], split: str = "train") -> list[Question]:
    """One Question per parsed generation (sorted by prompt id); ``id`` is the prompt id."""
    out = []
    for g in generations:
        p = g["parsed"]
        out.append(Question(g["prompt_id"], p["patient_id"], split, LLM_TEMPLATE, p["question"],
                            list(p["resource_ids"]), p["answer"]))
    return sorted(out, key=lambda q: q.id)


def training_questions(train_data: str, llm: Sequence[Question], templated: Sequence[Question]) -> list[Question]:
    """The questions a model trains on: the LLM-written ones, the templated train ones, or both."""
    if train_data not in TRAIN_DATA:
        raise ValueError(f"train_data: {train_data!r}; expected one of {list(TRAIN_DATA)}")
    chosen = {"llm": list(llm), "templated": list(templated), "both": [*llm, *templated]}[train_data]
    if not chosen:
        raise ValueError(f"train_data: {train_data!r} gives no training question "
                         f"({len(llm)} LLM-written, {len(templated)} templated); generate@fhir_qa kept nothing?")
    return chosen


def answer_pairs(questions: Sequence[Question], by_id: Mapping[str, Resource], template: Path | str,
                 max_resources: int) -> list[Any]:
    """LoRA pairs (:class:`clinsynth.training.lora.Pair`): the answer prompt with the question's gold resources
    -> its answer. Rendered exactly as the evaluation's gold-resource requests."""
    from clinsynth.training.lora import Pair

    return [Pair([dataclasses.asdict(m) for m in answer_messages(q.question, context_resources(
        q.resource_ids, by_id, max_resources), template)], q.answer) for q in questions]
