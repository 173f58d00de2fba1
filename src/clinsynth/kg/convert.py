"""Triples -> ``networkx.MultiDiGraph`` (the in-memory KG), and :func:`load_graph` over many files.

Graph contract (also what graph.json holds, as node-link JSON):

- node key = CURIE id (``ICD10CM:E11.9``, ``HP:0100515``, ``MESH:D003924``; an IRI outside every
  known namespace stays a full IRI); attributes ``label`` (str | None), ``type`` (one of
  vocabulary.NODE_TYPES | None), ``synonyms`` (list[str], first-seen order, no case/space duplicates,
  never the label itself).
- edge ``(source, target, key=relation)`` with attributes ``relation`` (vocabulary.RELATIONS) and
  ``provenance`` (the name of the KG file's source). The same (source, target, relation) from two
  files is kept once (the first file's provenance) and counted as a duplicate.
- a node that only appears as an edge end (no label, no type: a *dangling reference*) is kept with
  ``label=None, type=None`` and reported; see KnowledgeGraph.stats().
"""

from __future__ import annotations

import dataclasses
from collections import Counter
from collections.abc import Iterable, Sequence
from pathlib import Path
from typing import Literal

import networkx as nx

from clinsynth.kg.graph import KnowledgeGraph, build_multidigraph, paused_gc
from clinsynth.kg.lineturtle import Lit, Triple
from clinsynth.kg.parse import OBO_METADATA_PREDICATES, KGFormatError, detect_format, read_triples
from clinsynth.kg.vocabulary import (DEFAULT_PREDICATE_ROLES, NODE_TYPES, PREFIXES, ROLES, TYPE_CLASSES, Compactor,
                                     expand, normalize_text)

GRAPH_ROLES = frozenset(ROLES) - {"metadata"}


@dataclasses.dataclass(frozen=True)
class KGSource:
    """One KG file to load (an entry of ``kg.sources`` in params.yaml).

    ``format``: auto (from the suffix) or an rdflib format name or ``obo``. ``provenance``: the
    name put on every edge from this file (default: the file stem). ``node_type``: the type given
    to nodes this file labels but does not type (e.g. ``Symptom`` for an HPO .obo).
    """

    path: str
    format: str = "auto"
    provenance: str | None = None
    node_type: Literal["Disease", "Symptom", "Drug", "Procedure", "Group"] | None = None


@dataclasses.dataclass
class LoadReport:
    """What loading saw, for metrics: every triple is either used or counted under a reason."""

    files: list[dict] = dataclasses.field(default_factory=list)
    triples: int = 0
    used: Counter = dataclasses.field(default_factory=Counter)          # role -> triples
    metadata: int = 0                                                   # known, not kept
    unknown_predicates: Counter = dataclasses.field(default_factory=Counter)  # predicate CURIE -> triples
    skipped: Counter = dataclasses.field(default_factory=Counter)       # reason -> triples
    duplicate_edges: int = 0

    def as_dict(self) -> dict:
        return {
            "files": self.files, "triples": self.triples, "used": dict(sorted(self.used.items())),
            "metadata": self.metadata, "unknown_predicates": dict(sorted(self.unknown_predicates.items())),
            "unknown_predicate_triples": sum(self.unknown_predicates.values()),
            "skipped": dict(sorted(self.skipped.items())), "duplicate_edges": self.duplicate_edges,
        }


