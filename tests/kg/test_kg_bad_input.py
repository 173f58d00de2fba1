"""Bad KG input (issue 17): remote JSON-LD contexts, literal subjects, missing kg.sources paths."""

import json
import urllib.request
from pathlib import Path

import pytest

from clinsynth.kg import KGFormatError, KGSource, Lit, load_graph, read_triples, to_networkx
from clinsynth.kg.parse import remote_contexts

FIXTURES = Path(__file__).parent.parent / "fixtures" / "kg"
LABEL = "http://www.w3.org/2004/02/skos/core#prefLabel"
BROADER = "http://www.w3.org/2004/02/skos/core#broader"
CONTEXT = {"skos": "http://www.w3.org/2004/02/skos/core#", "label": {"@id": "skos:prefLabel"}}


@pytest.fixture
def no_network(monkeypatch):
    def refuse(*args, **kwargs):
        raise AssertionError(f"tried to fetch {args[0]!r}")
    monkeypatch.setattr(urllib.request, "urlopen", refuse)


@pytest.mark.parametrize("context, url", [
    ("https://schema.org/", "https://schema.org/"),
    ([CONTEXT, "http://example.org/ctx.jsonld"], "http://example.org/ctx.jsonld"),
    ({"@import": "https://example.org/base.jsonld", **CONTEXT}, "https://example.org/base.jsonld"),
])
def test_remote_jsonld_context_is_refused_naming_file_and_url(tmp_path, no_network, context, url):
    path = tmp_path / "remote.jsonld"
    path.write_text(json.dumps({"@context": context, "@id": "http://example.org/A", "label": "A"}), encoding="utf-8")
    with pytest.raises(KGFormatError) as err:
        read_triples(path)
    assert str(err.value) == (
        f"{path}: JSON-LD @context {url!r} is a remote URL; clinsynth runs offline and does not fetch it. "
        "Inline the context in the file (or save it next to the file and name it by a relative path), "
        "or set kg.allow_remote_context: true in params.yaml"
    )


@pytest.mark.filterwarnings("ignore:ConjunctiveGraph is deprecated:DeprecationWarning")  # inside rdflib's JSON-LD parser
def test_inline_and_relative_local_contexts_still_load(tmp_path, no_network):
    (tmp_path / "ctx.jsonld").write_text(json.dumps({"@context": CONTEXT}), encoding="utf-8")
    inline, relative = tmp_path / "inline.jsonld", tmp_path / "relative.jsonld"
    inline.write_text(json.dumps({"@context": CONTEXT, "@id": "http://example.org/A", "label": "A"}), encoding="utf-8")
    relative.write_text(json.dumps({"@context": "ctx.jsonld", "@id": "http://example.org/A", "label": "A"}), encoding="utf-8")
    for path in (inline, relative):
        assert read_triples(path)[0] == [("http://example.org/A", LABEL, Lit("A"))]


def test_remote_context_search_is_not_recursive():
    deep = {"@context": "https://deep.example/ctx"}
    for _ in range(5000):
        deep = {"nested": [deep]}
    assert remote_contexts(deep) == ["https://deep.example/ctx"]


def test_literal_subject_and_predicate_are_skipped_and_counted():
    graph = to_networkx([
        (Lit("not a node"), LABEL, Lit("x")),
        ("http://example.org/A", Lit("not a predicate"), "http://example.org/B"),
        ("http://example.org/A", LABEL, Lit("A")),
    ])
    report = graph.graph["load_report"]
    assert report["skipped"] == {"literal_predicate": 1, "literal_subject": 1}
    assert list(graph.nodes) == ["http://example.org/A"]


@pytest.mark.filterwarnings("ignore::DeprecationWarning")
def test_literal_subject_from_an_n3_file_is_skipped_and_counted(tmp_path):
    path = tmp_path / "literal.n3"
    path.write_text('@prefix skos: <http://www.w3.org/2004/02/skos/core#> .\n'
                    '"a literal" skos:broader <http://example.org/B> .\n'
                    '<http://example.org/A> skos:prefLabel "A" .\n', encoding="utf-8")
    graph = load_graph([path]).graph
    assert graph.graph["load_report"]["skipped"] == {"literal_subject": 1}


def test_missing_kg_source_names_the_param(tmp_path):
    sources = [KGSource(str(FIXTURES / "tiny.ttl")), KGSource(str(tmp_path / "nope.ttl"))]
    with pytest.raises(KGFormatError) as err:
        load_graph(sources)
    assert str(err.value) == (
        f"kg.sources[1].path = {tmp_path}/nope.ttl: no such KG file; fix the path in params.yaml "
        "or build the default KG with `dvc repro kg_build` (docs/kg.md)"
    )
    with pytest.raises(KGFormatError, match=r"^kg\.sources\[0\]\.path = .*: is a directory, not a KG file;"):
        load_graph([KGSource(str(tmp_path))])
