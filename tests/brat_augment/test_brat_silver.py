import dataclasses

import pytest

from clinsynth.brat import AnnLayout, read_corpus, validate_document
from clinsynth.brat.silver import (RecordItem, SilverConfig, SilverCorpusError, build_silver_corpus,
                                           ingredient, match_items, split_tag)


def entities(document):
    return [(e.label, e.text) for e in document.entities]


def test_note_entities_from_the_patient_record(silver):
    (doc,) = silver.documents["train"]
    assert doc.id == "note_a"
    assert entities(doc) == [
        ("Condition", "essential hypertension"), ("Condition", "essential hypertension"), ("Condition", "prediabetes"),
        ("Condition", "acute bronchitis"), ("Medication", "hydrochlorothiazide 25 mg oral tablet"),
        ("Medication", "amlodipine 2.5 mg oral tablet"), ("Condition", "essential hypertension"),
        ("Procedure", "medication reconciliation"), ("Medication", "hydrochlorothiazide 25 mg oral tablet")]
    # "stress (finding)" is a social finding without ICD-10 code; "lisinopril" in the allergy list is a drug
    # of an earlier encounter, matched by full display only: neither is annotated
    assert "stress" not in {e.text for e in doc.entities}
    assert all(doc.text[e.start:e.end] == e.text for e in doc.entities)
    assert validate_document(doc) == []


def test_treats_relations_come_from_reasons_and_link_the_nearest_mention(silver):
    (doc,) = silver.documents["train"]
    pairs = [(doc.entity(r.arg1).text, doc.entity(r.arg2).start, r.label) for r in doc.relations]
    plan_hypertension = doc.text.index("presenting with essential hypertension") + len("presenting with ")
    assert pairs == [("hydrochlorothiazide 25 mg oral tablet", plan_hypertension, "Treats"),
                     ("amlodipine 2.5 mg oral tablet", plan_hypertension, "Treats"),
                     ("hydrochlorothiazide 25 mg oral tablet", plan_hypertension, "Treats")]
    assert [(n.refdb, n.refid) for n in doc.normalizations][:2] == [("SNOMED", "59621000"), ("SNOMED", "59621000")]


def test_encounter_scope_annotates_only_the_encounter_record(notes, sentences):
    result = build_silver_corpus(notes, SilverConfig(scope="encounter"), 13, sentences)
    (doc,) = result.documents["train"]
    assert [e.text for e in doc.entities if e.label == "Medication"] == ["hydrochlorothiazide 25 mg oral tablet"] * 2
    assert len(doc.relations) == 2


def test_metrics_count_unmatched_record_items(silver):
    test = silver.metrics["splits"]["test"]
    # note_b's record: prediabetes, acute bronchitis, and essential hypertension (a reason of its drugs), two drugs,
    # one procedure; hypertension and the procedure are not in its text
    assert test["record_items"] == {"Condition": 3, "Medication": 2, "Procedure": 1}
    assert test["unmatched_record_items"] == {"Condition": 1, "Medication": 0, "Procedure": 1}
    assert test["unmatched_fraction"] == 0.3333
    assert test["relations_not_made"] == {"reason_not_mentioned": 2}
    assert silver.metrics["splits"]["train"]["excluded_conditions"] == 1


def test_written_corpus_reads_back_valid(corpus_dir, silver):
    for split in ("train", "test"):
        result = read_corpus(corpus_dir / split, on_invalid="fail")
        assert [dataclasses.replace(d, layout=AnnLayout()) for d in result.documents] == silver.documents[split]


@pytest.mark.parametrize("display, expected", [
    ("Gingivitis (disorder)", ("Gingivitis", "disorder")),
    ("Severe anxiety (panic) (finding)", ("Severe anxiety (panic)", "finding")),
    ("Bipolar I disorder, single manic episode", ("Bipolar I disorder, single manic episode", None)),
])
def test_split_tag(display, expected):
    assert split_tag(display) == expected


@pytest.mark.parametrize("display, expected", [
    ("lisinopril 10 MG Oral Tablet", "lisinopril"),
    ("0.4 ML adalimumab 100 MG/ML Prefilled Syringe", "adalimumab"),
    ("doxycycline hyclate 100 MG", "doxycycline hyclate"),
    ("Amoxicillin 250 MG / Clavulanate 125 MG Oral Tablet", "Amoxicillin"),
])
def test_ingredient(display, expected):
    assert ingredient(display) == expected


def test_short_name_only_when_the_display_is_absent_and_longest_match_wins():
    drug = RecordItem("Medication", "RxNorm", "1", "lisinopril 10 MG Oral Tablet", "lisinopril 10 MG Oral Tablet",
                      "lisinopril")
    screening = RecordItem("Procedure", "SNOMED", "2", "Depression screening (procedure)", "Depression screening",
                           "Depression screening")
    long = RecordItem("Procedure", "SNOMED", "3", "Depression screening using PHQ-9 (procedure)",
                      "Depression screening using PHQ-9", "Depression screening using PHQ-9")
    text = "Takes Lisinopril daily.\n- depression screening using phq-9 (procedure)\n- depression screening (procedure)"
    mentions, methods = match_items(text, [drug, screening, long])
    assert [(i.code, text[s:e]) for i, (s, e) in mentions] == [
        ("1", "Lisinopril"), ("3", "depression screening using phq-9"), ("2", "depression screening")]
    assert methods == {"display": 2, "short_name": 1}


def test_record_without_meta_fields_is_a_clear_error(sentences):
    from clinsynth.corpus import Note

    with pytest.raises(SilverCorpusError, match="note meta lacks 'conditions'"):
        build_silver_corpus([Note("x", "text", "train", {"patient_id": "p"})], SilverConfig(scope="encounter"), 1,
                            sentences)
