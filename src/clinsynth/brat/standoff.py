"""Parse and format BRAT standoff ``.ann`` text, losslessly.

``format_ann(parse_ann(x)) == x`` for every well-formed ``x``: line order across kinds, blank
lines, CRLF line endings, a missing final newline and trailing tabs are kept (see ``AnnLayout`` and
the ``tail`` fields). Fields are separated as brat writes them: a tab after the id, single spaces
between the fields of the middle part, a tab before free text.

Line grammar (``<tail>`` = optional tab or trailing spaces and whatever follows them)::

    T1\\tLabel 10 15;20 27\\ttext          entity; fragments ``start end`` joined by ``;``
    R1\\tLabel Arg1:T1 Arg2:T2<tail>        relation
    E1\\tLabel:T3 Role:T1 Role2:T2<tail>    event (trigger, then arguments)
    A1\\tLabel T1[ Value]<tail>             attribute (``M`` prefix too)
    N1\\tLabel T1 DB:ID[\\ttext]             normalization
    #1\\tLabel T1[\\ttext]                   note
    *\\tLabel T1 T2 ...<tail>               equivalence
"""

from __future__ import annotations

import dataclasses
import re
from collections import defaultdict, deque
from collections.abc import Iterator

from clinsynth.brat.model import (AnnLayout, Annotation, Attribute, Document, Entity, Equivalence, Event,
                                  Normalization, Note, Relation, Span)
from clinsynth.errors import InputError


class BratFormatError(InputError):
    """A .ann line or a document that breaks the standoff format; the message says ``file:line``, what, expected."""


@dataclasses.dataclass(frozen=True)
class BratIssue:
    """One problem found in a document. ``kind`` is one of ``ISSUE_KINDS``; ``message`` is complete."""

    source: str
    line: int | None
    kind: str
    message: str

    def __str__(self) -> str:
        return self.message


ISSUE_KINDS = ("malformed_line", "span_out_of_bounds", "span_text_mismatch", "duplicate_id",
               "missing_reference", "missing_file", "not_utf8")

_ID = re.compile(r"[TREAMN#]\S*\Z")
_SPAN = re.compile(r"(\d+) (\d+)\Z")
_ROLE_ID = re.compile(r"([^\s:]+):(\S+)\Z")
_TOKENS = re.compile(r"\S+(?: \S+)*\Z")  # single spaces between tokens
_KIND_ORDER = "TREAMN#*"
MALFORMED = "!malformed"  # AnnLayout.order entry for a line parse_ann_lenient left out


def where(source: str, line: int | None) -> str:
    return f"{source}:{line}" if line is not None else source


def parse_ann(text: str, *, doc_id: str = "", doc_text: str = "", source: str = "<ann>") -> Document:
    """Parse .ann ``text`` into a Document (``doc_text`` is the .txt); raise BratFormatError on the first bad line.

    Only the syntax is checked here; :func:`clinsynth.brat.validation.validate_document` checks spans
    against the text and references between annotations.
    """
    document, issues = parse_ann_lenient(text, doc_id=doc_id, doc_text=doc_text, source=source)
    if issues:
        raise BratFormatError(issues[0].message)
    return document


def parse_ann_lenient(text: str, *, doc_id: str = "", doc_text: str = "",
                      source: str = "<ann>") -> tuple[Document, list[BratIssue]]:
    """Like :func:`parse_ann` but malformed lines are left out and returned as issues."""
    newline = "\r\n" if "\r\n" in text and text.count("\r\n") == text.count("\n") else "\n"
    lines = text.split(newline)
    final_newline = len(lines) > 1 and lines[-1] == ""
    if final_newline or lines == [""]:
        lines.pop()
    parsed: dict[str, list[Annotation]] = defaultdict(list)
    order: list[str] = []
    issues = []
    for line_no, line in enumerate(lines, start=1):
        if not line.strip():
            order.append(line)
            continue
        try:
            annotation = parse_ann_line(line, source=source, line_no=line_no)
        except BratFormatError as exc:
            issues.append(BratIssue(source, line_no, "malformed_line", str(exc)))
            order.append(MALFORMED)  # keeps later line numbers right; writes nothing
            continue
        parsed[annotation.id[0]].append(annotation)
        order.append(annotation.id)
    document = Document(
        id=doc_id, text=doc_text,
        entities=tuple(parsed["T"]), relations=tuple(parsed["R"]), events=tuple(parsed["E"]),
        attributes=_in_order(parsed, "AM", order),
        normalizations=tuple(parsed["N"]), notes=tuple(parsed["#"]), equivalences=tuple(parsed["*"]),
        layout=AnnLayout(tuple(order), newline, final_newline),
    )
    return document, issues


