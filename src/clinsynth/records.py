"""The records the pipeline passes between stages, defined once, and their JSONL / JSON I/O.

A prompt edit walks through them (docs/architecture.md)::

    sample@R       -> Prompt           data/prompts/R.jsonl
    generate@R     -> Generation       data/generations/C.jsonl   (+ Rejection: C.rejections.jsonl)
    postprocess@C  -> SyntheticRecord  data/synthetic/C/records.jsonl  (+ DroppedRecord: dropped.jsonl)
    task stages    <- SyntheticRecord  (the gated corpus is the one interface to the tasks)

Each record type reads with :func:`read_records`, which validates every row and names ``file:line`` in its
error. Files are UTF-8, keys sorted, one record per line, written atomically.
"""

from __future__ import annotations

import dataclasses
import json
import os
from collections.abc import Iterable, Iterator
from pathlib import Path
from typing import Any, TypeVar

from clinsynth.errors import InputError

T = TypeVar("T")


class RecordFormatError(InputError):
    """A JSON/JSONL file that does not read: the message says ``file:line`` and what was found."""


def to_jsonable(record: Any) -> Any:
    if dataclasses.is_dataclass(record) and not isinstance(record, type):
        return dataclasses.asdict(record)
    return record


def dumps(record: Any) -> str:
    return json.dumps(to_jsonable(record), sort_keys=True, ensure_ascii=False)


def write_jsonl(path: Path | str, records: Iterable[Any]) -> int:
    """Write records atomically (temp file + rename) so a killed stage never leaves half a file."""
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.with_name(path.name + ".tmp")
    n = 0
    try:
        with tmp.open("w", encoding="utf-8", newline="\n") as fh:
            for record in records:
                fh.write(dumps(record) + "\n")
                n += 1
        os.replace(tmp, path)
    except BaseException:  # a record that cannot be written (or ^C): no half-written .tmp left behind
        tmp.unlink(missing_ok=True)
        raise
    return n


def read_jsonl(path: Path | str) -> Iterator[dict[str, Any]]:
    """Every JSON row of a JSONL file (blank lines skipped); a row that does not read names ``file:line``."""
    return (row for _, row in _numbered_rows(path))


def _numbered_rows(path: Path | str) -> Iterator[tuple[int, Any]]:
    path = Path(path)
    with path.open("rb") as fh:
        for line_no, raw in enumerate(fh, start=1):
            try:
                line = raw.decode("utf-8")
            except UnicodeDecodeError as exc:
                raise RecordFormatError(f"{path}:{line_no}: byte {exc.start} of the line (0x{raw[exc.start]:02x}) is not "
                                        "UTF-8; expected a UTF-8 JSONL file") from None
            if not line.strip():
                continue
            try:
                yield line_no, json.loads(line)
            except json.JSONDecodeError as exc:
                raise RecordFormatError(f"{path}:{line_no}: invalid JSON ({exc.msg}); expected one record per line") from exc


def write_json(path: Path | str, obj: Any) -> None:
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.with_name(path.name + ".tmp")
    try:
        tmp.write_text(json.dumps(to_jsonable(obj), sort_keys=True, indent=2, ensure_ascii=False) + "\n",
                       encoding="utf-8")
        os.replace(tmp, path)
    except BaseException:
        tmp.unlink(missing_ok=True)
        raise


def read_json(path: Path | str) -> Any:
    path = Path(path)
    raw = path.read_bytes()
    try:
        return json.loads(raw.decode("utf-8"))
    except UnicodeDecodeError as exc:
        line = raw.count(b"\n", 0, exc.start) + 1
        raise RecordFormatError(f"{path}:{line}: byte {exc.start} is not UTF-8; expected a UTF-8 JSON file") from None
    except json.JSONDecodeError as exc:
        raise RecordFormatError(f"{path}:{exc.lineno}: invalid JSON ({exc.msg})") from exc


# ---- the pipeline's records -----------------------------------------------------------------------------
@dataclasses.dataclass(frozen=True)
class Message:
    role: str  # "system" | "user" | "assistant"
    content: str


CONTRACT_KINDS = ("regex", "lark", "json_schema")


class ContractError(ValueError):
    """A reply contract that is not one of :data:`CONTRACT_KINDS` or that the grammar engine refuses."""


@dataclasses.dataclass(frozen=True)
class Contract:
    """What a valid reply looks like, enforced while decoding (docs/generation.md: reply contracts).

    ``kind``: ``regex`` (the whole reply matches ``source``), ``lark`` (a Lark grammar, start rule
    ``start``, as llguidance reads it) or ``json_schema`` (``source`` is the schema as canonical JSON).
    A contract is part of the cache key (only when set: a request without one keys as before).
    """

    kind: str
    source: str

    def __post_init__(self) -> None:
        if self.kind not in CONTRACT_KINDS:
            raise ContractError(f"contract kind {self.kind!r}: expected one of {' | '.join(CONTRACT_KINDS)}")
        if not isinstance(self.source, str) or not self.source:
            raise ContractError(f"contract ({self.kind}): source must be a non-empty string, got {self.source!r}")

    def to_dict(self) -> dict[str, str]:
        return {"kind": self.kind, "source": self.source}

    @classmethod
    def from_dict(cls, data: dict[str, Any] | None) -> Contract | None:
        """A contract read from a prompt record (``null`` or absent: none)."""
        if data is None:
            return None
        if not isinstance(data, dict) or set(data) != {"kind", "source"}:
            raise ContractError(f"prompt contract {data!r}: expected {{'kind': ..., 'source': ...}} or null")
        return cls(data["kind"], data["source"])


