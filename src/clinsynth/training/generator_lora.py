"""LoRA pairs for the kg_notes generator (stage finetune_generator): a real train note's codes and the KG
symptoms it mentions, rendered with the kg_notes template the adapter will answer, -> that note's text."""

from __future__ import annotations

import dataclasses
import random
from collections.abc import Mapping, Sequence
from typing import Any

from clinsynth.kg import KnowledgeGraph
from clinsynth.params import NonNegativeInt
from clinsynth.prompting import Template, render_messages
from clinsynth.recipes import kg_notes
from clinsynth.recipes.kg_notes import ResolveConfig, disease_name, mentions, resolve_nodes
from clinsynth.training.lora import LoraTrainConfig, Pair


@dataclasses.dataclass(frozen=True)
class FinetuneGeneratorConfig:
    base_model: str  # HF directory of the generator (stage generator_model)
    template: str  # the kg_notes template the pairs are rendered with
    max_pairs: NonNegativeInt  # seeded sample of labelled train notes; 0: all
    out_dir: str
    train: LoraTrainConfig
    resolve: kg_notes.ResolveConfig = kg_notes.ResolveConfig()
    split: str = "train"


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


@dataclasses.dataclass(frozen=True)
class FinetunePairs:
    pairs: list[Pair]
    with_symptoms: int  # pairs whose note mentions at least one KG symptom of its codes (the template lists them)


def finetune_pairs(notes: Sequence[Mapping[str, Any]], kg: KnowledgeGraph, template: Template,
                   cfg: FinetuneGeneratorConfig, seed: int) -> FinetunePairs:
    """One pair per note of :func:`select_finetune_notes` (sorted by id): the messages
    ``template`` renders from :func:`finetune_vars`, and the note's text as the reply.

    ``with_symptoms`` counts from the variables, not the rendered text, so rewording the template never
    changes it."""
    chosen = select_finetune_notes(notes, cfg.max_pairs, cfg.split, seed)
    pairs, with_symptoms = [], 0
    for note in chosen:
        variables = finetune_vars(note, kg, notes, cfg.resolve)
        pairs.append(Pair([dataclasses.asdict(m) for m in render_messages(template, variables)], note["text"]))
        with_symptoms += bool(variables["symptoms"])
    return FinetunePairs(pairs, with_symptoms)
