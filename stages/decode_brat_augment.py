"""Stage decode_brat_augment: gated generations -> augmented BRAT documents + metrics/decode_brat_augment.json.

Every reply that passed the quality gates (postprocess@brat_augment kept its id; ``gated_dir``) is spliced
into its source train document (clinsynth.brat.decode_segment); the gates' drops, rejected, unchanged and
repeated rewrites are counted by reason, leakage against the train notes is measured.
"""

from __future__ import annotations

import shutil
from pathlib import Path

from clinsynth.brat import read_corpus, write_document
from clinsynth.params import load_base, load_params
from clinsynth.recipes.brat_augment import DecodeConfig, decode_generations
from clinsynth.records import read_jsonl, write_json, write_jsonl

SECTION = "decode_brat_augment"


def main() -> None:
    base = load_base()
    cfg = load_params(SECTION, DecodeConfig)
    train = read_corpus(Path(base.paths.brat) / "train", on_invalid="skip").documents
    generations_dir = Path(base.paths.generations)
    generations, gated_out = list(read_jsonl(generations_dir / "brat_augment.jsonl")), []
    if cfg.gated_dir:  # the raw replies carry the marks decode needs; the gates' records say which passed
        passed = {r["id"] for r in read_jsonl(Path(cfg.gated_dir) / "records.jsonl")}
        gated_out = list(read_jsonl(Path(cfg.gated_dir) / "dropped.jsonl"))
        generations = [g for g in generations if g["id"] in passed]
    result = decode_generations(train, list(read_jsonl(Path(base.paths.prompts) / "brat_augment.jsonl")),
                                generations, list(read_jsonl(generations_dir / "brat_augment.rejections.jsonl")),
                                cfg, [d.text for d in train], gated_out)
    out = Path(cfg.out_dir)
    shutil.rmtree(out, ignore_errors=True)
    out.mkdir(parents=True)
    for document in result.documents:
        write_document(document, out)
    write_jsonl(cfg.records, result.records)
    write_json(Path(base.paths.metrics) / f"{SECTION}.json", result.metrics)
    c = result.metrics["counts"]
    print(f"decode_brat_augment: {c['prompts']} prompts, {c['answers']} answers, rejected at generation "
          f"{c['rejected_at_generation']}, dropped by the quality gates {c['dropped_at_postprocess']}, at decode {c['rejected_at_decode']}, dropped {c['dropped']}, "
          f"{c['kept']} documents kept -> {out}; entity preservation "
          f"{result.metrics['entities']['preservation_rate']}")


if __name__ == "__main__":
    from clinsynth.errors import run_stage

    run_stage(main)
