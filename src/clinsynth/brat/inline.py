"""Inline entity markup for LLM rewriting: ``Started [[Drug: metformin]] for [[Condition: type 2 diabetes]].``

A *segment* is a run of consecutive sentences of a document that holds at least one target entity
(``labels``) or target relation (``relation_labels``; ``None`` means every label). Runs are the
smallest ones closed under: an entity's sentences (an entity across a sentence break joins them) and a
target relation's argument sentences (both arguments in view of the LLM). Segments do not overlap.

Every entity inside a segment is marked, whatever its label: an unmarked entity could not be found
again after the rewrite. Marking policy, so that the markup is unambiguous and decoding is exact
(a segment that breaks it is skipped and counted under the reason in brackets):

- entities are contiguous (``discontinuous_entity``) and do not overlap or nest (``overlapping_entities``);
- no entity crosses the segment's edge (``entity_crosses_segment``);
- entity text is non-empty without leading/trailing whitespace (``unmarkable_entity_text``);
- the segment text holds no ``[[``/``]]``, no entity text ends with ``]`` or follows a ``[``, and labels
  hold no whitespace, ``:``, ``[`` or ``]`` (``markup_collision``);
- at most ``max_sentences`` sentences when set (``too_many_sentences``).

``EncodedSegment.entity_ids[i]`` is the id of the i-th mark in ``encoded``: the span-to-id map that
lets relations, events, attributes and notes survive decoding (:mod:`clinsynth.brat.decode`).
"""

from __future__ import annotations

import dataclasses
import re
from collections import Counter
from collections.abc import Collection, Sequence
from typing import Any

from clinsynth.brat.model import Document, Entity, Span

OPEN, CLOSE, LABEL_SEP = "[[", "]]", ":"
_LABEL = re.compile(r"[^\s\[\]:]+\Z")

SKIP_REASONS = ("discontinuous_entity", "overlapping_entities", "entity_crosses_segment",
                "unmarkable_entity_text", "markup_collision", "too_many_sentences")


class MarkupError(ValueError):
    """Inline markup that cannot be read; the message says where (character offset) and what."""


@dataclasses.dataclass(frozen=True)
class EncodedSegment:
    """``document.text[start:end]`` with its entities marked; ``entity_ids[i]`` belongs to the i-th mark."""

    doc_id: str
    segment_id: str
    start: int
    end: int
    encoded: str
    entity_ids: tuple[str, ...]

    def to_dict(self) -> dict[str, Any]:
        return dataclasses.asdict(self)

    @classmethod
    def from_dict(cls, data: dict[str, Any]) -> EncodedSegment:
        return cls(data["doc_id"], data["segment_id"], int(data["start"]), int(data["end"]), data["encoded"],
                   tuple(data["entity_ids"]))


@dataclasses.dataclass(frozen=True)
class EncodeResult:
    """Encoded segments in document order, and skipped (ineligible) segments counted by reason."""

    segments: tuple[EncodedSegment, ...]
    skipped: dict[str, int]


@dataclasses.dataclass(frozen=True)
class Mark:
    """One ``[[label: text]]`` read from markup; ``start``/``end`` index the markup-free text."""

    label: str
    text: str
    start: int
    end: int


def mark(label: str, text: str) -> str:
    return f"{OPEN}{label}{LABEL_SEP} {text}{CLOSE}"


def split_sentences(text: str, nlp: Any = None) -> list[Span]:
    """Sentence ``[start, end)`` spans as the ingest stage cuts them: lines, then spaCy's sentencizer
    (``spacy.blank("en")`` + ``sentencizer``, offline); pass ``nlp`` to reuse a loaded pipeline."""
    from clinsynth.corpus import make_sentencizer, sentence_spans

    return sentence_spans(text, nlp if nlp is not None else make_sentencizer())


def find_segments(document: Document, sentences: Sequence[Span], *, labels: Collection[str] | None = None,
                  relation_labels: Collection[str] | None = None) -> list[tuple[int, int]]:
    """Segments as ``(first, last)`` sentence indices (inclusive), in order; see the module docstring."""
    entity_runs = {e.id: _sentence_run(e, sentences) for e in document.entities}
    runs = [(*run, labels is None or e.label in labels) for e in document.entities
            if (run := entity_runs[e.id]) is not None]
    for relation in document.relations:
        arg_runs = [entity_runs.get(relation.arg1), entity_runs.get(relation.arg2)]
        if None not in arg_runs and (relation_labels is None or relation.label in relation_labels):
            runs.append((min(r[0] for r in arg_runs), max(r[1] for r in arg_runs), True))
    merged: list[list[Any]] = []
    for first, last, is_target in sorted(runs):
        if merged and first <= merged[-1][1]:
            merged[-1][1] = max(merged[-1][1], last)
            merged[-1][2] = merged[-1][2] or is_target
        else:
            merged.append([first, last, is_target])
    return [(first, last) for first, last, is_target in merged if is_target]


