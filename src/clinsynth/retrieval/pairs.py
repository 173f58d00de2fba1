"""Training pairs (query text, chunk) for the bi-encoder.

Stage I, knowledge injection (DR.EHR): the KG entities named in a train chunk (leftmost-longest
``EntityMatcher`` mentions) are expanded into query texts: the entity's label, its synonyms, its
``is_a`` hypernyms (never hyponyms) and ``related_to`` neighbours (minus the provenances in
``related_exclude_provenance``: ICD-10-CM's Excludes notes say "not this", e.g. acute vs chronic
bronchitis). Per chunk, relations are drawn round-robin (synonym, hypernym, label, related) from
seeded shuffles, up to ``max_pairs_per_chunk``.

Stage II, synthetic queries: each term an LLM listed for a chunk (the gated ``retrieval_queries`` corpus,
its terms in each record's ``parsed.entities``) becomes one pair.

Every pair carries ``nodes``, the KG concept of its query, and every training chunk its
``concepts`` (``knowledge.concepts``), so training can tell a false in-batch negative (another chunk
about the same concept) from a real one.
"""

from __future__ import annotations

import dataclasses
import random
from collections import Counter
from collections.abc import Iterable, Sequence
from typing import Any

from clinsynth.errors import InputError
from clinsynth.records import DroppedRecord, SyntheticRecord
from clinsynth.kg import KnowledgeGraph
from clinsynth.params import NonNegativeInt, PositiveInt
from clinsynth.retrieval.abbreviations import name_key
from clinsynth.retrieval.knowledge import (ExpansionConfig, concepts, hypernym_candidates, is_clean_name,
                                           synonym_candidates)
from clinsynth.retrieval.matcher import EntityMatcher, MatcherConfig, tokenize

RELATION_ORDER = ("synonym", "hypernym", "label", "related")


@dataclasses.dataclass(frozen=True)
class PairsConfig:
    split: str = "train"
    max_chunks: NonNegativeInt = 0  # seeded sample of the chunks that name an entity; 0 = all
    max_entities_per_chunk: PositiveInt = 8
    max_pairs_per_chunk: PositiveInt = 4
    max_per_relation: PositiveInt = 2  # per entity and relation
    related_exclude_provenance: tuple[str, ...] = ("icd10cm",)
    expansion: ExpansionConfig = ExpansionConfig()


@dataclasses.dataclass(frozen=True)
class RetrievalPairsConfig:
    """``params.yaml: retrieval_pairs``."""

    out_dir: str
    matcher: MatcherConfig
    pairs: PairsConfig
    corpus_dir: str = "data/synthetic/retrieval_queries"  # postprocess@retrieval_queries' gated corpus (stage II)


@dataclasses.dataclass(frozen=True)
class Pair:
    id: str
    chunk_id: str
    patient_id: str
    query: str
    relation: str  # label | synonym | hypernym | related | llm
    nodes: list[str]  # the query's KG concept (may be empty for LLM terms the KG does not know)


@dataclasses.dataclass(frozen=True)
class TrainChunk:
    id: str
    patient_id: str
    text: str
    concepts: list[str]


def entity_expansions(kg: KnowledgeGraph, name: str, nodes: Sequence[str], cfg: PairsConfig,
                      rng: random.Random) -> dict[str, list[str]]:
    """``{relation: [query text]}`` for one mentioned entity, each list shuffled and capped."""
    exp = cfg.expansion
    labels = sorted({kg.label(n) for n in nodes if kg.label(n) and is_clean_name(kg.label(n), exp)})
    related = sorted({kg.label(r) for n in nodes for r in _related(kg, n, cfg.related_exclude_provenance)
                      if kg.label(r) and is_clean_name(kg.label(r), exp)})
    found = {"label": labels or [name], "synonym": synonym_candidates(kg, nodes, name, exp),
             "hypernym": [label for _, _, label in hypernym_candidates(kg, nodes, name, exp)], "related": related}
    for texts in found.values():
        rng.shuffle(texts)
        del texts[cfg.max_per_relation:]
    return found


def _related(kg: KnowledgeGraph, node: str, exclude: Sequence[str]) -> list[str]:
    keep = []
    for other in kg.related(node):
        edges = [*kg.graph.get_edge_data(node, other, default={}).values(),
                 *kg.graph.get_edge_data(other, node, default={}).values()]
        if any(e.get("relation") == "related_to" and e.get("provenance") not in exclude for e in edges):
            keep.append(other)
    return keep