@dataclasses.dataclass(frozen=True)
class Note:
    """A real note after ingest (``data/interim/notes.jsonl``); ``split`` is train | dev | test."""

    id: str
    text: str
    split: str
    meta: dict[str, Any]


@dataclasses.dataclass(frozen=True)
class Chunk:
    """A sentence-aligned span of a note: ``note.text[start:end] == text`` (``data/interim/chunks.jsonl``)."""

    id: str
    note_id: str
    patient_id: str
    split: str
    start: int
    end: int
    text: str


@dataclasses.dataclass(frozen=True)
class Prompt:
    """One rendered prompt (a line of ``data/prompts/<recipe>.jsonl``)."""

    id: str  # "<template name>:<16 hex>", stable across template edits (clinsynth.prompting.prompt_id)
    recipe: str
    template: str  # versioned name, "<recipe>.<name>.v<N>"
    template_sha: str  # sha256 of the template file (16 hex)
    messages: tuple[Message, ...]
    vars: dict[str, Any]  # what the template was rendered with
    source_ids: tuple[str, ...]
    seed: int
    contract: Contract | None = None  # the reply contract the recipe built for this prompt (sample.<R>.contract)

    def to_dict(self) -> dict[str, Any]:
        """The JSONL record; ``contract`` appears only when set, so prompts without one read as before."""
        record = dataclasses.asdict(self)
        if self.contract is None:
            del record["contract"]
        return record


@dataclasses.dataclass(frozen=True)
class Generation:
    """One reply, as written to ``data/generations/<corpus>.jsonl`` (sorted by prompt_id).

    ``id`` is the cache key (sha256 of model identity, messages, sampling, seed), so
    ``clinsynth cache prune`` can tell which cache entries the current outputs use. ``text`` is
    the raw completion; ``parsed`` is what the recipe's parser made of it. There is deliberately
    no ``cached`` field: a fresh run and a cached rerun must write byte-identical files (cache
    hits are counted in metrics/timing instead).
    """

    id: str
    prompt_id: str
    model: str  # identity: name@weights sha (+ adapter)
    params_sha: str
    text: str
    finish_reason: str
    n_prompt_tokens: int
    n_completion_tokens: int
    parsed: dict[str, Any] = dataclasses.field(default_factory=dict)  # the recipe parser's fields


@dataclasses.dataclass(frozen=True)
class Rejection:
    """A prompt without a usable reply: a backend Failure or a reply the recipe's parser refused.

    ``generation_id`` is the cache key of the refused completion (None for backend failures),
    so pruning the cache keeps replies that were generated and then rejected.
    """

    prompt_id: str
    reason: str  # enumerated per source: Failure reasons, or parser reasons ("empty", "refusal", ...)
    detail: str
    generation_id: str | None = None


@dataclasses.dataclass(frozen=True)
class SyntheticRecord:
    """One record of a gated corpus (``data/synthetic/<corpus>/records.jsonl``): everything a task needs.

    ``text`` is the gated text (``postprocess.recipes.<C>.text``: the reply or a parsed field, preamble
    stripped); ``parsed`` is the recipe parser's fields and ``vars`` what the prompt was rendered with, so
    a task stage never goes back to the prompts or the raw generations.
    """

    id: str  # the generation id
    recipe: str
    prompt_id: str
    template: str
    template_sha: str
    model: str
    source_ids: list[str]
    text: str
    parsed: dict[str, Any]
    vars: dict[str, Any]
    contract: dict[str, str] | None  # {kind, source} the reply was decoded under, or None
    leakage: dict[str, Any]  # train_longest_span, train_overlap, source_longest_span, source_overlap (None: unresolved)
    checks: dict[str, float]  # the recipe check's figures and the degeneracy figures
    strips: list[str] = dataclasses.field(default_factory=list)  # preamble | sign_off | code_fence removed
    fidelity: dict[str, Any] = dataclasses.field(default_factory=dict)  # see clinsynth.quality.fidelity


