"""NER + RE of train_ner's variants scored on the corpus' test split (stage evaluate_brat_augment).

``sentences(text) -> [(start, end)]`` splits a document's text into sentences (character offsets).
"""

from __future__ import annotations

import dataclasses
from collections.abc import Sequence
from pathlib import Path
from typing import Any, Literal

from clinsynth.brat import Document
from clinsynth.brat.augment import score_variant
from clinsynth.records import read_json
from clinsynth.training import ner, relations
from clinsynth.training.ner_re import Sentences


@dataclasses.dataclass(frozen=True)
class EvaluateBratAugmentConfig:
    models_dir: str  # train_ner's out_dir
    predictions_dir: str
    variants: list[str]
    on_invalid: Literal["fail", "skip"]


def evaluate_variant(test: Sequence[Document], model_dir: Path, sentences: Sentences
                     ) -> tuple[dict[str, dict[str, Any]], list[Document]]:
    """Scores (:func:`score_variant`) of the models train_ner saved in ``model_dir``, and the end-to-end
    predictions (entities, then relations over them)."""
    model, tokenizer, meta = ner.load_ner(model_dir / "ner")
    ner_cfg = ner.NerConfig(**meta["ner"])
    windows = [w for d in test for w in ner.make_windows(d, sentences(d.text), ner_cfg.window_chars)]
    entities = ner.predict_entities(model, tokenizer, test, windows, meta["labels"], ner_cfg)
    rel_model = relations.load_relations(model_dir / "relations.json")
    end_to_end = relations.predict_relations(rel_model, entities, sentences)
    labels = sorted({label[2:] for label in meta["labels"] if label != "O"})
    scores = score_variant(test, entities, relations.predict_relations(rel_model, test, sentences), end_to_end,
                           labels, [rel_model.config.label])
    return scores, end_to_end


def evaluate_variants(test: Sequence[Document], models_dir: Path | str, variants: Sequence[str],
                      sentences: Sentences) -> tuple[dict[str, Any], dict[str, list[Document]]]:
    """metrics/brat_augment.json (unrounded): ``<ner|re|re_end_to_end>.<variant>`` and each variant's training
    data counts under ``data``; and each variant's end-to-end predictions."""
    metrics: dict = {"test_documents": len(test), "data": {}}
    predictions = {}
    for variant in variants:
        model_dir = Path(models_dir) / variant
        scores, predictions[variant] = evaluate_variant(test, model_dir, sentences)
        for key, value in scores.items():
            metrics.setdefault(key, {})[variant] = value
        metrics["data"][variant] = {k: v for k, v in read_json(model_dir / "train.json").items() if k != "ner"}
    return metrics, predictions
