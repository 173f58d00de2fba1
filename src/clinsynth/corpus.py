"""Notes in, notes out: readers for the formats users have, patient-level splits, sentence chunks.

Formats (``IngestSource.format``):
  jsonl  one note per line: ``{"id", "text", "meta": {"patient_id", ...}}`` (``patient_id`` may also be top level)
  csv    MIMIC-style NOTEEVENTS: columns ROW_ID, SUBJECT_ID, HADM_ID, CATEGORY, TEXT (+ optional ICD10, ';'-separated)
  txt    a directory of UTF-8 .txt files: ``DIR/<patient>/<note>.txt``, or ``DIR/<note>.txt`` (one patient per file)

Chunks are character spans of a note: ``note.text[chunk.start:chunk.end] == chunk.text``; they end on
sentence boundaries (lines, then spaCy's sentencizer within a line) and hold about ``chunk_chars`` characters.
"""

from __future__ import annotations

import csv
import dataclasses
import json
import random
import re
from collections import Counter
from collections.abc import Iterator
from pathlib import Path
from typing import Any, Literal

from clinsynth.errors import InputError

MIMIC_COLUMNS = ("ROW_ID", "SUBJECT_ID", "HADM_ID", "CATEGORY", "TEXT")
SPLITS = ("train", "dev", "test")


class IngestError(InputError):
    """A note row that cannot be read; the message names file, row/line and what was expected."""


@dataclasses.dataclass(frozen=True)
class IngestSource:
    path: str
    format: Literal["jsonl", "csv", "txt"]


@dataclasses.dataclass(frozen=True)
class Note:
    id: str
    text: str
    split: str
    meta: dict[str, Any]


@dataclasses.dataclass(frozen=True)
class Chunk:
    id: str
    note_id: str
    patient_id: str
    split: str
    start: int
    end: int
    text: str


@dataclasses.dataclass(frozen=True)
class BadRow:
    where: str  # "file:line"
    reason: str  # missing_field | invalid_json | empty_text | too_short | duplicate_id | not_utf8 | bad_header
    detail: str

    def message(self) -> str:
        return f"{self.where}: {self.reason}: {self.detail}"


@dataclasses.dataclass
class RawNote:
    id: str
    text: str
    meta: dict[str, Any]
    where: str


def _read_jsonl(path: Path) -> Iterator[RawNote | BadRow]:
    with path.open(encoding="utf-8") as fh:
        for line_no, line in enumerate(fh, start=1):
            where = f"{path}:{line_no}"
            if not line.strip():
                continue
            try:
                row = json.loads(line)
            except json.JSONDecodeError as exc:
                yield BadRow(where, "invalid_json", f"{exc.msg}; expected one JSON object per line")
                continue
            meta = dict(row.get("meta") or {})
            if "patient_id" in row:
                meta.setdefault("patient_id", row["patient_id"])
            missing = [k for k in ("id", "text") if not isinstance(row.get(k), str)] + (
                [] if meta.get("patient_id") not in (None, "") else ["meta.patient_id"])
            if missing:
                yield BadRow(where, "missing_field", f"missing {', '.join(missing)}; expected id, text and meta.patient_id")
                continue
            meta["patient_id"] = str(meta["patient_id"])
            yield RawNote(row["id"], row["text"], meta, where)


def _read_csv(path: Path) -> Iterator[RawNote | BadRow]:
    csv.field_size_limit(1 << 30)
    with path.open(encoding="utf-8", newline="") as fh:
        reader = csv.DictReader(fh)
        missing = [c for c in MIMIC_COLUMNS if c not in (reader.fieldnames or [])]
        if missing:
            yield BadRow(f"{path}:1", "bad_header", f"missing columns {missing}; found {reader.fieldnames}; expected {list(MIMIC_COLUMNS)}")
            return
        for row in reader:
            where = f"{path}:{reader.line_num}"
            if not row["ROW_ID"] or not row["SUBJECT_ID"] or row["TEXT"] is None:
                yield BadRow(where, "missing_field", "empty ROW_ID, SUBJECT_ID or TEXT")
                continue
            icd10 = sorted({c.strip() for c in (row.get("ICD10") or "").split(";") if c.strip()})
            meta = {"patient_id": row["SUBJECT_ID"], "hadm_id": row["HADM_ID"], "note_type": row["CATEGORY"], "icd10": icd10}
            yield RawNote(f"mimic-{row['ROW_ID']}", row["TEXT"], meta, where)


def _read_txt_dir(path: Path) -> Iterator[RawNote | BadRow]:
    if not path.is_dir():
        yield BadRow(str(path), "missing_field", "expected a directory of .txt files")
        return
    for file in sorted(path.rglob("*.txt")):
        rel = file.relative_to(path)
        patient = rel.parts[0] if len(rel.parts) > 1 else file.stem
        try:
            text = file.read_text(encoding="utf-8")
        except UnicodeDecodeError as exc:
            yield BadRow(str(file), "not_utf8", f"byte {exc.start}: {exc.reason}; expected UTF-8 text")
            continue
        yield RawNote(rel.with_suffix("").as_posix().replace("/", "__"), text, {"patient_id": patient}, str(file))


