"""README "Using your own data", followed literally, with notes inside the repository and outside it.

A fresh copy of the repository (tracked and untracked-but-not-ignored files), 36 patient-written notes
(tests/fixtures/own_notes: id, text, patient_id only), README's params block merged into params.yaml (plus
``base.profile: ci``, the small profile) and README's commands run as written: the notes-only recipes (rephrase, and
retrieval_queries with held-out queries from KG mentions) reach their metrics, the notes file is byte-identical, and
`dvc status` names no stage of a switched-off recipe.
"""

from __future__ import annotations

import hashlib
import json
import os
import re
import shlex
import shutil
import subprocess
import sys
from pathlib import Path

import pytest
import yaml

from clinsynth.inputs import CORPORA, EVALUATE_STAGES, NEEDS

ROOT = Path(__file__).resolve().parents[1]
FIXTURE = ROOT / "tests/fixtures/own_notes/notes.jsonl"
BIN = Path(sys.executable).parent


def readme_block(name: str) -> str:
    text = (ROOT / "README.md").read_text(encoding="utf-8")
    match = re.search(rf"<!-- own-data-{name}:start -->\n```\w+\n(.*?)```\n<!-- own-data-{name}:end -->", text, re.S)
    assert match, f"README.md lost its own-data-{name} block"
    return match.group(1)


def merge(params: dict, edit: dict) -> None:
    for key, value in edit.items():
        if isinstance(value, dict) and isinstance(params.get(key), dict):
            merge(params[key], value)
        else:
            params[key] = value


def run(cmd: list[str], cwd: Path) -> str:
    # the copy's own code: its src/ first (the venv's editable install points at another checkout)
    env = {**os.environ, "PATH": f"{BIN}{os.pathsep}{os.environ.get('PATH', '')}", "PYTHONPATH": str(cwd / "src")}
    proc = subprocess.run(cmd, cwd=cwd, capture_output=True, text=True, env=env)
    assert proc.returncode == 0, f"{cmd} failed:\n{proc.stdout[-4000:]}\n{proc.stderr[-4000:]}"
    return proc.stdout + proc.stderr


def owned_by(stage: str, recipe: str) -> bool:
    suffix = stage.partition("@")[2]
    return suffix == recipe or suffix.startswith(recipe + "-") or suffix in CORPORA[recipe]


# Both placements ingest the same notes into the same data/interim files, so every stage after ingest has the same
# inputs: the second run shares the first's DVC cache (its run-cache restores those stages' outputs, as it does for a
# team sharing one cache) and its generation cache (replies of any stage that does run again). Measured on 2 AVX2
# cores: the second placement took 8.2 min with the generation cache alone.
_SHARED_CACHE: list[Path] = []  # [generation cache copy, the first run's DVC cache directory]


@pytest.mark.slow
@pytest.mark.parametrize("where", ["inside", "outside"])
def test_readme_own_notes_reach_the_rephrase_and_retrieval_metrics_and_stay_untouched(tmp_path, where, copy_checkout):
    repo = copy_checkout(tmp_path / "repo")
    cache = repo / ".clinsynth/cache.sqlite"  # base.paths.cache
    if _SHARED_CACHE:
        cache.parent.mkdir(parents=True, exist_ok=True)
        shutil.copy2(_SHARED_CACHE[0], cache)
        run(["dvc", "config", "--local", "cache.dir", str(_SHARED_CACHE[1])], repo)
    folder = repo / "data/own" if where == "inside" else tmp_path / "secure/notes"
    folder.mkdir(parents=True)
    notes = folder / "notes.jsonl"
    shutil.copy2(FIXTURE, notes)
    digest = hashlib.sha256(notes.read_bytes()).hexdigest()

    block = readme_block("params")
    if where == "outside":  # README: "the same with /secure/notes for data/own"
        block = block.replace("data/own", str(folder))
    params = yaml.safe_load((repo / "params.yaml").read_text())
    merge(params, yaml.safe_load(block))
    params["base"]["profile"] = "ci"
    (repo / "params.yaml").write_text(yaml.safe_dump(params, sort_keys=False))

    out = {}
    for line in readme_block("commands").splitlines():
        words = shlex.split(line, comments=True)
        if words:
            out[" ".join(words[:2])] = run(words, repo)

    enabled = ["rephrase", "retrieval_queries"]
    off = [r for r in NEEDS if r not in enabled]
    assert "recipes on: rephrase, retrieval_queries; off: " + ", ".join(off) in out["clinsynth recipes"]
    assert "switched off" in out["clinsynth run"] and "$ dvc repro" in out["clinsynth run"]
    assert "Data and pipelines are up to date." in out["dvc status"]
    if not _SHARED_CACHE and cache.exists():
        _SHARED_CACHE.extend([shutil.copy2(cache, tmp_path / "generation_cache.sqlite"), repo / ".dvc/cache"])
    stages = set(run(["dvc", "stage", "list", "--name-only"], repo).split())
    assert {f"{EVALUATE_STAGES[r]}@{r}" for r in enabled} <= stages and "report" in stages
    assert not [s for s in stages if any(owned_by(s, r) for r in off)]
    assert not [s for s in stages if s.startswith(("demo_data", "brat_silver"))]

    assert hashlib.sha256(notes.read_bytes()).hexdigest() == digest, "the notes file was modified"
    assert sorted(p.name for p in folder.iterdir()) == ["notes.jsonl"], "something was written beside the notes"
    demo = repo / "data/demo"
    assert not demo.exists() or not [p for p in demo.rglob("*") if p.is_file() and p.name != ".gitignore"]

    ingest = json.loads((repo / "metrics/ingest.json").read_text())
    assert ingest["notes"] == sum(1 for _ in FIXTURE.open())
    lock = yaml.safe_load((repo / "dvc.lock").read_text())["stages"]
    assert {"evaluate_rephrase@rephrase", "evaluate_retrieval@retrieval_queries"} <= set(lock)  # (DVC keeps others)
    table = json.loads((repo / "metrics/rephrase.json").read_text())
    assert table, "metrics/rephrase.json is empty"
    queryset = json.loads((repo / "metrics/retrieval_queryset.json").read_text())
    assert queryset["source"] == "kg" and queryset["queries"] > 0  # no coded record: queries from KG mentions
    retrieval = json.loads((repo / "metrics/retrieval.json").read_text())
    assert retrieval["queries"] == queryset["queries"] and "bm25" in retrieval["systems"]
    page = (repo / "reports/index.html").read_text()
    assert "retrieval: not enabled" not in page and "kg_notes: not enabled" in page