@dataclasses.dataclass(frozen=True)
class DroppedRecord:
    """A reply that did not make the corpus (``data/synthetic/<corpus>/dropped.jsonl``), with the reason.

    ``stage`` says where: ``postprocess`` (a gate dropped the generation ``id``) or ``generate`` (the
    backend failed or the recipe's parser refused the reply: ``id`` is the refused generation's id, or the
    prompt id when there was no reply, and ``text`` is empty). With ``template`` and ``vars`` a task can
    count every answer to its own prompts without reading the prompts or the raw generations again.
    """

    id: str
    recipe: str
    prompt_id: str
    text: str
    reason: str  # <degeneracy reason> | <check reason> | <fidelity reason> | leakage_span | leakage_overlap | exact_duplicate | near_duplicate
    detail: str
    duplicate_of: str | None  # the kept record a duplicate repeats
    jaccard_estimated: float | None
    jaccard_exact: float | None
    leakage: dict[str, Any]
    checks: dict[str, float]
    strips: list[str] = dataclasses.field(default_factory=list)
    fidelity: dict[str, Any] = dataclasses.field(default_factory=dict)
    template: str = ""  # the prompt's template, so a task can count its own variant's drops
    vars: dict[str, Any] = dataclasses.field(default_factory=dict)
    stage: str = "postprocess"  # postprocess | generate


_NONE = type(None)
# field -> accepted JSON types; a field with a dataclass default may be absent
_SCHEMA: dict[type, dict[str, tuple[type, ...]]] = {
    Note: {"id": (str,), "text": (str,), "split": (str,), "meta": (dict,)},
    Chunk: {"id": (str,), "note_id": (str,), "patient_id": (str,), "split": (str,), "start": (int,), "end": (int,),
            "text": (str,)},
    Prompt: {"id": (str,), "recipe": (str,), "template": (str,), "template_sha": (str,), "messages": (list,),
             "vars": (dict,), "source_ids": (list,), "seed": (int,), "contract": (dict, _NONE)},
    Generation: {"id": (str,), "prompt_id": (str,), "model": (str,), "params_sha": (str,), "text": (str,),
                 "finish_reason": (str,), "n_prompt_tokens": (int,), "n_completion_tokens": (int,),
                 "parsed": (dict,)},
    Rejection: {"prompt_id": (str,), "reason": (str,), "detail": (str,), "generation_id": (str, _NONE)},
    SyntheticRecord: {"id": (str,), "recipe": (str,), "prompt_id": (str,), "template": (str,),
                      "template_sha": (str,), "model": (str,), "source_ids": (list,), "text": (str,),
                      "parsed": (dict,), "vars": (dict,), "contract": (dict, _NONE), "leakage": (dict,),
                      "checks": (dict,), "strips": (list,), "fidelity": (dict,)},
    DroppedRecord: {"id": (str,), "recipe": (str,), "prompt_id": (str,), "text": (str,), "reason": (str,),
                    "detail": (str,), "duplicate_of": (str, _NONE), "jaccard_estimated": (float, int, _NONE),
                    "jaccard_exact": (float, int, _NONE), "leakage": (dict,), "checks": (dict,),
                    "strips": (list,), "fidelity": (dict,), "template": (str,), "vars": (dict,),
                    "stage": (str,)},
}


def record_from_row(cls: type[T], row: Any, where: str) -> T:
    """Build a ``cls`` record from one JSON row, checking every field; ``where`` is ``file:line``.

    Extra keys are ignored (a newer writer may add fields); a missing required field or a field of the
    wrong JSON type raises RecordFormatError naming the field, what was found and what was expected.
    """
    if not isinstance(row, dict):
        raise RecordFormatError(f"{where}: a {cls.__name__} record is a JSON object, found {type(row).__name__}")
    schema = _SCHEMA[cls]
    required = [f.name for f in dataclasses.fields(cls)
                if f.default is dataclasses.MISSING and f.default_factory is dataclasses.MISSING]
    for name in required:
        if name not in row:
            raise RecordFormatError(f"{where}: missing field {name!r}; a {cls.__name__} needs "
                                    f"{', '.join(required)}")
    values = {}
    for name, types in schema.items():
        if name not in row:
            continue
        value = row[name]
        if not isinstance(value, types) or (isinstance(value, bool) and bool not in types):
            expected = " or ".join("null" if t is _NONE else t.__name__ for t in types)
            raise RecordFormatError(f"{where}: field {name!r} = {value!r:.80} is {type(value).__name__}; "
                                    f"expected {expected}")
        values[name] = value
    if cls is Prompt:
        try:
            values["messages"] = tuple(Message(m["role"], m["content"]) for m in values["messages"])
            values["contract"] = Contract.from_dict(values.get("contract"))
        except (TypeError, KeyError) as exc:
            raise RecordFormatError(f"{where}: messages must be a list of {{role, content}} objects ({exc})") from None
        except ContractError as exc:
            raise RecordFormatError(f"{where}: {exc}") from None
        values["source_ids"] = tuple(values["source_ids"])
    return cls(**values)


def read_records(path: Path | str, cls: type[T]) -> list[T]:
    """Every record of a JSONL file as ``cls``, validated (errors name ``file:line``)."""
    return [record_from_row(cls, row, f"{path}:{line_no}") for line_no, row in _numbered_rows(path)]
