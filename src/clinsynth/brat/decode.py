"""Decode an LLM's rewrite of an encoded segment back into a valid Document.

The reply's markup is stripped and the plain rewrite spliced between the document's untouched prefix
``text[:start]`` and suffix ``text[end:]`` (keeping the segment's own leading/trailing whitespace).
Entities before the segment keep their offsets, entities after it shift by the change in length,
and marked entities take their offsets and text from the reply. Ids never change, so relations,
events, attributes, normalizations, notes and equivalences follow their entities; those that point to
a lost entity (only possible with ``min_entity_recall < 1``) are dropped and counted.

Matching marks to entities: first a mark with the same label and text as an unmatched entity of the
segment (in order), then any unmatched entity of the same label (in order): the LLM may reorder the
entities and reword them, never relabel them.

A reply that cannot be used is a :class:`DecodeRejection` with one of ``REJECTION_REASONS``, never
an exception: ``empty_reply``, ``broken_markup``, ``unknown_label`` (not in ``labels``), ``label_changed``
(a mark has an entity's text under another label), ``entity_count_changed`` (an extra or duplicated
mark), ``entity_missing`` (recall of the segment's entities below ``min_entity_recall``),
``invalid_document`` (the result fails validation; a safety net), ``chatter_only`` (the reply is only
an assistant's preamble such as "Sure! Here is the rewritten text:").

Chat models wrap replies: code fences, a leading "Sure! Here is the rewritten text:" line (or the
same as an inline prefix), a trailing "Let me know if ...". That wrapping is never spliced into the
document: :func:`strip_wrapping` removes it when it is not text of the segment itself, the rest is
decoded, and ``DecodedSegment.stripped`` says what was removed (``code_fence``, ``preamble``,
``postamble``) so callers count it. If the rest does not decode, the reply is rejected with the
rest's reason.
"""

from __future__ import annotations

import dataclasses
import re
from collections import Counter
from collections.abc import Collection
from typing import Any

from clinsynth.brat.inline import EncodedSegment, Mark, MarkupError, parse_marks
from clinsynth.brat.model import AnnLayout, Document, Entity, Equivalence
from clinsynth.brat.validation import references, validate_document

REJECTION_REASONS = ("empty_reply", "broken_markup", "unknown_label", "label_changed", "entity_count_changed",
                     "entity_missing", "invalid_document", "chatter_only")
WRAPPINGS = ("code_fence", "preamble", "postamble")

_CHAT_OPENERS = r"(?:sure|certainly|of course|absolutely|okay|ok|alright)\s*[!,.]"
# A whole first line of chatter: "Sure!", "Here is the rewritten text:", "Certainly, here's a rewrite."
_PREAMBLE_LINE = re.compile(
    rf"(?i)\s*(?:{_CHAT_OPENERS}[^\n]*"
    r"|(?:here(?:'s| is| are)|below is|the following is)\b(?:[^\n]*:|[^\n]*\b(?:rewrit|paraphras|revis|version)[^\n]*)"
    r"|(?:rewritten|paraphrased|revised) (?:text|version|sentence|segment)s?\s*:)\s*")
# The same as an inline prefix of the reply's first line: "here is ...:" or an opener such as "Sure!".
_PREAMBLE_PREFIX = re.compile(
    rf"(?i)\s*(?:(?:{_CHAT_OPENERS}\s*)?(?:here(?:'s| is| are)|below is)\b[^:\n\[\]]{{0,80}}:|{_CHAT_OPENERS})\s+")
_POSTAMBLE_LINE = re.compile(r"(?i)\s*(?:let me know|i hope|hope this|feel free|if you (?:need|want|would))\b[^\n]*")
_FENCED = re.compile(r"(?s)\s*(?P<pre>[^\n`]*\n)?\s*```[\w+-]*[ \t]*\n(?P<body>(?:(?!```).)*?)\n?\s*```"
                     r"(?P<post>[^`]*)")


@dataclasses.dataclass(frozen=True)
class DecodeRejection:
    """Why a reply was not used: ``reason`` is one of ``REJECTION_REASONS``; ``detail`` says what was found."""

    doc_id: str
    segment_id: str
    reason: str
    detail: str

    def to_dict(self) -> dict[str, Any]:
        return dataclasses.asdict(self)

    @classmethod
    def from_dict(cls, data: dict[str, Any]) -> DecodeRejection:
        return cls(data["doc_id"], data["segment_id"], data["reason"], data["detail"])


