"""Bad notes in (issue 17, part A): each case is a tiny file and the exact message, or the rows kept and counted."""

import json
from pathlib import Path

import pytest

from clinsynth.corpus import IngestError, IngestSource, Note, chunk_note, read_sources

HEADER = "ROW_ID,SUBJECT_ID,HADM_ID,CATEGORY,TEXT\n"
GOOD = {"text": "A note long enough to keep.", "patient_id": "p"}
SKIP_HINT = " (set ingest.on_bad_row: skip to skip and count such rows)"


def jsonl(tmp_path: Path, *rows: object, raw: bytes = b"") -> Path:
    path = tmp_path / "notes.jsonl"
    path.write_bytes(b"".join((r if isinstance(r, bytes) else json.dumps(r).encode()) + b"\n" for r in rows) + raw)
    return path


def fail(path: Path, fmt: str = "jsonl") -> str:
    with pytest.raises(IngestError) as err:
        read_sources([IngestSource(str(path), fmt)], 1, "fail")
    return str(err.value)


def skip(path: Path, fmt: str = "jsonl"):
    notes, bad = read_sources([IngestSource(str(path), fmt)], 1, "skip")
    return [n.id for n in notes], [(b.where, b.reason) for b in bad]


@pytest.mark.parametrize("note_id", ["../../x", "/abs/x", "a/b", "a\\b", "a\0b", "a..b", "..", ".hidden", "", "x" * 201,
                                     "sp ace"])
def test_note_ids_that_could_leave_a_folder_are_rejected_at_ingest(tmp_path, note_id):
    path = jsonl(tmp_path, {"id": note_id, **GOOD})
    assert fail(path) == (f"{path}:1: bad_id: note id {note_id!r} is not allowed in file names; expected 1-200 "
                          "characters of [A-Za-z0-9._:-], not starting with '.', without '..'" + SKIP_HINT)


def test_good_ids_pass_and_bad_ids_are_counted_in_skip_mode(tmp_path):
    path = jsonl(tmp_path, {"id": "n-1.v2:a_b", **GOOD}, {"id": "../x", **GOOD}, {"id": "x" * 200, **GOOD})
    assert skip(path) == (["n-1.v2:a_b", "x" * 200], [(f"{path}:2", "bad_id")])


def test_csv_row_id_is_checked_as_an_id(tmp_path):
    path = tmp_path / "n.csv"
    path.write_text(HEADER + '../1,10,100,D,"A note long enough to keep."\n')
    assert fail(path, "csv").startswith(f"{path}:2: bad_id: note id 'mimic-../1' is not allowed in file names")


def test_jsonl_line_that_is_not_an_object(tmp_path):
    path = jsonl(tmp_path, ["a", "b"])
    assert fail(path) == f"{path}:1: not_object: expected a JSON object, found list" + SKIP_HINT
    path = jsonl(tmp_path, "just a string")
    assert fail(path) == f"{path}:1: not_object: expected a JSON object, found str 'just a string'" + SKIP_HINT


def test_jsonl_id_of_the_wrong_type_is_not_reported_missing(tmp_path):
    path = jsonl(tmp_path, {"id": 5, **GOOD})
    assert fail(path) == f"{path}:1: bad_type: id must be a string, found int 5" + SKIP_HINT
    path = jsonl(tmp_path, {"id": "a", "text": ["x"], "patient_id": "p"})
    assert fail(path) == f"{path}:1: bad_type: text must be a string, found list" + SKIP_HINT


def test_jsonl_meta_that_is_not_an_object(tmp_path):
    path = jsonl(tmp_path, {"id": "a", "text": GOOD["text"], "meta": ["patient_id", "p"]})
    assert fail(path) == f"{path}:1: bad_type: meta must be an object, found list" + SKIP_HINT
    path = jsonl(tmp_path, {"id": "a", "text": GOOD["text"], "meta": {"patient_id": {"x": 1}}})
    assert fail(path) == f"{path}:1: bad_type: patient_id must be a string or integer, found dict" + SKIP_HINT


def test_jsonl_not_utf8_names_the_line_and_is_skipped_and_counted(tmp_path):
    path = jsonl(tmp_path, {"id": "a", **GOOD}, b'{"id": "b", "text": "caf\xe9 au lait, a long note", "patient_id": "p"}',
                 {"id": "c", **GOOD})
    assert fail(path) == (f"{path}:2: not_utf8: byte 0xe9 is not UTF-8; save the file as UTF-8 "
                          "(e.g. iconv -f latin1 -t utf-8)" + SKIP_HINT)
    assert skip(path) == (["a", "c"], [(f"{path}:2", "not_utf8")])


def test_lone_surrogate_is_rejected_at_read_time(tmp_path):
    path = jsonl(tmp_path, b'{"id": "a", "text": "half a pair \\ud800 here, long", "patient_id": "p"}')
    assert fail(path) == (f"{path}:1: not_utf8: lone surrogate '\\ud800' (a JSON \\u escape of half a character) "
                          "cannot be written as UTF-8; fix the escape" + SKIP_HINT)
    path = jsonl(tmp_path, b'{"id": "a", "text": "a real pair \\ud83d\\ude00 is fine", "patient_id": "p"}')
    assert skip(path) == (["a"], [])


