"""Triples -> networkx, the KnowledgeGraph queries, node-link round trip, and bad input."""

import json
from pathlib import Path

import networkx as nx
import pytest

from clinsynth.kg import KGFormatError, KGSource, KnowledgeGraph, Lit, load_graph, to_networkx
from clinsynth.kg.graph import build_multidigraph
from clinsynth.kg.vocabulary import (HAS_SYMPTOM, RDF_TYPE, RELATED_TO, SKOS_ALT_LABEL, SKOS_BROADER, SKOS_PREF_LABEL,
                                     TREATED_BY, curie_iri)

FIXTURES = Path(__file__).parent.parent / "fixtures" / "kg"
TTL, OBO = FIXTURES / "tiny.ttl", FIXTURES / "tiny.obo"
DISEASE = "https://w3id.org/clinsynth/kg/vocab#Disease"


@pytest.fixture(scope="module")
def kg() -> KnowledgeGraph:
    return load_graph([KGSource(str(TTL)), KGSource(str(OBO), node_type="Symptom", provenance="hpo")])


def I(curie):  # noqa: E743 - short helper for IRIs in hand-written triples
    return curie_iri(curie)


# Plain tuples in, as STYLE asks: a disease with a drug, a related disease and a two-level hierarchy.
TUPLES = [
    (I("ICD10CM:I10"), RDF_TYPE, DISEASE),
    (I("ICD10CM:I10"), SKOS_PREF_LABEL, Lit("Essential (primary) hypertension")),
    (I("ICD10CM:I10"), SKOS_ALT_LABEL, Lit("High blood pressure")),
    (I("ICD10CM:I10"), SKOS_BROADER, I("ICD10CM:I10-I1A")),
    (I("ICD10CM:I10-I1A"), SKOS_PREF_LABEL, Lit("Hypertensive diseases (I10-I1A)")),
    (I("ICD10CM:I10"), TREATED_BY, I("DRUGBANK:DB00722")),
    (I("DRUGBANK:DB00722"), SKOS_PREF_LABEL, Lit("Lisinopril")),
    (I("ICD10CM:I10"), RELATED_TO, I("ICD10CM:I15")),
    (I("ICD10CM:I15"), SKOS_PREF_LABEL, Lit("Secondary hypertension")),
]


def test_nodes_and_edges_carry_the_contract_attributes(kg):
    assert kg.node("ICD10CM:E11.9") == {"id": "ICD10CM:E11.9", "label": "Type 2 diabetes mellitus without complications",
                                        "type": "Disease", "synonyms": ["Type 2  Diabetes"]}
    assert kg.node("HP:0001824") == {"id": "HP:0001824", "label": "Weight loss", "type": "Symptom",
                                     "synonyms": ["Weight reduction"]}
    assert dict(kg.graph["ICD10CM:E11.9"]["HP:0001824"]) == {
        "has_symptom": {"relation": "has_symptom", "provenance": "tiny"}}
    assert dict(kg.graph["HP:0001824"]["HP:0004323"]) == {"is_a": {"relation": "is_a", "provenance": "hpo"}}
    assert kg.graph.number_of_nodes() == 11 and kg.graph.number_of_edges() == 11


def test_node_link_round_trip_keeps_every_attribute(kg, tmp_path):
    path = tmp_path / "graph.json"
    kg.save(path)
    again = KnowledgeGraph.load(path)
    assert nx.utils.graphs_equal(kg.graph, again.graph)
    assert list(again.graph.edges(keys=True, data=True)) == list(kg.graph.edges(keys=True, data=True))
    assert again.stats() == kg.stats()
    data = json.loads(path.read_text())
    assert data["nodes"][0] == {"id": "ICD10CM:E11.9", "label": "Type 2 diabetes mellitus without complications",
                                "synonyms": ["Type 2  Diabetes"], "type": "Disease"}
    assert nx.utils.graphs_equal(nx.node_link_graph(data, edges="edges"), kg.graph)  # plain networkx reads it
    again.save(tmp_path / "again.json")
    assert (tmp_path / "again.json").read_bytes() == path.read_bytes()


