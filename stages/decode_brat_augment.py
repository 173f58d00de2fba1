"""Stage decode_brat_augment: the gated brat_augment corpus -> augmented BRAT documents + metrics/decode_brat_augment.json.

Every record postprocess@brat_augment kept (``corpus_dir``/records.jsonl) is spliced into its source train
document (clinsynth.brat.augment.decode_records); what the gates or the parser dropped (dropped.jsonl),
rejected, unchanged and repeated rewrites are counted by reason, leakage against the train documents measured.
"""

from __future__ import annotations

import shutil
from pathlib import Path

from clinsynth.brat import read_corpus, write_document
from clinsynth.brat.augment import DecodeConfig, decode_records
from clinsynth.params import load_base, load_params
from clinsynth.records import DroppedRecord, SyntheticRecord, read_records, write_json, write_jsonl

SECTION = "decode_brat_augment"


def main() -> None:
    base = load_base()
    cfg = load_params(SECTION, DecodeConfig)
    train = read_corpus(Path(base.paths.brat) / "train", on_invalid="skip").documents
    corpus = Path(cfg.corpus_dir)
    result = decode_records(train, read_records(corpus / "records.jsonl", SyntheticRecord),
                            read_records(corpus / "dropped.jsonl", DroppedRecord), cfg, [d.text for d in train])
    out = Path(cfg.out_dir)
    shutil.rmtree(out, ignore_errors=True)
    out.mkdir(parents=True)
    for document in result.documents:
        write_document(document, out)
    write_jsonl(cfg.records, result.records)
    write_json(Path(base.paths.metrics) / f"{SECTION}.json", result.metrics)
    c = result.metrics["counts"]
    print(f"decode_brat_augment: {c['answers']} answers, rejected at generation {c['rejected_at_generation']}, "
          f"dropped by the quality gates {c['dropped_at_postprocess']}, at decode {c['rejected_at_decode']}, "
          f"dropped {c['dropped']}, {c['kept']} documents kept -> {out}; entity preservation "
          f"{result.metrics['entities']['preservation_rate']}")


if __name__ == "__main__":
    from clinsynth.errors import run_stage

    run_stage(main)
