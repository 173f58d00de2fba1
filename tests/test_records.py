"""Atomic writes: a record that cannot be written leaves neither a half file nor a .tmp behind."""

import pytest

from clinsynth.records import write_json, write_jsonl


def test_failed_jsonl_write_removes_its_tmp_and_keeps_the_old_file(tmp_path):
    path = tmp_path / "out.jsonl"
    write_jsonl(path, [{"a": 1}])
    with pytest.raises(UnicodeEncodeError):
        write_jsonl(path, [{"a": 2}, {"a": "\ud800"}])
    assert path.read_text() == '{"a": 1}\n'
    assert sorted(p.name for p in tmp_path.iterdir()) == ["out.jsonl"]


def test_failed_json_write_removes_its_tmp(tmp_path):
    with pytest.raises(UnicodeEncodeError):  # json.dumps passes; the file's encoder fails after the .tmp is opened
        write_json(tmp_path / "m.json", {"a": "\ud800"})
    assert list(tmp_path.iterdir()) == []


def test_read_jsonl_names_file_and_line_for_bad_bytes_and_bad_json(tmp_path):
    from clinsynth.errors import is_expected
    from clinsynth.records import RecordFormatError, read_jsonl

    path = tmp_path / "r.jsonl"
    path.write_bytes(b'{"a": 1}\n{"a": "caf\xe9"}\n')
    with pytest.raises(RecordFormatError) as err:
        list(read_jsonl(path))
    assert str(err.value) == f"{path}:2: byte 10 of the line (0xe9) is not UTF-8; expected a UTF-8 JSONL file"
    path.write_text('{"a": 1}\n{"a": \n')
    with pytest.raises(RecordFormatError, match=r":2: invalid JSON \(Expecting value\); expected one record per line$"):
        list(read_jsonl(path))
    assert is_expected(err.value)


def test_read_json_names_the_line(tmp_path):
    from clinsynth.records import RecordFormatError, read_json

    path = tmp_path / "m.json"
    path.write_text('{\n  "a": 1,\n}\n')
    with pytest.raises(RecordFormatError, match=r"m.json:3: invalid JSON \(Expecting property name"):
        read_json(path)