class GraphBuilder:
    """Accumulates triples from any number of sources into one MultiDiGraph (see module doc)."""

    def __init__(self, predicate_map: dict[str, str] | None = None, type_map: dict[str, str] | None = None,
                 prefixes: dict[str, str] | None = None, languages: Sequence[str] = ("en",)) -> None:
        self.compact = Compactor(prefixes)
        known = {**PREFIXES, **(prefixes or {})}
        self.roles = {**DEFAULT_PREDICATE_ROLES, **{p: "metadata" for p in OBO_METADATA_PREDICATES}}
        for predicate, role in (predicate_map or {}).items():
            if role not in ROLES:
                raise ValueError(f"predicate_map: role {role!r} for {predicate!r}; expected one of {', '.join(ROLES)}")
            self.roles[expand(predicate, known)] = role
        self.types = dict(TYPE_CLASSES)
        for cls, name in (type_map or {}).items():
            if name not in NODE_TYPES:
                raise ValueError(f"type_map: type {name!r} for {cls!r}; expected one of {', '.join(NODE_TYPES)}")
            self.types[expand(cls, known)] = name
        self.languages = {lang.lower() for lang in languages}
        self.nodes: dict[str, dict] = {}
        self._synonym_keys: dict[str, set[str]] = {}
        self.edges: dict[tuple[str, str, str], str] = {}
        self.report = LoadReport()

    def _node(self, curie: str) -> dict:
        attrs = self.nodes.get(curie)
        if attrs is None:
            attrs = self.nodes[curie] = {"label": None, "type": None, "synonyms": []}
        return attrs

    def _add_synonym(self, curie: str, attrs: dict, text: str) -> None:
        keys = self._synonym_keys.setdefault(curie, set())
        key = normalize_text(text)
        if key and key not in keys and (attrs["label"] is None or key != normalize_text(attrs["label"])):
            keys.add(key)
            attrs["synonyms"].append(text)

    def add(self, triples: Iterable[Triple], provenance: str, node_type: str | None = None) -> Counter:
        """Add one source's triples; returns this source's role counts (``unknown``/``skipped`` included)."""
        roles, compact, report, counts = self.roles, self.compact, self.report, Counter()
        labelled: list[str] = []
        for s, p, o in triples:
            role = roles.get(p)
            if role is None:
                if not isinstance(p, str):  # a literal predicate (N3 allows it): nothing to name
                    report.skipped["literal_predicate"] += 1
                    counts["skipped"] += 1
                    continue
                report.unknown_predicates[compact(p)] += 1
                counts["unknown"] += 1
                continue
            if role == "metadata":
                report.metadata += 1
                counts["metadata"] += 1
                continue
            reason = self._add_one(s, role, o, provenance, labelled)
            if reason is None:
                report.used[role] += 1
                counts[role] += 1
            else:
                report.skipped[reason] += 1
                counts["skipped"] += 1
        if node_type is not None:
            for curie in labelled:
                if self.nodes[curie]["type"] is None:
                    self.nodes[curie]["type"] = node_type
        report.triples += sum(counts.values())
        return counts

    def _add_one(self, s: str, role: str, o: str | Lit, provenance: str, labelled: list[str]) -> str | None:
        """Apply one triple; returns None when used, else the reason it was skipped."""
        if not isinstance(s, str):  # a literal subject (N3, or tuples handed in): no node to attach it to
            return "literal_subject"
        if s.startswith("_:"):
            return "blank_node_subject"
        subject = self.compact(s)
        if role in ("label", "synonym"):
            if not isinstance(o, Lit):
                return f"{role}_not_a_literal"
            if o.lang and o.lang.split("-")[0].lower() not in self.languages:
                return "other_language"
            attrs = self._node(subject)
            if role == "label" and attrs["label"] is None:
                attrs["label"] = o.value
                labelled.append(subject)
                keys = self._synonym_keys.get(subject)
                if keys and normalize_text(o.value) in keys:  # a synonym seen earlier is now the label
                    keys.discard(normalize_text(o.value))
                    attrs["synonyms"] = [x for x in attrs["synonyms"] if normalize_text(x) != normalize_text(o.value)]
            else:
                self._add_synonym(subject, attrs, o.value)
            return None
        if isinstance(o, Lit):
            return f"{role}_literal_object"
        if role == "type":
            name = self.types.get(o)
            if name is None:
                return "type_not_a_kg_class"
            attrs = self._node(subject)
            if attrs["type"] is None:
                attrs["type"] = name
                return None
            return None if attrs["type"] == name else "type_conflict"
        if o.startswith("_:"):
            return "blank_node_object"
        target = self.compact(o)
        key = (subject, target, role)
        if key in self.edges:
            self.report.duplicate_edges += 1
            return None
        self._node(subject)
        self._node(target)
        self.edges[key] = provenance
        return None

    def to_networkx(self) -> nx.MultiDiGraph:
        return build_multidigraph(self.nodes.items(),
                                  ((s, t, r, {"provenance": prov, "relation": r}) for (s, t, r), prov in self.edges.items()),
                                  {"load_report": self.report.as_dict()})


