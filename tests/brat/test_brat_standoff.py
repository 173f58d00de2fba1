import json
import re
from pathlib import Path

import pytest

from clinsynth.brat import (AnnLayout, Attribute, BratFormatError, Document, Entity, Equivalence, Event,
                            Normalization, Note, Relation, format_ann, parse_ann, parse_ann_lenient, read_document)
from clinsynth.brat.corpus import read_text

CORPUS = Path(__file__).parents[1] / "fixtures" / "brat" / "corpus"


@pytest.mark.parametrize("name", ["note_01", "note_02"])
def test_fixture_ann_round_trips_byte_for_byte(name):
    ann = read_text(CORPUS / f"{name}.ann")
    assert format_ann(parse_ann(ann)) == ann


@pytest.mark.parametrize("ann", [
    "",
    "\n",
    "T1\tDrug 0 3\tfoo",                                  # no final newline
    "T1\tDrug 0 3\tfoo\r\nR1\tX Arg1:T1 Arg2:T1\r\n",      # CRLF .ann
    "T1\tDrug 0 3\tfoo\n\n  \nA1\tNeg T1\n",              # blank and whitespace-only lines
    "R1\tX Arg1:T1 Arg2:T2 \t\nE1\tE:T1\nE2\tE:T1 Theme:T2 Theme2:T3\t\n",  # trailing space+tab, no-arg event
    "T1\tDrug 0 3\t\nN1\tRef T1 UMLS:C001:x\nN2\tRef T1 DB:1\t\n#1\tNote T1\n#2\tNote T1\t\n",  # empty/absent texts
    "*\tEquiv T1 T2 T3\nM1\tNeg T1\nA1\tCertainty T1 High\nM2\tSpec T1\n",  # A and M interleaved
    "T2\tDrug 5 8\tbar\nT1\tDrug 0 3\tfoo\nT1\tDrug 0 3\tfoo\n",  # out of order ids, a duplicate
])
def test_ann_strings_round_trip(ann):
    assert format_ann(parse_ann(ann)) == ann


def test_parse_reads_every_annotation_kind():
    doc = read_document(CORPUS / "note_01.txt")
    assert doc.id == "note_01"
    assert doc.entities[0] == Entity("T1", "Drug", ((37, 46),), "metformin")
    assert doc.relations[0] == Relation("R1", "Treats", "T1", "T3", tail="\t")
    assert doc.events == (Event("E1", "Stop", "T6", (("Drug", "T5"), ("Reason", "T7")), "\t"),)
    assert doc.attributes == (Attribute("M1", "Negated", "T4"), Attribute("A1", "Certainty", "E1", "Confirmed"))
    assert doc.normalizations[0] == Normalization("N1", "Reference", "T1", "RxNorm", "6809", "metformin")
    assert doc.notes == (Note("#1", "AnnotatorNotes", "T5", "low-dose, 81 mg"),)
    assert doc.equivalences == (Equivalence("Equiv", ("T1", "T10")),)
    assert doc.layout.order[:4] == ("T1", "T2", "T3", "R1")


def test_discontinuous_span_and_non_ascii_offsets_are_str_indices():
    doc = read_document(CORPUS / "note_01.txt")
    gastric_ulcers = doc.entity("T8")
    assert gastric_ulcers.spans == ((154, 161), (175, 181)) and gastric_ulcers.is_discontinuous
    assert [doc.text[s:e] for s, e in gastric_ulcers.spans] == ["gastric", "ulcers"]
    assert "Zoë Müller" in doc.text[:37]  # two non-ASCII characters before T1, one index each
    assert doc.text[37:46] == "metformin"


def test_crlf_text_keeps_carriage_returns_in_offsets():
    doc = read_document(CORPUS / "note_02.txt")
    assert doc.text.count("\r\n") == 3
    assert doc.layout.newline == "\r\n"
    assert [doc.text[e.start:e.end] for e in doc.entities] == ["hypertension", "lisinopril", "10 mg", "150/95",
                                                              "2 weeks"]
    assert doc.entity("T5").spans == ((71, 78),)


def test_document_without_layout_is_written_in_kind_order():
    doc = Document("d", "foo bar", entities=(Entity("T2", "X", ((4, 7),), "bar"), Entity("T1", "X", ((0, 3),), "foo")),
                   relations=(Relation("R1", "Rel", "T1", "T2"),), attributes=(Attribute("A1", "Neg", "T1"),),
                   equivalences=(Equivalence("Equiv", ("T1", "T2")),), notes=(Note("#1", "AnnotatorNotes", "T1", "n"),))
    assert format_ann(doc) == ("T2\tX 4 7\tbar\nT1\tX 0 3\tfoo\nR1\tRel Arg1:T1 Arg2:T2\nA1\tNeg T1\n"
                               "#1\tAnnotatorNotes T1\tn\n*\tEquiv T1 T2\n")


