from pathlib import Path

import pytest

from clinsynth.brat import (DecodedSegment, DecodeRejection, EncodedSegment, encode_segments, format_ann,
                            parse_ann, read_document, validate_document)
from clinsynth.brat.decode import decode_segment

CORPUS = Path(__file__).parents[1] / "fixtures" / "brat" / "corpus"
SENTENCES = {"note_01": [(0, 28), (29, 74), (75, 93), (94, 142), (143, 182), (183, 202)],
             "note_02": [(0, 17), (19, 46), (48, 79)]}


def load(name: str) -> tuple:
    doc = read_document(CORPUS / f"{name}.txt")
    return doc, encode_segments(doc, SENTENCES[name]).segments


@pytest.mark.parametrize("name", ["note_01", "note_02"])
def test_unchanged_reply_decodes_to_the_same_document(name):
    doc, segments = load(name)
    assert segments
    for segment in segments:
        assert decode_segment(doc, segment, segment.encoded) == DecodedSegment(doc, {})
        assert decode_segment(doc, segment, f"\n  {segment.encoded}\n") == DecodedSegment(doc, {})


def test_rewrite_moves_marked_entities_and_shifts_the_suffix():
    doc, segments = load("note_01")
    reply = "Patient began [[Dose: 500 mg]] of [[Drug: Metformin]] to treat [[Condition: type 2 diabetes]]."
    result = decode_segment(doc, segments[0], reply, doc_id="note_01.aug0")
    new = result.document
    assert new.id == "note_01.aug0" and result.dropped == {}
    assert new.text == doc.text[:29] + reply.replace("[[Dose: ", "").replace("[[Drug: ", "").replace(
        "[[Condition: ", "").replace("]]", "") + doc.text[74:]
    assert [(e.id, new.text[e.start:e.end]) for e in new.entities[:3]] == [
        ("T1", "Metformin"), ("T2", "500 mg"), ("T3", "type 2 diabetes")]
    delta = len(new.text) - len(doc.text)
    assert new.entity("T8").spans == tuple((s + delta, e + delta) for s, e in doc.entity("T8").spans)
    assert new.relations == doc.relations and new.equivalences == doc.equivalences
    assert validate_document(new) == []
    assert parse_ann(format_ann(new), doc_id=new.id, doc_text=new.text) == new


def test_crlf_inside_a_segment_survives_the_rewrite():
    doc, segments = load("note_02")
    reply = "Dx: [[Condition: hypertension]].\r\nStarted [[Drug: lisinopril]] at [[Dose: 10 mg]] once daily."
    new = decode_segment(doc, segments[0], reply).document
    assert new.text.startswith("Dx: hypertension.\r\nStarted lisinopril at 10 mg once daily.\r\nBP ")
    assert [new.text[e.start:e.end] for e in new.entities] == ["hypertension", "lisinopril", "10 mg", "150/95",
                                                              "2 weeks"]


