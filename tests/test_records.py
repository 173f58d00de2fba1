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
