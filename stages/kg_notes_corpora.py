"""Stage kg_notes_corpora: the gated kg_notes corpora -> one ICD training corpus per variant + metrics/kg_notes_corpora.json.

A variant's corpus is the records postprocess@<corpus> kept for its template and draw sets
(clinsynth.training.icd_corpora); ``<out_dir>/<variant>.jsonl`` is rewritten only when its content changed,
so train_icd@kg_notes-<variant> reruns only for the variants a template or adapter edit touched.
"""

from __future__ import annotations

from pathlib import Path

from clinsynth.params import load_base, load_params
from clinsynth.records import DroppedRecord, SyntheticRecord, dumps, read_records, write_json
from clinsynth.training.icd_corpora import KgNotesCorporaConfig, variant_corpora


def write_if_changed(path: Path, text: str) -> bool:
    if path.exists() and path.read_text(encoding="utf-8") == text:
        return False
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(text, encoding="utf-8")
    return True


def main() -> None:
    base = load_base()
    cfg = load_params("kg_notes_corpora", KgNotesCorporaConfig)
    folders = {v.corpus: Path(cfg.synthetic_dir) / v.corpus for v in cfg.variants.values()}
    gated = {c: (read_records(f / "records.jsonl", SyntheticRecord), read_records(f / "dropped.jsonl", DroppedRecord))
             for c, f in folders.items()}
    result = variant_corpora(gated, cfg)
    out = Path(cfg.out_dir)
    for name, records in result.corpora.items():
        changed = write_if_changed(out / f"{name}.jsonl", "".join(dumps(r) + "\n" for r in records))
        m = result.metrics["variants"][name]
        print(f"kg_notes_corpora: {name}: {m['answers']} answers, {m['kept']} kept, dropped at postprocess "
              f"{m['dropped_at_postprocess']}, rejected at generation {m['rejected_at_generation']} "
              f"{'(rewritten)' if changed else '(unchanged)'}")
    for stale in out.glob("*.jsonl"):
        if stale.stem not in cfg.variants:
            stale.unlink()
    write_json(Path(base.paths.metrics) / "kg_notes_corpora.json", result.metrics)


if __name__ == "__main__":
    from clinsynth.errors import run_stage

    run_stage(main)