@pytest.mark.parametrize("name", ["note_01", "note_02"])
def test_document_dict_round_trips_through_json(name):
    doc = read_document(CORPUS / f"{name}.txt")
    assert Document.from_dict(json.loads(json.dumps(doc.to_dict()))) == doc


def test_from_dict_defaults_missing_parts():
    assert Document.from_dict({"id": "d", "text": "x"}) == Document("d", "x", layout=AnnLayout())


@pytest.mark.parametrize("line, message", [
    ("T4\tDrug 134 120\taspirin",
     "note_03.ann:1: span end 120 < start 134 in 'T4\\tDrug 134 120\\taspirin'; expected start <= end"),
    ("T4\tDrug 1 5",
     "note_03.ann:1: missing field in 'T4\\tDrug 1 5'; expected '<id>\\t<label> <start> <end>[;<start> <end>...]\\t<text>'"),
    ("T4\tDrug 1 5;7\tasp",
     "note_03.ann:1: span '7' is not two offsets in 'T4\\tDrug 1 5;7\\tasp'; "
     "expected '<id>\\t<label> <start> <end>[;<start> <end>...]\\t<text>'"),
    ("R1\tTreats Arg1:T1",
     "note_03.ann:1: 2 fields in 'R1\\tTreats Arg1:T1'; expected '<id>\\t<label> Arg1:<id> Arg2:<id>'"),
    ("R1\tTreats Arg1:T1  Arg2:T2",
     "note_03.ann:1: fields 'Treats Arg1:T1  Arg2:T2' not separated by single spaces in "
     "'R1\\tTreats Arg1:T1  Arg2:T2'; expected '<id>\\t<label> Arg1:<id> Arg2:<id>'"),
    ("R1\tTreats T1 T2",
     "note_03.ann:1: argument 'T1' is not <role>:<id> in 'R1\\tTreats T1 T2'; expected '<id>\\t<label> Arg1:<id> Arg2:<id>'"),
    ("E1\tStop",
     "note_03.ann:1: argument 'Stop' is not <role>:<id> in 'E1\\tStop'; "
     "expected '<id>\\t<label>:<trigger id>[ <role>:<id>...]'"),
    ("A1\tNegated",
     "note_03.ann:1: 1 fields in 'A1\\tNegated'; expected '<id>\\t<label> <target id>[ <value>]'"),
    ("N1\tReference T1 6809\tmetformin",
     "note_03.ann:1: reference '6809' is not <db>:<db id> in 'N1\\tReference T1 6809\\tmetformin'; "
     "expected '<id>\\t<label> <target id> <db>:<db id>[\\t<text>]'"),
    ("#1\tAnnotatorNotes\tx",
     "note_03.ann:1: 1 fields in '#1\\tAnnotatorNotes\\tx'; expected '<id>\\t<label> <target id>[\\t<text>]'"),
    ("*\tEquiv T1",
     "note_03.ann:1: 1 ids in '*\\tEquiv T1'; expected at least two ids in '*\\t<label> <id> <id>[ <id>...]'"),
    ("X1\tDrug 0 3\tfoo",
     "note_03.ann:1: unknown or missing id 'X1' in 'X1\\tDrug 0 3\\tfoo'; "
     "expected '<id>\\t...' with an id starting with one of T R E A M N # *"),
])
def test_malformed_lines_raise_with_file_line_found_and_expected(line, message):
    with pytest.raises(BratFormatError, match=f"^{re.escape(message)}$"):
        parse_ann(line + "\n", source="note_03.ann")


def test_malformed_line_numbers_count_blank_lines():
    with pytest.raises(BratFormatError, match=r"^x\.ann:3: span end 1 < start 2 "):
        parse_ann("T1\tA 0 1\ta\n\nT2\tA 2 1\tb\n", source="x.ann")


def test_lenient_parse_leaves_bad_lines_out_and_reports_all():
    doc, issues = parse_ann_lenient("T1\tA 0 1\ta\nbad\nR1\tX Arg1:T1\n", source="x.ann")
    assert [e.id for e in doc.entities] == ["T1"] and doc.relations == ()
    assert [(i.line, i.kind) for i in issues] == [(2, "malformed_line"), (3, "malformed_line")]
