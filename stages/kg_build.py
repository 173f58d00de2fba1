"""Stage kg_build: the default KG from packaged ontologies -> <kg_build.out_dir>/*.ttl (line Turtle)."""

from __future__ import annotations

from pathlib import Path

from clinsynth.kg.build import KGBuildConfig, KGSelection, build_default_kg, write_kg_files
from clinsynth.params import load_base, load_params
from clinsynth.records import write_json


def main() -> None:
    base = load_base()
    cfg = load_params("kg_build", KGBuildConfig)
    built = build_default_kg(KGSelection(cfg.icd10cm_chapters, cfg.drugs))
    paths = write_kg_files(cfg.out_dir, built)
    write_json(Path(base.paths.metrics) / "kg_build.json", built.metrics)
    m = built.metrics
    print(f"kg_build: {m['triples_total']} triples in {len(paths)} files under {cfg.out_dir}; "
          f"ICD-10-CM codes {m['icd10cm']['codes']}, HPO terms {m['hpo']['terms']}, MeSH {m['mesh']['descriptors']}, "
          f"drugs {m['drugs']['drugs']}; faker symptoms matched to HPO {m['faker']['symptom_hpo_match_rate']:.1%}, "
          f"treatments matched to drugs {m['faker']['drug_match_rate']:.1%}")


if __name__ == "__main__":
    from clinsynth.errors import run_stage

    run_stage(main)