def _in_order(parsed: dict[str, list[Annotation]], prefixes: str, order: list[str]) -> tuple[Annotation, ...]:
    """Annotations of several prefixes merged back into file order (A and M share ``attributes``)."""
    queues = {p: deque(parsed[p]) for p in prefixes}
    return tuple(queues[key[0]].popleft() for key in order if key[:1] in queues)


def parse_ann_line(line: str, *, source: str = "<ann>", line_no: int | None = None) -> Annotation:
    """Parse one .ann line (no line ending) into its annotation; BratFormatError names ``source:line_no``."""
    ann_id, tab, rest = line.partition("\t")
    if ann_id == "*" and tab:
        return _parse_equivalence(rest, line, source, line_no)
    if not tab or not _ID.match(ann_id):
        raise _error(source, line_no, f"unknown or missing id {ann_id!r}", line,
                     "'<id>\\t...' with an id starting with one of T R E A M N # *")
    parser = {"T": _parse_entity, "R": _parse_relation, "E": _parse_event, "A": _parse_attribute,
              "M": _parse_attribute, "N": _parse_normalization, "#": _parse_note}[ann_id[0]]
    return parser(ann_id, rest, line, source, line_no)


def _error(source: str, line_no: int | None, what: str, line: str, expected: str) -> BratFormatError:
    return BratFormatError(f"{where(source, line_no)}: {what} in {line!r}; expected {expected}")


def _split_tail(rest: str) -> tuple[str, str]:
    """Split the space-separated fields from the tail (first tab, or trailing spaces, onwards)."""
    body, tab, after = rest.partition("\t")
    stripped = body.rstrip(" ")
    return stripped, body[len(stripped):] + tab + after


def _tokens(body: str, line: str, source: str, line_no: int | None, expected: str) -> list[str]:
    if not _TOKENS.match(body):
        raise _error(source, line_no, f"fields {body!r} not separated by single spaces", line, expected)
    return body.split(" ")


def _parse_entity(ann_id: str, rest: str, line: str, source: str, line_no: int | None) -> Entity:
    expected = "'<id>\\t<label> <start> <end>[;<start> <end>...]\\t<text>'"
    head, tab, text = rest.partition("\t")
    label, _, span_text = head.partition(" ")
    if not tab or not label or not span_text:
        raise _error(source, line_no, "missing field", line, expected)
    spans = []
    for fragment in span_text.split(";"):
        match = _SPAN.match(fragment)
        if not match:
            raise _error(source, line_no, f"span {fragment!r} is not two offsets", line, expected)
        start, end = int(match[1]), int(match[2])
        if end < start:
            raise _error(source, line_no, f"span end {end} < start {start}", line, "start <= end")
        spans.append((start, end))
    return Entity(ann_id, label, tuple(spans), text)


def _parse_role_id(token: str, line: str, source: str, line_no: int | None, expected: str) -> tuple[str, str]:
    match = _ROLE_ID.match(token)
    if not match:
        raise _error(source, line_no, f"argument {token!r} is not <role>:<id>", line, expected)
    return match[1], match[2]


def _parse_relation(ann_id: str, rest: str, line: str, source: str, line_no: int | None) -> Relation:
    expected = "'<id>\\t<label> Arg1:<id> Arg2:<id>'"
    body, tail = _split_tail(rest)
    tokens = _tokens(body, line, source, line_no, expected)
    if len(tokens) != 3:
        raise _error(source, line_no, f"{len(tokens)} fields", line, expected)
    (role1, arg1), (role2, arg2) = (_parse_role_id(t, line, source, line_no, expected) for t in tokens[1:])
    return Relation(ann_id, tokens[0], arg1, arg2, role1, role2, tail)


def _parse_event(ann_id: str, rest: str, line: str, source: str, line_no: int | None) -> Event:
    expected = "'<id>\\t<label>:<trigger id>[ <role>:<id>...]'"
    body, tail = _split_tail(rest)
    tokens = _tokens(body, line, source, line_no, expected)
    label, trigger = _parse_role_id(tokens[0], line, source, line_no, expected)
    args = tuple(_parse_role_id(t, line, source, line_no, expected) for t in tokens[1:])
    return Event(ann_id, label, trigger, args, tail)


def _parse_attribute(ann_id: str, rest: str, line: str, source: str, line_no: int | None) -> Attribute:
    expected = "'<id>\\t<label> <target id>[ <value>]'"
    body, tail = _split_tail(rest)
    tokens = _tokens(body, line, source, line_no, expected)
    if len(tokens) not in (2, 3):
        raise _error(source, line_no, f"{len(tokens)} fields", line, expected)
    return Attribute(ann_id, tokens[0], tokens[1], tokens[2] if len(tokens) == 3 else None, tail)