@dataclasses.dataclass(frozen=True)
class DecodedSegment:
    """The rewritten document and how many annotations of each kind were dropped with lost entities."""

    document: Document
    dropped: dict[str, int]
    stripped: tuple[str, ...] = ()  # wrapping removed from the reply (WRAPPINGS), for the caller's counts


def _is_chatter(line: str, pattern: re.Pattern, original: str) -> bool:
    """A line of the assistant talking, not of the note: matches, holds no mark, is not in the segment."""
    return "[[" not in line and pattern.fullmatch(line) is not None and line.strip().casefold() not in original


def strip_wrapping(reply: str, original: str) -> tuple[str, tuple[str, ...]]:
    """``reply`` without code fences and a leading/trailing chat line; and what was removed (WRAPPINGS).

    ``original``: the segment's plain text; a line that occurs in it is the note's, never stripped.
    Nothing is stripped that would leave the reply empty (that is ``chatter_only``, for the caller).
    """
    original = original.casefold()
    text, stripped = reply.strip(), []
    fenced = _FENCED.fullmatch(text)
    if fenced and fenced["body"].strip():
        pre, post = (fenced["pre"] or "").strip(), fenced["post"].strip()
        if (not pre or _is_chatter(pre, _PREAMBLE_LINE, original)) and \
                (not post or _is_chatter(post, _POSTAMBLE_LINE, original)):
            text = fenced["body"].strip()
            stripped += ["code_fence"] + (["preamble"] if pre else []) + (["postamble"] if post else [])
    first, sep, rest = text.partition("\n")
    if "preamble" not in stripped:
        prefix = _PREAMBLE_PREFIX.match(text)
        if sep and rest.strip() and _is_chatter(first, _PREAMBLE_LINE, original):
            text, stripped = rest.strip(), stripped + ["preamble"]
        elif prefix and text[prefix.end():].strip() and "[[" not in prefix.group() \
                and not original.startswith(prefix.group().strip().casefold()):
            text, stripped = text[prefix.end():].strip(), stripped + ["preamble"]
    head, sep, last = text.rpartition("\n")
    if sep and head.strip() and "postamble" not in stripped and _is_chatter(last, _POSTAMBLE_LINE, original):
        text, stripped = head.strip(), stripped + ["postamble"]
    return text, tuple(stripped)


def decode_segment(document: Document, segment: EncodedSegment, reply: str, *,
                   labels: Collection[str] | None = None, min_entity_recall: float = 1.0,
                   doc_id: str | None = None) -> DecodedSegment | DecodeRejection:
    """Splice ``reply`` (the rewritten ``segment.encoded``) into ``document``; see the module docstring.

    ``labels``: the labels a mark may carry (default: every entity label of ``document``).
    ``doc_id``: the new document's id (default: ``document.id``).
    Raises ValueError only when ``segment`` was not encoded from ``document`` (a caller bug).
    """
    _check_segment(document, segment)

    def reject(reason: str, detail: str) -> DecodeRejection:
        return DecodeRejection(segment.doc_id, segment.segment_id, reason, detail)

    if not reply.strip():
        return reject("empty_reply", f"reply {reply!r} is empty or whitespace")
    original = document.text[segment.start:segment.end]
    reply, stripped = strip_wrapping(reply, original)
    if _is_chatter(reply.partition("\n")[0], _PREAMBLE_LINE, original.casefold()) and "\n" not in reply:
        return reject("chatter_only", f"reply {reply[:120]!r} is an assistant's preamble, not a rewrite")
    after = f" (after stripping {', '.join(stripped)})" if stripped else ""
    result = _decode(document, segment, reply, labels, min_entity_recall, doc_id)
    if isinstance(result, DecodeRejection):
        return dataclasses.replace(result, detail=result.detail + after)
    return dataclasses.replace(result, stripped=stripped) if stripped else result


