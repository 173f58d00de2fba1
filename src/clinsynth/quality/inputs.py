"""The records the quality stage reads, checked where they enter.

Formats (one JSON object per line, as written by ``sample@R`` and ``generate@R``):
  Prompt      ``id, recipe, template, template_sha, messages[], vars{}, source_ids[], seed``
  Generation  ``id, prompt_id, model, params_sha, text, finish_reason, n_prompt_tokens, n_completion_tokens``
              and optionally ``parsed{}`` (what the recipe's parser made of ``text``; default empty);
              ``cached`` and any other extra field is ignored
  Rejection   ``prompt_id, reason, detail``
Notes are read as :class:`clinsynth.corpus.Note` (``id, text, split, meta``).
"""

from __future__ import annotations

import dataclasses
from collections.abc import Iterable
from typing import Any

from clinsynth.corpus import Note
from clinsynth.errors import InputError


class QualityInputError(InputError):
    """A prompt, generation, rejection or note record is malformed or refers to something missing."""


@dataclasses.dataclass(frozen=True)
class Prompt:
    id: str
    recipe: str
    template: str  # name.vN
    template_sha: str
    messages: list[dict[str, Any]]
    vars: dict[str, Any]
    source_ids: list[str]
    seed: int


@dataclasses.dataclass(frozen=True)
class Generation:
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
    prompt_id: str
    reason: str
    detail: str


_TYPES: dict[type, dict[str, tuple[type, ...]]] = {
    Prompt: {"id": (str,), "recipe": (str,), "template": (str,), "template_sha": (str,), "messages": (list,),
             "vars": (dict,), "source_ids": (list,), "seed": (int,)},
    Generation: {"id": (str,), "prompt_id": (str,), "model": (str,), "params_sha": (str,), "text": (str,),
                 "finish_reason": (str,), "n_prompt_tokens": (int,), "n_completion_tokens": (int,)},
    Rejection: {"prompt_id": (str,), "reason": (str,), "detail": (str,)},
    Note: {"id": (str,), "text": (str,), "split": (str,), "meta": (dict,)},
}
_OPTIONAL: dict[type, dict[str, type]] = {Generation: {"parsed": dict}}  # field -> type (its default when absent)


def parse_record(cls: type, row: dict[str, Any], where: str):
    """Build ``cls`` (Prompt, Generation, Rejection or Note) from a JSON row; extra keys are ignored."""
    fields = _TYPES[cls]
    for name, types in fields.items():
        if name not in row:
            raise QualityInputError(f"{where}: missing field {name!r}; a {cls.__name__} needs {', '.join(fields)}")
        if not isinstance(row[name], types) or isinstance(row[name], bool):
            raise QualityInputError(f"{where}: field {name!r} = {row[name]!r} is {type(row[name]).__name__}; "
                                    f"expected {types[0].__name__}")
    optional = {name: row[name] for name in _OPTIONAL.get(cls, {}) if name in row}
    for name, value in optional.items():
        if not isinstance(value, _OPTIONAL[cls][name]):
            raise QualityInputError(f"{where}: field {name!r} = {value!r} is {type(value).__name__}; "
                                    f"expected {_OPTIONAL[cls][name].__name__}")
    return cls(**{name: row[name] for name in fields}, **optional)


def parse_records(cls: type, rows: Iterable[dict[str, Any]], source: str) -> list:
    """Parse every row; ``source`` names the file in messages (``file:line``)."""
    return [parse_record(cls, row, f"{source}:{i}") for i, row in enumerate(rows, start=1)]


def synthetic_text(generation: Generation, field: str) -> str:
    """The text a corpus is made of: ``text`` (the raw reply) or ``parsed.<key>`` (a field the recipe's
    parser wrote, e.g. brat_augment's ``parsed.text``: the rewrite with its entity marks decoded)."""
    if field == "text":
        return generation.text
    head, _, key = field.partition(".")
    value = generation.parsed.get(key) if head == "parsed" and key else None
    if not isinstance(value, str):
        raise QualityInputError(f"generation {generation.id!r}: no text at {field!r} (parsed has "
                                f"{sorted(generation.parsed)}); expected 'text' or 'parsed.<key>' naming a string")
    return value


def note_of_source(source_id: str, notes: dict[str, Note]) -> Note | None:
    """The note a prompt's source id points at: a note id, or a chunk id ``<note_id>:<k>``; None otherwise
    (a KG node id, a FHIR resource...)."""
    if source_id in notes:
        return notes[source_id]
    head, sep, tail = source_id.rpartition(":")
    if sep and tail.isdigit() and head in notes:
        return notes[head]
    return None
