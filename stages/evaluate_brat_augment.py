"""Stage evaluate_brat_augment: baseline vs augmented NER/RE on the corpus' test split -> metrics/brat_augment.json.

Keys ``ner.<variant>.{strict,lenient}.*``, ``re.<variant>.*`` (relations over gold entities) and
``re_end_to_end.<variant>.*`` (over predicted entities), so ``clinsynth diff`` pairs baseline with augmented.
Predictions are written as BRAT under <predictions_dir>/<variant>/ for inspection.
"""

from __future__ import annotations

import dataclasses
import shutil
import time
from pathlib import Path
from typing import Literal

from clinsynth.brat import read_corpus, write_document
from clinsynth.corpus import make_sentencizer, sentence_spans
from clinsynth.params import load_base, load_params
from clinsynth.quality.summary import round_floats
from clinsynth.brat.augment import score_variant
from clinsynth.records import read_json, write_json
from clinsynth.training import ner, relations


@dataclasses.dataclass(frozen=True)
class EvaluateBratAugmentConfig:
    models_dir: str  # train_ner's out_dir
    predictions_dir: str
    variants: list[str]
    on_invalid: Literal["fail", "skip"]


SECTION = "evaluate_brat_augment"


def main() -> None:
    base, cfg = load_base(), load_params(SECTION, EvaluateBratAugmentConfig)
    clock = time.perf_counter()
    nlp = make_sentencizer()
    sentences = lambda text: sentence_spans(text, nlp)  # noqa: E731
    test = list(read_corpus(Path(base.paths.brat) / "test", on_invalid=cfg.on_invalid).documents)
    metrics: dict = {"test_documents": len(test), "data": {}}
    for variant in cfg.variants:
        model_dir = Path(cfg.models_dir) / variant
        model, tokenizer, meta = ner.load_ner(model_dir / "ner")
        ner_cfg = ner.NerConfig(**meta["ner"])
        windows = [w for d in test for w in ner.make_windows(d, sentences(d.text), ner_cfg.window_chars)]
        entities = ner.predict_entities(model, tokenizer, test, windows, meta["labels"], ner_cfg)
        rel_model = relations.load_relations(model_dir / "relations.json")
        end_to_end = relations.predict_relations(rel_model, entities, sentences)
        labels = sorted({label[2:] for label in meta["labels"] if label != "O"})
        scores = score_variant(test, entities, relations.predict_relations(rel_model, test, sentences), end_to_end,
                               labels, [rel_model.config.label])
        for key, value in scores.items():
            metrics.setdefault(key, {})[variant] = value
        metrics["data"][variant] = {k: v for k, v in read_json(model_dir / "train.json").items() if k != "ner"}
        out = Path(cfg.predictions_dir) / variant
        shutil.rmtree(out, ignore_errors=True)
        for document in end_to_end:
            write_document(document, out)
    metrics = round_floats(metrics)
    write_json(Path(base.paths.metrics) / "brat_augment.json", metrics)
    write_json(Path(base.paths.metrics) / "timing" / "evaluate_brat_augment.json",
               {"seconds": round(time.perf_counter() - clock, 1)})
    for variant in cfg.variants:
        n, r = metrics["ner"][variant], metrics["re"][variant]
        print(f"evaluate_brat_augment {variant}: NER strict F1 {n['strict']['f1']} lenient F1 {n['lenient']['f1']}, "
              f"RE F1 {r['f1']} (end to end {metrics['re_end_to_end'][variant]['f1']})")


if __name__ == "__main__":
    from clinsynth.errors import run_stage

    run_stage(main)
