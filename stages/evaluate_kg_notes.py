"""Stage evaluate_kg_notes: per-variant ICD results + fidelity -> metrics/kg_notes.json.

Keys ``icd.baseline.<variant>.<model>.<all|rare>.<metric>`` and ``icd.augmented.<variant>...`` differ only by
``baseline``/``augmented`` (``clinsynth diff`` pairs them); the baseline (real notes only) is the same model
for every variant and repeated under each so every pair is complete.
"""

from __future__ import annotations

import dataclasses
from pathlib import Path

from clinsynth.params import load_base, load_params
from clinsynth.records import read_json, write_json


@dataclasses.dataclass(frozen=True)
class EvaluateKgNotesConfig:
    results_dir: str  # train_icd's per-variant files
    variants: list[str]
    quality: str  # kg_notes_corpora's metrics (symptom usage per variant)
    out: str


def main() -> None:
    base = load_base()
    cfg = load_params("evaluate_kg_notes", EvaluateKgNotesConfig)
    quality = read_json(cfg.quality)["variants"]
    table: dict = {"icd": {"baseline": {}, "augmented": {}}, "symptom_usage_mean": {}, "synthetic_notes": {}}
    for variant in cfg.variants:
        result = read_json(Path(cfg.results_dir) / f"{variant}.json")
        for arm in ("baseline", "augmented"):
            table["icd"][arm][variant] = result[arm]
        table["synthetic_notes"][variant] = result["synthetic_notes"]
        table["symptom_usage_mean"][variant] = quality[variant]["symptom_usage"]["mean"]
        table |= {"test_notes": result["test_notes"], "train_notes": result["train_notes"], "rare_codes": result["rare_codes"]}
    write_json(cfg.out, table)
    for variant in cfg.variants:
        b, a = table["icd"]["baseline"][variant], table["icd"]["augmented"][variant]
        print(f"evaluate_kg_notes: {variant}: " + "; ".join(
            f"{m} hit@1 all {b[m]['all']['hit@1']} -> {a[m]['all']['hit@1']}, rare {b[m]['rare']['hit@1']} -> {a[m]['rare']['hit@1']}"
            for m in b))


if __name__ == "__main__":
    main()
