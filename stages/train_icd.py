"""Stage train_icd@kg_notes-<variant>: ICD-10 classifiers on real train notes (baseline) and real + the variant's
synthetic notes (augmented), scored on real test notes -> metrics/kg_notes/<variant>.json.

Real-note embeddings come from stage embed_kg_notes (shared by every variant); only the variant's
synthetic notes are embedded here. Per arm (baseline | augmented) it also writes the MiniLM head's per-step
history metrics/plots/train_icd_<variant>_<arm>.json ({step, loss, learning_rate}) and the confusion rows
metrics/plots/confusion_icd_<variant>_<arm>.json ({actual, predicted}: gold vs top-1 code of train_icd.confusion_model
on the test notes with exactly one gold code). A killed head training resumes from
<checkpoints>/train_icd_<variant>_<arm>/ (every train_icd.checkpoint_every steps).
"""

from __future__ import annotations

import time
from pathlib import Path

import numpy as np

from clinsynth.evaluation.icd import round_metrics
from clinsynth.params import load_base, load_params
from clinsynth.records import read_jsonl, write_json
from clinsynth.training import icd
from clinsynth.training.cross_encoder import resolve_model_dir
from clinsynth.training.history import Checkpointer


def main(variant: str) -> None:
    base = load_base()
    cfg = load_params("train_icd", icd.TrainIcdConfig)
    patterns = cfg.mask_patterns if cfg.mask else []
    notes = list(read_jsonl(base.paths.notes))
    train, test = icd.real_examples(notes, "train", patterns), icd.real_examples(notes, "test", patterns)
    synthetic = icd.synthetic_examples(list(read_jsonl(Path(cfg.corpora_dir) / f"{variant}.jsonl")), patterns)
    started = time.perf_counter()
    encoder = lambda: icd.encoder_factory(str(resolve_model_dir(cfg.encoder)))()  # noqa: E731 (only for MiniLM)
    checkpoints = lambda arm: Checkpointer(Path(base.paths.checkpoints) / f"train_icd_{variant}_{arm}",  # noqa: E731
                                           cfg.checkpoint_every)
    run = icd.train_and_score(train, test, synthetic, np.load(cfg.embeddings), cfg, base.seed, encoder, checkpoints)
    result, plots = run.metrics, Path(base.paths.metrics) / "plots"
    write_json(Path(cfg.out_dir) / f"{variant}.json", round_metrics(result))
    for arm in icd.ARMS:
        write_json(plots / f"train_icd_{variant}_{arm}.json", run.histories[arm].plot_rows())
        write_json(plots / f"confusion_icd_{variant}_{arm}.json", run.confusions[arm].rows)
    write_json(Path(base.paths.metrics) / "timing" / f"train_icd_{variant}.json", {"seconds": round(time.perf_counter() - started, 1)})
    print(f"train_icd@{variant}: {len(train)} real + {len(synthetic)} synthetic train notes, {len(test)} test notes "
          + " ".join(f"{m}: hit@1 {result['baseline'][m]['all']['hit@1']:.3f} -> {result['augmented'][m]['all']['hit@1']:.3f}"
                     for m in cfg.models)
          + f"; confusion ({cfg.confusion_model}): {len(run.confusions['baseline'].rows)} single-code test notes, "
            f"{run.confusions['baseline'].skipped_multi_code} multi-code skipped")


if __name__ == "__main__":
    from clinsynth.errors import run_stage

    run_stage(main)
