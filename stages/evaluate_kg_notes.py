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

import dataclasses
from pathlib import Path

from clinsynth.params import ConfigError, load_base, load_params
from clinsynth.records import read_json, write_json


@dataclasses.dataclass(frozen=True)
class EvaluateKgNotesConfig:
    results_dir: str  # train_icd's per-variant files
    variants: list[str]
    upsampled: list[str]  # the variants whose corpus includes the upsample (rare-code) draws
    quality: str  # kg_notes_corpora's metrics (symptom usage per variant)
    out: str


def arm_name(variant: str, upsampled: list[str]) -> str:
    return f"real+synthetic(upsampled rare codes)[{variant}]" if variant in upsampled else f"real+synthetic[{variant}]"


def side_by_side(results: dict[str, dict], upsampled: list[str]) -> dict:
    """``{model: {subset: {arm: metrics + synthetic_notes}}}`` with ``real`` first (results: variant -> train_icd file)."""
    table: dict = {}
    for variant, result in results.items():
        for model, subsets in result["augmented"].items():
            for subset, metrics in subsets.items():
                rows = table.setdefault(model, {}).setdefault(subset, {})
                rows.setdefault("real", {**result["baseline"][model][subset], "synthetic_notes": 0})
                rows[arm_name(variant, upsampled)] = {**metrics, "synthetic_notes": result["synthetic_notes"]}
    return table


def main() -> None:
    base = load_base()
    cfg = load_params("evaluate_kg_notes", EvaluateKgNotesConfig)
    unknown = sorted(set(cfg.upsampled) - set(cfg.variants))
    if unknown:
        raise ConfigError(f"params.yaml evaluate_kg_notes.upsampled {unknown}: not in evaluate_kg_notes.variants {cfg.variants}")
    quality = read_json(cfg.quality)["variants"]
    results = {variant: read_json(Path(cfg.results_dir) / f"{variant}.json") for variant in cfg.variants}
    table: dict = {"icd": {"baseline": {}, "augmented": {}}, "symptom_usage_mean": {}, "synthetic_notes": {}}
    for variant, result in results.items():
        for arm in ("baseline", "augmented"):
            table["icd"][arm][variant] = result[arm]
        table["synthetic_notes"][variant] = result["synthetic_notes"]
        table["symptom_usage_mean"][variant] = quality[variant]["symptom_usage"]["mean"]
        table |= {"test_notes": result["test_notes"], "train_notes": result["train_notes"], "rare_codes": result["rare_codes"]}
    table["arms"] = side_by_side(results, cfg.upsampled)
    write_json(cfg.out, table)
    for model, subsets in table["arms"].items():
        for subset, rows in subsets.items():
            print(f"evaluate_kg_notes: {model} {subset}: " + "; ".join(
                f"{arm} ({row['synthetic_notes']}) hit@1 {row['hit@1']} hit@5 {row['hit@5']}" for arm, row in rows.items()))


if __name__ == "__main__":
    from clinsynth.errors import run_stage

    run_stage(main)
