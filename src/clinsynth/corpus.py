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
import logging
import random
import re
from collections import Counter
from collections.abc import Iterator
from pathlib import Path
from typing import Annotated, Any, Literal

from clinsynth.errors import InputError
from clinsynth.params import Fraction, NonNegativeInt, PositiveInt, SumsTo
from clinsynth.records import Chunk, Note

log = logging.getLogger(__name__)

MIMIC_COLUMNS = ("ROW_ID", "SUBJECT_ID", "HADM_ID", "CATEGORY", "TEXT")
SPLITS = ("train", "dev", "test")


class IngestError(InputError):
    """A note row that cannot be read; the message names file, row/line and what was expected."""


@dataclasses.dataclass(frozen=True)
class IngestSource:
    path: str
    format: Literal["jsonl", "csv", "txt"]


@dataclasses.dataclass(frozen=True)
class IngestConfig:
    inputs: list[IngestSource]
    on_bad_row: Literal["fail", "skip"]
    split_fractions: Annotated[dict[Literal["train", "dev", "test"], Fraction], SumsTo(1.0)]
    chunk_chars: PositiveInt  # 0 would make chunk_note loop forever
    min_note_chars: NonNegativeInt


@dataclasses.dataclass(frozen=True)
class BadRow:
    where: str  # "file:line"
    reason: str  # one of BAD_ROW_REASONS
    detail: str

    def message(self) -> str:
        return f"{self.where}: {self.reason}: {self.detail}"


BAD_ROW_REASONS = ("missing_field", "bad_type", "bad_id", "invalid_json", "not_object", "not_utf8", "bad_csv",
                   "unclosed_quote", "extra_fields", "empty_text", "too_short", "duplicate_id", "bad_header")

# Note ids become file names downstream (brat_silver writes <id>.txt/.ann): no separators, no "..", no leading dot.
NOTE_ID = re.compile(r"[A-Za-z0-9_:-][A-Za-z0-9._:-]{0,199}\Z")
NOTE_ID_RULE = "1-200 characters of [A-Za-z0-9._:-], not starting with '.', without '..'"
_ESCAPED = re.compile("[\udc80-\udcff]")  # what errors="surrogateescape" makes of a byte that is not UTF-8


def id_problem(note_id: str) -> str | None:
    """Why ``note_id`` cannot be a note id (it is used in file names), or None."""
    if NOTE_ID.match(note_id) and ".." not in note_id:
        return None
    return f"note id {note_id!r} is not allowed in file names; expected {NOTE_ID_RULE}"


def _not_utf8(text: str, path: Path, first_line: int) -> BadRow | None:
    """A BadRow at the exact line if ``text`` (read with errors='surrogateescape') holds a byte that is not UTF-8."""
    if text.isascii():  # O(1): most notes stop here
        return None
    try:
        text.encode("utf-8")  # fast, and fails exactly on the escaped bytes
        return None
    except UnicodeEncodeError:
        m = _ESCAPED.search(text)
    if m is None:
        return None
    line = first_line + text.count("\n", 0, m.start())
    byte = ord(m.group()) - 0xDC00
    return BadRow(f"{path}:{line}", "not_utf8", f"byte 0x{byte:02x} is not UTF-8; save the file as UTF-8 "
                                                "(e.g. iconv -f latin1 -t utf-8)")


def _unencodable(note: RawNote) -> BadRow | None:
    """A lone surrogate (JSON "\\ud800") reads fine but cannot be written as UTF-8: reject it here, not mid-write."""
    try:
        for value in (note.id, note.text):
            if not value.isascii():
                value.encode("utf-8")
        json.dumps(note.meta, ensure_ascii=False).encode("utf-8")
    except UnicodeEncodeError as exc:
        return BadRow(note.where, "not_utf8", f"lone surrogate {exc.object[exc.start]!r} (a JSON \\u escape of half a "
                                              "character) cannot be written as UTF-8; fix the escape")
    return None


@dataclasses.dataclass
class RawNote:
    id: str
    text: str
    meta: dict[str, Any]
    where: str


def _type(value: Any) -> str:
    return f"{type(value).__name__} {value!r}" if not isinstance(value, (dict, list)) else type(value).__name__


