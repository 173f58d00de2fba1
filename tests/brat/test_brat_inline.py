import re
from pathlib import Path

import pytest

from clinsynth.brat import (Document, EncodedSegment, Entity, MarkupError, Relation, encode_segments, encode_span,
                            find_segments, parse_marks, read_document, split_sentences)
from clinsynth.brat.inline import Mark

CORPUS = Path(__file__).parents[1] / "fixtures" / "brat" / "corpus"
NOTE_01_SENTENCES = [(0, 28), (29, 74), (75, 93), (94, 142), (143, 182), (183, 202)]


def entity(eid: str, label: str, text: str, doc_text: str, nth: int = 1) -> Entity:
    start = -1
    for _ in range(nth):
        start = doc_text.index(text, start + 1)
    return Entity(eid, label, ((start, start + len(text)),), text)


@pytest.fixture(scope="module")
def nlp():
    from clinsynth.corpus import make_sentencizer

    return make_sentencizer()


def test_spacy_sentences_of_the_fixture(nlp):
    doc = read_document(CORPUS / "note_01.txt")
    assert split_sentences(doc.text, nlp) == NOTE_01_SENTENCES


def test_encode_marks_every_entity_and_keeps_the_id_map():
    doc = read_document(CORPUS / "note_01.txt")
    result = encode_segments(doc, NOTE_01_SENTENCES)
    assert result.segments[0] == EncodedSegment(
        "note_01", "note_01:0", 29, 74,
        "Started [[Drug: metformin]] [[Dose: 500 mg]] for [[Condition: type 2 diabetes]].", ("T1", "T2", "T3"))
    assert [s.segment_id for s in result.segments] == ["note_01:0", "note_01:1", "note_01:2", "note_01:4"]
    # sentence 4 holds the discontinuous 'gastric ulcers' overlapping 'duodenal ulcers'
    assert result.skipped == {"discontinuous_entity": 1}


def test_label_filter_picks_the_sentences_that_seed_segments():
    doc = read_document(CORPUS / "note_01.txt")
    result = encode_segments(doc, NOTE_01_SENTENCES, labels={"Symptom"}, relation_labels=set())
    assert [(s.encoded, s.entity_ids) for s in result.segments] == [("Denies [[Symptom: chest pain]].", ("T4",))]


def test_relation_across_sentences_joins_them_into_one_segment(nlp):
    doc = read_document(CORPUS / "note_02.txt")
    sentences = split_sentences(doc.text, nlp)
    assert sentences == [(0, 17), (19, 46), (48, 79)]
    assert find_segments(doc, sentences) == [(0, 1), (2, 2)]
    assert find_segments(doc, sentences, relation_labels=set()) == [(0, 0), (1, 1), (2, 2)]
    [first, _] = encode_segments(doc, sentences).segments
    assert first.encoded == "Dx: [[Condition: hypertension]].\r\nRx: [[Drug: lisinopril]] [[Dose: 10 mg]] daily."
    assert encode_segments(doc, sentences, max_sentences=1).skipped == {"too_many_sentences": 1}


def test_entity_across_a_sentence_break_joins_the_sentences():
    text = "Pain in the. Left arm. Fine."
    doc = Document("d", text, entities=(entity("T1", "Symptom", "the. Left", text),))
    assert find_segments(doc, [(0, 12), (13, 22), (23, 28)]) == [(0, 1)]


@pytest.mark.parametrize("text, entities, reason", [
    ("aa bb cc", [Entity("T1", "X", ((0, 2), (6, 8)), "aa cc")], "discontinuous_entity"),
    ("aa bb cc", [Entity("T1", "X", ((0, 5),), "aa bb"), Entity("T2", "Y", ((3, 8),), "bb cc")], "overlapping_entities"),
    ("aa bb cc", [Entity("T1", "X", ((0, 8),), "aa bb cc"), Entity("T2", "Y", ((3, 5),), "bb")], "overlapping_entities"),
    ("aa bb cc", [Entity("T1", "X", ((2, 5),), " bb")], "unmarkable_entity_text"),
    ("aa [[bb]] cc", [Entity("T1", "X", ((0, 2),), "aa")], "markup_collision"),
    ("aa [bb] cc", [Entity("T1", "X", ((4, 7),), "bb]")], "markup_collision"),
    ("aa [bb] cc", [Entity("T1", "X", ((4, 6),), "bb")], "markup_collision"),
    ("aa bb cc", [Entity("T1", "X:Y", ((0, 2),), "aa")], "markup_collision"),
    ("aa bb cc", [Entity("T1", "X", ((0, 5),), "aa bb")], "entity_crosses_segment"),
])
def test_ineligible_segments_give_their_reason(text, entities, reason):
    doc = Document("d", text, entities=tuple(entities))
    assert encode_span(doc, 0, 3 if reason == "entity_crosses_segment" else len(text), "d:0") == reason


def test_adjacent_entities_and_brackets_away_from_entities_encode():
    text = "[note] aspirin(81mg)"
    doc = Document("d", text, entities=(entity("T1", "Drug", "aspirin", text), entity("T2", "Dose", "81mg", text)))
    encoded = encode_span(doc, 0, len(text), "d:0")
    assert encoded.encoded == "[note] [[Drug: aspirin]]([[Dose: 81mg]])"
    assert parse_marks(encoded.encoded) == (text, (Mark("Drug", "aspirin", 7, 14), Mark("Dose", "81mg", 15, 19)))


def test_parse_marks_tolerates_spacing_around_label_and_text():
    assert parse_marks("Took [[ Drug :aspirin ]] today.") == ("Took aspirin today.", (Mark("Drug", "aspirin", 5, 12),))


@pytest.mark.parametrize("encoded, message", [
    ("a ]] b", "offset 2: ']]' without an opening '[[' near 'a ]] b'"),
    ("a [[Drug: x b", "offset 2: '[[' never closed near 'a [[Drug: x b'"),
    ("a [[Drug x]] b", "offset 2: mark '[[Drug x]]' is not '[[<label>: <text>]]' (one label, no nesting, non-empty text)"),
    ("a [[Drug: [[Dose: x]] b", "offset 2: mark '[[Drug: [[Dose: x]]' is not '[[<label>: <text>]]' "
                                "(one label, no nesting, non-empty text)"),
    ("a [[Drug: ]] b", "offset 2: mark '[[Drug: ]]' is not '[[<label>: <text>]]' (one label, no nesting, non-empty text)"),
    ("a [[Big Drug: x]] b", "offset 2: mark '[[Big Drug: x]]' is not '[[<label>: <text>]]' "
                            "(one label, no nesting, non-empty text)"),
])
def test_parse_marks_rejects_broken_markup(encoded, message):
    with pytest.raises(MarkupError, match=f"^{re.escape(message)}$"):
        parse_marks(encoded)


def test_encoded_segment_dict_round_trip():
    segment = EncodedSegment("d", "d:0", 0, 4, "[[X: abcd]]", ("T1",))
    assert EncodedSegment.from_dict(segment.to_dict()) == segment


def test_segments_only_from_relations_with_entity_args():
    text = "aa. bb."
    doc = Document("d", text, entities=(entity("T1", "X", "aa", text), entity("T2", "X", "bb", text)),
                   relations=(Relation("R1", "Rel", "T1", "T2"),))
    assert find_segments(doc, [(0, 3), (4, 7)], labels=set()) == [(0, 1)]
    assert find_segments(doc, [(0, 3), (4, 7)], labels=set(), relation_labels={"Other"}) == []
