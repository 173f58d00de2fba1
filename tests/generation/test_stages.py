"""sample@rephrase and generate@rephrase as stages, on the tiny model, in a temp project."""

from __future__ import annotations

import importlib.util
import shutil
from pathlib import Path

import pytest
import yaml

REPO = Path(__file__).resolve().parents[2]


def load_stage(name: str):
    spec = importlib.util.spec_from_file_location(f"stage_{name}", REPO / "stages" / f"{name}.py")
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


@pytest.fixture()
def project(tmp_path: Path, tiny_model_dir: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    shutil.copytree(REPO / "prompts", tmp_path / "prompts")
    (tmp_path / "data/interim").mkdir(parents=True)
    shutil.copy(REPO / "tests/fixtures/generation/chunks.jsonl", tmp_path / "data/interim/chunks.jsonl")
    params = yaml.safe_load((REPO / "params.yaml").read_text(encoding="utf-8"))
    params = {key: params[key] for key in ("base", "sample", "generate")}
    params["sample"]["rephrase"]["max_chunks"] = {"demo": 3, "full": 0}
    params["generate"]["transformers"].update(model=str(tiny_model_dir), threads=1, batch_size=4)
    params["generate"]["sampling"]["rephrase"]["max_new_tokens"] = 16
    (tmp_path / "params.yaml").write_text(yaml.safe_dump(params), encoding="utf-8")
    monkeypatch.chdir(tmp_path)
    return tmp_path


def test_fresh_and_cached_runs_write_identical_outputs(project: Path) -> None:
    load_stage("sample").main("rephrase")
    prompts = (project / "data/prompts/rephrase.jsonl").read_text(encoding="utf-8").splitlines()
    assert len(prompts) == 9  # 3 chunks x 3 templates
    generate = load_stage("generate")
    tracked = ["data/generations/rephrase.jsonl", "data/generations/rephrase.rejections.jsonl",
               "metrics/generate_rephrase.json"]
    generate.main("rephrase")
    first = {p: (project / p).read_bytes() for p in tracked}
    timing = (project / "metrics/timing/generate_rephrase.json").read_text(encoding="utf-8")
    assert '"cache_hits": 0' in timing
    generate.main("rephrase")
    assert {p: (project / p).read_bytes() for p in tracked} == first
    assert '"cache_hits": 9' in (project / "metrics/timing/generate_rephrase.json").read_text(encoding="utf-8")
    assert b"cached" not in first["data/generations/rephrase.jsonl"]
    import json

    import torch

    metrics = json.loads(first["metrics/generate_rephrase.json"])  # what ran, for dvc metrics diff
    assert (metrics["dtype"], metrics["torch"]) == ("float16", torch.__version__)
