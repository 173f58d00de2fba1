"""Stage embed_kg_notes: MiniLM embeddings of the labelled real train and test notes (masked as train_icd
says), computed once for every train_icd@kg_notes-<variant>."""

from __future__ import annotations

import time
from pathlib import Path

import numpy as np

from clinsynth.params import load_base, load_params
from clinsynth.records import read_jsonl, write_json
from clinsynth.training import icd
from clinsynth.training.cross_encoder import resolve_model_dir

SECTION = "train_icd"  # shares the encoder, masking and encoding settings of train_icd


def main() -> None:
    base = load_base()
    cfg = load_params(SECTION, icd.TrainIcdConfig)
    patterns = cfg.mask_patterns if cfg.mask else []
    notes = list(read_jsonl(base.paths.notes))
    train, test = icd.real_examples(notes, "train", patterns), icd.real_examples(notes, "test", patterns)
    started = time.perf_counter()
    tokenizer, encoder = icd.encoder_factory(str(resolve_model_dir(cfg.encoder)))()
    x_train = icd.embed_texts(tokenizer, encoder, [e.text for e in train], cfg.encoding)
    x_test = icd.embed_texts(tokenizer, encoder, [e.text for e in test], cfg.encoding)
    Path(cfg.embeddings).parent.mkdir(parents=True, exist_ok=True)
    with open(cfg.embeddings, "wb") as fh:
        np.savez(fh, train=x_train, test=x_test, train_ids=np.array([e.id for e in train]),
                 test_ids=np.array([e.id for e in test]))
    seconds = round(time.perf_counter() - started, 1)
    write_json(Path(base.paths.metrics) / "timing" / "embed_kg_notes.json", {"seconds": seconds, "notes": len(train) + len(test)})
    print(f"embed_kg_notes: {len(train)} train + {len(test)} test notes -> {cfg.embeddings} ({seconds} s)")


if __name__ == "__main__":
    from clinsynth.errors import run_stage

    run_stage(main)
