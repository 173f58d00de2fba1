"""Training data from the gated LLM-written questions (corpus ``fhir_qa``), next to or instead of the templated ones.

:func:`read_corpus` reads postprocess@fhir_qa's gated corpus (``data/synthetic/fhir_qa/records.jsonl``, one
:class:`~clinsynth.records.SyntheticRecord` per kept reply) and checks the fields the tasks use: ``parsed``
(the fhir_qa parser's ``question``, ``answer``, ``resource_ids``) and ``vars.patient_id`` (the prompt's
patient). ``llm_questions`` turns the records into :class:`~clinsynth.fhir.templated.Question` records
(template ``llm_written``, id = the prompt id, gold = the resources the reply cited, answer = the LLM's
answer), so the pair builder of the relevance task (:func:`clinsynth.fhir.relevance.make_pairs`: positives =
cited resources, negatives = other resources of that patient) and the answer pairs of the LoRA model treat
both sources alike. ``training_questions`` applies the ``train_data`` switch (``llm`` | ``templated`` |
``both``); ``relevance_training_pairs`` and ``answer_training_pairs`` build each task's training data (the
three FHIR trainings call the same two, configured by :class:`RelevanceData` and :class:`AnswerData`, the
``fhir.relevance`` and ``fhir.answer`` sections of params.yaml). The test set is never built here: it stays
templated, from the test patients' records.
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
from clinsynth.params import ConfigError, NonNegativeInt, PositiveInt
from clinsynth.prompting import Template
from clinsynth.records import RecordFormatError, SyntheticRecord, read_records
from clinsynth.training.lora import LoraTrainConfig

TrainData = Literal["llm", "templated", "both"]
TRAIN_DATA = ("llm", "templated", "both")
LLM_TEMPLATE = "llm_written"
PARSED_FIELDS = {"question": str, "answer": str, "resource_ids": list}  # what the tasks read of record.parsed


class FhirCorpusError(RecordFormatError):
    """A gated fhir_qa record without the parsed fields the FHIR tasks read."""


@dataclasses.dataclass(frozen=True)
class RelevanceData:
    """Relevance training pairs (params ``fhir.relevance``): train_fhir_relevance and sequential phase 1."""

    train_data: TrainData  # llm: the gated corpus's questions | templated: pairs_train.jsonl | both
    pairs: str  # fhir_qa_testset's pairs_train.jsonl (templated)
    llm_pairs: PairConfig  # pair sampling for the LLM-written questions


@dataclasses.dataclass(frozen=True)
class AnswerData:
    """Answer LoRA pairs and prompt (params ``fhir.answer``): finetune_fhir_answer, sequential phase 2 and the
    evaluation, which renders its requests with the same template and context size."""

    train_data: TrainData  # llm: the gated corpus's questions + answers | templated: qa_train.jsonl | both
    questions: str  # fhir_qa_testset's qa_train.jsonl (templated)
    template: str  # versioned name of the answer prompt, "fhir_qa.answer.v1"
    max_pairs: NonNegativeInt  # seeded sample of the pairs; 0: all
    max_context_resources: PositiveInt  # resources shown per answer prompt (newest first)
    train: LoraTrainConfig  # the answer LoRA (also the sequential adapter's shape and phase 2)


def _line_numbers(path: Path | str) -> list[int]:
    """The line number of each record of a JSONL file (blank lines are skipped, as read_records skips them)."""
    with Path(path).open("rb") as fh:
        return [n for n, raw in enumerate(fh, start=1) if raw.strip()]


def check_record(record: SyntheticRecord, where: str) -> None:
    """Raise FhirCorpusError (naming ``where``, ``file:line``) unless the record has what llm_questions reads."""
    if record.recipe != "fhir_qa":
        raise FhirCorpusError(f"{where}: recipe {record.recipe!r}; expected a record of corpus fhir_qa "
                              "(params.yaml fhir.corpus: postprocess@fhir_qa's records.jsonl)")
    for name, kind in PARSED_FIELDS.items():
        if not isinstance(record.parsed.get(name), kind):
            raise FhirCorpusError(f"{where}: parsed.{name} = {record.parsed.get(name)!r:.80}; expected a "
                                  f"{kind.__name__} (the fhir_qa parser's fields {sorted(PARSED_FIELDS)}); "
                                  "rerun postprocess@fhir_qa")
    if not isinstance(record.vars.get("patient_id"), str):
        raise FhirCorpusError(f"{where}: vars.patient_id = {record.vars.get('patient_id')!r:.80}; expected the "
                              "prompt's patient id (a str); rerun postprocess@fhir_qa")


def read_corpus(path: Path | str) -> list[SyntheticRecord]:
    """The gated fhir_qa corpus as SyntheticRecords, each checked (errors name ``file:line``)."""
    records = read_records(path, SyntheticRecord)
    lines = _line_numbers(path) if records else []
    for record, line in zip(records, lines):
        check_record(record, f"{path}:{line}")
    return records


def llm_questions(records: Iterable[SyntheticRecord], split: str = "train") -> list[Question]:
    """One Question per gated record (sorted by prompt id); ``id`` is the prompt id."""
    out = [Question(r.prompt_id, r.vars["patient_id"], split, LLM_TEMPLATE, r.parsed["question"],
                    list(r.parsed["resource_ids"]), r.parsed["answer"]) for r in records]
    return sorted(out, key=lambda q: q.id)


def training_questions(train_data: str, llm: Sequence[Question], templated: Sequence[Question]) -> list[Question]:
    """The questions a model trains on: the LLM-written ones, the templated train ones, or both."""
    if train_data not in TRAIN_DATA:
        raise ConfigError(f"train_data: {train_data!r}; expected one of {list(TRAIN_DATA)}")
    chosen = {"llm": list(llm), "templated": list(templated), "both": [*llm, *templated]}[train_data]
    if not chosen:
        raise ConfigError(f"train_data: {train_data!r} gives no training question ({len(llm)} LLM-written, "
                          f"{len(templated)} templated); postprocess@fhir_qa kept nothing?")
    return chosen


def answer_pairs(questions: Sequence[Question], by_id: Mapping[str, Resource], template: Template,
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


def relevance_training_pairs(data: RelevanceData, corpus: Sequence[SyntheticRecord],
                             templated_pairs: Iterable[Mapping[str, Any]], resources: Iterable[Mapping[str, Any]],
                             seed: int) -> dict[str, list[Pair]]:
    """``{"llm": [...], "templated": [...]}``: relevance pairs per source, as ``data.train_data`` picks them (the
    other source is empty and its iterables are not consumed). LLM-written: positives = cited resources,
    negatives = other train resources of that patient (:func:`make_pairs` with ``data.llm_pairs``); templated:
    the rows of ``pairs_train.jsonl``."""
    if data.train_data not in TRAIN_DATA:
        raise ConfigError(f"train_data: {data.train_data!r}; expected one of {list(TRAIN_DATA)}")
    pairs: dict[str, list[Pair]] = {"templated": [], "llm": []}
    if data.train_data in ("templated", "both"):
        pairs["templated"] = [Pair(**p) for p in templated_pairs]
    if data.train_data in ("llm", "both"):
        pairs["llm"] = make_pairs(llm_questions(corpus), train_patients(resources), data.llm_pairs, seed)
    return pairs


def answer_training_pairs(data: AnswerData, template: Template, corpus: Sequence[SyntheticRecord],
                          questions: Iterable[Mapping[str, Any]], resources: Iterable[Mapping[str, Any]],
                          seed: int) -> tuple[list[Any], dict[str, int]]:
    """LoRA answer pairs (:func:`answer_pairs`, rendered with ``template``) of the ``data.train_data`` questions,
    a seeded sample of ``data.max_pairs`` (0: all), and the counts ``{"llm_questions", "templated_questions"}``
    before sampling."""
    llm = llm_questions(corpus) if data.train_data != "templated" else []
    templated = [Question(**q) for q in questions] if data.train_data != "llm" else []
    chosen = training_questions(data.train_data, llm, templated)
    if data.max_pairs and len(chosen) > data.max_pairs:
        chosen = sorted(random.Random(seed).sample(chosen, data.max_pairs), key=lambda q: q.id)
    by_id = {r.id: r for rs in train_patients(resources).values() for r in rs}
    pairs = answer_pairs(chosen, by_id, template, data.max_context_resources)
    return pairs, {"llm_questions": len(llm), "templated_questions": len(templated)}
