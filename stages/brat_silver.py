"""Stage brat_silver: coded demo notes -> a silver BRAT corpus <out_dir>/{train,dev,test}/ + metrics/brat_silver.json.

Entities are the record's conditions, medications and procedures found in the note text; Treats relations
come from MedicationRequest.reasonReference (docs/brat_augment.md). Users with a real BRAT corpus point
base.paths.brat at it instead; this stage then only builds the demo's.
"""

from __future__ import annotations

import shutil
from pathlib import Path

from tqdm import tqdm

from clinsynth.brat import write_document
from clinsynth.corpus import Note, make_sentencizer, sentence_spans
from clinsynth.params import load_base, load_params
from clinsynth.brat.silver import BratSilverConfig, build_silver_corpus
from clinsynth.records import read_jsonl, write_json


def main() -> None:
    base = load_base()
    cfg = load_params("brat_silver", BratSilverConfig)
    notes = [Note(**row) for row in read_jsonl(base.paths.notes)]
    nlp = make_sentencizer()
    result = build_silver_corpus(notes, cfg, base.seed, lambda text: sentence_spans(text, nlp),
                                 progress=lambda xs: tqdm(xs, desc="brat_silver", unit="doc"))
    out = Path(cfg.out_dir)
    shutil.rmtree(out, ignore_errors=True)
    for split, documents in result.documents.items():
        (out / split).mkdir(parents=True, exist_ok=True)
        for document in documents:
            write_document(document, out / split)
    write_json(Path(base.paths.metrics) / "brat_silver.json", result.metrics)
    print("brat_silver: " + ", ".join(f"{split} {m['docs']} docs {m['entities']} {m['relations']}, "
                                      f"{m['unmatched_fraction']:.1%} of record items unmatched"
                                      for split, m in result.metrics["splits"].items()) + f" -> {out}")


if __name__ == "__main__":
    from clinsynth.errors import run_stage

    run_stage(main)
