"""Stage evaluate_brat_augment: baseline vs augmented NER/RE on the corpus' test split -> metrics/brat_augment.json.

Keys ``ner.<variant>.{strict,lenient}.*``, ``re.<variant>.*`` (relations over gold entities) and
``re_end_to_end.<variant>.*`` (over predicted entities), so ``clinsynth diff`` pairs baseline with augmented.
Predictions are written as BRAT under <predictions_dir>/<variant>/ for inspection; the NER confusion rows
(word tokens, actual vs predicted label) to metrics/plots/confusion_ner_<variant>.json (dvc template confusion).
"""

from __future__ import annotations

import shutil
import time
from pathlib import Path

from clinsynth.brat import read_corpus, write_document
from clinsynth.corpus import make_sentencizer, sentence_spans
from clinsynth.params import load_base, load_params
from clinsynth.quality.summary import round_floats
from clinsynth.records import write_json
from clinsynth.evaluation.ner_re import EvaluateBratAugmentConfig, evaluate_variants

SECTION = "evaluate_brat_augment"


def main() -> None:
    base, cfg = load_base(), load_params(SECTION, EvaluateBratAugmentConfig)
    clock = time.perf_counter()
    nlp = make_sentencizer()
    test = list(read_corpus(Path(base.paths.brat) / "test", on_invalid=cfg.on_invalid).documents)
    metrics, predictions, confusion = evaluate_variants(test, cfg.models_dir, cfg.variants, lambda text: sentence_spans(text, nlp))
    for variant, documents in predictions.items():
        out = Path(cfg.predictions_dir) / variant
        shutil.rmtree(out, ignore_errors=True)
        for document in documents:
            write_document(document, out)
    for variant, rows in confusion.items():
        write_json(Path(base.paths.metrics) / "plots" / f"confusion_ner_{variant}.json", rows)
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