def to_networkx(triples: Iterable[Triple], provenance: str = "", **builder_options) -> nx.MultiDiGraph:
    """One source of plain triples -> MultiDiGraph (the pure core of load_graph; tests hand in tuples)."""
    builder = GraphBuilder(**builder_options)
    builder.add(triples, provenance)
    return builder.to_networkx()


def _none_understood(path: Path, triples: list[Triple], compact: Compactor) -> KGFormatError:
    found = Counter(compact(p) for _, p, _ in triples).most_common(3)
    listed = ", ".join(f"{p} ({n})" for p, n in found)
    return KGFormatError(
        f"{path}: none of its {len(triples)} triples uses a predicate clinsynth reads (most used: {listed}); "
        "expected skos:prefLabel/rdfs:label, skos:altLabel, rdf:type clinsynth:Disease|Symptom|Drug|Procedure|Group, "
        "skos:broader/rdfs:subClassOf, clinsynth:hasSymptom|treatedBy|relatedTo, owl:sameAs/skos:exactMatch; "
        "map yours with kg.predicate_map in params.yaml (docs/kg.md)"
    )


@dataclasses.dataclass(frozen=True)
class KGConfig:
    sources: list[KGSource]
    predicate_map: dict[str, str] = dataclasses.field(default_factory=dict)
    type_map: dict[str, str] = dataclasses.field(default_factory=dict)
    prefixes: dict[str, str] = dataclasses.field(default_factory=dict)
    languages: list[str] = dataclasses.field(default_factory=lambda: ["en"])
    fast_path: bool = True
    allow_remote_context: bool = False  # let rdflib fetch a JSON-LD file's remote @context (offline by default)


def load_graph(sources: Sequence[KGSource | str | Path], predicate_map: dict[str, str] | None = None,
               type_map: dict[str, str] | None = None, prefixes: dict[str, str] | None = None,
               languages: Sequence[str] = ("en",), fast_path: bool = True,
               allow_remote_context: bool = False) -> KnowledgeGraph:
    """Read every KG file (RDF in any rdflib syntax, or OBO) into one KnowledgeGraph, in the given order.

    Raises KGFormatError for a missing (``kg.sources[i].path``) or unparseable file (with file:line), a
    JSON-LD file with a remote ``@context`` (unless ``allow_remote_context``), a file with no triples,
    and a file none of whose triples uses a predicate clinsynth reads. Literal subjects or predicates
    are skipped and counted (load_report.skipped).
    """
    if not sources:
        raise KGFormatError("kg.sources is empty; list at least one KG file (docs/kg.md)")
    builder = GraphBuilder(predicate_map, type_map, prefixes, languages)
    with paused_gc():
        for i, source in enumerate(sources):
            source = source if isinstance(source, KGSource) else KGSource(str(source))
            path = Path(source.path)
            if not path.is_file():
                what = "is a directory, not a KG file" if path.is_dir() else "no such KG file"
                raise KGFormatError(f"kg.sources[{i}].path = {source.path}: {what}; fix the path in params.yaml "
                                    "or build the default KG with `dvc repro kg_build` (docs/kg.md)")
            triples, _ = read_triples(path, source.format, fast_path, allow_remote_context)
            if not triples:
                raise KGFormatError(f"{path}: holds no triples; expected a KG file (docs/kg.md)")
            provenance = source.provenance or path.stem
            counts = builder.add(triples, provenance, source.node_type)
            if not GRAPH_ROLES & set(counts):
                raise _none_understood(path, triples, builder.compact)
            builder.report.files.append({
                "path": str(source.path), "format": detect_format(path, source.format), "provenance": provenance,
                "triples": len(triples), "unknown_predicate_triples": counts["unknown"],
            })
        return KnowledgeGraph(builder.to_networkx())
