"""Stage train_ner@brat_augment-V (V = baseline | augmented): NER (MiniLM token classifier) + RE (logistic regression).

baseline trains on the corpus' train split; augmented on the same plus the windows and relation candidates
of the decoded synthetic documents that are new (docs/brat_augment.md). Same steps, seed and settings.
Writes <out_dir>/<V>/{ner/, relations.json, train.json}; wall time to metrics/timing/train_ner_<V>.json.
"""

from __future__ import annotations

import dataclasses
import time
from pathlib import Path
from typing import Literal

from clinsynth.brat import read_corpus
from clinsynth.corpus import make_sentencizer, sentence_spans
from clinsynth.params import load_base, load_params
from clinsynth.records import write_json
from clinsynth.training import ner, relations
from clinsynth.training.cross_encoder import resolve_model_dir


@dataclasses.dataclass(frozen=True)
class TrainNerConfig:
    model: str  # pkg:<package>/<dir> or a local Hugging Face folder
    out_dir: str  # models/brat_augment: one folder per variant
    augmented_dir: str  # decode_brat_augment's documents
    labels: list[str]  # entity labels to learn
    on_invalid: Literal["fail", "skip"]  # invalid documents of the corpus
    ner: ner.NerConfig
    relations: relations.RelationConfig


def main(variant: str) -> None:
    base, cfg = load_base(), load_params("train_ner", TrainNerConfig)
    clock = time.perf_counter()
    nlp = make_sentencizer()
    sentences = lambda text: sentence_spans(text, nlp)  # noqa: E731
    train = read_corpus(Path(base.paths.brat) / "train", on_invalid=cfg.on_invalid).documents
    extra = read_corpus(cfg.augmented_dir, on_invalid="fail").documents if variant == "augmented" else ()
    windows, n_new = ner.add_new_windows([w for d in train for w in ner.make_windows(d, sentences(d.text), cfg.ner.window_chars)],
                                         [w for d in extra for w in ner.make_windows(d, sentences(d.text), cfg.ner.window_chars)])
    candidates, n_new_pairs = relations.add_new_candidates(relations.all_candidates(train, sentences, cfg.relations),
                                                           relations.all_candidates(extra, sentences, cfg.relations))
    from transformers import AutoTokenizer

    model_dir = resolve_model_dir(cfg.model)
    labels = ner.bio_labels(cfg.labels)
    tokenizer = AutoTokenizer.from_pretrained(str(model_dir), local_files_only=True)
    relation_model = relations.train_relations(candidates, cfg.relations, base.seed)  # seconds; fails early
    model, result = ner.train_ner(ner.token_classifier_factory(model_dir), tokenizer, windows, labels, cfg.ner, base.seed)
    out = Path(cfg.out_dir) / variant
    facts = {"variant": variant, "documents": len(train), "augmented_documents": len(extra), "windows": len(windows),
             "windows_from_augmented": n_new, "relation_candidates": len(candidates),
             "relation_candidates_from_augmented": n_new_pairs, "ner": dataclasses.asdict(cfg.ner),
             "steps": result.steps, "loss_first": round(result.loss_first, 4), "loss_last": round(result.loss_last, 4)}
    ner.save_ner(model, tokenizer, out / "ner", labels, facts)
    relations.save_relations(relation_model, out / "relations.json", {"candidates": len(candidates)})
    write_json(out / "train.json", facts)
    write_json(Path(base.paths.metrics) / "timing" / f"train_ner_{variant}.json",
               {"seconds": round(time.perf_counter() - clock, 1), "train_seconds": round(result.seconds, 1),
                "train_cpu_seconds": round(result.cpu_seconds, 1)})
    print(f"train_ner@{variant}: {len(train)} + {len(extra)} augmented docs, {len(windows)} windows "
          f"({n_new} new from augmented), {len(candidates)} relation candidates; loss {facts['loss_first']} -> "
          f"{facts['loss_last']} in {result.seconds:.0f}s -> {out}")


if __name__ == "__main__":
    from clinsynth.errors import run_stage

    run_stage(main)
