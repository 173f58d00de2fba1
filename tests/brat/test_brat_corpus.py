import re
from pathlib import Path

import pytest

from clinsynth.brat import (BratFormatError, Document, Entity, Relation, check_document, parse_ann, read_corpus,
                            read_document, validate_document, write_document)
from clinsynth.brat.corpus import read_text

FIXTURES = Path(__file__).parents[1] / "fixtures" / "brat"
CORPUS, INVALID = FIXTURES / "corpus", FIXTURES / "invalid"

BROKEN_ISSUES = [
    ("span_text_mismatch", "broken.ann:2: text 'aspirin' differs from the .txt 'aspiri' at 5 11 in "
                           "'T2\\tDrug 5 11\\taspirin'; expected the text field to equal the .txt at those offsets "
                           "(fragments joined by ' ')"),
    ("span_out_of_bounds", "broken.ann:3: span 15 40 outside the text of length 20 in 'T3\\tDrug 15 40\\tdaily'; "
                           "expected 0 <= start <= end <= 20"),
    ("duplicate_id", "broken.ann:4: duplicate id 'T1' (first on line 1) in 'T1\\tTime 13 18\\tdaily'; "
                     "expected each id once per document"),
    ("missing_reference", "broken.ann:5: Arg2 points to missing id 'T9' in 'R1\\tTreats Arg1:T1 Arg2:T9'; "
                          "expected an id defined in the same .ann"),
    ("malformed_line", "broken.ann:6: span end 5 < start 12 in 'T4\\tDrug 12 5\\tx'; expected start <= end"),
    ("malformed_line", "broken.ann:7: unknown or missing id 'A1 Negated T1' in 'A1 Negated T1'; "
                       "expected '<id>\\t...' with an id starting with one of T R E A M N # *"),
]


def test_read_corpus_reads_valid_documents_sorted_by_id():
    result = read_corpus(CORPUS)
    assert [d.id for d in result.documents] == ["note_01", "note_02"]
    assert result.skipped == {} and result.issues == ()


def test_every_issue_kind_is_reported_with_file_line_found_expected():
    result = read_corpus(INVALID, on_invalid="skip")
    broken = [(i.kind, i.message) for i in result.issues if i.source == "broken.ann"]
    assert broken == BROKEN_ISSUES


def test_skip_mode_keeps_valid_documents_and_counts_invalid_ones_by_reason():
    result = read_corpus(INVALID, on_invalid="skip")
    assert [d.id for d in result.documents] == ["good"]
    assert result.skipped == {"missing_file": 1, "span_text_mismatch": 2}
    assert result.issues[-1].message == "orphan.ann: no orphan.txt beside it; expected a .txt for every .ann"


def test_fail_mode_raises_the_first_issue():
    with pytest.raises(BratFormatError, match=f"^{re.escape(BROKEN_ISSUES[0][1])}$"):
        read_corpus(INVALID)


def test_on_invalid_is_checked():
    with pytest.raises(ValueError, match=r"^on_invalid='ignore'; expected 'fail' or 'skip'$"):
        read_corpus(CORPUS, on_invalid="ignore")


def test_nested_documents_get_relative_ids_and_sources(tmp_path):
    (tmp_path / "a" / "b").mkdir(parents=True)
    (tmp_path / "a" / "b" / "n.txt").write_text("abc", encoding="utf-8")
    (tmp_path / "a" / "b" / "n.ann").write_text("T1\tX 0 2\tab\nT2\tX 0 2\tzz\n", encoding="utf-8")
    (tmp_path / "plain.txt").write_text("no annotations", encoding="utf-8")
    result = read_corpus(tmp_path, on_invalid="skip")
    assert [d.id for d in result.documents] == ["plain"] and result.documents[0].entities == ()
    assert result.issues[0].message.startswith("a/b/n.ann:2: text 'zz' differs from the .txt 'ab'")


@pytest.mark.parametrize("name", ["note_01", "note_02"])
def test_write_document_reproduces_both_files_byte_for_byte(tmp_path, name):
    doc = read_document(CORPUS / f"{name}.txt")
    txt = write_document(doc, tmp_path)
    assert txt.read_bytes() == (CORPUS / f"{name}.txt").read_bytes()
    assert txt.with_suffix(".ann").read_bytes() == (CORPUS / f"{name}.ann").read_bytes()
    assert read_document(txt) == doc


def test_validate_document_without_layout_numbers_lines_as_written():
    doc = Document("d", "foo", entities=(Entity("T1", "X", ((0, 3),), "foo"),),
                   relations=(Relation("R1", "Rel", "T1", "T2"),))
    [issue] = validate_document(doc, "d.ann")
    assert issue.message == ("d.ann:2: Arg2 points to missing id 'T2' in 'R1\\tRel Arg1:T1 Arg2:T2'; "
                             "expected an id defined in the same .ann")


def test_references_of_every_kind_are_checked():
    ann = "E1\tStop:T1 Drug:T2\nA1\tNeg T3\nN1\tRef T4 DB:1\tx\n#1\tAnnotatorNotes T5\tn\n*\tEquiv T6 T7\n"
    issues = validate_document(parse_ann(ann, doc_text=""), "x.ann")
    assert [(i.line, i.message.split(" in ")[0]) for i in issues] == [
        (1, "x.ann:1: trigger points to missing id 'T1'"), (1, "x.ann:1: Drug points to missing id 'T2'"),
        (2, "x.ann:2: target points to missing id 'T3'"), (3, "x.ann:3: target points to missing id 'T4'"),
        (4, "x.ann:4: target points to missing id 'T5'"), (5, "x.ann:5: member points to missing id 'T6'"),
        (5, "x.ann:5: member points to missing id 'T7'"),
    ]


def test_line_breaks_written_as_spaces_match_but_other_differences_do_not():
    ok = parse_ann("T1\tX 0 7\tab  cd!\n", doc_text="ab\r\ncd!")
    assert validate_document(ok) == []
    bad = parse_ann("T1\tX 0 7\tab_cd!\n", doc_text="ab\r\ncd!")
    assert [i.kind for i in validate_document(bad)] == ["span_text_mismatch"]


def test_check_document_raises_first_issue_and_counts_the_rest():
    doc = parse_ann("T1\tX 0 9\tabcdefghi\nT1\tX 0 1\ta\n", doc_text="abc")
    with pytest.raises(BratFormatError, match=r"^d\.ann:1: span 0 9 outside .* \(and 1 more issues\)$"):
        check_document(doc, "d.ann")


def test_read_text_keeps_crlf():
    assert "\r\n" in read_text(CORPUS / "note_02.txt")
