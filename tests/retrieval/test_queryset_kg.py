"""Held-out queries from KG mentions (queries.source kg / auto) on notes that carry no coded record.

Input: the 36 patient-written notes of tests/fixtures/own_notes (id, text, meta.patient_id only), split
by patient with ingest's own ``assign_splits`` and chunked with ``chunk_note`` (one chunk per note: every
note is under ``chunk_chars``), against the retrieval fixture KG (tests/fixtures/retrieval/graph.json).
"""

import dataclasses
from pathlib import Path

import pytest

from clinsynth.corpus import Note, assign_splits, chunk_note
from clinsynth.records import read_jsonl
from clinsynth.retrieval.matcher import BOUNDARY, contains_phrase, tokenize
from clinsynth.retrieval.queryset import QuerySetConfig, QuerySetError, build_queryset, choose_source

SEED = 13
OWN_NOTES = Path(__file__).resolve().parents[1] / "fixtures" / "own_notes" / "notes.jsonl"
FRACTIONS = {"train": 0.5, "dev": 0.1, "test": 0.4}  # more test patients than ingest's default: more KG mentions


@pytest.fixture(scope="module")
def own_corpus() -> tuple[list[dict], list[dict]]:
    raw = list(read_jsonl(OWN_NOTES))
    splits = assign_splits([r["meta"]["patient_id"] for r in raw], FRACTIONS, SEED)
    notes = [Note(r["id"], r["text"], splits[r["meta"]["patient_id"]], r["meta"]) for r in raw]
    chunks = [dataclasses.asdict(c) for n in notes for c in chunk_note(n, [(0, len(n.text))], 1000)]
    return [dataclasses.asdict(n) for n in notes], chunks


@pytest.fixture(scope="module")
def kg_queryset(own_corpus, kg, matcher):
    notes, chunks = own_corpus
    return build_queryset(notes, chunks, kg, matcher, QuerySetConfig(), SEED)


def words(text: str) -> tuple[str, ...]:
    return tuple(t for t in tokenize(text) if t != BOUNDARY)


def test_auto_picks_kg_on_notes_without_a_record_and_coded_on_coded_notes(own_corpus, notes):
    assert choose_source(own_corpus[0], QuerySetConfig()) == "kg"
    assert choose_source(notes, QuerySetConfig()) == "coded"
    assert choose_source(notes, QuerySetConfig(source="kg")) == "kg"


def test_kg_source_is_recorded_with_its_counts(kg_queryset):
    queries, report = kg_queryset
    assert report["source"] == "kg" and report["queries"] == len(queries) > 0
    assert report["kg_mentions"] >= report["entities_with_kg_nodes"] == sum(report["entities"].values())
    assert set(report["entities"]) == {"condition", "medication"}  # the fixture KG has no procedure


def test_kg_queries_come_from_test_chunks_and_their_relevant_chunks_name_the_entity(kg_queryset, own_corpus, kg):
    queries, _ = kg_queryset
    by_id = {c["id"]: c for c in own_corpus[1]}
    for q in queries:
        relevant = [by_id[c] for c in q.relevant]
        assert q.relevant and {(c["patient_id"], c["split"]) for c in relevant} == {(q.patient_id, "test")}
        names = {words(t) for node in q.concept for t in (kg.label(node), *kg.node(node)["synonyms"]) if t}
        for chunk in relevant:  # the entity's own wording or a KG name of its concept is in the chunk
            assert contains_phrase(words(chunk["text"]), words(q.entity)) or any(
                contains_phrase(words(chunk["text"]), n) for n in names), (q, chunk["text"])
        if q.match == "exact":
            assert q.source == "kg_mention" and q.text == q.entity
            assert all(contains_phrase(words(c["text"]), words(q.text)) for c in relevant)


def test_kg_queries_phrase_the_entity_by_each_match_type(kg_queryset):
    by = {(q.patient_id, q.match, q.entity): q for q in kg_queryset[0]}
    texts = {(match, entity): q.text for (_, match, entity), q in by.items()}
    assert texts["exact", "High blood pressure"] == "High blood pressure"  # the KG synonym as the note words it
    assert texts["abbreviation", "High blood pressure"] == "HTN"
    assert texts["synonym", "Lisinopril"] in {"zestril", "prinivil"}
    assert texts["synonym", "Metformin"] == "glucophage"
    assert {q.kind for q in kg_queryset[0] if q.entity in {"Lisinopril", "Metformin"}} == {"medication"}


def test_kg_source_on_coded_notes_ignores_the_record(notes, chunks, kg, matcher):
    queries, report = build_queryset(notes, chunks, kg, matcher, QuerySetConfig(source="kg"), SEED)
    assert report["source"] == "kg" and {q.source for q in queries if q.match == "exact"} == {"kg_mention"}
    assert {q.patient_id for q in queries} == {"T1", "T2"}


def test_auto_on_coded_notes_is_the_coded_query_set(notes, chunks, kg, matcher):
    auto = build_queryset(notes, chunks, kg, matcher, QuerySetConfig(), SEED)
    coded = build_queryset(notes, chunks, kg, matcher, QuerySetConfig(source="coded"), SEED)
    assert auto == coded and auto[1]["source"] == "coded" and "kg_mentions" not in auto[1]


def test_kg_types_are_configurable(own_corpus, kg, matcher):
    queries, report = build_queryset(*own_corpus, kg, matcher, QuerySetConfig(kg_types=("Drug",)), SEED)
    assert {q.kind for q in queries} == {"medication"}
    assert any(k.startswith("dropped_kg_type_") for k in report["dropped"])


def test_no_kg_mention_in_any_test_chunk_says_which_input_and_what_to_do(own_corpus, kg, matcher):
    notes, chunks = own_corpus
    blank = [{**c, "text": "I feel much the same as last week."} if c["split"] == "test" else c for c in chunks]
    with pytest.raises(QuerySetError, match=r"no test note carries a coded record .* none of the \d+ 'test' chunks "
                                            r"\(\d+ patients; base\.paths\.chunks\) names a KG entity .*kg\.sources"):
        build_queryset(notes, blank, kg, matcher, QuerySetConfig(), SEED)
    with pytest.raises(QuerySetError, match=r"there is no 'test' chunk in the chunks file"):
        build_queryset(notes, [c for c in chunks if c["split"] != "test"], kg, matcher, QuerySetConfig(), SEED)


def test_coded_source_on_notes_without_a_record_points_at_source_kg(own_corpus, kg, matcher):
    with pytest.raises(QuerySetError, match=r"no test note carries a coded record .*queries\.source: kg"):
        build_queryset(*own_corpus, kg, matcher, QuerySetConfig(source="coded"), SEED)


def test_retrieval_pairs_run_on_notes_without_a_record(own_corpus, kg, matcher):
    from clinsynth.retrieval.pairs import PairsConfig, knowledge_pairs

    notes, chunks = own_corpus
    pairs, train_chunks, report = knowledge_pairs(chunks, kg, matcher, PairsConfig(), SEED)
    train = {n["meta"]["patient_id"] for n in notes if n["split"] == "train"}
    assert report["pairs"] == len(pairs) > 0 and {p.patient_id for p in pairs} <= train
    assert {c.patient_id for c in train_chunks} <= train
