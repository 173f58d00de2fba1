"""The kg_build and kg sections of the repository's params.yaml load into their stage dataclasses."""

from pathlib import Path

import pytest

from clinsynth.kg.build import KGBuildConfig
from clinsynth.kg.convert import KGConfig
from clinsynth.params import ConfigError, from_mapping, load_params

ROOT = Path(__file__).resolve().parents[2]


def test_params_sections_load():
    build = load_params("kg_build", KGBuildConfig, ROOT / "params.yaml")
    assert build.out_dir.startswith("data/raw/kg/")
    kg = load_params("kg", KGConfig, ROOT / "params.yaml")
    assert [s.path for s in kg.sources][0] == f"{build.out_dir}/icd10cm.ttl"


def test_bad_node_type_is_a_config_error():
    config = KGConfig
    with pytest.raises(ConfigError, match=r"kg\.sources\[0\]\.node_type: expected"):
        from_mapping(config, {"sources": [{"path": "x.obo", "node_type": "Gene"}]}, "kg")