def test_direct_construction_equals_networkx_api():
    nodes = [("a", {"label": "A"}), ("b", {"label": "B"}), ("c", {})]
    edges = [("a", "b", "is_a", {"relation": "is_a"}), ("a", "b", "same_as", {"relation": "same_as"}),
             ("c", "c", "related_to", {"relation": "related_to"})]
    reference = nx.MultiDiGraph()
    reference.add_nodes_from(nodes)
    reference.add_edges_from(edges)
    assert nx.utils.graphs_equal(build_multidigraph(nodes, edges), reference)


def test_symptoms_of_follows_same_as(kg):
    assert kg.symptoms_of("ICD10CM:E11.9") == ["HP:0001824"]
    assert kg.symptoms_of("HP:0005978") == ["HP:0001824"]  # the HPO term is linked to E11.9
    assert kg.symptoms_of("HP:0012378") == []


def test_synonyms_own_then_equivalents_without_duplicates(kg):
    assert kg.synonyms("ICD10CM:E11.9", include_equivalents=False) == ["Type 2  Diabetes"]
    # HPO's "Type 2 diabetes" repeats "Type 2  Diabetes" up to case and spaces: left out.
    assert kg.synonyms("ICD10CM:E11.9") == ["Type 2  Diabetes", "Type II diabetes mellitus", "NIDDM"]
    kg.synonyms("ICD10CM:E11.9").append("changed by a caller")  # cached per node, handed out as a copy
    assert kg.synonyms("ICD10CM:E11.9") == ["Type 2  Diabetes", "Type II diabetes mellitus", "NIDDM"]


@pytest.mark.parametrize("depth, expected", [
    (1, ["HP:0004323"]),
    (2, ["HP:0004323", "HP:0001507"]),
    (None, ["HP:0004323", "HP:0001507", "HP:0000118", "HP:0000001"]),
])
def test_hypernyms_by_depth(kg, depth, expected):
    assert kg.hypernyms("HP:0001824", depth=depth) == expected


def test_hypernyms_never_include_hyponyms(kg):
    assert "HP:0005978" not in kg.hypernyms("HP:0000819", depth=None)


@pytest.mark.parametrize("text, expected", [
    ("weight LOSS", ["HP:0001824"]),
    ("  Weight   reduction ", ["HP:0001824"]),
    ("type 2 diabetes", ["HP:0005978", "ICD10CM:E11.9"]),   # both by synonym, sorted by id
    ("Losing weight", []),                                    # RELATED synonyms are not synonyms
    ("unknown thing", []),
])
def test_find_is_exact_but_case_and_space_insensitive(kg, text, expected):
    assert kg.find(text) == expected


def test_find_lists_label_hits_before_synonym_hits():
    graph = KnowledgeGraph(to_networkx([
        (I("HP:0000002"), SKOS_ALT_LABEL, Lit("Fatigue")),
        (I("HP:0000009"), SKOS_PREF_LABEL, Lit("fatigue")),
    ]))
    assert graph.find("FATIGUE") == ["HP:0000009", "HP:0000002"]


def test_drugs_related_and_icd10_diseases_from_plain_tuples():
    graph = KnowledgeGraph(to_networkx(TUPLES, provenance="hand"))
    assert graph.drugs_for("ICD10CM:I10") == ["DRUGBANK:DB00722"]
    assert graph.related("ICD10CM:I10") == ["ICD10CM:I15"]
    assert graph.related("ICD10CM:I15") == ["ICD10CM:I10"]         # either direction
    assert graph.hypernyms("ICD10CM:I10") == ["ICD10CM:I10-I1A"]
    assert graph.diseases_with_icd10() == {"ICD10CM:I10": "I10"}  # untyped I15 and I10-I1A are not diseases
    assert graph.nodes_of_type("Disease") == ["ICD10CM:I10"]
    assert graph.nodes_of_type(None) == ["DRUGBANK:DB00722", "ICD10CM:I10-I1A", "ICD10CM:I15"]
    assert graph.find("high blood pressure") == ["ICD10CM:I10"]


def test_unknown_node_raises_key_error_naming_it(kg):
    with pytest.raises(KeyError, match=r"'ICD10CM:Z99\.99': not a node of the KG; look ids up with find\(text\)"):
        kg.symptoms_of("ICD10CM:Z99.99")


