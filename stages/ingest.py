"""Stage ingest: notes (JSONL | MIMIC CSV | .txt dir) -> data/interim/notes.jsonl + chunks.jsonl with splits."""

from __future__ import annotations

from pathlib import Path

from tqdm import tqdm

from clinsynth.corpus import (IngestConfig, Note, assign_splits, chunk_note, ingest_metrics, make_sentencizer,
                              read_sources, sentence_spans)
from clinsynth.inputs import check_inputs
from clinsynth.params import load_base, load_params
from clinsynth.records import write_json, write_jsonl


def main() -> None:
    base = load_base()
    cfg = load_params("ingest", IngestConfig)
    check_inputs()  # an input inside the demo's folder or outside raw_notes fails here, in words
    raw, bad = read_sources(cfg.inputs, cfg.min_note_chars, cfg.on_bad_row)
    splits = assign_splits([n.meta["patient_id"] for n in raw], cfg.split_fractions, base.seed)
    notes = sorted((Note(r.id, r.text, splits[r.meta["patient_id"]], r.meta) for r in raw), key=lambda n: n.id)
    nlp = make_sentencizer()
    chunks = [c for note in tqdm(notes, desc="chunking", unit="note")
              for c in chunk_note(note, sentence_spans(note.text, nlp), cfg.chunk_chars)]
    write_jsonl(base.paths.notes, notes)
    write_jsonl(base.paths.chunks, chunks)
    metrics = ingest_metrics(notes, chunks, bad)
    write_json(Path(base.paths.metrics) / "ingest.json", metrics)
    for row in bad:
        print(f"skipped {row.message()}")
    print(f"ingest: {metrics['notes']} notes, {metrics['patients']} patients, {metrics['chunks']} chunks, "
          f"{metrics['rejected_total']} rows rejected {metrics['rejected']}")


if __name__ == "__main__":
    from clinsynth.errors import run_stage

    run_stage(main)