def _sentence_run(entity: Entity, sentences: Sequence[Span]) -> tuple[int, int] | None:
    hits = [i for i, (s, e) in enumerate(sentences) if any(s < end and start < e for start, end in entity.spans)]
    return (hits[0], hits[-1]) if hits else None


def encode_segments(document: Document, sentences: Sequence[Span], *, labels: Collection[str] | None = None,
                    relation_labels: Collection[str] | None = None,
                    max_sentences: int | None = None) -> EncodeResult:
    """Mark the entities of every eligible segment; ``sentences`` are ``[start, end)`` spans in order.

    Segment ids are ``<doc_id>:<i>`` with ``i`` counting eligible and skipped segments alike, so an id
    does not change when a neighbouring segment's eligibility does.
    """
    segments, skipped = [], Counter()
    for i, (first, last) in enumerate(find_segments(document, sentences, labels=labels,
                                                    relation_labels=relation_labels)):
        start, end = sentences[first][0], sentences[last][1]
        if max_sentences is not None and last - first + 1 > max_sentences:
            skipped["too_many_sentences"] += 1
            continue
        encoded = encode_span(document, start, end, f"{document.id}:{i}")
        if isinstance(encoded, str):
            skipped[encoded] += 1
        else:
            segments.append(encoded)
    return EncodeResult(tuple(segments), dict(sorted(skipped.items())))


def encode_span(document: Document, start: int, end: int, segment_id: str) -> EncodedSegment | str:
    """Encode ``document.text[start:end]``, or return the skip reason (one of ``SKIP_REASONS``)."""
    inside = sorted((e for e in document.entities if any(s < end and start < t for s, t in e.spans)),
                    key=lambda e: (e.start, e.end))
    reason = _ineligibility(document.text, start, end, inside)
    if reason:
        return reason
    pieces, cursor = [], start
    for entity in inside:
        pieces += [document.text[cursor:entity.start], mark(entity.label, entity.text)]
        cursor = entity.end
    pieces.append(document.text[cursor:end])
    return EncodedSegment(document.id, segment_id, start, end, "".join(pieces), tuple(e.id for e in inside))


def _ineligibility(text: str, start: int, end: int, inside: list[Entity]) -> str | None:
    if any(e.start < start or e.end > end for e in inside):
        return "entity_crosses_segment"
    if any(e.is_discontinuous for e in inside):
        return "discontinuous_entity"
    if any(a.end > b.start for a, b in zip(inside, inside[1:])):
        return "overlapping_entities"
    if any(not e.text or e.text != e.text.strip() or e.text != text[e.start:e.end] for e in inside):
        return "unmarkable_entity_text"
    segment = text[start:end]
    if (OPEN in segment or CLOSE in segment
            or any(e.text.endswith("]") or text[e.start - 1:e.start] == "[" or not _LABEL.match(e.label)
                   for e in inside)):
        return "markup_collision"
    return None


def parse_marks(encoded: str) -> tuple[str, tuple[Mark, ...]]:
    """Strip ``[[label: text]]`` markup: return the plain text and the marks in order.

    Tolerant of spacing an LLM adds (``[[ Drug :metformin ]]``): label and text are stripped. Raises
    MarkupError on a stray ``]]``, an unclosed or nested ``[[``, a mark without ``:``, an empty or
    spaced label, or empty text.
    """
    plain, marks, cursor = [], [], 0
    length = 0
    while True:
        opening, closing = encoded.find(OPEN, cursor), encoded.find(CLOSE, cursor)
        if opening == -1 or (closing != -1 and closing < opening):
            if closing != -1:
                raise MarkupError(f"offset {closing}: ']]' without an opening '[[' near {_near(encoded, closing)!r}")
            plain.append(encoded[cursor:])
            return "".join(plain), tuple(marks)
        plain.append(encoded[cursor:opening])
        length += opening - cursor
        if closing == -1:
            raise MarkupError(f"offset {opening}: '[[' never closed near {_near(encoded, opening)!r}")
        inner = encoded[opening + len(OPEN):closing]
        label, colon, text = inner.partition(LABEL_SEP)
        label, text = label.strip(), text.strip()
        if OPEN in inner or not colon or not _LABEL.match(label) or not text:
            raise MarkupError(f"offset {opening}: mark {encoded[opening:closing + 2]!r} is not "
                              f"'[[<label>: <text>]]' (one label, no nesting, non-empty text)")
        marks.append(Mark(label, text, length, length + len(text)))
        plain.append(text)
        length += len(text)
        cursor = closing + len(CLOSE)


def _near(text: str, offset: int, width: int = 20) -> str:
    return text[max(0, offset - width):offset + width]
