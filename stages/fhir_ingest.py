"""Stage fhir_ingest: FHIR R4 bundles -> data/interim/fhir/resources.jsonl (flattened, with splits)."""

from __future__ import annotations

import time
from pathlib import Path

from clinsynth.fhir.ingest import FhirIngestConfig, ingest_records, read_records
from clinsynth.inputs import check_inputs
from clinsynth.params import load_base, load_params, read_params
from clinsynth.records import write_json, write_jsonl


def main() -> None:
    base = load_base()
    cfg = load_params("fhir_ingest", FhirIngestConfig)
    check_inputs()  # an input inside the demo's folder or outside raw_notes fails here, in words
    fractions = read_params()["ingest"]["split_fractions"]  # the notes' fractions: splits agree by patient id
    start = time.perf_counter()
    records = read_records(base.paths.raw_fhir, cfg.validate, cfg.keep_types)
    read_seconds = time.perf_counter() - start
    result = ingest_records(records, cfg.keep_types, fractions, base.seed, cfg.validate)
    write_jsonl(cfg.resources, result.resources)
    write_json(Path(base.paths.metrics) / "fhir_ingest.json", result.metrics)
    write_json(Path(base.paths.metrics) / "timing" / "fhir_ingest.json",
               {"read_and_validate_seconds": round(read_seconds, 2), "resources_read": result.metrics["resources_read"]})
    m = result.metrics
    print(f"fhir_ingest: {m['bundles']} bundles, {m['resources_read']} resources read and validated ({cfg.validate}) "
          f"in {read_seconds:.1f} s, {m['resources_kept']} kept, splits {m['splits']}")


if __name__ == "__main__":
    from clinsynth.errors import run_stage

    run_stage(main)