def _read_jsonl(path: Path) -> Iterator[RawNote | BadRow]:
    with path.open(encoding="utf-8", errors="surrogateescape") as fh:
        for line_no, line in enumerate(fh, start=1):
            where = f"{path}:{line_no}"
            if not line.strip():
                continue
            bad = _not_utf8(line, path, line_no)
            if bad:
                yield bad
                continue
            try:
                row = json.loads(line)
            except json.JSONDecodeError as exc:
                yield BadRow(where, "invalid_json", f"{exc.msg}; expected one JSON object per line")
                continue
            if not isinstance(row, dict):
                yield BadRow(where, "not_object", f"expected a JSON object, found {_type(row)}")
                continue
            yield _jsonl_note(row, where)


def _jsonl_note(row: dict[str, Any], where: str) -> RawNote | BadRow:
    missing = [k for k in ("id", "text") if row.get(k) is None]
    meta = row.get("meta")
    if meta is not None and not isinstance(meta, dict):
        return BadRow(where, "bad_type", f"meta must be an object, found {_type(meta)}")
    meta = dict(meta or {})
    if "patient_id" in row:
        meta.setdefault("patient_id", row["patient_id"])
    if meta.get("patient_id") in (None, ""):
        missing.append("meta.patient_id")
    if missing:
        return BadRow(where, "missing_field", f"missing {', '.join(missing)}; expected id, text and meta.patient_id")
    for key in ("id", "text"):
        if not isinstance(row[key], str):
            return BadRow(where, "bad_type", f"{key} must be a string, found {_type(row[key])}")
    if not isinstance(meta["patient_id"], (str, int)) or isinstance(meta["patient_id"], bool):
        return BadRow(where, "bad_type", f"patient_id must be a string or integer, found {_type(meta['patient_id'])}")
    meta["patient_id"] = str(meta["patient_id"])
    return RawNote(row["id"], row["text"], meta, where)


def _row_start(header: list[str]) -> re.Pattern[str]:
    """A line that starts a row (ROW_ID digits, the columns before TEXT, then TEXT's opening quote).

    Found inside a TEXT field, it means a quote was left open and the next row was swallowed.
    """
    cells = [r"\d+" if name == "ROW_ID" else r'(?:"[^"\n]*"|[^,"\n]*)' for name in header[:header.index("TEXT")]]
    # `,"` (TEXT's opening quote) or `,` ending the field (that quote closed the open one)
    return re.compile(r"\n" + ",".join(cells) + r',(?:"|\Z)')  # a literal first: re scans for it fast


def _read_csv(path: Path) -> Iterator[RawNote | BadRow]:
    csv.field_size_limit(1 << 30)
    with path.open(encoding="utf-8", errors="surrogateescape", newline="") as fh:
        # strict: a quote in the wrong place, or one left open to the end of the file, is an error, not a guess
        reader = csv.reader(fh, strict=True)
        header = next(reader, None) or []
        missing = [c for c in MIMIC_COLUMNS if c not in header]
        if missing:
            yield BadRow(f"{path}:1", "bad_header", f"missing columns {missing}; found {header}; expected {list(MIMIC_COLUMNS)}")
            return
        row_start = _row_start(header)
        while True:
            first_line = reader.line_num + 1
            try:
                fields = next(reader)
            except StopIteration:
                return
            except csv.Error as exc:
                span = f"lines {first_line}-{reader.line_num}" if reader.line_num > first_line else "this line"
                yield BadRow(f"{path}:{first_line}", "bad_csv", f"{exc} ({span}); a quote inside TEXT must be doubled "
                                                                '("") and every quoted field closed')
                continue
            if fields:  # a blank line between rows
                yield _csv_note(fields, header, row_start, path, first_line)


