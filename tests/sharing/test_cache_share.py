"""docs/sharing.md's generation cache sharing, with real DVC repositories, a local remote and the packaged SmolLM2.

A colleague who pulls the shared cache reproduces the outputs byte for byte without one model call, and
`dvc repro` leaves `git status` and dvc.lock unchanged.
"""

from __future__ import annotations

import json
import os
import shutil
import sys
from pathlib import Path

import pytest
import yaml

REPO = Path(__file__).resolve().parents[2]
GENERATED = ["data/generations/rephrase.jsonl", "data/generations/rephrase.rejections.jsonl",
             "metrics/generate_rephrase.json"]
DVC_YAML = """
stages:
  sample:
    cmd: python stages/sample.py rephrase
    deps: [stages/sample.py, prompts/rephrase, data/interim/chunks.jsonl]
    params: [base.seed, sample.rephrase]
    outs: [data/prompts/rephrase.jsonl]
    metrics:
      - metrics/sample_rephrase.json: {cache: false}
  generate:
    cmd: python stages/generate.py rephrase
    deps: [stages/generate.py, data/prompts/rephrase.jsonl]
    params: [generate.transformers, generate.sampling.rephrase]
    outs: [data/generations/rephrase.jsonl, data/generations/rephrase.rejections.jsonl]
    metrics:
      - metrics/generate_rephrase.json: {cache: false}
"""


def env() -> dict[str, str]:
    """The venv first on PATH (stages run `python`), this checkout's clinsynth first on PYTHONPATH."""
    path = os.pathsep.join(filter(None, [str(REPO / "src"), os.environ.get("PYTHONPATH")]))
    return {**os.environ, "PATH": f"{Path(sys.executable).parent}{os.pathsep}{os.environ.get('PATH', '')}",
            "PYTHONPATH": path}


@pytest.fixture(scope="module")
def smollm2(tmp_path_factory: pytest.TempPathFactory) -> Path:
    from clinsynth.generation.model_store import convert_gguf, packaged_gguf

    out = tmp_path_factory.mktemp("smollm2") / "smollm2-135m-instruct"
    convert_gguf(packaged_gguf(), out, "smollm2-135m-instruct")
    return out


def new_repo(root: Path, model: Path, sh) -> None:
    shutil.copytree(REPO / "prompts", root / "prompts")
    (root / "stages").mkdir(parents=True)
    for name in ("sample", "generate"):
        shutil.copy(REPO / f"stages/{name}.py", root / f"stages/{name}.py")
    (root / "data/interim").mkdir(parents=True)
    shutil.copy(REPO / "tests/fixtures/generation/chunks.jsonl", root / "data/interim/chunks.jsonl")
    (root / ".gitignore").write_text("/.clinsynth/\n/metrics/timing/\n", encoding="utf-8")
    params = yaml.safe_load((REPO / "params.yaml").read_text(encoding="utf-8"))
    params = {key: params[key] for key in ("base", "sample", "generate")}
    params["sample"]["rephrase"].update(max_chunks=2, max_chars=0)  # 2 chunks x 3 templates: 6 requests
    params["generate"]["transformers"].update(model=str(model), threads=1)
    params["generate"]["sampling"]["rephrase"]["max_new_tokens"] = 12
    (root / "params.yaml").write_text(yaml.safe_dump(params), encoding="utf-8")
    (root / "dvc.yaml").write_text(DVC_YAML, encoding="utf-8")
    sh.run(["git", "init", "-q"], root)
    sh.run([sh.dvc, "init", "-q"], root)


def clinsynth(args: list[str], cwd: Path, sh) -> str:
    return sh.run([sys.executable, "-m", "clinsynth.cli", "cache", *args], cwd, env=env())


