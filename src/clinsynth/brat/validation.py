"""Check a Document against its text and itself: spans, span text, unique ids, references.

Each problem is a :class:`BratIssue` whose message names ``file:line`` (line numbers as
:func:`format_ann` writes the document), what was found and what was expected.
"""

from __future__ import annotations

from clinsynth.brat.model import Annotation, Document, Entity, Equivalence, Event, Relation, covered_text
from clinsynth.brat.standoff import BratFormatError, BratIssue, format_ann_line, format_spans, iter_ann_lines, where


def text_field_matches(field: str, expected: str) -> bool:
    """True if the .ann text field equals the .txt slice; line breaks in the slice may be written as spaces.

    brat itself splits spans at line breaks, but corpora converted from other tools (n2c2) keep a span
    across a line break and write each ``\\r``/``\\n`` as a space, one for one.
    """
    return field == expected or field == expected.replace("\r", " ").replace("\n", " ")


def validate_document(document: Document, source: str = "<ann>") -> list[BratIssue]:
    """Every issue in ``document``, in line order: spans out of the text, span text that does not match
    the .txt, duplicate ids, and references to ids the document does not define."""
    issues: list[BratIssue] = []
    first_line: dict[str, int] = {}
    ids = document.ids()
    for line_no, item in iter_ann_lines(document):
        if isinstance(item, str):
            continue
        issues.extend(_check_id(item, line_no, first_line, source))
        if isinstance(item, Entity):
            issues.extend(_check_entity(item, document.text, line_no, source))
        issues.extend(_check_references(item, ids, line_no, source))
    return issues


def check_document(document: Document, source: str = "<ann>") -> Document:
    """Return ``document`` if valid, else raise BratFormatError with the first issue (and a count of the rest)."""
    issues = validate_document(document, source)
    if issues:
        more = f" (and {len(issues) - 1} more issues)" if len(issues) > 1 else ""
        raise BratFormatError(issues[0].message + more)
    return document


def _issue(source: str, line_no: int, kind: str, what: str, item: Annotation, expected: str) -> BratIssue:
    message = f"{where(source, line_no)}: {what} in {format_ann_line(item)!r}; expected {expected}"
    return BratIssue(source, line_no, kind, message)


def _check_id(item: Annotation, line_no: int, first_line: dict[str, int], source: str) -> list[BratIssue]:
    if isinstance(item, Equivalence):
        return []
    if item.id in first_line:
        return [_issue(source, line_no, "duplicate_id", f"duplicate id {item.id!r} (first on line {first_line[item.id]})",
                       item, "each id once per document")]
    first_line[item.id] = line_no
    return []


def _check_entity(entity: Entity, text: str, line_no: int, source: str) -> list[BratIssue]:
    for start, end in entity.spans:
        if end > len(text):
            return [_issue(source, line_no, "span_out_of_bounds",
                           f"span {start} {end} outside the text of length {len(text)}", entity,
                           f"0 <= start <= end <= {len(text)}")]
    expected = covered_text(text, entity.spans)
    if not text_field_matches(entity.text, expected):
        return [_issue(source, line_no, "span_text_mismatch",
                       f"text {entity.text!r} differs from the .txt {expected!r} at {format_spans(entity.spans)}",
                       entity, "the text field to equal the .txt at those offsets (fragments joined by ' ')")]
    return []


def references(item: Annotation) -> list[tuple[str, str]]:
    """(what refers, id referred to) for each reference an annotation makes."""
    if isinstance(item, Relation):
        return [(item.arg1_role, item.arg1), (item.arg2_role, item.arg2)]
    if isinstance(item, Event):
        return [("trigger", item.trigger), *item.args]
    if isinstance(item, Equivalence):
        return [("member", i) for i in item.ids]
    if isinstance(item, Entity):
        return []
    return [("target", item.target)]


def _check_references(item: Annotation, ids: set[str], line_no: int, source: str) -> list[BratIssue]:
    return [
        _issue(source, line_no, "missing_reference", f"{role} points to missing id {ref!r}", item,
               "an id defined in the same .ann")
        for role, ref in references(item) if ref not in ids
    ]
