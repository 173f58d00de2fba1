"""The kg_build and kg sections of the repository's params.yaml load into their stage dataclasses."""

import importlib.util
import sys
from pathlib import Path

import pytest

from clinsynth.params import ConfigError, from_mapping, load_params

ROOT = Path(__file__).resolve().parents[2]


def stage_module(name: str):
    spec = importlib.util.spec_from_file_location(f"stage_{name}", ROOT / "stages" / f"{name}.py")
    module = importlib.util.module_from_spec(spec)
    sys.modules[spec.name] = module  # dataclasses look their module up there
    spec.loader.exec_module(module)
    return module


def test_params_sections_load():
    build = load_params("kg_build", stage_module("kg_build").KGBuildConfig, ROOT / "params.yaml")
    assert build.out_dir.startswith("data/raw/kg/")
    kg = load_params("kg", stage_module("kg").KGConfig, ROOT / "params.yaml")
    assert [s.path for s in kg.sources][0] == f"{build.out_dir}/icd10cm.ttl"


def test_bad_node_type_is_a_config_error():
    config = stage_module("kg").KGConfig
    with pytest.raises(ConfigError, match=r"kg\.sources\[0\]\.node_type: expected"):
        from_mapping(config, {"sources": [{"path": "x.obo", "node_type": "Gene"}]}, "kg")
