"""Stage train_icd@kg_notes-<variant>: ICD-10 classifiers on real train notes (baseline) and real + the variant's
synthetic notes (augmented), scored on real test notes -> metrics/kg_notes/<variant>.json.

Real-note embeddings come from stage embed_kg_notes (shared by every variant); only the variant's
synthetic notes are embedded here.
"""

from __future__ import annotations

import dataclasses
import time
from collections import Counter
from pathlib import Path
from typing import Literal

import numpy as np

from clinsynth.errors import InputError
from clinsynth.evaluation.icd import evaluate, rare_codes, round_metrics
from clinsynth.params import NonNegativeInt, PositiveInt, load_base, load_params
from clinsynth.records import read_jsonl, write_json
from clinsynth.training import icd
from clinsynth.training.cross_encoder import resolve_model_dir


@dataclasses.dataclass(frozen=True)
class TrainIcdConfig:
    encoder: str  # pkg:<package>/<dir> or a local HF directory
    embeddings: str  # embed_kg_notes output (.npz)
    corpora_dir: str  # kg_notes_corpora output
    out_dir: str  # metrics/kg_notes: one file per variant
    models: list[Literal["tfidf", "minilm"]]
    mask: bool
    mask_patterns: list[str]
    rare_max_train_notes: NonNegativeInt  # a test code with at most this many real train notes is rare (0 included)
    ks: list[PositiveInt]
    encoding: icd.EncoderConfig
    head: icd.HeadConfig
    tfidf: icd.TfidfConfig


def fit(model: str, train: list[icd.Example], test: list[icd.Example], x_train, x_test, cfg: TrainIcdConfig, seed: int):
    if model == "tfidf":
        return icd.fit_tfidf(train, [e.text for e in test], cfg.tfidf, seed)
    return icd.fit_minilm(x_train, train, x_test, cfg.head, seed)


def main(variant: str) -> None:
    base = load_base()
    cfg = load_params("train_icd", TrainIcdConfig)
    patterns = cfg.mask_patterns if cfg.mask else []
    notes = list(read_jsonl(base.paths.notes))
    train, test = icd.real_examples(notes, "train", patterns), icd.real_examples(notes, "test", patterns)
    synthetic = icd.synthetic_examples(list(read_jsonl(Path(cfg.corpora_dir) / f"{variant}.jsonl")), patterns)
    saved = np.load(cfg.embeddings)
    if list(saved["train_ids"]) != [e.id for e in train] or list(saved["test_ids"]) != [e.id for e in test]:
        raise InputError(f"{cfg.embeddings}: note ids differ from the notes' labelled train/test notes; rerun embed_kg_notes")
    started = time.perf_counter()
    x_syn = np.zeros((0, saved["train"].shape[1]), dtype=np.float32)
    if "minilm" in cfg.models and synthetic:
        tokenizer, encoder = icd.encoder_factory(str(resolve_model_dir(cfg.encoder)))()
        x_syn = icd.embed_texts(tokenizer, encoder, [e.text for e in synthetic], cfg.encoding)
    counts = Counter(c for e in train for c in e.codes)
    gold = [e.codes for e in test]
    rare = rare_codes(counts, gold, cfg.rare_max_train_notes)
    result: dict = {"test_notes": len(test), "train_notes": len(train), "synthetic_notes": len(synthetic),
                    "synthetic_codes": len({c for e in synthetic for c in e.codes}), "rare_codes": sorted(rare)}
    for arm, rows, x in (("baseline", train, saved["train"]), ("augmented", train + synthetic, np.concatenate([saved["train"], x_syn]))):
        for model in cfg.models:
            scores = fit(model, rows, test, x, saved["test"], cfg, base.seed)
            ranked, predicted = scores.rankings(), scores.predicted()
            result.setdefault(arm, {})[model] = {"all": evaluate(ranked, predicted, gold, cfg.ks),
                                                 "rare": evaluate(ranked, predicted, gold, cfg.ks, subset=rare)}
    write_json(Path(cfg.out_dir) / f"{variant}.json", round_metrics(result))
    write_json(Path(base.paths.metrics) / "timing" / f"train_icd_{variant}.json", {"seconds": round(time.perf_counter() - started, 1)})
    print(f"train_icd@{variant}: {len(train)} real + {len(synthetic)} synthetic train notes, {len(test)} test notes "
          + " ".join(f"{m}: hit@1 {result['baseline'][m]['all']['hit@1']:.3f} -> {result['augmented'][m]['all']['hit@1']:.3f}"
                     for m in cfg.models))


if __name__ == "__main__":
    from clinsynth.errors import run_stage

    run_stage(main)
