import dataclasses

import pytest

from clinsynth.records import read_jsonl
from clinsynth.retrieval.pairs import PairsConfig, knowledge_pairs, llm_pairs
from clinsynth.retrieval.queryset import QuerySetConfig, build_queryset, split_tag

SEED = 13


@pytest.fixture(scope="module")
def queryset(notes, chunks, kg, matcher):
    return build_queryset(notes, chunks, kg, matcher, QuerySetConfig(), SEED)


def test_every_query_has_a_relevant_chunk_of_its_own_patient(queryset, chunks):
    queries, _ = queryset
    owner = {c["id"]: (c["patient_id"], c["split"]) for c in chunks}
    assert queries
    for q in queries:
        assert q.relevant, q
        assert {owner[c] for c in q.relevant} == {(q.patient_id, "test")}


def test_queries_come_from_test_patients_only(queryset, notes):
    test_patients = {n["meta"]["patient_id"] for n in notes if n["split"] == "test"}
    assert {q.patient_id for q in queryset[0]} == test_patients == {"T1", "T2"}


def test_match_types_and_sources(queryset):
    by = {(q.patient_id, q.match, q.entity): q for q in queryset[0]}
    assert by["T1", "abbreviation", "Essential hypertension"].text == "HTN"  # curated table
    assert by["T1", "synonym", "lisinopril 10 MG Oral Tablet"].text in {"zestril", "prinivil"}  # brand names
    assert by["T2", "synonym", "Diabetes mellitus type 2"].text == "Adult-onset diabetes"
    assert by["T2", "hypernym", "Diabetes mellitus type 2"].text == "Diabetes Mellitus"  # is_a
    assert by["T2", "hypernym", "Viral sinusitis"].source == "head_noun"  # not in the KG: head noun "sinusitis"
    assert ("T2", "synonym", "Viral sinusitis") not in by  # no KG node, no synonym


def test_hypernym_query_counts_hyponym_mentions_not_the_reverse(queryset):
    by = {(q.patient_id, q.match, q.entity): q for q in queryset[0]}
    # "hypertension follow-up" (t1-b:0) is about the hypernym, not about essential hypertension
    assert by["T1", "hypernym", "Essential hypertension"].relevant == ["t1-a:0", "t1-b:0"]
    assert by["T1", "exact", "Essential hypertension"].relevant == ["t1-a:0"]


def test_tags_and_social_findings_dropped(queryset):
    queries, report = queryset
    entities = {q.entity for q in queries}
    assert "Medication review due" not in entities and "Full-time employment" not in entities
    assert report["dropped"] == {"dropped_finding_not_in_kg": 1, "dropped_tag_situation": 1}


def test_queryset_is_deterministic(notes, chunks, kg, matcher, queryset):
    again, _ = build_queryset(notes, chunks, kg, matcher, QuerySetConfig(), SEED)
    assert again == queryset[0]


def test_match_types_are_configurable(notes, chunks, kg, matcher):
    cfg = dataclasses.replace(QuerySetConfig(), match_types=("exact",))
    queries, _ = build_queryset(notes, chunks, kg, matcher, cfg, SEED)
    assert {q.match for q in queries} == {"exact"}


@pytest.mark.parametrize("display, expected", [
    ("Viral sinusitis (disorder)", ("Viral sinusitis", "disorder")),
    ("Severe anxiety (panic) (finding)", ("Severe anxiety (panic)", "finding")),
    ("Bipolar I disorder, single manic episode", ("Bipolar I disorder, single manic episode", None))])
def test_split_tag(display, expected):
    assert split_tag(display) == expected


def test_no_test_or_dev_patient_in_training(chunks, kg, matcher, gated_queries):
    pairs, train_chunks, report = knowledge_pairs(chunks, kg, matcher, PairsConfig(), SEED)
    llm, llm_chunks, rejections, _ = llm_pairs(*gated_queries, chunks, kg, matcher, PairsConfig())
    assert {p.patient_id for p in [*pairs, *llm]} == {"P1", "P2"}
    assert {c.patient_id for c in [*train_chunks, *llm_chunks]} == {"P1", "P2"}
    assert report["pairs"] == len(pairs) > 0


def test_llm_pairs_refuse_held_out_chunks(chunks, kg, matcher, gated_queries):
    moved = [{**c, "split": "test"} if c["id"] == "p1-a:0" else c for c in chunks]
    with pytest.raises(ValueError, match=r"chunk 'p1-a:0' is in split 'test'; expected a 'train' chunk"):
        llm_pairs(*gated_queries, moved, kg, matcher, PairsConfig())


def test_llm_pairs_read_the_parsed_terms_and_count_rejections(chunks, kg, matcher, gated_queries):
    pairs, _, rejections, report = llm_pairs(*gated_queries, chunks, kg, matcher, PairsConfig())
    assert report["rejected"] == {"refusal": 1} and rejections[0].stage == "generate"
    assert report["generations"] == 5 and report["pairs"] == len(pairs) == 16
    assert {p.relation for p in pairs} == {"llm"}
    records, dropped = gated_queries
    assert [p.query for p in pairs if p.id.endswith(records[0].prompt_id)] == records[0].parsed["entities"]
    no_terms = [dataclasses.replace(records[0], parsed={"text": "x"})]
    with pytest.raises(ValueError, match=r"parsed has \['text'\], no 'entities' list"):
        llm_pairs(no_terms, [], chunks, kg, matcher, PairsConfig())


def test_knowledge_pairs_expand_without_hyponyms(chunks, kg, matcher):
    pairs, _, _ = knowledge_pairs(chunks, kg, matcher, dataclasses.replace(PairsConfig(), max_pairs_per_chunk=20), SEED)
    p2 = {p.query: p.relation for p in pairs if p.chunk_id == "p2-a:0"}
    assert p2["Sinus infection"] == "synonym" and p2["Diabetes Mellitus"] == "hypernym"
    p1 = {p.query for p in pairs if p.chunk_id == "p1-a:0"}
    assert "Cardiovascular Diseases" in p1  # hypernym at depth 2
    assert "Unspecified chronic bronchitis" not in p1  # ICD-10-CM Excludes (related_to, provenance icd10cm)
    # a chunk naming "hypertension" only would never get "Essential Hypertension" (a hyponym)
    assert all(not (p.query == "Essential Hypertension" and p.chunk_id == "p2-a:0") for p in pairs)
