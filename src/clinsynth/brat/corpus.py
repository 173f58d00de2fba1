"""Read and write BRAT corpora: directories of ``<name>.txt`` + ``<name>.ann`` pairs (searched recursively).

Files are UTF-8 and read and written with ``newline=''``, so CRLF stays two characters and offsets
are Python ``str`` indices, as brat counts them. A document's id is its path relative to the corpus
directory without the suffix, with ``/`` separators (``sub/note_01``). A ``.txt`` without an ``.ann``
is a document with no annotations (brat creates the empty .ann on open); an ``.ann`` without a
``.txt`` is an issue of kind ``missing_file``.
"""

from __future__ import annotations

import dataclasses
import logging
from collections import Counter
from pathlib import Path
from typing import Literal

from clinsynth.brat.model import Document
from clinsynth.brat.standoff import BratFormatError, BratIssue, format_ann, parse_ann_lenient
from clinsynth.brat.validation import validate_document

log = logging.getLogger(__name__)

OnInvalid = Literal["fail", "skip"]


@dataclasses.dataclass(frozen=True)
class CorpusReadResult:
    """Valid documents (sorted by id), skipped-document counts by the kind of their first issue, all issues."""

    documents: tuple[Document, ...]
    skipped: dict[str, int]
    issues: tuple[BratIssue, ...]


def read_text(path: Path) -> str:
    with path.open(encoding="utf-8", newline="") as fh:
        return fh.read()


def write_text(path: Path, text: str) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    with path.open("w", encoding="utf-8", newline="") as fh:
        fh.write(text)


def utf8_issue(path: Path, source: str) -> BratIssue | None:
    """An issue ``source:line: byte N (0xNN) is not UTF-8`` if ``path`` does not decode, else None."""
    data = path.read_bytes()
    try:
        data.decode("utf-8")
    except UnicodeDecodeError as exc:
        line = data.count(b"\n", 0, exc.start) + 1
        message = (f"{source}:{line}: byte {exc.start} (0x{data[exc.start]:02x}) is not UTF-8 ({exc.reason}); "
                   "brat reads UTF-8: convert the file (e.g. iconv -f latin1 -t utf-8)")
        return BratIssue(source, line, "not_utf8", message)
    return None


def read_document_lenient(txt_path: Path | str, doc_id: str | None = None) -> tuple[Document, list[BratIssue]]:
    """Read ``txt_path`` and the .ann beside it; return the document (bad lines left out) and every issue.

    A file that is not UTF-8 gives one ``not_utf8`` issue and an empty document.
    """
    txt_path = Path(txt_path)
    ann_path = txt_path.with_suffix(".ann")
    undecodable = [i for p in (txt_path, ann_path) if p.exists() and (i := utf8_issue(p, p.name))]
    if undecodable:
        return Document(doc_id if doc_id is not None else txt_path.stem, ""), undecodable
    ann_text = read_text(ann_path) if ann_path.exists() else ""
    document, issues = parse_ann_lenient(
        ann_text, doc_id=doc_id if doc_id is not None else txt_path.stem, doc_text=read_text(txt_path),
        source=ann_path.name,
    )
    all_issues = issues + validate_document(document, ann_path.name)
    return document, sorted(all_issues, key=lambda i: i.line or 0)


def read_document(txt_path: Path | str, doc_id: str | None = None) -> Document:
    """Read one .txt/.ann pair; raise BratFormatError (``note.ann:7: ...``) on the first issue."""
    document, issues = read_document_lenient(txt_path, doc_id)
    if issues:
        raise BratFormatError(issues[0].message)
    return document


def validate_corpus(directory: Path | str) -> list[BratIssue]:
    """Every issue in every document under ``directory``, by document id then line."""
    return list(read_corpus(directory, on_invalid="skip").issues)


def read_corpus(directory: Path | str, on_invalid: OnInvalid = "fail") -> CorpusReadResult:
    """Read every document under ``directory``, sorted by id.

    ``on_invalid="fail"`` raises BratFormatError on the first issue; ``"skip"`` leaves invalid documents
    out and counts them by the kind of their first issue (``ISSUE_KINDS``).
    """
    if on_invalid not in ("fail", "skip"):
        raise ValueError(f"on_invalid={on_invalid!r}; expected 'fail' or 'skip'")
    directory = Path(directory)
    if not directory.is_dir():
        raise FileNotFoundError(f"{directory}: not a directory; expected a folder of .txt/.ann pairs")
    documents, issues, skipped = [], [], Counter()
    for path in sorted(directory.rglob("*"), key=lambda p: p.relative_to(directory).as_posix()):
        doc_issues, document = _read_one(path, directory)
        if doc_issues and on_invalid == "fail":
            raise BratFormatError(doc_issues[0].message)
        issues.extend(doc_issues)
        if doc_issues:
            skipped[doc_issues[0].kind] += 1
            log.debug("skipped: %s", doc_issues[0].message)
        elif document is not None:
            documents.append(document)
    return CorpusReadResult(tuple(documents), dict(sorted(skipped.items())), tuple(issues))


def _read_one(path: Path, directory: Path) -> tuple[list[BratIssue], Document | None]:
    relative = path.relative_to(directory)
    if path.suffix == ".ann" and not path.with_suffix(".txt").exists():
        message = f"{relative.as_posix()}: no {path.with_suffix('.txt').name} beside it; expected a .txt for every .ann"
        return [BratIssue(relative.as_posix(), None, "missing_file", message)], None
    if path.suffix != ".txt" or not path.is_file():
        return [], None
    document, doc_issues = read_document_lenient(path, relative.with_suffix("").as_posix())
    # re-home messages from the bare file name onto the path relative to the corpus (the .ann's, or the .txt's)
    sources = {i.source: relative.with_suffix(Path(i.source).suffix or ".ann").as_posix() for i in doc_issues}
    return [dataclasses.replace(i, source=sources[i.source], message=sources[i.source] + i.message[len(i.source):])
            for i in doc_issues], document


def write_document(document: Document, directory: Path | str) -> Path:
    """Write ``<directory>/<id>.txt`` and ``.ann`` byte-exact (``newline=''``); return the .txt path.

    An id that would land outside ``directory`` (``../x``, ``/abs/x``, a NUL) is a BratFormatError: ingest checks
    note ids, this is the second line of defence.
    """
    txt_path = _inside(Path(directory), document.id)
    write_text(txt_path, document.text)
    write_text(txt_path.with_suffix(".ann"), format_ann(document))
    return txt_path


def _inside(directory: Path, doc_id: str) -> Path:
    """``directory/<doc_id>.txt``, refused unless it resolves inside ``directory`` (sub/note_01 is fine)."""
    problem = None
    if not doc_id or "\0" in doc_id or "\\" in doc_id or Path(doc_id).is_absolute():
        problem = "is empty, absolute, or holds a NUL or backslash"
    elif not (directory / f"{doc_id}.txt").resolve().is_relative_to(directory.resolve()):
        problem = f"would be written outside {directory}"
    elif any(part in ("", ".", "..") or part.startswith(".") for part in doc_id.split("/")):
        problem = "has an empty, '.', '..' or hidden path part"
    if problem:
        raise BratFormatError(f"document id {doc_id!r} {problem}; expected a path relative to the corpus folder "
                              "(e.g. sub/note_01)")
    return directory / f"{doc_id}.txt"
