"""NER + RE training on a BRAT corpus, baseline vs augmented (stage train_ner; scored in evaluation.ner_re).

baseline trains on the corpus' train split; augmented on the same plus the windows and relation candidates
of the decoded synthetic documents that are new (docs/brat_augment.md). Same steps, seed and settings.
``sentences(text) -> [(start, end)]`` splits a document's text into sentences (character offsets).
"""

from __future__ import annotations

import dataclasses
from collections.abc import Callable, Sequence
from typing import Any, Literal

import torch

from clinsynth.brat import Document
from clinsynth.params import NonNegativeInt
from clinsynth.training import ner, relations
from clinsynth.training.history import Checkpointer

Sentences = Callable[[str], list[tuple[int, int]]]


@dataclasses.dataclass(frozen=True)
class TrainNerConfig:
    model: str  # pkg:<package>/<dir> or a local Hugging Face folder
    out_dir: str  # models/brat_augment: one folder per variant
    augmented_dir: str  # decode_brat_augment's documents
    labels: list[str]  # entity labels to learn
    on_invalid: Literal["fail", "skip"]  # invalid documents of the corpus
    ner: ner.NerConfig
    relations: relations.RelationConfig
    checkpoint_every: NonNegativeInt = 0  # NER steps between resumable checkpoints (0: none)
    base_model: str | None = None  # the hub id of `model`, named in the saved model card (None: unnamed)


@dataclasses.dataclass(frozen=True)
class TrainedVariant:
    ner_model: torch.nn.Module
    labels: tuple[str, ...]  # BIO labels
    relation_model: relations.RelationModel
    result: ner.TrainResult
    facts: dict[str, Any]  # train.json: data counts, NER settings, steps and losses


def train_variant(variant: str, train: Sequence[Document], extra: Sequence[Document], sentences: Sentences,
                  model_factory: Callable[[Sequence[str]], torch.nn.Module], tokenizer: Any, cfg: TrainNerConfig,
                  seed: int, checkpoint_dir: str | None = None) -> TrainedVariant:
    """Train RE (seconds, so a bad setting fails early) then NER on ``train`` plus what is new in ``extra``;
    NER resumes from / saves checkpoints in ``checkpoint_dir`` every ``cfg.checkpoint_every`` steps."""
    window_chars = cfg.ner.window_chars
    windows, n_new = ner.add_new_windows([w for d in train for w in ner.make_windows(d, sentences(d.text), window_chars)],
                                         [w for d in extra for w in ner.make_windows(d, sentences(d.text), window_chars)])
    candidates, n_new_pairs = relations.add_new_candidates(relations.all_candidates(train, sentences, cfg.relations),
                                                           relations.all_candidates(extra, sentences, cfg.relations))
    labels = ner.bio_labels(cfg.labels)
    relation_model = relations.train_relations(candidates, cfg.relations, seed)
    model, result = ner.train_ner(model_factory, tokenizer, windows, labels, cfg.ner, seed,
                                  checkpoint=Checkpointer(checkpoint_dir, cfg.checkpoint_every))
    facts = {"variant": variant, "documents": len(train), "augmented_documents": len(extra), "windows": len(windows),
             "windows_from_augmented": n_new, "relation_candidates": len(candidates),
             "relation_candidates_from_augmented": n_new_pairs, "ner": dataclasses.asdict(cfg.ner),
             "steps": result.steps, "loss_first": round(result.loss_first, 4), "loss_last": round(result.loss_last, 4)}
    return TrainedVariant(model, labels, relation_model, result, facts)
