"""The held-out retrieval query set, built from the coded record of test-split patients (never an LLM).

For each patient of ``split`` and each distinct entity of their notes' record (conditions without
their SNOMED semantic tag, medications, procedures), up to four queries:

=============  ==========================================================================================
match          query text
=============  ==========================================================================================
exact          the record's name ("Viral sinusitis", "Simvastatin 10 MG Oral Tablet")
synonym        a KG synonym worded differently ("Middle ear infection" for "Otitis media"; a brand for a drug)
abbreviation   the curated table (``abbreviations.py``), else an acronym among the KG synonyms ("HTN")
hypernym       a clean ``is_a`` ancestor within ``hypernym_depth`` ("Bronchitis"), else the head noun phrase
               the KG knows ("Sinusitis" for "Viral sinusitis")
=============  ==========================================================================================

Relevant chunks: the patient's chunks *about* the query's concept (``knowledge.concepts``): they
name it or a ``same_as`` equivalent by any KG name, or name a descendant within ``hypernym_depth``,
or contain the record's own name. For a multi-ingredient drug every ingredient must be named.
Queries with no relevant chunk are dropped and counted. Choices among candidates are seeded per
(patient, entity, match), so the set is the same on every run.
"""

from __future__ import annotations

import dataclasses
import hashlib
import random
import re
from collections import Counter, defaultdict
from collections.abc import Sequence
from typing import Any, Literal

from clinsynth.errors import InputError
from clinsynth.kg import KnowledgeGraph
from clinsynth.retrieval.abbreviations import ABBREVIATIONS, looks_like_acronym, name_key
from clinsynth.retrieval.knowledge import (ExpansionConfig, closure, concepts, hypernym_candidates, is_clean_name,
                                           names_of, synonym_candidates)
from clinsynth.retrieval.matcher import BOUNDARY, EntityMatcher, contains_phrase, tokenize

MATCH_TYPES = ("exact", "synonym", "abbreviation", "hypernym")
KINDS = ("condition", "medication", "procedure")
TAGGED = re.compile(r"^(?P<name>.*?)\s*\((?P<tag>[^()]*)\)\s*$")


@dataclasses.dataclass(frozen=True)
class QuerySetConfig:
    split: str = "test"
    match_types: tuple[Literal["exact", "synonym", "abbreviation", "hypernym"], ...] = MATCH_TYPES
    condition_tags: tuple[str, ...] = ("disorder", "finding")  # SNOMED tags kept; situation, person, ... dropped
    procedure_tags: tuple[str, ...] = ("procedure", "regime/therapy")
    findings_need_kg: bool = True  # a (finding) counts only if the KG knows it or it has an ICD-10 code (drops social findings)
    expansion: ExpansionConfig = ExpansionConfig()


@dataclasses.dataclass(frozen=True)
class Entity:
    kind: str  # condition | medication | procedure
    name: str  # record display, semantic tag stripped
    nodes: tuple[str, ...]  # KG nodes named by it (medications: ingredient drug nodes)


@dataclasses.dataclass(frozen=True)
class Query:
    id: str
    patient_id: str
    kind: str
    match: str
    text: str
    entity: str
    source: str  # record | kg_synonym | table | kg_acronym | kg_is_a | head_noun
    concept: list[str]  # KG nodes the relevance was judged on
    relevant: list[str]  # chunk ids, sorted


class QuerySetError(InputError):
    """The notes hold nothing the held-out queries can be built from."""


def split_tag(display: str) -> tuple[str, str | None]:
    """``"Viral sinusitis (disorder)"`` -> ``("Viral sinusitis", "disorder")``; untagged -> ``(display, None)``."""
    match = TAGGED.match(display)
    return (match["name"], match["tag"]) if match else (display.strip(), None)


def record_entities(notes: Sequence[dict[str, Any]], kg: KnowledgeGraph, matcher: EntityMatcher,
                    cfg: QuerySetConfig, counts: Counter) -> dict[str, list[Entity]]:
    """``{patient_id: [Entity]}`` for notes of ``cfg.split``: distinct by (kind, name key), in first-seen order."""
    found: dict[str, dict[tuple[str, str], Entity]] = defaultdict(dict)
    for note in notes:
        if note["split"] != cfg.split:
            continue
        meta = note["meta"]
        for kind, items in (("condition", meta.get("conditions", [])), ("medication", meta.get("medications", [])),
                            ("procedure", meta.get("procedures", []))):
            for item in items:
                entity = _entity(kind, item, kg, matcher, cfg, counts)
                if entity is not None:
                    found[meta["patient_id"]].setdefault((kind, name_key(entity.name)), entity)
    return {patient: list(entities.values()) for patient, entities in sorted(found.items())}