@pytest.mark.slow
def test_a_pulled_cache_reproduces_the_outputs_without_a_model_call(tmp_path: Path, smollm2: Path, sh) -> None:
    a, b = tmp_path / "a", tmp_path / "b"
    new_repo(a, smollm2, sh)
    sh.run([sh.dvc, "remote", "add", "-d", "team", str(tmp_path / "remote")], a)
    sh.run([sh.dvc, "repro", "-q"], a, env=env())
    assert json.loads((a / "metrics/timing/generate_rephrase.json").read_text())["generated"] == 6
    pushed = clinsynth(["push"], a, sh)
    assert "shared_cache/generations.jsonl: 6 rows written" in pushed
    assert "git add shared_cache/generations.jsonl.dvc shared_cache/.gitignore" in pushed
    sh.commit(a, "outputs and the shared generation cache")
    # A second push pulls and merges the committed artefact first, then writes the same bytes: nothing to commit.
    again = clinsynth(["push"], a, sh)
    assert "6 rows: 0 added, 6 already present, 0 conflicts" in again
    assert sh.run(["git", "status", "--porcelain"], a) == ""

    sh.run(["git", "clone", "-q", str(a), str(b)], tmp_path)
    pulled = clinsynth(["pull"], b, sh)
    assert "6 rows: 6 added, 0 already present, 0 conflicts (local kept)" in pulled
    lock = (b / "dvc.lock").read_bytes()
    sh.run([sh.dvc, "repro", "-q"], b, env=env())
    timing = json.loads((b / "metrics/timing/generate_rephrase.json").read_text())
    assert (timing["cache_hits"], timing["generated"]) == (6, 0)  # not one model call
    for rel in GENERATED:
        assert (b / rel).read_bytes() == (a / rel).read_bytes(), rel
    assert (b / "dvc.lock").read_bytes() == lock
    assert sh.run(["git", "status", "--porcelain"], b) == ""
    metrics = json.loads((b / "metrics/generate_rephrase.json").read_text())
    assert metrics["dtype"] == "float16" and metrics["completions"] == 6


def put_rows(path: Path, rows: dict[str, str]) -> None:
    from clinsynth.generation.cache import GenerationCache
    from clinsynth.generation.types import Completion

    with GenerationCache(path) as cache:
        for key, text in rows.items():
            cache.put(key, "m@ab;float16;decode-v1", Completion("p", text, "stop", 2, 1))


def test_two_colleagues_push_and_pull_through_a_local_remote(tmp_path: Path, sh) -> None:
    """Each push merges the committed artefact first, so the remote's artefact is the union; conflicts stay local."""
    import subprocess

    k1, k2, k3 = "1" * 64, "2" * 64, "3" * 64
    a, b = tmp_path / "a", tmp_path / "b"
    a.mkdir()
    sh.run(["git", "init", "-q"], a)
    sh.run([sh.dvc, "init", "-q"], a)
    sh.run([sh.dvc, "remote", "add", "-d", "team", str(tmp_path / "remote")], a)
    put_rows(a / ".clinsynth/cache.sqlite", {k1: "x", k2: "y"})
    (a / ".gitignore").write_text("/.clinsynth/\n", encoding="utf-8")
    args = ["--cache", ".clinsynth/cache.sqlite", "--artefact", "shared_cache/generations.jsonl"]
    clinsynth(["push", *args], a, sh)
    sh.commit(a, "cache")
    sh.run(["git", "clone", "-q", str(a), str(b)], tmp_path)

    put_rows(b / ".clinsynth/cache.sqlite", {k2: "other", k3: "z"})
    pulled = clinsynth(["pull", *args], b, sh)
    assert "2 rows: 1 added, 0 already present, 1 conflicts (local kept)" in pulled
    assert "conflict: key 2222222222222222... (m@ab;float16;decode-v1): text differ; local 'other' vs shared 'y'" \
        in pulled
    strict = subprocess.run([sys.executable, "-m", "clinsynth.cli", "cache", "pull", "--fail-on-conflict", *args],
                            cwd=b, env=env(), capture_output=True, text=True)
    assert strict.returncode == 1
    assert "shared_cache/generations.jsonl: 3 rows written" in clinsynth(["push", *args], b, sh)
    sh.commit(b, "cache from b")

    sh.run(["git", "pull", "-q", str(b), "HEAD"], a)
    pulled = clinsynth(["pull", *args], a, sh)
    assert "3 rows: 1 added, 1 already present, 1 conflicts (local kept)" in pulled  # k3 added, k2 kept 'y'
    shared = [json.loads(line) for line in (a / "shared_cache/generations.jsonl").read_text().splitlines()]
    assert [(row["key"], row["text"]) for row in shared] == [(k1, "x"), (k2, "other"), (k3, "z")]