def knowledge_pairs(chunks: Sequence[dict[str, Any]], kg: KnowledgeGraph, matcher: EntityMatcher,
                    cfg: PairsConfig, seed: int) -> tuple[list[Pair], list[TrainChunk], dict[str, Any]]:
    """Stage I pairs over chunks of ``cfg.split`` (sorted by id), their chunks, and counts."""
    rng = random.Random(seed)
    pool = sorted((c for c in chunks if c["split"] == cfg.split), key=lambda c: c["id"])
    mentioned = []
    for chunk in pool:
        tokens = tokenize(chunk["text"])
        entities: dict[str, tuple[str, ...]] = {}
        for mention in matcher.find_mentions(tokens):
            entities.setdefault(mention.name, mention.nodes)
        if entities:
            mentioned.append((chunk, tokens, entities))
    if cfg.max_chunks and len(mentioned) > cfg.max_chunks:
        mentioned = sorted(rng.sample(mentioned, cfg.max_chunks), key=lambda m: m[0]["id"])
    pairs, train_chunks, relations = [], [], Counter()
    for chunk, tokens, entities in mentioned:
        names = sorted(entities)
        rng.shuffle(names)
        pools = {rel: [] for rel in RELATION_ORDER}
        for name in names[:cfg.max_entities_per_chunk]:
            for rel, texts in entity_expansions(kg, name, entities[name], cfg, rng).items():
                pools[rel] += [(text, entities[name]) for text in texts]
        chosen = _round_robin(pools, cfg.max_pairs_per_chunk, rng)
        for k, (rel, text, nodes) in enumerate(chosen):
            pairs.append(Pair(f"{chunk['id']}#k{k}", chunk["id"], chunk["patient_id"], text, rel, sorted(nodes)))
            relations[rel] += 1
        if chosen:
            train_chunks.append(_train_chunk(chunk, tokens, kg, matcher, cfg))
    report = {"chunks_in_split": len(pool), "chunks_with_entities": len(mentioned), "chunks_used": len(train_chunks),
              "pairs": len(pairs), "by_relation": dict(sorted(relations.items()))}
    return pairs, train_chunks, report


def _round_robin(pools: dict[str, list[tuple[str, tuple[str, ...]]]], cap: int,
                 rng: random.Random) -> list[tuple[str, str, tuple[str, ...]]]:
    for items in pools.values():
        rng.shuffle(items)
    chosen, seen = [], set()
    while len(chosen) < cap and any(pools.values()):
        for rel in RELATION_ORDER:
            while pools[rel]:
                text, nodes = pools[rel].pop()
                if name_key(text) not in seen:
                    seen.add(name_key(text))
                    chosen.append((rel, text, nodes))
                    break
            if len(chosen) >= cap:
                break
    return chosen


def _train_chunk(chunk: dict[str, Any], tokens: Sequence[str], kg: KnowledgeGraph, matcher: EntityMatcher,
                 cfg: PairsConfig) -> TrainChunk:
    about = concepts(kg, matcher.find_nodes(tokens, overlapping=True), cfg.expansion.hypernym_depth)
    return TrainChunk(chunk["id"], chunk["patient_id"], chunk["text"], sorted(about))


def llm_pairs(records: Sequence[SyntheticRecord], dropped: Sequence[DroppedRecord], chunks: Sequence[dict[str, Any]],
              kg: KnowledgeGraph, matcher: EntityMatcher,
              cfg: PairsConfig) -> tuple[list[Pair], list[TrainChunk], list[DroppedRecord], dict[str, Any]]:
    """Stage II pairs from the gated retrieval_queries corpus: each term in a record's ``parsed.entities``.

    ``dropped``: what postprocess@retrieval_queries dropped or generate rejected, counted by reason. Raises
    InputError when a record's chunk is not in ``chunks`` or not in ``cfg.split`` (held-out text must never
    become training data).
    """
    by_chunk = {c["id"]: c for c in chunks}
    pairs, used, counts = [], {}, Counter()
    for record in sorted(records, key=lambda r: r.prompt_id):
        chunk_id = record.source_ids[0]
        chunk = by_chunk.get(chunk_id)
        if chunk is None or chunk["split"] != cfg.split:
            found = "missing" if chunk is None else f"in split {chunk['split']!r}"
            raise InputError(f"record {record.id} (prompt {record.prompt_id}): chunk {chunk_id!r} is {found}; expected "
                             f"a {cfg.split!r} chunk of the current chunks file (stale corpus? rerun sample@retrieval_queries)")
        entities = record.parsed.get("entities")
        if not isinstance(entities, list):
            raise InputError(f"record {record.id}: parsed has {sorted(record.parsed)}, no 'entities' list; rerun "
                             "generate@retrieval_queries and postprocess@retrieval_queries")
        counts["generations"] += 1
        counts["dropped_lines"] += record.parsed.get("dropped_lines", 0)
        for k, term in enumerate(entities):
            nodes = matcher.names.get(tokenize(term), ())
            counts["terms_in_kg" if nodes else "terms_not_in_kg"] += 1
            pairs.append(Pair(f"{chunk_id}#l{k}:{record.prompt_id}", chunk_id, chunk["patient_id"], term, "llm",
                              sorted(nodes)))
        if chunk_id not in used and entities:
            used[chunk_id] = _train_chunk(chunk, tokenize(chunk["text"]), kg, matcher, cfg)
    counts["generations"] += len(dropped)  # every answer: kept, dropped by a gate or rejected at generation
    rejections = sorted(dropped, key=lambda d: (d.prompt_id, d.id))
    report = {**dict(sorted(counts.items())), "pairs": len(pairs), "chunks_used": len(used),
              "rejected": dict(sorted(Counter(r.reason for r in rejections).items()))}
    return pairs, sorted(used.values(), key=lambda c: c.id), rejections, report
