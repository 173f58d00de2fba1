"""BRAT bad input (issue 17, part A): ids that would escape the folder, files that are not UTF-8."""

from pathlib import Path

import pytest
from typer.testing import CliRunner

from clinsynth.brat import BratFormatError, Document, read_corpus, read_document, write_document
from clinsynth.cli import app


@pytest.mark.parametrize("doc_id", ["../../x", "/abs/x", "sub/../../x", "a\0b", "", "sub/.hidden", "a\\b"])
def test_write_document_refuses_ids_outside_its_folder(tmp_path, doc_id):
    out = tmp_path / "out"
    with pytest.raises(BratFormatError, match=r"^document id .* expected a path relative to the corpus folder"):
        write_document(Document(doc_id, "text"), out)
    assert [p for p in tmp_path.rglob("*") if p.is_file()] == []


def test_write_document_names_the_escape(tmp_path):
    with pytest.raises(BratFormatError) as err:
        write_document(Document("../../x", "text"), tmp_path / "out")
    assert str(err.value) == (f"document id '../../x' would be written outside {tmp_path / 'out'}; expected a path "
                              "relative to the corpus folder (e.g. sub/note_01)")


def test_write_document_keeps_subfolder_ids(tmp_path):
    path = write_document(Document("sub/note_01", "text"), tmp_path)
    assert path == tmp_path / "sub" / "note_01.txt" and path.read_text() == "text"


def test_validate_reports_non_utf8_files_with_line_and_byte(tmp_path):
    (tmp_path / "a.txt").write_bytes(b"fine\ncaf\xe9\n")
    (tmp_path / "b.txt").write_text("fine\n")
    (tmp_path / "b.ann").write_bytes(b"T1\tDrug 0 4\tf\xffne\n")
    (tmp_path / "c.txt").write_text("good\n")
    result = CliRunner().invoke(app, ["brat", "validate", str(tmp_path)])
    assert result.exit_code == 1
    assert result.output.splitlines() == [
        "a.txt:2: byte 8 (0xe9) is not UTF-8 (invalid continuation byte); brat reads UTF-8: convert the file "
        "(e.g. iconv -f latin1 -t utf-8)",
        "b.ann:1: byte 13 (0xff) is not UTF-8 (invalid start byte); brat reads UTF-8: convert the file "
        "(e.g. iconv -f latin1 -t utf-8)",
        "3 documents: 1 valid, 2 invalid; 2 issues (not_utf8=2)"]
    assert [d.id for d in read_corpus(tmp_path, on_invalid="skip").documents] == ["c"]


def test_read_document_not_utf8_is_a_brat_format_error(tmp_path):
    (tmp_path / "a.txt").write_bytes(b"caf\xe9")
    with pytest.raises(BratFormatError, match=r"^a.txt:1: byte 3 \(0xe9\) is not UTF-8"):
        read_document(tmp_path / "a.txt")
