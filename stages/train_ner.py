"""Stage train_ner@brat_augment-V (V = baseline | augmented): NER (MiniLM token classifier) + RE (logistic regression).

baseline trains on the corpus' train split; augmented on the same plus the windows and relation candidates
of the decoded synthetic documents that are new (docs/brat_augment.md). Same steps, seed and settings.
Writes <out_dir>/<V>/{ner/ (+ its model card README.md), relations.json, train.json}, the per-step history
metrics/plots/train_ner_<V>.json;
wall time to metrics/timing/train_ner_<V>.json. A killed run resumes from <checkpoints>/train_ner_<V>/.
"""

from __future__ import annotations

import time
from pathlib import Path

from clinsynth.brat import read_corpus
from clinsynth.corpus import make_sentencizer, sentence_spans
from clinsynth.params import load_base, load_params
from clinsynth.records import write_json
from clinsynth.training import ner, relations
from clinsynth.training.cross_encoder import resolve_model_dir
from clinsynth.training.ner_re import TrainNerConfig, train_variant


def main(variant: str) -> None:
    base, cfg = load_base(), load_params("train_ner", TrainNerConfig)
    clock = time.perf_counter()
    nlp = make_sentencizer()
    train = read_corpus(Path(base.paths.brat) / "train", on_invalid=cfg.on_invalid).documents
    extra = read_corpus(cfg.augmented_dir, on_invalid="fail").documents if variant == "augmented" else ()
    from transformers import AutoTokenizer

    model_dir = resolve_model_dir(cfg.model)
    tokenizer = AutoTokenizer.from_pretrained(str(model_dir), local_files_only=True)
    trained = train_variant(variant, train, extra, lambda text: sentence_spans(text, nlp),
                            ner.token_classifier_factory(model_dir), tokenizer, cfg, base.seed,
                            str(Path(base.paths.checkpoints) / f"train_ner_{variant}"))
    out, facts, result = Path(cfg.out_dir) / variant, trained.facts, trained.result
    card = ner.model_card(trained.labels, facts, cfg.base_model, str(Path(base.paths.brat)),
                          cfg.augmented_dir if variant == "augmented" else None)
    ner.save_ner(trained.ner_model, tokenizer, out / "ner", trained.labels, facts, card)
    relations.save_relations(trained.relation_model, out / "relations.json", {"candidates": facts["relation_candidates"]})
    write_json(out / "train.json", facts)
    write_json(Path(base.paths.metrics) / "plots" / f"train_ner_{variant}.json", result.history.plot_rows())
    write_json(Path(base.paths.metrics) / "timing" / f"train_ner_{variant}.json",
               {"seconds": round(time.perf_counter() - clock, 1), "train_seconds": round(result.seconds, 1),
                "train_cpu_seconds": round(result.cpu_seconds, 1)})
    print(f"train_ner@{variant}: {len(train)} + {len(extra)} augmented docs, {facts['windows']} windows "
          f"({facts['windows_from_augmented']} new from augmented), {facts['relation_candidates']} relation candidates; "
          f"loss {facts['loss_first']} -> {facts['loss_last']} in {result.seconds:.0f}s -> {out}")


if __name__ == "__main__":
    from clinsynth.errors import run_stage

    run_stage(main)
