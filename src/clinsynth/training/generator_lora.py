"""LoRA pairs for the kg_notes generator (stage finetune_generator): a real train note's codes and the KG
symptoms it mentions, rendered with the kg_notes template the adapter will answer, -> that note's text."""

from __future__ import annotations

import dataclasses
from collections.abc import Mapping, Sequence
from typing import Any

from clinsynth.kg import KnowledgeGraph
from clinsynth.params import NonNegativeInt
from clinsynth.prompting import Template, render_messages
from clinsynth.recipes import kg_notes, kg_notes_corpora
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


@dataclasses.dataclass(frozen=True)
class FinetunePairs:
    pairs: list[Pair]
    with_symptoms: int  # pairs whose note mentions at least one KG symptom of its codes (the template lists them)


def finetune_pairs(notes: Sequence[Mapping[str, Any]], kg: KnowledgeGraph, template: Template,
                   cfg: FinetuneGeneratorConfig, seed: int) -> FinetunePairs:
    """One pair per note of :func:`kg_notes_corpora.select_finetune_notes` (sorted by id): the messages
    ``template`` renders from :func:`kg_notes_corpora.finetune_vars`, and the note's text as the reply.

    ``with_symptoms`` counts from the variables, not the rendered text, so rewording the template never
    changes it."""
    chosen = kg_notes_corpora.select_finetune_notes(notes, cfg.max_pairs, cfg.split, seed)
    pairs, with_symptoms = [], 0
    for note in chosen:
        variables = kg_notes_corpora.finetune_vars(note, kg, notes, cfg.resolve)
        pairs.append(Pair([dataclasses.asdict(m) for m in render_messages(template, variables)], note["text"]))
        with_symptoms += bool(variables["symptoms"])
    return FinetunePairs(pairs, with_symptoms)