def test_csv_unclosed_quote_that_swallows_the_next_row_is_a_bad_row(tmp_path):
    path = tmp_path / "n.csv"
    # row 2's TEXT quote is never closed; row 4's opening quote closes it, so csv alone would merge rows 2-4
    path.write_text(HEADER + '1,10,100,D,"first note\nwith lines\n2,11,101,D,"\nsecond note."\n'
                             '3,12,102,D,"third note, fine."\n')
    assert fail(path, "csv") == (f"{path}:2: unclosed_quote: TEXT holds what looks like the next row ({path}:4: "
                                 "'2,11,101,D,'...); close the TEXT quote of this row" + SKIP_HINT)
    ids, bad = skip(path, "csv")
    assert ids == ["mimic-3"] and [r for _, r in bad] == ["unclosed_quote", "missing_field"]


def test_csv_quote_closed_in_the_wrong_place_is_a_bad_row_and_reading_goes_on(tmp_path):
    path = tmp_path / "n.csv"
    path.write_text(HEADER + '1,10,100,D,"first note\n2,11,101,D,"second note"\n3,12,102,D,"third note, fine."\n')
    assert fail(path, "csv") == (f"{path}:2: bad_csv: ',' expected after '\"' (lines 2-3); a quote inside TEXT must be "
                                 'doubled ("") and every quoted field closed' + SKIP_HINT)
    assert skip(path, "csv") == (["mimic-3"], [(f"{path}:2", "bad_csv")])


def test_csv_quote_left_open_to_the_end_of_the_file(tmp_path):
    path = tmp_path / "n.csv"
    path.write_text(HEADER + '3,12,102,D,"third note, fine."\n1,10,100,D,"never closed\nat all\n')
    assert skip(path, "csv") == (["mimic-3"], [(f"{path}:3", "bad_csv")])
    assert "unexpected end of data (lines 3-4)" in fail(path, "csv")


def test_csv_extra_fields_are_a_bad_row_not_dropped(tmp_path):
    path = tmp_path / "n.csv"
    path.write_text(HEADER + '1,10,100,D,Unquoted text, with a comma\n3,12,102,D,"third note, fine."\n')
    assert fail(path, "csv") == (f"{path}:2: extra_fields: 6 fields, header has 5: [' with a comma'] left over; "
                                 "quote fields that hold a comma" + SKIP_HINT)
    assert skip(path, "csv") == (["mimic-3"], [(f"{path}:2", "extra_fields")])


def test_csv_not_utf8_names_the_line_within_a_multiline_row(tmp_path):
    path = tmp_path / "n.csv"
    path.write_bytes((HEADER + '3,12,102,D,"third note, fine."\n1,10,100,D,"first line\ncaf\xe9 on line two"\n')
                     .encode("latin1"))
    assert fail(path, "csv").startswith(f"{path}:4: not_utf8: byte 0xe9 is not UTF-8")
    assert skip(path, "csv") == (["mimic-3"], [(f"{path}:4", "not_utf8")])


def test_csv_blank_lines_between_rows_are_not_rows(tmp_path):
    path = tmp_path / "n.csv"
    path.write_text(HEADER + '\n3,12,102,D,"third note, fine."\n\n')
    assert skip(path, "csv") == (["mimic-3"], [])


def test_txt_not_utf8_names_file_and_line(tmp_path):
    (tmp_path / "p1").mkdir()
    (tmp_path / "p1" / "a.txt").write_bytes(b"first line\nsecond caf\xe9\n")
    (tmp_path / "p1" / "b.txt").write_text("A note long enough to keep.")
    ids, bad = skip(tmp_path, "txt")
    assert ids == ["p1__b"] and bad == [(f"{tmp_path / 'p1' / 'a.txt'}:2", "not_utf8")]


def test_empty_notes_input_is_an_error_naming_the_inputs(tmp_path):
    path = tmp_path / "notes.jsonl"
    path.write_text("\n")
    assert fail(path) == f"no notes read from ingest.inputs [{str(path)!r}] (0 rows rejected {{}}); expected at least one note"
    path = jsonl(tmp_path, {"id": "../x", **GOOD})
    with pytest.raises(IngestError, match=r"\(1 rows rejected \{'bad_id': 1\}\); expected at least one note$"):
        read_sources([IngestSource(str(path), "jsonl")], 1, "skip")


def test_missing_input_names_the_param(tmp_path):
    good = jsonl(tmp_path, {"id": "a", **GOOD})
    with pytest.raises(IngestError) as err:
        read_sources([IngestSource(str(good), "jsonl"), IngestSource(str(tmp_path / "nope.csv"), "csv")], 1, "fail")
    assert str(err.value) == f"ingest.inputs[1].path = {tmp_path / 'nope.csv'}: not found; point it at your csv notes"
    with pytest.raises(IngestError, match=r"^ingest.inputs\[0\].path = .*: expected a directory of .txt files "
                                          r"\(ingest.inputs\[0\].format: txt\)$"):
        read_sources([IngestSource(str(good), "txt")], 1, "fail")


def test_chunk_note_refuses_a_size_that_would_never_finish():
    note = Note("a", "Some text here.", "train", {"patient_id": "p"})
    with pytest.raises(ValueError, match=r"^chunk_chars must be >= 1, got 0$"):
        chunk_note(note, [(0, 15)], 0)
