"""KnowledgeGraph: the MultiDiGraph plus the indexes the recipes query, and node-link JSON I/O.

Every query costs the size of its answer (dict lookups on indexes built once in ``__init__``),
never a scan of the graph. Node arguments are CURIE ids (get them with :meth:`find`); an id not in
the graph raises KeyError naming it. Answers are deterministic: lists sorted by id unless stated.

``same_as`` edges are symmetric for queries: :meth:`symptoms_of`, :meth:`drugs_for` and
:meth:`synonyms` also read the node's same_as neighbours (one hop), so asking MeSH's "Diabetes
Mellitus, Type 2" gives what the ICD-10-CM code it is linked to has.
"""

from __future__ import annotations

import contextlib
import gc
import os
from collections import Counter
from collections.abc import Iterable, Iterator
from pathlib import Path

import networkx as nx
import orjson

from clinsynth.kg.vocabulary import RELATIONS, normalize_text

ICD10CM_PREFIX = "ICD10CM:"


@contextlib.contextmanager
def paused_gc() -> Iterator[None]:
    """Pause the cyclic garbage collector while building: the KG allocates ~10^6 containers and none
    are cyclic garbage, yet every 700 allocations trigger a collection (halves load time)."""
    was_enabled = gc.isenabled()
    gc.disable()
    try:
        yield
    finally:
        if was_enabled:
            gc.enable()


def _append(index: dict[str, dict[str, list[str]]], relation: str, key: str, value: str) -> None:
    per_node = index.get(relation)
    if per_node is None:
        per_node = index[relation] = {}
    values = per_node.get(key)
    if values is None:
        per_node[key] = [value]
    else:
        values.append(value)


def build_multidigraph(nodes: Iterable[tuple[str, dict]], edges: Iterable[tuple[str, str, str, dict]],
                       graph_attrs: dict | None = None) -> nx.MultiDiGraph:
    """A MultiDiGraph from (id, attrs) nodes and (source, target, key, attrs) edges, filled directly.

    Same result as ``add_nodes_from`` + ``add_edges_from`` (tests check it with graphs_equal) at a
    fraction of the cost: those call per-edge bookkeeping we don't need on a fresh graph. Edge ends
    must be listed nodes. Fills networkx's documented storage (``_node``, ``_succ``, ``_pred`` with a
    key dict shared by both, as MultiDiGraph.add_edge does).
    """
    graph = nx.MultiDiGraph()
    graph.graph.update(graph_attrs or {})
    node_store, succ, pred = graph._node, graph._succ, graph._pred
    for node, attrs in nodes:
        node_store[node] = attrs
        succ[node] = {}
        pred[node] = {}
    for source, target, key, attrs in edges:
        keydict = succ[source].get(target)
        if keydict is None:
            keydict = succ[source][target] = {}
            pred[target][source] = keydict
        keydict[key] = attrs
    nx._clear_cache(graph)
    return graph