def _entity(kind: str, item: dict[str, Any], kg: KnowledgeGraph, matcher: EntityMatcher, cfg: QuerySetConfig,
            counts: Counter) -> Entity | None:
    if kind == "medication":
        nodes = [n for n in matcher.find_nodes(item["display"]) if kg.node(n)["type"] == "Drug"]
        return Entity(kind, item["display"].strip(), tuple(nodes))
    name, tag = split_tag(item["display"])
    tags = cfg.condition_tags if kind == "condition" else cfg.procedure_tags
    if tag is not None and tag not in tags:
        counts[f"dropped_tag_{tag}"] += 1
        return None
    nodes = matcher.names.get(tokenize(name), ())
    if kind == "condition" and tag == "finding" and cfg.findings_need_kg and not nodes and not item.get("icd10"):
        counts["dropped_finding_not_in_kg"] += 1
        return None
    return Entity(kind, name, tuple(nodes))


def entity_variants(entity: Entity, kg: KnowledgeGraph, matcher: EntityMatcher, cfg: QuerySetConfig,
                    rng_key: str) -> list[tuple[str, str, str, tuple[str, ...]]]:
    """``(match, text, source, concept nodes)`` for each match type the entity can be phrased by."""
    exp = cfg.expansion
    variants = []
    if "exact" in cfg.match_types:
        variants.append(("exact", entity.name, "record", entity.nodes))
    single_drug = entity.kind == "medication" and len(entity.nodes) == 1
    base_nodes = entity.nodes if entity.kind != "medication" or single_drug else ()
    base_name = kg.label(entity.nodes[0]) if single_drug else entity.name
    if "synonym" in cfg.match_types and base_nodes:
        options = synonym_candidates(kg, base_nodes, base_name, exp)
        if entity.kind == "medication":  # brand-like names, not chemical names or salts
            options = [t for t in options if not any(c.isdigit() for c in t) and len(t.split()) <= 2]
        if options:
            variants.append(("synonym", _choose(options, rng_key + ":synonym"), "kg_synonym", entity.nodes))
    if "abbreviation" in cfg.match_types:
        abbreviation = _abbreviation(entity, base_nodes, base_name, kg, rng_key)
        if abbreviation is not None:
            variants.append(("abbreviation", *abbreviation, entity.nodes))
    if "hypernym" in cfg.match_types:
        hypernym = _hypernym(entity, base_nodes, base_name, kg, matcher, exp, rng_key)
        if hypernym is not None:
            variants.append(("hypernym", *hypernym))
    return variants


def _abbreviation(entity: Entity, nodes: Sequence[str], name: str, kg: KnowledgeGraph,
                  rng_key: str) -> tuple[str, str] | None:
    for key in (name_key(entity.name), name_key(name), *(name_key(kg.label(n) or "") for n in nodes)):
        if key in ABBREVIATIONS:
            return ABBREVIATIONS[key], "table"
    acronyms = sorted({t for n in nodes for t in names_of(kg, n) if looks_like_acronym(t)})
    return (_choose(acronyms, rng_key + ":abbreviation"), "kg_acronym") if acronyms else None


def _hypernym(entity: Entity, nodes: Sequence[str], name: str, kg: KnowledgeGraph, matcher: EntityMatcher,
              exp: ExpansionConfig, rng_key: str) -> tuple[str, str, tuple[str, ...]] | None:
    options = [(depth, label, "kg_is_a", (node,)) for depth, node, label in hypernym_candidates(kg, nodes, name, exp)]
    if entity.kind == "condition":  # "viral sinusitis" -> "sinusitis": the head noun phrase is a hypernym
        words = [t for t in tokenize(entity.name) if t != BOUNDARY]
        for start in range(1, len(words)):
            head = matcher.names.get(tuple(words[start:]))
            if head:
                label = kg.label(head[0]) or " ".join(words[start:])
                if is_clean_name(label, exp) and name_key(label) != name_key(entity.name):
                    options.append((1, label, "head_noun", tuple(head)))
                break
    if not options:
        return None
    nearest = min(depth for depth, *_ in options)
    depth, label, source, concept = _choose(sorted(o for o in options if o[0] == nearest), rng_key + ":hypernym")
    return label, source, concept


