"""Stage demo_data@synthea: Synthea patients -> <out_dir>/notes/notes.jsonl + <out_dir>/fhir/*.json.

It writes only under demo_data.out_dir (data/demo), never at an input path of base.paths: a user's own notes
can never be replaced by the demo's (clinsynth.inputs).
"""

from __future__ import annotations

import json
import shutil
import tempfile
from pathlib import Path

from clinsynth.demo_data import DemoDataConfig, build_demo, load_crosswalk, run_synthea
from clinsynth.params import load_base, load_params
from clinsynth.records import write_json, write_jsonl


def main() -> None:
    base = load_base()
    cfg = load_params("demo_data", DemoDataConfig)
    with tempfile.TemporaryDirectory(prefix="clinsynth-synthea-") as tmp:
        fhir_dir = run_synthea(Path(tmp), cfg.patients, base.seed, cfg.reference_date, cfg.exclude_resources)
        bundles = {p.name: json.loads(p.read_text(encoding="utf-8")) for p in sorted(fhir_dir.glob("*.json"))}
    result = build_demo(bundles, load_crosswalk(cfg.crosswalk), cfg.exclude_resources)

    notes_dir, fhir_out = Path(cfg.out_dir) / "notes", Path(cfg.out_dir) / "fhir"
    for folder in (notes_dir, fhir_out):
        shutil.rmtree(folder, ignore_errors=True)
        folder.mkdir(parents=True)
    write_jsonl(notes_dir / "notes.jsonl", result.notes)
    for name, bundle in result.bundles.items():
        (fhir_out / name).write_text(json.dumps(bundle, sort_keys=True, ensure_ascii=False), encoding="utf-8")
    write_json(Path(base.paths.metrics) / "demo_data.json", result.metrics)
    print(f"demo_data: {result.metrics['patients']} patients, {result.metrics['notes']} notes "
          f"({result.metrics['notes_with_icd10']} with ICD-10-CM labels), {len(result.bundles)} bundles")


if __name__ == "__main__":
    from clinsynth.errors import run_stage

    run_stage(main)