READERS = {"jsonl": _read_jsonl, "csv": _read_csv, "txt": _read_txt_dir}


def read_sources(sources: list[IngestSource], min_chars: int, on_bad_row: str) -> tuple[list[RawNote], list[BadRow]]:
    """Read every source; bad rows raise IngestError (on_bad_row='fail') or are returned (skip)."""
    notes, bad, seen = [], [], set()
    for source in sources:
        for item in READERS[source.format](Path(source.path)):
            if isinstance(item, RawNote):
                if item.id in seen:
                    item = BadRow(item.where, "duplicate_id", f"note id {item.id!r} seen before; ids must be unique")
                elif not item.text.strip():
                    item = BadRow(item.where, "empty_text", f"note {item.id!r} has no text")
                elif len(item.text.strip()) < min_chars:
                    item = BadRow(item.where, "too_short", f"note {item.id!r} has {len(item.text.strip())} chars < min_note_chars {min_chars}")
            if isinstance(item, BadRow):
                if on_bad_row == "fail":
                    raise IngestError(item.message() + " (set ingest.on_bad_row: skip to skip and count such rows)")
                bad.append(item)
                continue
            seen.add(item.id)
            item.meta.setdefault("source", source.path)
            notes.append(item)
    return notes, bad


def assign_splits(patient_ids: list[str], fractions: dict[str, float], seed: int) -> dict[str, str]:
    """Patient -> split, seeded; every patient in exactly one split; each split non-empty when there are >= 3 patients."""
    total = sum(fractions.values())
    if set(fractions) != set(SPLITS) or abs(total - 1.0) > 1e-6:
        raise IngestError(f"split_fractions {fractions} must have keys {list(SPLITS)} summing to 1.0")
    patients = sorted(set(patient_ids))
    random.Random(seed).shuffle(patients)
    n = len(patients)
    n_dev = round(n * fractions["dev"])
    n_test = round(n * fractions["test"])
    if n >= 3:
        n_dev, n_test = max(n_dev, 1), max(n_test, 1)
    n_train = n - n_dev - n_test
    order = ["train"] * n_train + ["dev"] * n_dev + ["test"] * n_test
    return dict(zip(patients, order))


LINE = re.compile(r"[^\n]+")


def sentence_spans(text: str, nlp) -> list[tuple[int, int]]:
    """[start, end) spans of sentences: each non-blank line, split further by spaCy's sentencizer; whitespace trimmed."""
    lines = [(m.start(), m.group()) for m in LINE.finditer(text) if m.group().strip()]
    spans = []
    for (offset, line), doc in zip(lines, nlp.pipe(line for _, line in lines)):
        for sent in doc.sents:
            start, end = offset + sent.start_char, offset + sent.end_char
            while start < end and text[start].isspace():
                start += 1
            while end > start and text[end - 1].isspace():
                end -= 1
            if end > start:
                spans.append((start, end))
    return spans


def _split_long(start: int, end: int, text: str, limit: int) -> list[tuple[int, int]]:
    """Cut a sentence longer than ``limit`` at the last whitespace before each limit."""
    pieces = []
    while end - start > limit:
        cut = text.rfind(" ", start + 1, start + limit)
        cut = cut if cut > start else start + limit
        pieces.append((start, cut))
        start = cut
        while start < end and text[start].isspace():
            start += 1
    pieces.append((start, end))
    return pieces


def chunk_note(note: Note, spans: list[tuple[int, int]], chunk_chars: int) -> list[Chunk]:
    """Greedy packing of consecutive sentences into chunks of at most ~chunk_chars characters."""
    units = [piece for s, e in spans for piece in _split_long(s, e, note.text, chunk_chars)]
    groups: list[list[tuple[int, int]]] = []
    for unit in units:
        if groups and unit[1] - groups[-1][0][0] <= chunk_chars:
            groups[-1].append(unit)
        else:
            groups.append([unit])
    patient = note.meta["patient_id"]
    return [
        Chunk(f"{note.id}:{i}", note.id, patient, note.split, g[0][0], g[-1][1], note.text[g[0][0]:g[-1][1]])
        for i, g in enumerate(groups)
    ]


def make_sentencizer():
    import spacy

    nlp = spacy.blank("en")
    nlp.add_pipe("sentencizer")
    return nlp


def ingest_metrics(notes: list[Note], chunks: list[Chunk], bad: list[BadRow]) -> dict[str, Any]:
    per_split = {}
    for split in SPLITS:
        ns = [n for n in notes if n.split == split]
        per_split[split] = {
            "notes": len(ns),
            "patients": len({n.meta["patient_id"] for n in ns}),
            "chars": sum(len(n.text) for n in ns),
            "chunks": sum(1 for c in chunks if c.split == split),
        }
    return {
        "notes": len(notes),
        "patients": len({n.meta["patient_id"] for n in notes}),
        "chars": sum(len(n.text) for n in notes),
        "chunks": len(chunks),
        "splits": per_split,
        "rejected": dict(sorted(Counter(b.reason for b in bad).items())),
        "rejected_total": len(bad),
    }
