"""Stage evaluate_kg_notes: per-variant ICD results + fidelity -> metrics/icd.json.

Two views of the same figures:

* ``icd.baseline.<variant>.<model>.<all|rare>.<metric>`` and ``icd.augmented.<variant>...`` differ only by
  ``baseline``/``augmented`` (``clinsynth diff`` pairs them); the baseline (real notes only) is the same model
  for every variant and repeated under each so every pair is complete.
* ``arms.<model>.<all|rare>.<arm>.<metric>``: the issue's side-by-side table, one row per training set:
  ``real``, ``real+synthetic[<variant>]`` (the main draws) and ``real+synthetic(upsampled rare
  codes)[<variant>]`` (variants whose corpus adds sample@kg_notes' upsample draws), each with its
  synthetic note count; same seed and head budget for every row.
"""

from __future__ import annotations

from pathlib import Path

from clinsynth.evaluation.icd import EvaluateKgNotesConfig, kg_notes_table
from clinsynth.params import load_params
from clinsynth.records import read_json, write_json


def main() -> None:
    cfg = load_params("evaluate_kg_notes", EvaluateKgNotesConfig)  # checks upsampled <= variants
    quality = read_json(cfg.quality)["variants"]
    results = {variant: read_json(Path(cfg.results_dir) / f"{variant}.json") for variant in cfg.variants}
    table = kg_notes_table(results, quality, cfg.upsampled)
    write_json(cfg.out, table)
    for model, subsets in table["arms"].items():
        for subset, rows in subsets.items():
            print(f"evaluate_kg_notes: {model} {subset}: " + "; ".join(
                f"{arm} ({row['synthetic_notes']}) hit@1 {row['hit@1']} hit@5 {row['hit@5']}" for arm, row in rows.items()))


if __name__ == "__main__":
    from clinsynth.errors import run_stage

    run_stage(main)