def _choose(options: Sequence[Any], key: str) -> Any:
    return options[random.Random(key).randrange(len(options))]


def build_queryset(notes: Sequence[dict[str, Any]], chunks: Sequence[dict[str, Any]], kg: KnowledgeGraph,
                   matcher: EntityMatcher, cfg: QuerySetConfig, seed: int) -> tuple[list[Query], dict[str, Any]]:
    """Queries (sorted by id) and a deterministic report of counts."""
    counts: Counter = Counter()
    entities = record_entities(notes, kg, matcher, cfg, counts)
    if not entities:
        held_out = sum(1 for n in notes if n["split"] == cfg.split)
        raise QuerySetError(f"no {cfg.split} note carries a coded record the queries could come from (of {held_out}): "
                            "retrieval_queries evaluates on queries built from meta.conditions / medications / "
                            "procedures ([{display: ...}]), never from the LLM. Add that record to your notes' meta, "
                            "or switch the recipe off (`clinsynth recipes --off retrieval_queries`)")
    by_patient: dict[str, list[tuple[str, tuple[str, ...], set[str]]]] = defaultdict(list)
    depth = cfg.expansion.hypernym_depth
    for chunk in chunks:
        if chunk["split"] == cfg.split and chunk["patient_id"] in entities:
            tokens = tokenize(chunk["text"])
            about = concepts(kg, matcher.find_nodes(tokens, overlapping=True), depth)
            by_patient[chunk["patient_id"]].append((chunk["id"], tokens, about))
    queries: list[Query] = []
    for patient, patient_entities in entities.items():
        for entity in patient_entities:
            rng_key = f"{seed}:{patient}:{entity.kind}:{name_key(entity.name)}"
            for match, text, source, concept in entity_variants(entity, kg, matcher, cfg, rng_key):
                relevant = _relevant(entity, match, concept, by_patient[patient], kg)
                if not relevant:
                    counts[f"dropped_no_relevant_{match}"] += 1
                    continue
                digest = hashlib.sha256(f"{patient}\0{entity.kind}\0{entity.name}\0{match}".encode()).hexdigest()[:12]
                queries.append(Query(f"{patient[:8]}:{match}:{digest}", patient, entity.kind, match, text,
                                     entity.name, source, sorted(concept), relevant))
    queries.sort(key=lambda q: q.id)
    return queries, _report(queries, entities, counts)


def _relevant(entity: Entity, match: str, concept: Sequence[str],
              chunks: Sequence[tuple[str, tuple[str, ...], set[str]]], kg: KnowledgeGraph) -> list[str]:
    phrase = tuple(t for t in tokenize(entity.name) if t != BOUNDARY)
    if entity.kind == "medication" and match != "hypernym":
        required = [closure(kg, [node]) for node in concept]  # every ingredient
    else:
        required = [closure(kg, concept)] if concept else []
    relevant = []
    for chunk_id, tokens, about in chunks:
        words = [t for t in tokens if t != BOUNDARY]
        if contains_phrase(words, phrase) or (required and all(r & about for r in required)):
            relevant.append(chunk_id)
    return sorted(relevant)


def _report(queries: Sequence[Query], entities: dict[str, list[Entity]], counts: Counter) -> dict[str, Any]:
    n_relevant = [len(q.relevant) for q in queries]
    return {
        "patients": len(entities),
        "entities": dict(sorted(Counter(e.kind for es in entities.values() for e in es).items())),
        "entities_with_kg_nodes": sum(1 for es in entities.values() for e in es if e.nodes),
        "queries": len(queries),
        "by_match": dict(sorted(Counter(q.match for q in queries).items())),
        "by_kind": dict(sorted(Counter(q.kind for q in queries).items())),
        "by_source": dict(sorted(Counter(q.source for q in queries).items())),
        "relevant_per_query": {"mean": round(sum(n_relevant) / max(1, len(n_relevant)), 4),
                               "max": max(n_relevant, default=0), "min": min(n_relevant, default=0)},
        "dropped": dict(sorted(counts.items())),
    }
