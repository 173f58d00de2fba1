"""What the quality stage asks of its inputs: the text a corpus is made of, the note a source id names.

The records themselves (Prompt, Generation, Rejection, SyntheticRecord, DroppedRecord) are defined and
validated once, in :mod:`clinsynth.records`.
"""

from __future__ import annotations

from clinsynth.corpus import Note
from clinsynth.errors import InputError
from clinsynth.records import Generation


class QualityInputError(InputError):
    """A prompt, generation, rejection or note record is malformed or refers to something missing."""


def synthetic_text(generation: Generation, field: str) -> str:
    """The text a corpus is made of: ``text`` (the raw reply) or ``parsed.<key>`` (a field the recipe's
    parser wrote, e.g. a rewrite with its entity marks decoded, which the raw reply carries marked)."""
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
