"""Fine-tuning pairs for the kg_notes generator (stage finetune_generator): each real train note described as
a kg_notes prompt would describe it, so a LoRA adapter learns to write the note from that description."""

from __future__ import annotations

import random
from collections.abc import Mapping, Sequence
from typing import Any

from clinsynth.kg import KnowledgeGraph
from clinsynth.recipes.kg_notes import ResolveConfig, disease_name, mentions, resolve_nodes


def finetune_vars(note: Mapping[str, Any], kg: KnowledgeGraph, notes: Sequence[Mapping[str, Any]],
                  resolve: ResolveConfig) -> dict[str, Any]:
    """Template variables describing a real note as a kg_notes prompt would: its codes' disease names and
    the KG symptoms of those codes that the note itself mentions (no example, no drugs)."""
    codes = sorted(set(note["meta"].get("icd10") or ()))
    names = [disease_name(c, kg, notes) for c in codes]
    found: dict[str, dict[str, Any]] = {}
    for code in codes:
        nodes, _ = resolve_nodes(kg, code, kg.symptoms_of, resolve.max_up, resolve.max_down)
        for symptom in sorted({s for n in nodes for s in kg.symptoms_of(n)}):
            label = kg.label(symptom) or symptom
            variants = list(dict.fromkeys([label, *kg.synonyms(symptom)]))
            hit = next((v for v in variants if mentions(note["text"], [v])), None)
            if hit and symptom not in found:
                found[symptom] = {"id": symptom, "label": label, "text": hit, "variants": variants}
    return {"code": ", ".join(codes), "disease": " and ".join(names), "symptoms": list(found.values()),
            "symptom_source": "note", "symptom_nodes": [], "drugs": [], "example": None, "example_id": None}


def select_finetune_notes(notes: Sequence[Mapping[str, Any]], max_pairs: int, split: str,
                          seed: int) -> list[Mapping[str, Any]]:
    """Labelled notes of ``split`` (by id), a seeded sample of ``max_pairs`` (0: all)."""
    pool = sorted((n for n in notes if n["split"] == split and n["meta"].get("icd10")), key=lambda n: n["id"])
    if max_pairs and len(pool) > max_pairs:
        pool = sorted(random.Random(seed).sample(pool, max_pairs), key=lambda n: n["id"])
    return pool