def _decode(document: Document, segment: EncodedSegment, reply: str, labels: Collection[str] | None,
            min_entity_recall: float, doc_id: str | None) -> DecodedSegment | DecodeRejection:
    def reject(reason: str, detail: str) -> DecodeRejection:
        return DecodeRejection(segment.doc_id, segment.segment_id, reason, detail)

    if not reply.strip():
        return reject("empty_reply", f"reply {reply!r} is empty or whitespace")
    try:
        plain, marks = parse_marks(reply.strip())
    except MarkupError as exc:
        return reject("broken_markup", str(exc))
    allowed = set(labels) if labels is not None else {e.label for e in document.entities}
    unknown = sorted({m.label for m in marks} - allowed)
    if unknown:
        return reject("unknown_label", f"labels {unknown} not among {sorted(allowed)}")
    expected = [document.entity(i) for i in segment.entity_ids]
    matched, extra = match_marks(expected, marks)
    unmatched = [e for e in expected if e.id not in matched]
    for m in extra:
        same_text = [e for e in unmatched if e.text.casefold() == m.text.casefold()]
        if same_text:
            return reject("label_changed", f"{m.text!r} marked {m.label!r}; entity {same_text[0].id} is "
                                           f"{same_text[0].label!r}")
    if extra:
        return reject("entity_count_changed", f"{len(marks)} marks for {len(expected)} entities; unmatched: "
                                              f"{[f'{m.label}: {m.text}' for m in extra]}")
    recall = len(matched) / len(expected) if expected else 1.0
    if recall < min_entity_recall:
        return reject("entity_missing", f"entities {[f'{e.id} {e.label}: {e.text}' for e in unmatched]} "
                                        f"missing (recall {recall:.2f} < {min_entity_recall})")
    raw = document.text[segment.start:segment.end]
    lead = raw[:len(raw) - len(raw.lstrip())]
    trail = raw[len(raw.rstrip()):]
    new_segment = lead + plain + trail
    decoded = _splice(document, segment, new_segment, {i: m for i, m in matched.items()},
                      offset=segment.start + len(lead), doc_id=doc_id)
    issues = validate_document(decoded.document, f"{decoded.document.id}.ann")
    if issues:
        return reject("invalid_document", issues[0].message)
    return decoded


def _check_segment(document: Document, segment: EncodedSegment) -> None:
    try:
        plain, marks = parse_marks(segment.encoded)
    except MarkupError as exc:
        raise ValueError(f"segment {segment.segment_id}: its own markup is broken ({exc})") from exc
    if segment.doc_id != document.id or plain != document.text[segment.start:segment.end] \
            or len(marks) != len(segment.entity_ids):
        raise ValueError(f"segment {segment.segment_id} was not encoded from document {document.id!r} "
                         f"as it is; expected document.text[{segment.start}:{segment.end}] to equal its plain text")


def match_marks(expected: list[Entity], marks: tuple[Mark, ...]) -> tuple[dict[str, Mark], list[Mark]]:
    """Assign marks to entity ids: exact (label, text) first, then same label, each in order.

    A mark whose text is that of a still unmatched entity under another label is never matched by label
    alone, so swapped labels are left over (and rejected as ``label_changed``), not silently accepted.
    Returns ({entity id: mark}, marks left over).
    """
    matched: dict[str, Mark] = {}
    left = list(marks)
    for same_text in (True, False):
        for m in list(left):
            unmatched = [e for e in expected if e.id not in matched]
            if not same_text and any(e.label != m.label and e.text.casefold() == m.text.casefold() for e in unmatched):
                continue
            for entity in unmatched:
                if entity.label == m.label and (not same_text or entity.text == m.text):
                    matched[entity.id] = m
                    left.remove(m)
                    break
    return matched, left


