"""Read and write BRAT corpora: directories of ``<name>.txt`` + ``<name>.ann`` pairs (searched recursively).

Files are UTF-8 and read and written with ``newline=''``, so CRLF stays two characters and offsets
are Python ``str`` indices, as brat counts them. A document's id is its path relative to the corpus
directory without the suffix, with ``/`` separators (``sub/note_01``). A ``.txt`` without an ``.ann``
is a document with no annotations (brat creates the empty .ann on open); an ``.ann`` without a
``.txt`` is an issue of kind ``missing_file``.
"""

from __future__ import annotations

import dataclasses
from collections import Counter
from pathlib import Path
from typing import Literal

from clinsynth.brat.model import Document
from clinsynth.brat.standoff import BratFormatError, BratIssue, format_ann, parse_ann_lenient
from clinsynth.brat.validation import validate_document

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


def read_document_lenient(txt_path: Path | str, doc_id: str | None = None) -> tuple[Document, list[BratIssue]]:
    """Read ``txt_path`` and the .ann beside it; return the document (bad lines left out) and every issue."""
    txt_path = Path(txt_path)
    ann_path = txt_path.with_suffix(".ann")
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
    source = relative.with_suffix(".ann").as_posix()
    # re-home messages from the bare file name onto the path relative to the corpus
    return [dataclasses.replace(i, source=source, message=source + i.message[len(i.source):])
            for i in doc_issues], document


def write_document(document: Document, directory: Path | str) -> Path:
    """Write ``<directory>/<id>.txt`` and ``.ann`` byte-exact (``newline=''``); return the .txt path."""
    txt_path = Path(directory) / f"{document.id}.txt"
    write_text(txt_path, document.text)
    write_text(txt_path.with_suffix(".ann"), format_ann(document))
    return txt_path