class KnowledgeGraph:
    """A loaded KG: ``.graph`` (networkx.MultiDiGraph, see convert.py for its contract) + queries."""

    def __init__(self, graph: nx.MultiDiGraph) -> None:
        self.graph = graph
        out: dict[str, dict[str, list[str]]] = {rel: {} for rel in RELATIONS}
        into: dict[str, dict[str, list[str]]] = {rel: {} for rel in RELATIONS}
        for source, nbrs in graph._succ.items():
            for target, keydict in nbrs.items():
                for relation in keydict:
                    _append(out, relation, source, target)
                    _append(into, relation, target, source)
        self._out, self._in = out, into
        same_out, same_in = out["same_as"], into["same_as"]
        self._same = {n: sorted(set(same_out.get(n, ())) | set(same_in.get(n, ())) - {n})
                      for n in same_out.keys() | same_in.keys()}
        by_text: dict[str, list[str]] = {}
        synonym_hits: list[tuple[str, str]] = []
        icd10: dict[str, str] = {}
        by_type: dict[str | None, list[str]] = {}
        for node, attrs in graph._node.items():
            node_type = attrs.get("type")
            if node_type in by_type:
                by_type[node_type].append(node)
            else:
                by_type[node_type] = [node]
            label = attrs.get("label")
            if label:
                key = " ".join(label.split()).casefold()  # normalize_text, inlined: runs per node
                hits = by_text.get(key)
                if hits is None:
                    by_text[key] = [node]
                else:
                    hits.append(node)
            for text in attrs.get("synonyms") or ():
                synonym_hits.append((" ".join(text.split()).casefold(), node))
            if node_type == "Disease" and node.startswith(ICD10CM_PREFIX):
                icd10[node] = node[len(ICD10CM_PREFIX):]
        # find(): exact-label hits first, then synonym hits, each group sorted by id.
        for hits in by_text.values():
            if len(hits) > 1:
                hits.sort()
        labelled = {key: len(hits) for key, hits in by_text.items()}
        extra: dict[str, set[str]] = {}
        for key, node in synonym_hits:
            hits = by_text.get(key)
            if hits is None:
                by_text[key] = [node]
            elif node not in hits[:labelled.get(key, 0)]:
                extra.setdefault(key, set()).update(hits[labelled.get(key, 0):])
                extra[key].add(node)
        for key, nodes in extra.items():
            by_text[key] = by_text[key][:labelled.get(key, 0)] + sorted(nodes)
        self._by_text = by_text
        self._icd10 = dict(sorted(icd10.items()))
        self._by_type = {t: sorted(nodes) for t, nodes in by_type.items()}
        self._synonym_cache: dict[str, tuple[str, ...]] = {}

    # ---- lookups ----------------------------------------------------------------------------
    def _attrs(self, node: str) -> dict:
        try:
            return self.graph.nodes[node]
        except KeyError:
            raise KeyError(f"{node!r}: not a node of the KG; look ids up with find(text)") from None

    def node(self, node: str) -> dict:
        """The node record: ``{"id", "label", "type", "synonyms"}``."""
        attrs = self._attrs(node)
        return {"id": node, "label": attrs.get("label"), "type": attrs.get("type"),
                "synonyms": list(attrs.get("synonyms") or [])}

    def label(self, node: str) -> str | None:
        return self._attrs(node).get("label")

    def _targets(self, relation: str, node: str, with_equivalents: bool = True) -> list[str]:
        self._attrs(node)
        index = self._out[relation]
        found = set(index.get(node, ()))
        if with_equivalents:
            for other in self._same.get(node, ()):
                found.update(index.get(other, ()))
        return sorted(found)

    # ---- the queries recipes use --------------------------------------------------------------
    def symptoms_of(self, disease: str) -> list[str]:
        """Ids of the disease's symptoms (``has_symptom`` targets of it and its same_as neighbours)."""
        return self._targets("has_symptom", disease)

    def drugs_for(self, disease: str) -> list[str]:
        """Ids of drugs that treat the disease (``treated_by`` targets of it and its same_as neighbours)."""
        return self._targets("treated_by", disease)

    def synonyms(self, node: str, include_equivalents: bool = True) -> list[str]:
        """The node's synonyms, then (optionally) labels and synonyms of its same_as neighbours.

        No case/space duplicates and never the node's own label; own synonyms keep their stored order,
        equivalents follow in id order. The merged list is cached per node (treat the graph as
        read-only once loaded).
        """
        attrs = self._attrs(node)
        own = list(attrs.get("synonyms") or [])
        if not include_equivalents or node not in self._same:
            return own
        cached = self._synonym_cache.get(node)
        if cached is not None:
            return list(cached)
        seen = {normalize_text(t) for t in own}
        if attrs.get("label"):
            seen.add(normalize_text(attrs["label"]))
        for other in self._same[node]:
            other_attrs = self.graph.nodes[other]
            for text in (other_attrs.get("label"), *(other_attrs.get("synonyms") or ())):
                if text and (key := normalize_text(text)) not in seen:
                    seen.add(key)
                    own.append(text)
        self._synonym_cache[node] = tuple(own)  # the graph is read-only after load; merging costs ~10 us
        return own

    def hypernyms(self, node: str, depth: int | None = 1) -> list[str]:
        """Ancestors along ``is_a`` up to ``depth`` hops (None: all), nearest first, each once.

        Hyponyms are never included (DR.EHR: a note about "hypertension" is relevant to
        "cardiovascular disease", not to "essential hypertension").
        """
        self._attrs(node)
        parents = self._out["is_a"]
        seen, frontier, result, level = {node}, [node], [], 0
        while frontier and (depth is None or level < depth):
            level += 1
            layer = sorted({p for n in frontier for p in parents.get(n, ()) if p not in seen})
            seen.update(layer)
            result.extend(layer)
            frontier = layer
        return result

    def related(self, node: str) -> list[str]:
        """Ids linked to the node by ``related_to``, in either direction."""
        self._attrs(node)
        return sorted(set(self._out["related_to"].get(node, ())) | set(self._in["related_to"].get(node, ())))

    def equivalents(self, node: str) -> list[str]:
        """Ids linked to the node by ``same_as``, in either direction (one hop)."""
        self._attrs(node)
        return list(self._same.get(node, ()))

    def find(self, text: str) -> list[str]:
        """Ids whose label or a synonym equals ``text`` ignoring case and runs of whitespace.

        Exact-label hits first, then synonym hits; each group sorted by id. [] when nothing matches.
        """
        return list(self._by_text.get(normalize_text(text), ()))

    def diseases_with_icd10(self) -> dict[str, str]:
        """``{node id: ICD-10-CM code}`` for every Disease node with an ICD-10-CM id, sorted by id.

        Chapters and blocks are type Group, so only categories and (sub)codes are listed.
        """
        return dict(self._icd10)

    def nodes_of_type(self, node_type: str | None) -> list[str]:
        """Ids of every node of ``node_type`` (None: untyped), sorted."""
        return list(self._by_type.get(node_type, ()))

    # ---- statistics ----------------------------------------------------------------------------
    def stats(self, examples: int = 10) -> dict:
        """Counts for metrics/kg.json and ``clinsynth kg stats`` (deterministic; no timings)."""
        graph = self.graph
        by_type = Counter((t or "untyped") for _, t in graph.nodes(data="type"))
        dangling = sorted(n for n, a in graph.nodes(data=True) if a.get("label") is None and a.get("type") is None)
        dangling_set = set(dangling)
        dangling_edges = Counter(r for _, t, r in graph.edges(keys=True) if t in dangling_set)
        dangling_edges.update(r for s, _, r in graph.edges(keys=True) if s in dangling_set)
        return {
            "nodes": graph.number_of_nodes(),
            "nodes_by_type": dict(sorted(by_type.items())),
            "edges": graph.number_of_edges(),
            "edges_by_relation": dict(sorted(Counter(r for _, _, r in graph.edges(keys=True)).items())),
            "edges_by_provenance": dict(sorted(Counter(p for *_, p in graph.edges(data="provenance")).items())),
            "isolated_nodes": sum(1 for _ in nx.isolates(graph)),
            "unlabelled_nodes": sum(1 for _, label in graph.nodes(data="label") if label is None),
            "dangling": {"nodes": len(dangling), "edges_by_relation": dict(sorted(dangling_edges.items())),
                         "examples": dangling[:examples]},
            "load": graph.graph.get("load_report", {}),
        }

    # ---- node-link JSON ------------------------------------------------------------------------
    def save(self, path: Path | str) -> None:
        """Write node-link JSON (``{"directed", "multigraph", "graph", "nodes", "edges"}``) atomically.

        Nodes are ``{"id", "label", "type", "synonyms"}``, edges ``{"source", "target", "key",
        "relation", "provenance"}``, in graph order, keys sorted: the same graph gives the same bytes.
        networkx reads it back with ``node_link_graph(data, edges="edges")``.
        """
        data = {
            "directed": True, "multigraph": True, "graph": self.graph.graph,
            "nodes": [{"id": node, **attrs} for node, attrs in self.graph._node.items()],
            "edges": [{"source": s, "target": t, "key": k, **attrs}
                      for s, nbrs in self.graph._succ.items() for t, keydict in nbrs.items()
                      for k, attrs in keydict.items()],
        }
        path = Path(path)
        path.parent.mkdir(parents=True, exist_ok=True)
        tmp = path.with_name(path.name + ".tmp")
        tmp.write_bytes(orjson.dumps(data, option=orjson.OPT_SORT_KEYS | orjson.OPT_APPEND_NEWLINE))
        os.replace(tmp, path)

    @classmethod
    def load(cls, path: Path | str) -> KnowledgeGraph:
        """Read node-link JSON written by :meth:`save` (or by networkx with ``edges="edges"``)."""
        path = Path(path)
        with paused_gc():
            return cls._load(path)

    @classmethod
    def _load(cls, path: Path) -> KnowledgeGraph:
        try:
            data = orjson.loads(path.read_bytes())
            nodes = [(node.pop("id"), node) for node in data["nodes"]]
            edges = [(e.pop("source"), e.pop("target"), e.pop("key", None) or e["relation"], e)
                     for e in data.get("edges", data.get("links", []))]
        except (orjson.JSONDecodeError, KeyError, TypeError, AttributeError) as exc:
            raise ValueError(f"{path}: not a KG node-link JSON file ({exc}); expected what `kg` writes") from exc
        return cls(build_multidigraph(nodes, edges, data.get("graph")))