def _splice(document: Document, segment: EncodedSegment, new_segment: str, matched: dict[str, Mark],
            offset: int, doc_id: str | None) -> DecodedSegment:
    delta = len(new_segment) - (segment.end - segment.start)
    in_segment = set(segment.entity_ids)
    entities = []
    for entity in document.entities:
        if entity.id in matched:
            m = matched[entity.id]
            entities.append(dataclasses.replace(entity, spans=((offset + m.start, offset + m.end),), text=m.text))
        elif entity.id not in in_segment:
            shift = delta if entity.start >= segment.end else 0
            entities.append(dataclasses.replace(entity, spans=tuple((s + shift, e + shift) for s, e in entity.spans)))
    lost = in_segment - set(matched)
    removed = _cascade(document, lost)
    equivalences = []
    for q in document.equivalences:
        ids = tuple(i for i in q.ids if i not in removed)
        equivalences.append(dataclasses.replace(q, ids=ids) if len(ids) >= 2 else None)
    kept = dataclasses.replace(
        document,
        id=doc_id if doc_id is not None else document.id,
        text=document.text[:segment.start] + new_segment + document.text[segment.end:],
        entities=tuple(entities),
        relations=tuple(a for a in document.relations if a.id not in removed),
        events=tuple(a for a in document.events if a.id not in removed),
        attributes=tuple(a for a in document.attributes if a.id not in removed),
        normalizations=tuple(a for a in document.normalizations if a.id not in removed),
        notes=tuple(a for a in document.notes if a.id not in removed),
        equivalences=tuple(q for q in equivalences if q is not None),
        layout=_drop_from_layout(document.layout, removed, [q is None for q in equivalences]),
    )
    dropped = Counter(_kind(a) for a in document.annotations()
                      if not isinstance(a, Equivalence) and a.id in removed)
    dropped["equivalences"] += sum(q is None for q in equivalences)
    return DecodedSegment(kept, {k: v for k, v in sorted(dropped.items()) if v})


def _kind(annotation: Any) -> str:
    return {"T": "entities", "R": "relations", "E": "events", "A": "attributes", "M": "attributes",
            "N": "normalizations", "#": "notes"}[annotation.id[0]]


def _cascade(document: Document, lost: set[str]) -> set[str]:
    """``lost`` plus every annotation that refers, directly or through others, to a removed id."""
    removed = set(lost)
    referring = [a for a in document.annotations() if not isinstance(a, (Entity, Equivalence))]
    changed = bool(removed)
    while changed:
        changed = False
        for a in referring:
            if a.id not in removed and any(ref in removed for _, ref in references(a)):
                removed.add(a.id)
                changed = True
    return removed


def _drop_from_layout(layout: AnnLayout, removed: set[str], equivalence_dropped: list[bool]) -> AnnLayout:
    order, n_equivalence = [], 0
    for key in layout.order:
        if key == "*":
            is_dropped = n_equivalence < len(equivalence_dropped) and equivalence_dropped[n_equivalence]
            n_equivalence += 1
            if is_dropped:
                continue
        elif key in removed:
            continue
        order.append(key)
    return dataclasses.replace(layout, order=tuple(order))


@dataclasses.dataclass(frozen=True)
class CorpusDecodeResult:
    """Every document (rewritten where its segments' replies decoded), the rejections, and counts."""

    documents: tuple[Document, ...]
    rejections: tuple[DecodeRejection, ...]
    decoded: int
    stripped: dict[str, int]


def decode_corpus(documents: Collection[Document], segments: Collection[EncodedSegment],
                  replies: dict[str, str] | None = None) -> CorpusDecodeResult:
    """Apply each segment's reply (``replies[segment_id]``, default its own encoding) to its document.

    Segments of one document are applied from the last to the first, so the offsets of those still to
    come are untouched. A rejected reply leaves that segment as it was. With no ``replies`` the result
    must equal the input byte for byte (``clinsynth brat decode --check``). Raises ValueError for a
    segment of a document not in ``documents``.
    """
    by_id = {d.id: d for d in documents}
    by_doc: dict[str, list[EncodedSegment]] = {}
    for segment in segments:
        if segment.doc_id not in by_id:
            raise ValueError(f"segment {segment.segment_id}: document {segment.doc_id!r} is not in the corpus; "
                             "encode this corpus again (clinsynth brat encode)")
        by_doc.setdefault(segment.doc_id, []).append(segment)
    out, rejections, decoded, stripped = [], [], 0, Counter()
    for doc_id, document in by_id.items():
        for segment in sorted(by_doc.get(doc_id, ()), key=lambda s: s.start, reverse=True):
            reply = (replies or {}).get(segment.segment_id, segment.encoded)
            result = decode_segment(document, segment, reply)
            if isinstance(result, DecodeRejection):
                rejections.append(result)
                continue
            document, decoded = result.document, decoded + 1
            stripped.update(result.stripped)
        out.append(document)
    return CorpusDecodeResult(tuple(out), tuple(rejections), decoded, dict(sorted(stripped.items())))
