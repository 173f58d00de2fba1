"""KG file readers: OBO, every rdflib syntax, line Turtle, and their error messages."""

from pathlib import Path

import pytest
import rdflib

from clinsynth.kg import KGFormatError, Lit, parse_graph, read_obo, read_triples
from clinsynth.kg.lineturtle import HEADER, read_line_turtle, write_line_turtle
from clinsynth.kg.vocabulary import OBO_IN_OWL, PREFIXES, RDFS_LABEL, RDFS_SUBCLASS_OF, SKOS_ALT_LABEL

FIXTURES = Path(__file__).parent.parent / "fixtures" / "kg"
TTL, OBO = FIXTURES / "tiny.ttl", FIXTURES / "tiny.obo"
HP = "http://purl.obolibrary.org/obo/HP_"


def test_tiny_ttl_has_five_triples():
    assert len(parse_graph(TTL)) == 5


def test_read_obo_maps_tags_to_owl_export_predicates():
    triples = list(read_obo(OBO))
    subjects = {s for s, _, _ in triples}
    assert len(subjects) == 10                                  # the obsolete term and the typedef are skipped
    assert (HP + "0001824", RDFS_LABEL, Lit("Weight loss")) in triples
    assert (HP + "0001824", OBO_IN_OWL + "hasExactSynonym", Lit("Weight reduction")) in triples
    assert (HP + "0001824", OBO_IN_OWL + "hasRelatedSynonym", Lit("Losing weight")) in triples
    assert (HP + "0001824", RDFS_SUBCLASS_OF, HP + "0004323") in triples
    assert (HP + "0012378", OBO_IN_OWL + "hasExactSynonym", Lit("Tiredness")) in triples


@pytest.mark.parametrize("body, message", [
    ("[Term]\nid: HP:1\nname Weight loss\n", "bad.obo:3: expected 'tag: value', got 'name Weight loss'"),
    ("[Term]\nid: HP:1\nsynonym: Weight EXACT []\n",
     "bad.obo:3: synonym 'Weight EXACT []'; expected '\"text\" EXACT|RELATED|BROAD|NARROW [xrefs]'"),
    ("format-version: 1.2\n\n[Term]\nname: Weight loss\n", "bad.obo:3: [Term] without an 'id:' tag; every term needs one"),
    ("[Term]\nid: HP:1\nis_a:\n", "bad.obo:3: empty 'is_a:' in the [Term] of 'HP:1'; expected 'is_a: PARENT:ID', or delete the line"),
    ("[Term]\nid: HP:1\nis_a: ! no parent\n",
     "bad.obo:3: empty 'is_a:' in the [Term] of 'HP:1'; expected 'is_a: PARENT:ID', or delete the line"),
    ("[Term]\nid: HP:1\nrelationship: part_of\n",
     "bad.obo:3: relationship 'part_of' in the [Term] of 'HP:1'; expected 'relationship: RELATION TARGET:ID'"),
    ("[Term]\nid: HP:1\nname: A\n\n[Term]\nid: HP:1 ! again\nname: B\n",
     "bad.obo:6: [Term] 'HP:1' again; its first stanza is at line 2; merge the two stanzas or fix the id"),
    ("[Term]\nid: HP:1\nname: A\nid: HP:2\n",
     "bad.obo:4: second 'id:' tag 'HP:2' in the [Term] of 'HP:1' (line 2); a term has exactly one id (alt_id: for the others)"),
    ("[Term]\nid:\nname: A\n", "bad.obo:2: empty 'id:' tag; expected 'id: PREFIX:LOCAL'"),
])
def test_read_obo_errors_name_file_and_line(tmp_path, body, message):
    path = tmp_path / "bad.obo"
    path.write_text(body, encoding="utf-8")
    with pytest.raises(KGFormatError) as err:
        list(read_obo(path))
    assert str(err.value) == f"{tmp_path}/{message}"


def test_turtle_syntax_error_names_file_line_and_rdflib_reason(tmp_path):
    path = tmp_path / "broken.ttl"
    path.write_text(TTL.read_text().replace('"Type 2  Diabetes" ;', '"Type 2  Diabetes"'), encoding="utf-8")
    with pytest.raises(KGFormatError) as err:
        read_triples(path)
    assert str(err.value) == (
        f"{path}:10: turtle syntax error: expected '.' or '}}' or ']' at end of statement (rdflib BadSyntax); "
        "fix the file, or set format: if '.ttl' is not turtle"
    )


@pytest.mark.filterwarnings("ignore:ConjunctiveGraph is deprecated:DeprecationWarning")  # inside rdflib's JSON-LD parser
@pytest.mark.parametrize("suffix, fmt", [(".nt", "nt"), (".rdf", "xml"), (".jsonld", "json-ld"), (".ttl", "turtle")])
def test_every_rdflib_syntax_reads_the_same_triples(tmp_path, suffix, fmt):
    path = tmp_path / f"tiny{suffix}"
    parse_graph(TTL).serialize(path, format=fmt, encoding="utf-8")
    triples, _ = read_triples(path)
    assert sorted(map(str, triples)) == sorted(map(str, read_triples(TTL)[0]))


def test_ntriples_error_finds_the_line(tmp_path):
    path = tmp_path / "bad.nt"
    path.write_text('<http://a/x> <http://a/p> "ok" .\n<http://a/y> <http://a/p> "broken .\n', encoding="utf-8")
    with pytest.raises(KGFormatError, match=r"bad\.nt:2: nt syntax error: Invalid line"):
        read_triples(path)


def test_unknown_suffix_and_missing_file(tmp_path):
    with pytest.raises(KGFormatError, match=r"x\.csv: no such KG file; check kg.sources in params.yaml"):
        read_triples(tmp_path / "x.csv")
    (tmp_path / "x.csv").write_text("a,b\n")
    with pytest.raises(KGFormatError, match=r"cannot tell the format from suffix '\.csv'"):
        read_triples(tmp_path / "x.csv")


TRICKY = [
    (HP + "0000001", "http://www.w3.org/2004/02/skos/core#prefLabel", Lit('quote " back\\slash\nnew line\ttab é')),
    (HP + "0000001", SKOS_ALT_LABEL, Lit("Fatigue", "en")),
    ("http://example.org/odd/path(1)", SKOS_ALT_LABEL, Lit("")),
    ("http://example.org/a", "http://www.w3.org/1999/02/22-rdf-syntax-ns#type", "http://example.org/B"),
]


def test_line_turtle_round_trip_and_is_real_turtle(tmp_path):
    path = tmp_path / "out.ttl"
    with path.open("w", encoding="utf-8") as fh:
        assert write_line_turtle(fh, TRICKY, PREFIXES, comment="test") == 4
    assert path.read_text().startswith(HEADER + "\n# test\n@prefix ")
    assert read_line_turtle(path) == TRICKY
    rdflib_triples = {(str(s), str(p), Lit(str(o), o.language) if isinstance(o, rdflib.Literal) else str(o))
                      for s, p, o in parse_graph(path)}
    assert rdflib_triples == set(TRICKY)


def test_hand_edited_line_turtle_falls_back_to_rdflib(tmp_path):
    path = tmp_path / "edited.ttl"
    with path.open("w", encoding="utf-8") as fh:
        write_line_turtle(fh, TRICKY[3:], PREFIXES)
        fh.write('<http://example.org/a> skos:prefLabel "A" ; skos:altLabel "Alpha" .\n')
    assert read_line_turtle(path) is None
    triples, _ = read_triples(path)
    assert ("http://example.org/a", SKOS_ALT_LABEL, Lit("Alpha")) in triples and len(triples) == 3
