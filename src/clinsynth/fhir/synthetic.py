"""Training data from the LLM-written questions (recipe ``fhir_qa``), next to or instead of the templated ones.

``llm_questions`` turns the parsed generations (``data/generations/fhir_qa.jsonl``) into
:class:`~clinsynth.fhir.templated.Question` records (template ``llm_written``, gold = the resources the
reply cited, answer = the LLM's answer), so the pair builder of the relevance task
(:func:`clinsynth.fhir.relevance.make_pairs`: positives = cited resources, negatives = other resources of
that patient) and the answer pairs of the LoRA model treat both sources alike. ``training_questions``
applies the ``train_data`` switch (``llm`` | ``templated`` | ``both``); ``relevance_training_pairs`` and
``answer_training_pairs`` build each task's training data from the stage inputs (train_fhir_relevance,
finetune_fhir_answer and finetune_fhir_sequential call the same two). The test set is never built here:
it stays templated, from the test patients' records.
"""

from __future__ import annotations

import dataclasses
import random
from collections import defaultdict
from collections.abc import Iterable, Mapping, Sequence
from pathlib import Path
from typing import Any, Literal

from clinsynth.fhir.answers import answer_messages, context_resources
from clinsynth.fhir.flatten import Resource
from clinsynth.fhir.relevance import Pair, PairConfig, make_pairs
from clinsynth.fhir.templated import Question
from clinsynth.params import ConfigError

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
        raise ConfigError(f"train_data: {train_data!r}; expected one of {list(TRAIN_DATA)}")
    chosen = {"llm": list(llm), "templated": list(templated), "both": [*llm, *templated]}[train_data]
    if not chosen:
        raise ConfigError(f"train_data: {train_data!r} gives no training question "
                         f"({len(llm)} LLM-written, {len(templated)} templated); generate@fhir_qa kept nothing?")
    return chosen


def answer_pairs(questions: Sequence[Question], by_id: Mapping[str, Resource], template: Path | str,
                 max_resources: int) -> list[Any]:
    """LoRA pairs (:class:`clinsynth.training.lora.Pair`): the answer prompt with the question's gold resources
    -> its answer. Rendered exactly as the evaluation's gold-resource requests."""
    from clinsynth.training.lora import Pair

    return [Pair([dataclasses.asdict(m) for m in answer_messages(q.question, context_resources(
        q.resource_ids, by_id, max_resources), template)], q.answer) for q in questions]


def train_patients(resources: Iterable[Mapping[str, Any]]) -> dict[str, list[Resource]]:
    """patient id -> its flattened resources, train split only (rows of ``resources.jsonl``)."""
    patients: dict[str, list[Resource]] = defaultdict(list)
    for row in resources:
        if row["split"] == "train":
            patients[row["patient_id"]].append(Resource(**row))
    return patients


def relevance_training_pairs(train_data: str, templated_pairs: Iterable[Mapping[str, Any]],
                             generations: Iterable[Mapping[str, Any]], resources: Iterable[Mapping[str, Any]],
                             llm_pairs: PairConfig, seed: int) -> dict[str, list[Pair]]:
    """``{"llm": [...], "templated": [...]}``: relevance pairs per source, as ``train_data`` picks them (the other
    source is empty and its inputs are not read). LLM-written: positives = cited resources, negatives = other
    train resources of that patient (:func:`make_pairs` with ``llm_pairs``); templated: ``pairs_train.jsonl``."""
    if train_data not in TRAIN_DATA:
        raise ConfigError(f"train_data: {train_data!r}; expected one of {list(TRAIN_DATA)}")
    pairs: dict[str, list[Pair]] = {"templated": [], "llm": []}
    if train_data in ("templated", "both"):
        pairs["templated"] = [Pair(**p) for p in templated_pairs]
    if train_data in ("llm", "both"):
        pairs["llm"] = make_pairs(llm_questions(generations), train_patients(resources), llm_pairs, seed)
    return pairs


def answer_training_pairs(train_data: str, generations: Iterable[Mapping[str, Any]],
                          questions: Iterable[Mapping[str, Any]], resources: Iterable[Mapping[str, Any]],
                          template: Path | str, max_context_resources: int, max_pairs: int,
                          seed: int) -> tuple[list[Any], dict[str, int]]:
    """LoRA answer pairs (:func:`answer_pairs`) of the ``train_data`` questions, a seeded sample of ``max_pairs``
    (0: all), and the counts ``{"llm_questions", "templated_questions"}`` before sampling."""
    llm = llm_questions(generations) if train_data != "templated" else []
    templated = [Question(**q) for q in questions] if train_data != "llm" else []
    chosen = training_questions(train_data, llm, templated)
    if max_pairs and len(chosen) > max_pairs:
        chosen = sorted(random.Random(seed).sample(chosen, max_pairs), key=lambda q: q.id)
    by_id = {r.id: r for rs in train_patients(resources).values() for r in rs}
    pairs = answer_pairs(chosen, by_id, template, max_context_resources)
    return pairs, {"llm_questions": len(llm), "templated_questions": len(templated)}