@pytest.mark.parametrize("reply, reason, detail", [
    ("", "empty_reply", "reply '' is empty or whitespace"),
    ("  \n", "empty_reply", "reply '  \\n' is empty or whitespace"),
    ("Started [[Drug: metformin] [[Dose: 500 mg]] for [[Condition: type 2 diabetes]].", "broken_markup",
     "offset 8: mark '[[Drug: metformin] [[Dose: 500 mg]]' is not '[[<label>: <text>]]' "
     "(one label, no nesting, non-empty text)"),
    ("Started [[Drug: metformin]] [[Dose: 500 mg]] for [[Condition: type 2 diabetes.", "broken_markup",
     "offset 49: '[[' never closed near '[Dose: 500 mg]] for [[Condition: type 2 '"),
    ("Started [[Medication: metformin]] [[Dose: 500 mg]] for [[Condition: type 2 diabetes]].", "unknown_label",
     "labels ['Medication'] not among ['Condition', 'Dose', 'Drug', 'Stop', 'Symptom']"),
    ("Started [[Drug: metformin]] [[Dose: 500 mg]] for [[Symptom: type 2 diabetes]].", "label_changed",
     "'type 2 diabetes' marked 'Symptom'; entity T3 is 'Condition'"),
    ("Started [[Condition: metformin]] [[Dose: 500 mg]] for [[Drug: type 2 diabetes]].", "label_changed",
     "'metformin' marked 'Condition'; entity T1 is 'Drug'"),
    ("Started [[Drug: metformin]] [[Dose: 500 mg]] for [[Condition: type 2 diabetes]] and [[Drug: metformin]].",
     "entity_count_changed", "4 marks for 3 entities; unmatched: ['Drug: metformin']"),
    ("Started [[Drug: metformin]] [[Dose: 500 mg]] for [[Condition: diabetes]] and [[Condition: obesity]].",
     "entity_count_changed", "4 marks for 3 entities; unmatched: ['Condition: obesity']"),
    ("Started [[Drug: metformin]] for [[Condition: type 2 diabetes]].", "entity_missing",
     "entities ['T2 Dose: 500 mg'] missing (recall 0.67 < 1.0)"),
    ("Started metformin 500 mg for type 2 diabetes.", "entity_missing",
     "entities ['T1 Drug: metformin', 'T2 Dose: 500 mg', 'T3 Condition: type 2 diabetes'] missing "
     "(recall 0.00 < 1.0)"),
])
def test_broken_replies_are_rejected_with_a_reason_never_raised(reply, reason, detail):
    doc, segments = load("note_01")
    assert decode_segment(doc, segments[0], reply) == DecodeRejection("note_01", "note_01:0", reason, detail)


def test_reordered_and_reworded_entities_are_matched_by_label():
    doc, segments = load("note_01")
    reply = "For [[Condition: T2DM]], [[Drug: metformin]] [[Dose: 500 mg]] was started."
    new = decode_segment(doc, segments[0], reply).document
    assert [(e.id, e.text) for e in new.entities[:3]] == [("T1", "metformin"), ("T2", "500 mg"), ("T3", "T2DM")]
    assert new.relations[0].arg2 == "T3" and validate_document(new) == []


def test_lost_entity_below_recall_threshold_drops_what_refers_to_it():
    doc, segments = load("note_01")
    reply = "Started [[Dose: 500 mg]] for [[Condition: type 2 diabetes]]."  # metformin (T1) lost
    result = decode_segment(doc, segments[0], reply, min_entity_recall=0.5)
    new = result.document
    assert result.dropped == {"entities": 1, "equivalences": 1, "normalizations": 1, "relations": 2}
    assert "T1" not in new.ids() and [r.id for r in new.relations] == []
    assert [n.id for n in new.normalizations] == ["N2"] and new.equivalences == ()
    assert "T1" not in new.layout.order and "*" not in new.layout.order
    assert validate_document(new) == []
    assert format_ann(parse_ann(format_ann(new))) == format_ann(new)


def test_lost_event_argument_drops_the_event_and_its_attribute():
    doc, segments = load("note_01")
    reply = "[[Drug: Aspirin]] was [[Stop: stopped]]."  # gastric bleeding (T7, an event argument) lost
    result = decode_segment(doc, segments[2], reply, min_entity_recall=0.5)
    assert result.dropped == {"attributes": 1, "entities": 1, "events": 1}
    assert result.document.events == () and [a.id for a in result.document.attributes] == ["M1"]


def test_a_segment_from_another_document_is_a_caller_error():
    doc, _ = load("note_01")
    with pytest.raises(ValueError, match=r"^segment x:0 was not encoded from document 'note_01' as it is"):
        decode_segment(doc, EncodedSegment("note_01", "x:0", 0, 5, "hello", ()), "hi")


def test_rejection_dict_round_trip():
    rejection = DecodeRejection("d", "d:0", "empty_reply", "reply '' is empty or whitespace")
    assert DecodeRejection.from_dict(rejection.to_dict()) == rejection