def _csv_note(fields: list[str], header: list[str], row_start: re.Pattern[str], path: Path, first_line: int
              ) -> RawNote | BadRow:
    where = f"{path}:{first_line}"
    if not all(f.isascii() for f in fields):
        bad = _not_utf8(",".join(fields), path, first_line)
        if bad:
            return bad
    if len(fields) > len(header):
        return BadRow(where, "extra_fields", f"{len(fields)} fields, header has {len(header)}: "
                                             f"{fields[len(header):]!r} left over; quote fields that hold a comma")
    if len(fields) < len(header):
        return BadRow(where, "missing_field", f"{len(fields)} fields, header has {len(header)} ({header})")
    row = dict(zip(header, fields))
    swallowed = row_start.search(row["TEXT"])
    if swallowed:
        before = sum(f.count("\n") for f in fields[:header.index("TEXT")])
        at = first_line + before + row["TEXT"].count("\n", 0, swallowed.start()) + 1
        return BadRow(where, "unclosed_quote", f"TEXT holds what looks like the next row ({path}:{at}: "
                                               f"{swallowed.group()[1:41]!r}...); close the TEXT quote of this row")
    if not row["ROW_ID"] or not row["SUBJECT_ID"]:
        return BadRow(where, "missing_field", "empty ROW_ID or SUBJECT_ID")
    icd10 = sorted({c.strip() for c in (row.get("ICD10") or "").split(";") if c.strip()})
    meta = {"patient_id": row["SUBJECT_ID"], "hadm_id": row["HADM_ID"], "note_type": row["CATEGORY"], "icd10": icd10}
    return RawNote(f"mimic-{row['ROW_ID']}", row["TEXT"], meta, where)


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
            line = file.read_bytes().count(b"\n", 0, exc.start) + 1
            yield BadRow(f"{file}:{line}", "not_utf8", f"byte {exc.start}: {exc.reason}; expected UTF-8 text")
            continue
        yield RawNote(rel.with_suffix("").as_posix().replace("/", "__"), text, {"patient_id": patient}, str(file))


READERS = {"jsonl": _read_jsonl, "csv": _read_csv, "txt": _read_txt_dir}


def _check_source(source: IngestSource, i: int) -> None:
    path = Path(source.path)
    key = f"ingest.inputs[{i}].path"
    if not path.exists():
        raise IngestError(f"{key} = {source.path}: not found; point it at your {source.format} notes")
    if (source.format == "txt") != path.is_dir():
        expected = "a directory of .txt files" if source.format == "txt" else f"a {source.format} file"
        raise IngestError(f"{key} = {source.path}: expected {expected} (ingest.inputs[{i}].format: {source.format})")


def read_sources(sources: list[IngestSource], min_chars: int, on_bad_row: str) -> tuple[list[RawNote], list[BadRow]]:
    """Read every source; bad rows raise IngestError (on_bad_row='fail') or are returned (skip).

    No note at all (every row rejected, or empty files) is an IngestError naming the inputs.
    """
    notes, bad, seen = [], [], set()
    for i, source in enumerate(sources):
        _check_source(source, i)
        for item in READERS[source.format](Path(source.path)):
            if isinstance(item, RawNote):
                item = _check_note(item, seen, min_chars) or item
            if isinstance(item, BadRow):
                if on_bad_row == "fail":
                    raise IngestError(item.message() + " (set ingest.on_bad_row: skip to skip and count such rows)")
                log.debug("skipped: %s", item.message())
                bad.append(item)
                continue
            seen.add(item.id)
            item.meta.setdefault("source", source.path)
            notes.append(item)
    if not notes:
        rejected = dict(sorted(Counter(b.reason for b in bad).items()))
        raise IngestError(f"no notes read from ingest.inputs {[s.path for s in sources]} ({len(bad)} rows rejected "
                          f"{rejected}); expected at least one note")
    return notes, bad


def _check_note(item: RawNote, seen: set[str], min_chars: int) -> BadRow | None:
    problem = id_problem(item.id)
    if problem:
        return BadRow(item.where, "bad_id", problem)
    if item.id in seen:
        return BadRow(item.where, "duplicate_id", f"note id {item.id!r} seen before; ids must be unique")
    if not item.text.strip():
        return BadRow(item.where, "empty_text", f"note {item.id!r} has no text")
    if len(item.text.strip()) < min_chars:
        return BadRow(item.where, "too_short", f"note {item.id!r} has {len(item.text.strip())} chars < min_note_chars {min_chars}")
    return _unencodable(item)


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
    if chunk_chars < 1:  # _split_long would never finish
        raise ValueError(f"chunk_chars must be >= 1, got {chunk_chars}")
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