def test_stats_counts_by_type_and_relation(kg):
    stats = kg.stats()
    assert stats["nodes_by_type"] == {"Disease": 1, "Symptom": 10}
    assert stats["edges_by_relation"] == {"has_symptom": 1, "is_a": 9, "same_as": 1}
    assert stats["isolated_nodes"] == 0
    assert stats["dangling"] == {"nodes": 0, "edges_by_relation": {}, "examples": []}
    assert stats["load"]["used"] == {"has_symptom": 1, "is_a": 9, "label": 11, "same_as": 1, "synonym": 5, "type": 1}
    assert stats["load"]["metadata"] == 4       # def, xref, comment, RELATED synonym
    assert stats["edges_by_provenance"] == {"hpo": 9, "tiny": 2}


# ---- bad input ------------------------------------------------------------------------------------

def test_unknown_predicate_is_counted_not_kept():
    graph = KnowledgeGraph(to_networkx(TUPLES + [(I("ICD10CM:I10"), "http://example.org/onset", Lit("adult"))]))
    load = graph.stats()["load"]
    assert load["unknown_predicates"] == {"http://example.org/onset": 1}
    assert load["unknown_predicate_triples"] == 1
    assert load["triples"] == len(TUPLES) + 1


def test_has_symptom_to_undefined_node_is_reported_as_dangling():
    graph = KnowledgeGraph(to_networkx(TUPLES + [(I("ICD10CM:I10"), HAS_SYMPTOM, I("HP:9999999"))]))
    assert graph.symptoms_of("ICD10CM:I10") == ["HP:9999999"]
    assert graph.stats()["dangling"] == {"nodes": 1, "edges_by_relation": {"has_symptom": 1},
                                         "examples": ["HP:9999999"]}


def test_a_kg_with_none_of_our_predicates_says_so(tmp_path):
    path = tmp_path / "theirs.ttl"
    path.write_text("@prefix ex: <http://example.org/> .\n"
                    'ex:flu ex:name "Influenza" ; ex:symptom ex:fever .\nex:fever ex:name "Fever" .\n')
    with pytest.raises(KGFormatError) as err:
        load_graph([path])
    assert str(err.value) == (
        f"{path}: none of its 3 triples uses a predicate clinsynth reads (most used: http://example.org/name (2), "
        "http://example.org/symptom (1)); expected skos:prefLabel/rdfs:label, skos:altLabel, "
        "rdf:type clinsynth:Disease|Symptom|Drug|Procedure|Group, skos:broader/rdfs:subClassOf, "
        "clinsynth:hasSymptom|treatedBy|relatedTo, owl:sameAs/skos:exactMatch; "
        "map yours with kg.predicate_map in params.yaml (docs/kg.md)"
    )
    mapped = load_graph([path], predicate_map={"http://example.org/name": "label",
                                               "http://example.org/symptom": "has_symptom"},
                        prefixes={"EX": "http://example.org/"})
    assert mapped.symptoms_of("EX:flu") == ["EX:fever"] and mapped.find("influenza") == ["EX:flu"]


def test_empty_file_and_empty_source_list(tmp_path):
    path = tmp_path / "empty.ttl"
    path.write_text("@prefix ex: <http://example.org/> .\n")
    with pytest.raises(KGFormatError, match=r"empty\.ttl: holds no triples; expected a KG file"):
        load_graph([path])
    with pytest.raises(KGFormatError, match=r"kg\.sources is empty"):
        load_graph([])


def test_other_languages_and_literal_relations_are_skipped_and_counted():
    graph = KnowledgeGraph(to_networkx([
        (I("HP:0000001"), SKOS_PREF_LABEL, Lit("Fatigue", "en-GB")),
        (I("HP:0000001"), SKOS_ALT_LABEL, Lit("Müdigkeit", "de")),
        (I("HP:0000001"), HAS_SYMPTOM, Lit("tired")),
    ]))
    assert graph.node("HP:0000001")["synonyms"] == []
    assert graph.stats()["load"]["skipped"] == {"has_symptom_literal_object": 1, "other_language": 1}