def _parse_normalization(ann_id: str, rest: str, line: str, source: str, line_no: int | None) -> Normalization:
    expected = "'<id>\\t<label> <target id> <db>:<db id>[\\t<text>]'"
    head, tab, text = rest.partition("\t")
    tokens = _tokens(head, line, source, line_no, expected)
    if len(tokens) != 3:
        raise _error(source, line_no, f"{len(tokens)} fields", line, expected)
    refdb, colon, refid = tokens[2].partition(":")
    if not colon or not refdb or not refid:
        raise _error(source, line_no, f"reference {tokens[2]!r} is not <db>:<db id>", line, expected)
    return Normalization(ann_id, tokens[0], tokens[1], refdb, refid, text if tab else None)


def _parse_note(ann_id: str, rest: str, line: str, source: str, line_no: int | None) -> Note:
    expected = "'<id>\\t<label> <target id>[\\t<text>]'"
    head, tab, text = rest.partition("\t")
    tokens = _tokens(head, line, source, line_no, expected)
    if len(tokens) != 2:
        raise _error(source, line_no, f"{len(tokens)} fields", line, expected)
    return Note(ann_id, tokens[0], tokens[1], text if tab else None)


def _parse_equivalence(rest: str, line: str, source: str, line_no: int | None) -> Equivalence:
    expected = "'*\\t<label> <id> <id>[ <id>...]'"
    body, tail = _split_tail(rest)
    tokens = _tokens(body, line, source, line_no, expected)
    if len(tokens) < 3:
        raise _error(source, line_no, f"{len(tokens) - 1} ids", line, f"at least two ids in {expected}")
    return Equivalence(tokens[0], tuple(tokens[1:]), tail)


def format_spans(spans: tuple[Span, ...]) -> str:
    return ";".join(f"{s} {e}" for s, e in spans)


def format_ann_line(annotation: Annotation) -> str:
    """One annotation as its .ann line (no line ending)."""
    a = annotation
    if isinstance(a, Entity):
        return f"{a.id}\t{a.label} {format_spans(a.spans)}\t{a.text}"
    if isinstance(a, Relation):
        return f"{a.id}\t{a.label} {a.arg1_role}:{a.arg1} {a.arg2_role}:{a.arg2}{a.tail}"
    if isinstance(a, Event):
        args = "".join(f" {role}:{arg}" for role, arg in a.args)
        return f"{a.id}\t{a.label}:{a.trigger}{args}{a.tail}"
    if isinstance(a, Attribute):
        value = f" {a.value}" if a.value is not None else ""
        return f"{a.id}\t{a.label} {a.target}{value}{a.tail}"
    if isinstance(a, Normalization):
        text = f"\t{a.text}" if a.text is not None else ""
        return f"{a.id}\t{a.label} {a.target} {a.refdb}:{a.refid}{text}"
    if isinstance(a, Note):
        text = f"\t{a.text}" if a.text is not None else ""
        return f"{a.id}\t{a.label} {a.target}{text}"
    return f"*\t{a.label} {' '.join(a.ids)}{a.tail}"


def iter_ann_lines(document: Document) -> Iterator[tuple[int, Annotation | str]]:
    """(line number, annotation or blank line) in the order :func:`format_ann` writes them.

    Line numbers are positions in ``layout.order`` (so, for a parsed document, lines of the file read);
    an order entry that names no annotation (``MALFORMED``, or an id since removed) counts a line but
    yields nothing. Annotations missing from the order follow, numbered on.
    """
    queues: dict[str, deque[Annotation]] = defaultdict(deque)
    for annotation in document.annotations():
        queues[annotation.id].append(annotation)
    line_no = 0
    for key in document.layout.order:
        line_no += 1
        if not key.strip():
            yield line_no, key
        elif queues[key]:
            yield line_no, queues[key].popleft()
    rest = [a for queue in queues.values() for a in queue]
    for annotation in sorted(rest, key=lambda a: _KIND_ORDER.index(a.id[0])):  # stable: keeps tuple order
        line_no += 1
        yield line_no, annotation


def format_ann(document: Document) -> str:
    """The .ann text of ``document``; the inverse of :func:`parse_ann`."""
    lines = [item if isinstance(item, str) else format_ann_line(item) for _, item in iter_ann_lines(document)]
    if not lines:
        return ""
    newline = document.layout.newline
    return newline.join(lines) + (newline if document.layout.final_newline else "")
