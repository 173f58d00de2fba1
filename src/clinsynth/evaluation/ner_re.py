"""NER + RE of train_ner's variants scored on the corpus' test split (stage evaluate_brat_augment).

``sentences(text) -> [(start, end)]`` splits a document's text into sentences (character offsets).

The NER confusion rows (``metrics/plots/confusion_ner_<variant>.json``, dvc's ``confusion`` template, which
counts the rows itself) are one ``{"actual": label, "predicted": label}`` per word token of the test texts
(``\\w+`` runs and single punctuation marks): a token's label is that of the entity overlapping it (B-/I-
collapsed), ``O`` outside every entity of the model's labels. Word tokens, not wordpieces, so variants and
tokenizers compare on the same rows.
"""

from __future__ import annotations

import dataclasses
import re
from collections.abc import Collection, Sequence
from pathlib import Path
from typing import Any, Literal

from clinsynth.brat import Document
from clinsynth.brat.augment import score_variant
from clinsynth.errors import InputError
from clinsynth.records import read_json
from clinsynth.training import ner, relations
from clinsynth.training.ner_re import Sentences


@dataclasses.dataclass(frozen=True)
class EvaluateBratAugmentConfig:
    models_dir: str  # train_ner's out_dir
    predictions_dir: str
    variants: list[str]
    on_invalid: Literal["fail", "skip"]


TOKEN = re.compile(r"\w+|[^\w\s]")


def token_labels(document: Document, labels: Collection[str]) -> list[str]:
    """The entity label (or ``O``) of each word token of ``document.text``, in text order; an entity of a
    label outside ``labels`` is ``O``; where entities overlap, the one starting first (then its label) wins."""
    spans = sorted((s, e, x.label) for x in document.entities if x.label in labels for s, e in x.spans)
    return [next((label for s, e, label in spans if s < m.end() and m.start() < e), "O")
            for m in TOKEN.finditer(document.text)]


def confusion_rows(gold: Sequence[Document], predicted: Sequence[Document], labels: Collection[str]
                   ) -> list[dict[str, str]]:
    """``{"actual", "predicted"}`` per word token of each gold document and its prediction (same id, same
    text), documents in the order of ``gold``."""
    by_id = {d.id: d for d in predicted}
    rows = []
    for document in gold:
        other = by_id.get(document.id)
        if other is None or other.text != document.text:
            raise InputError(f"confusion_rows: no prediction with the text of gold document {document.id!r}; "
                             "expected one predicted document per test document, same id and text "
                             "(pass predict_entities' output for the same documents)")
        rows += [{"actual": a, "predicted": p}
                 for a, p in zip(token_labels(document, labels), token_labels(other, labels), strict=True)]
    return rows


def evaluate_variant(test: Sequence[Document], model_dir: Path, sentences: Sentences
                     ) -> tuple[dict[str, dict[str, Any]], list[Document], list[dict[str, str]]]:
    """Scores (:func:`score_variant`) of the models train_ner saved in ``model_dir``, the end-to-end
    predictions (entities, then relations over them) and the NER confusion rows (:func:`confusion_rows`)."""
    model, tokenizer, meta = ner.load_ner(model_dir / "ner")
    ner_cfg = ner.NerConfig(**meta["ner"])
    windows = [w for d in test for w in ner.make_windows(d, sentences(d.text), ner_cfg.window_chars)]
    entities = ner.predict_entities(model, tokenizer, test, windows, meta["labels"], ner_cfg)
    rel_model = relations.load_relations(model_dir / "relations.json")
    end_to_end = relations.predict_relations(rel_model, entities, sentences)
    labels = sorted({label[2:] for label in meta["labels"] if label != "O"})
    scores = score_variant(test, entities, relations.predict_relations(rel_model, test, sentences), end_to_end,
                           labels, [rel_model.config.label])
    return scores, end_to_end, confusion_rows(test, entities, labels)


def evaluate_variants(test: Sequence[Document], models_dir: Path | str, variants: Sequence[str],
                      sentences: Sentences
                      ) -> tuple[dict[str, Any], dict[str, list[Document]], dict[str, list[dict[str, str]]]]:
    """metrics/brat_augment.json (unrounded): ``<ner|re|re_end_to_end>.<variant>`` and each variant's training
    data counts under ``data``; each variant's end-to-end predictions; each variant's NER confusion rows."""
    metrics: dict = {"test_documents": len(test), "data": {}}
    predictions, confusion = {}, {}
    for variant in variants:
        model_dir = Path(models_dir) / variant
        scores, predictions[variant], confusion[variant] = evaluate_variant(test, model_dir, sentences)
        for key, value in scores.items():
            metrics.setdefault(key, {})[variant] = value
        metrics["data"][variant] = {k: v for k, v in read_json(model_dir / "train.json").items() if k != "ner"}
    return metrics, predictions, confusion
