"""docs/scale.md in real temp DVC repositories: the sharded dvc.yaml block, and `dvc exp run -S` experiments."""

from __future__ import annotations

import importlib.util
import json
import os
import re
import shutil
import sys
from pathlib import Path

import pytest
import yaml

REPO = Path(__file__).resolve().parents[2]
GENERATED = ["data/generations/rephrase.jsonl", "data/generations/rephrase.rejections.jsonl",
             "metrics/generate_rephrase.json"]


def venv_env() -> dict[str, str]:
    """Stages run `python stages/...`: the venv's interpreter first on PATH, as `make demo` does."""
    return {**os.environ, "PATH": f"{Path(sys.executable).parent}{os.pathsep}{os.environ.get('PATH', '')}"}


def sharded_block() -> str:
    text = (REPO / "docs/scale.md").read_text(encoding="utf-8")
    match = re.search(r"<!-- sharded-dvc-yaml:start -->\n```yaml\n(.*?)```\n<!-- sharded-dvc-yaml:end -->", text, re.S)
    assert match, "docs/scale.md lost its sharded dvc.yaml block"
    return match[1]


def load_stage(name: str):
    spec = importlib.util.spec_from_file_location(f"stage_{name}_scale", REPO / "stages" / f"{name}.py")
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def new_repo(root: Path, sections: tuple[str, ...], sh) -> dict:
    """git + dvc repo with the prompts, the stage scripts and the code DVC tracks as deps, and the fixture chunks."""
    shutil.copytree(REPO / "prompts", root / "prompts")
    shutil.copytree(REPO / "stages", root / "stages")
    shutil.copytree(REPO / "src/clinsynth", root / "src/clinsynth", ignore=shutil.ignore_patterns("__pycache__"))
    (root / "data/interim").mkdir(parents=True)
    shutil.copy(REPO / "tests/fixtures/generation/chunks.jsonl", root / "data/interim/chunks.jsonl")
    (root / ".gitignore").write_text(".clinsynth/\nmetrics/timing/\n", encoding="utf-8")
    params = yaml.safe_load((REPO / "params.yaml").read_text(encoding="utf-8"))
    sh.run(["git", "init", "-q"], root)
    sh.run([sh.dvc, "init", "-q"], root)
    return {key: params[key] for key in sections}


@pytest.mark.slow
def test_sharded_dvc_yaml_from_the_docs_reproduces_the_unsharded_files(tmp_path, tiny_model_dir, sh, monkeypatch):
    repo = tmp_path / "repo"
    params = new_repo(repo, ("base", "sample", "generate"), sh)
    shutil.copytree(tiny_model_dir, repo / "models/tiny")
    params["sample"]["rephrase"].update(max_chunks=3, max_chars=0)
    params["generate"]["transformers"].update(model="models/tiny", threads=1, batch_size=1, dtype="bfloat16")
    params["generate"]["sampling"]["rephrase"]["max_new_tokens"] = 16
    params["generate"]["shards"] = 3
    (repo / "params.yaml").write_text(yaml.safe_dump(params), encoding="utf-8")
    monkeypatch.chdir(repo)
    load_stage("sample").main("rephrase")  # the prompts, as a plain committed input

    reference = tmp_path / "unsharded"  # the unsharded stage in a copy, with its own (fresh) cache
    shutil.copytree(repo, reference, ignore=shutil.ignore_patterns(".git", ".dvc"))
    monkeypatch.chdir(reference)
    load_stage("generate").main("rephrase")
    expected = {p: (reference / p).read_bytes() for p in GENERATED}

    monkeypatch.chdir(repo)
    (repo / "dvc.yaml").write_text("stages:\n" + sharded_block(), encoding="utf-8")
    sh.commit(repo, "sharded generate@rephrase")
    stages = sh.run([sh.dvc, "stage", "list", "--name-only"], repo).split()
    assert stages == ["generate_shard@rephrase-0", "generate_shard@rephrase-1", "generate_shard@rephrase-2",
                      "generate@rephrase"]
    sh.run([sh.dvc, "repro", "-q"], repo, env=venv_env())
    assert {p: (repo / p).read_bytes() for p in GENERATED} == expected
    for i in range(3):
        timing = json.loads((repo / f"metrics/timing/generate_rephrase.shard-{i}-of-3.json").read_text())
        assert timing["cache_hits"] == 0  # each shard generated its own replies
    assert "up to date" in sh.run([sh.dvc, "status"], repo)


EXP_DVC_YAML = """
stages:
  sample:
    foreach: [rephrase]
    do:
      cmd: python stages/sample.py ${item}
      deps: [stages/sample.py, src/clinsynth/prompting.py, src/clinsynth/recipes, prompts/rephrase,
             data/interim/chunks.jsonl]
      params:
        - base.seed
        - sample.${item}
      outs:
        - data/prompts/${item}.jsonl
      metrics:
        - metrics/sample_${item}.json: {cache: false}
"""


@pytest.mark.slow
def test_dvc_exp_run_set_param_gives_comparable_experiments(tmp_path, sh):
    repo = tmp_path / "repo"
    params = new_repo(repo, ("base", "sample"), sh)
    params["sample"]["rephrase"].update(max_chars=0)
    (repo / "params.yaml").write_text(yaml.safe_dump(params), encoding="utf-8")
    (repo / "dvc.yaml").write_text(EXP_DVC_YAML, encoding="utf-8")
    sh.run([sh.dvc, "repro", "-q"], repo, env=venv_env())
    sh.commit(repo, "baseline")
    for name, chunks in (("chunks2", 2), ("chunks3", 3)):
        sh.run([sh.dvc, "exp", "run", "-q", "-n", name, "-S", f"sample.rephrase.max_chunks={chunks}"], repo,
               env=venv_env())
    shown = json.loads(sh.run([sh.dvc, "exp", "show", "--json"], repo))
    found = {}
    for baseline in shown:
        for exp in baseline.get("experiments") or []:
            for rev in exp["revs"]:
                data = rev["data"]
                chunks = data["params"]["params.yaml"]["data"]["sample"]["rephrase"]["max_chunks"]
                prompts = data["metrics"]["metrics/sample_rephrase.json"]["data"]["prompts"]
                found[rev["name"]] = (chunks, prompts)
    assert found == {"chunks2": (2, 6), "chunks3": (3, 9)}  # 3 templates per chunk
