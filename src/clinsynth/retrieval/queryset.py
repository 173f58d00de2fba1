"""The held-out retrieval query set, built from test-split patients' entities (never an LLM).

Where the entities come from (``QuerySetConfig.source``):

* ``coded``: each distinct entity of the patient's notes' record (``meta.conditions`` without the
  SNOMED semantic tag, ``meta.medications``, ``meta.procedures``; Synthea's);
* ``kg``: each distinct KG entity named in the patient's test chunks (leftmost-longest mentions of
  the ground truth's own matcher), of the node types in ``kg_types``: Disease and Symptom become
  conditions (HPO phenotypes such as "Hypertension" are typed Symptom, and the coded path keeps
  SNOMED findings too), Drug medications, Procedure procedures. For notes that carry no record.
* ``auto``: ``coded`` when at least one test note carries a record, else ``kg``.

For each entity, up to four queries:

=============  ==========================================================================================
match          query text
=============  ==========================================================================================
exact          the record's name ("Viral sinusitis"); kg: the KG name as the chunk words it ("High blood pressure")
synonym        a KG synonym worded differently ("Middle ear infection" for "Otitis media"; a brand for a drug)
abbreviation   the curated table (``abbreviations.py``), else an acronym among the KG synonyms ("HTN")
hypernym       a clean ``is_a`` ancestor within ``hypernym_depth`` ("Bronchitis"), else the head noun phrase
               the KG knows ("Sinusitis" for "Viral sinusitis")
=============  ==========================================================================================

Relevant chunks: the patient's chunks *about* the query's concept (``knowledge.concepts``): they
name it or a ``same_as`` equivalent by any KG name, or name a descendant within ``hypernym_depth``,
or contain the entity's own name. For a multi-ingredient drug every ingredient must be named.
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
from clinsynth.retrieval.matcher import BOUNDARY, EntityMatcher, MatcherConfig, contains_phrase, tokenize

MATCH_TYPES = ("exact", "synonym", "abbreviation", "hypernym")
KINDS = ("condition", "medication", "procedure")
KG_TYPES = ("Disease", "Symptom", "Drug", "Procedure")  # every typed node but Group (ICD-10 chapters, never matched)
KIND_OF_TYPE = {"Disease": "condition", "Symptom": "condition", "Drug": "medication", "Procedure": "procedure"}
TAGGED = re.compile(r"^(?P<name>.*?)\s*\((?P<tag>[^()]*)\)\s*$")


@dataclasses.dataclass(frozen=True)
class QuerySetConfig:
    split: str = "test"
    match_types: tuple[Literal["exact", "synonym", "abbreviation", "hypernym"], ...] = MATCH_TYPES
    condition_tags: tuple[str, ...] = ("disorder", "finding")  # SNOMED tags kept; situation, person, ... dropped
    procedure_tags: tuple[str, ...] = ("procedure", "regime/therapy")
    findings_need_kg: bool = True  # a (finding) counts only if the KG knows it or it has an ICD-10 code (drops social findings)
    expansion: ExpansionConfig = ExpansionConfig()
    source: Literal["auto", "coded", "kg"] = "auto"  # auto: coded when a test note carries a record, else kg
    kg_types: tuple[Literal["Disease", "Symptom", "Drug", "Procedure"], ...] = KG_TYPES  # kg source: node types kept


@dataclasses.dataclass(frozen=True)
class RetrievalQuerysetConfig:
    out: str
    matcher: MatcherConfig  # the ground truth's own matcher: tuning training (retrieval_pairs) never moves it
    queries: QuerySetConfig


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
    source: str  # record | kg_mention | kg_synonym | table | kg_acronym | kg_is_a | head_noun
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


def has_coded_record(notes: Sequence[dict[str, Any]], split: str) -> bool:
    """Whether any note of ``split`` carries a non-empty ``meta.conditions`` / ``medications`` / ``procedures``."""
    return any(note["meta"].get(key) for note in notes if note["split"] == split
               for key in ("conditions", "medications", "procedures"))


def choose_source(notes: Sequence[dict[str, Any]], cfg: QuerySetConfig) -> str:
    """``"coded"`` or ``"kg"``: ``cfg.source``, with ``auto`` resolved by :func:`has_coded_record`."""
    if cfg.source != "auto":
        return cfg.source
    return "coded" if has_coded_record(notes, cfg.split) else "kg"


def kg_entities(chunks: Sequence[dict[str, Any]], kg: KnowledgeGraph, matcher: EntityMatcher, cfg: QuerySetConfig,
                counts: Counter) -> dict[str, list[Entity]]:
    """``{patient_id: [Entity]}`` from the KG names in chunks of ``cfg.split``, in chunk-id then text order.

    One entity per mention's nodes (of ``cfg.kg_types``; a name shared by node types keeps the first
    kind in ``KINDS`` order) and per name: a second wording of the same nodes is the same entity.
    The entity's name is the KG name (label or synonym, as the KG spells it) the chunk matched.
    """
    found: dict[str, dict[tuple[str, str], Entity]] = defaultdict(dict)
    seen_nodes: dict[str, set[tuple[str, ...]]] = defaultdict(set)
    for chunk in sorted((c for c in chunks if c["split"] == cfg.split), key=lambda c: c["id"]):
        tokens = tokenize(chunk["text"])
        for mention in matcher.find_mentions(tokens):
            types = {n: kg.node(n)["type"] for n in mention.nodes}
            kinds = {KIND_OF_TYPE[t] for t in types.values() if t in cfg.kg_types}
            if not kinds:
                counts[f"dropped_kg_type_{'/'.join(sorted(str(t) for t in set(types.values())))}"] += 1
                continue
            kind = min(kinds, key=KINDS.index)
            nodes = tuple(n for n, t in types.items() if t in cfg.kg_types and KIND_OF_TYPE[t] == kind)
            counts["kg_mentions"] += 1
            patient = chunk["patient_id"]
            if nodes in seen_nodes[patient]:
                continue
            name = _kg_name(kg, nodes, tokens[mention.start:mention.end]) or mention.name
            key = (kind, name_key(name))
            if key not in found[patient]:
                found[patient][key] = Entity(kind, name, nodes)
                seen_nodes[patient].add(nodes)
    return {patient: list(entities.values()) for patient, entities in sorted(found.items()) if entities}


def _kg_name(kg: KnowledgeGraph, nodes: Sequence[str], tokens: Sequence[str]) -> str | None:
    for node in nodes:
        for text in names_of(kg, node):
            if tokenize(text) == tuple(tokens):
                return text
    return None


def entity_variants(entity: Entity, kg: KnowledgeGraph, matcher: EntityMatcher, cfg: QuerySetConfig,
                    rng_key: str, exact_source: str = "record") -> list[tuple[str, str, str, tuple[str, ...]]]:
    """``(match, text, source, concept nodes)`` for each match type the entity can be phrased by."""
    exp = cfg.expansion
    variants = []
    if "exact" in cfg.match_types:
        variants.append(("exact", entity.name, exact_source, entity.nodes))
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
    """Queries (sorted by id) and a deterministic report of counts (``source``: the one used)."""
    counts: Counter = Counter()
    source = choose_source(notes, cfg)
    if source == "coded":
        entities = record_entities(notes, kg, matcher, cfg, counts)
        if not entities:
            raise _no_record_error(notes, cfg)
    else:
        entities = kg_entities(chunks, kg, matcher, cfg, counts)
        if not entities:
            raise _no_kg_mention_error(chunks, cfg)
    by_patient: dict[str, list[tuple[str, tuple[str, ...], set[str]]]] = defaultdict(list)
    depth = cfg.expansion.hypernym_depth
    for chunk in chunks:
        if chunk["split"] == cfg.split and chunk["patient_id"] in entities:
            tokens = tokenize(chunk["text"])
            about = concepts(kg, matcher.find_nodes(tokens, overlapping=True), depth)
            by_patient[chunk["patient_id"]].append((chunk["id"], tokens, about))
    exact_source = "record" if source == "coded" else "kg_mention"
    queries: list[Query] = []
    for patient, patient_entities in entities.items():
        for entity in patient_entities:
            rng_key = f"{seed}:{patient}:{entity.kind}:{name_key(entity.name)}"
            for match, text, source_, concept in entity_variants(entity, kg, matcher, cfg, rng_key, exact_source):
                relevant = _relevant(entity, match, concept, by_patient[patient], kg)
                if not relevant:
                    counts[f"dropped_no_relevant_{match}"] += 1
                    continue
                digest = hashlib.sha256(f"{patient}\0{entity.kind}\0{entity.name}\0{match}".encode()).hexdigest()[:12]
                queries.append(Query(f"{patient[:8]}:{match}:{digest}", patient, entity.kind, match, text,
                                     entity.name, source_, sorted(concept), relevant))
    queries.sort(key=lambda q: q.id)
    kg_mentions = counts.pop("kg_mentions", 0)
    report = {"source": source, **_report(queries, entities, counts)}
    if source == "kg":
        report["kg_mentions"] = kg_mentions
    return queries, report


def _no_record_error(notes: Sequence[dict[str, Any]], cfg: QuerySetConfig) -> QuerySetError:
    held_out = sum(1 for n in notes if n["split"] == cfg.split)
    return QuerySetError(f"no {cfg.split} note carries a coded record the queries could come from (of {held_out}): "
                         "retrieval_queries evaluates on queries built from meta.conditions / medications / "
                         "procedures ([{display: ...}]), never from the LLM. Add that record to your notes' meta, "
                         "set retrieval_queryset.queries.source: kg (queries from the KG names in the test chunks), "
                         "or switch the recipe off (`clinsynth recipes --off retrieval_queries`)")


def _no_kg_mention_error(chunks: Sequence[dict[str, Any]], cfg: QuerySetConfig) -> QuerySetError:
    held_out = [c for c in chunks if c["split"] == cfg.split]
    why = "no test note carries a coded record (meta.conditions / medications / procedures), so " \
        if cfg.source == "auto" else ""
    if not held_out:
        found = (f"there is no {cfg.split!r} chunk in the chunks file (base.paths.chunks, {len(chunks)} chunks): "
                 "ingest splits by patient (ingest.split_fractions), so give it at least 3 patients")
    else:
        found = (f"none of the {len(held_out)} {cfg.split!r} chunks ({len({c['patient_id'] for c in held_out})} "
                 f"patients; base.paths.chunks) names a KG entity of types {', '.join(cfg.kg_types)} "
                 "(retrieval_queryset.matcher over the KG base.paths.kg_graph)")
    return QuerySetError(f"{why}the held-out queries come from KG names in the test chunks (queries.source: kg), and "
                         f"{found}. Add the ontologies your notes' terms come from to kg.sources, add a coded record "
                         "to the notes' meta, or switch the recipe off (`clinsynth recipes --off retrieval_queries`)")


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
