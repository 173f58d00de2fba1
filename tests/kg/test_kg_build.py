"""kg_build: selection, joins and links on hand-made concepts; the real packaged build in the slow suite."""

import pytest

from clinsynth.kg import KnowledgeGraph, Lit, to_networkx
from clinsynth.kg.build import (KGSelection, _links, _match_faker, build_default_kg, concept_triples,
                                select_icd10cm)
from clinsynth.kg.sources import Concept, _excluded_refs
from clinsynth.kg.vocabulary import RELATED_TO, SKOS_ALT_LABEL, SKOS_BROADER, curie_iri

ICD = [
    Concept("ICD10CM:chapter-4", "Group", "Endocrine (E00-E89)"),
    Concept("ICD10CM:E08-E13", "Group", "Diabetes mellitus (E08-E13)", parents=["ICD10CM:chapter-4"]),
    Concept("ICD10CM:E11", "Disease", "Type 2 diabetes mellitus", parents=["ICD10CM:E08-E13"],
            related=["ICD10CM:E10", "ICD10CM:O24.4"]),
    Concept("ICD10CM:E11.9", "Disease", "Type 2 diabetes mellitus without complications", parents=["ICD10CM:E11"]),
    Concept("ICD10CM:chapter-9", "Group", "Circulatory (I00-I99)"),
    Concept("ICD10CM:I10", "Disease", "Essential (primary) hypertension", ["High blood pressure"],
            parents=["ICD10CM:chapter-9"]),
]


def test_excludes_notes_cite_codes_and_blocks():
    note = "hypertensive disease complicating pregnancy (O10-O11, O13-O16); diabetes (E08.-) and (P70.2)"
    assert list(_excluded_refs(note)) == ["ICD10CM:O10-O11", "ICD10CM:O13-O16", "ICD10CM:E08", "ICD10CM:P70.2"]


def test_chapter_selection_keeps_required_codes_with_ancestors():
    kept = select_icd10cm(ICD, ["9"], required={"ICD10CM:E11.9"})
    assert [c.id for c in kept] == ["ICD10CM:chapter-4", "ICD10CM:E08-E13", "ICD10CM:E11", "ICD10CM:E11.9",
                                    "ICD10CM:chapter-9", "ICD10CM:I10"]
    assert select_icd10cm(ICD, "all", set()) == ICD


def test_concept_triples_drop_links_outside_the_selection():
    triples = list(concept_triples(ICD[2], keep={"ICD10CM:E08-E13", "ICD10CM:E10"}))
    assert (curie_iri("ICD10CM:E11"), SKOS_BROADER, curie_iri("ICD10CM:E08-E13")) in triples
    assert (curie_iri("ICD10CM:E11"), RELATED_TO, curie_iri("ICD10CM:E10")) in triples
    assert not any(o == curie_iri("ICD10CM:O24.4") for _, _, o in triples)


def test_faker_join_matches_hpo_names_then_exact_synonyms_and_drug_variants():
    hpo = [Concept("HP:0012378", "Symptom", "Fatigue"),
           Concept("HP:0002094", "Symptom", "Dyspnea", ["Shortness of breath"]),
           Concept("HP:0002321", "Symptom", "Vertigo", notations=["Dizziness"])]
    faker = {"Essential Hypertension": {"icd10": "I10", "symptoms": ["Fatigue", "Shortness of Breath", "Dizziness", "Nosebleed"],
                                        "medications": ["Lisinopril", "Dialysis", "Herbal Tea", "No Medications"]}}
    minted, edges, metrics = _match_faker(faker, hpo, {"lisinopril": "DRUGBANK:DB00722"})
    assert metrics["symptom_hpo_match"] == {"by_exact_synonym": 1, "by_name": 1, "related_synonym_only": 1, "unmatched": 1}
    assert metrics["symptom_hpo_match_rate"] == 0.5
    assert metrics["treatment_match"] == {"matched_drug": 1, "not_a_treatment": 1, "unmatched_drug": 1,
                                          "unmatched_procedure": 1}
    assert [(c.id, c.type, c.related) for c in minted] == [
        ("CLINSYNTH:drug-herbal-tea", "Drug", []), ("CLINSYNTH:procedure-dialysis", "Procedure", []),
        ("CLINSYNTH:symptom-dizziness", "Symptom", ["HP:0002321"]), ("CLINSYNTH:symptom-nosebleed", "Symptom", [])]
    graph = KnowledgeGraph(to_networkx(edges + [t for c in minted for t in concept_triples(c)]))
    assert graph.symptoms_of("ICD10CM:I10") == ["CLINSYNTH:symptom-dizziness", "CLINSYNTH:symptom-nosebleed",
                                                "HP:0002094", "HP:0012378"]
    assert graph.drugs_for("ICD10CM:I10") == ["CLINSYNTH:drug-herbal-tea", "CLINSYNTH:procedure-dialysis",
                                              "DRUGBANK:DB00722"]
    assert (curie_iri("ICD10CM:I10"), SKOS_ALT_LABEL, Lit("Essential Hypertension")) in edges


def test_links_use_only_names_unique_within_each_source():
    mesh = [Concept("MESH:D006973", "Disease", "Hypertension", ["high blood pressure"]),
            Concept("MESH:D000001", "Disease", "Fatigue"), Concept("MESH:D000002", "Disease", "Tiredness", ["fatigue"])]
    triples, counts = _links({"icd10cm": ICD, "mesh": mesh})
    assert [(s.rsplit("/", 1)[1], o.rsplit("/", 1)[1]) for s, _, o in triples] == [("I10", "D006973")]
    assert counts == {"icd10cm-mesh": 1, "ambiguous_names": {"icd10cm": 0, "mesh": 1}}


@pytest.mark.slow
def test_demo_build_from_the_packages_is_linked_and_finds_demo_conditions(tmp_path):
    built = build_default_kg(KGSelection(icd10cm_chapters=["4", "9", "10", "11", "18"], drugs="medlineplus"))
    m = built.metrics
    assert m["faker"]["symptoms"] == 290 and 0.4 < m["faker"]["symptom_hpo_match_rate"] < 0.6
    assert m["faker"]["drug_match_rate"] > 0.75
    graph = KnowledgeGraph(to_networkx([t for ts in built.triples.values() for t in ts]))
    stats = graph.stats()
    assert stats["dangling"]["nodes"] == 0 and stats["load"]["unknown_predicate_triples"] == 0
    for text in ("Prediabetes", "Essential hypertension", "Acute bronchitis", "Gingivitis", "Obesity",
                 "Hypertriglyceridemia", "lisinopril", "metformin", "amoxicillin"):
        assert graph.find(text), text
    assert graph.symptoms_of("ICD10CM:E11.9") and graph.drugs_for("ICD10CM:I10")
    assert "ICD10CM:E08-E13" in graph.hypernyms("ICD10CM:E11.9", depth=2)
