"""A real DVC repository in a temp dir: one stage reads prompt templates and writes a corpus and metrics."""

import subprocess
import sys
from pathlib import Path

import pytest

DVC = str(Path(sys.executable).with_name("dvc"))

STAGE_SCRIPT = '''
import json, pathlib
prompts = sorted(pathlib.Path("prompts/rephrase").glob("*.j2"))
out = pathlib.Path("data/synthetic/rephrase"); out.mkdir(parents=True, exist_ok=True)
texts = {p.stem: p.read_text().upper() for p in prompts}
(out / "records.jsonl").write_text("".join(json.dumps({"id": k, "text": v}) + "\\n" for k, v in texts.items()))
(out / "CARD.md").write_text("# Card\\n" + "\\n".join(sorted(texts)) + "\\n")
pathlib.Path("metrics").mkdir(exist_ok=True)
json.dump({p.stem: {"chars": len(p.read_text())} for p in prompts}, open("metrics/quality_rephrase.json", "w"), indent=1, sort_keys=True)
json.dump({"ner": {"baseline": {"f1": 0.5}, "augmented": {"f1": 0.5 + len(texts["general.v1"]) / 1000}}},
          open("metrics/brat_augment.json", "w"), indent=1, sort_keys=True)
json.dump({"nodes": 10}, open("metrics/kg.json", "w"))
'''

DVC_YAML = """
stages:
  postprocess:
    cmd: python make_corpus.py
    deps: [make_corpus.py, prompts/rephrase]
    params: [generate.temperature]
    outs: [data/synthetic/rephrase]
    metrics:
      - metrics/quality_rephrase.json: {cache: false}
      - metrics/brat_augment.json: {cache: false}
      - metrics/kg.json: {cache: false}
"""


def run(cmd, cwd, env=None):
    proc = subprocess.run(cmd, cwd=cwd, capture_output=True, text=True, env=env)
    assert proc.returncode == 0, f"{cmd} failed:\n{proc.stdout[-2000:]}\n{proc.stderr[-2000:]}"
    return proc.stdout


def git_commit(repo, message):
    run(["git", "add", "-A"], repo)
    run(["git", "-c", "user.email=t@t", "-c", "user.name=t", "commit", "-qm", message], repo)


class Shell:
    """Helpers handed to tests as a fixture (test modules can't import conftest under importlib mode)."""

    dvc = DVC
    run = staticmethod(run)
    commit = staticmethod(git_commit)


@pytest.fixture
def sh():
    return Shell


@pytest.fixture
def toy_repo(tmp_path):
    repo = tmp_path / "repo"
    (repo / "prompts/rephrase").mkdir(parents=True)
    for name in ("general.v1", "medical.v1", "style.v1"):
        (repo / f"prompts/rephrase/{name}.j2").write_text(f"Rephrase ({name}): {{{{ text }}}}\n")
    (repo / "make_corpus.py").write_text(STAGE_SCRIPT)
    (repo / "dvc.yaml").write_text(DVC_YAML)
    (repo / "params.yaml").write_text("generate:\n  temperature: 0.7\n")
    run(["git", "init", "-q"], repo)
    run([DVC, "init", "-q"], repo)
    run([DVC, "repro", "-q"], repo)
    git_commit(repo, "baseline")
    return repo
