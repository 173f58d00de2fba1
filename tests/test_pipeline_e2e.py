"""End to end: the foundation of the demo pipeline (demo data, ingest, KG) with real DVC in a temporary copy."""

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]
DVC = str(Path(sys.executable).with_name("dvc"))


def run(cmd, cwd):
    # Stages run `python stages/...`: the venv's interpreter must come first on PATH, as `make demo` does.
    env = {**os.environ, "PATH": f"{Path(sys.executable).parent}{os.pathsep}{os.environ.get('PATH', '')}"}
    proc = subprocess.run(cmd, cwd=cwd, capture_output=True, text=True, env=env)
    assert proc.returncode == 0, f"{cmd} failed:\n{proc.stdout[-3000:]}\n{proc.stderr[-3000:]}"
    return proc.stdout


@pytest.fixture(scope="module")
def repo_copy(tmp_path_factory, copy_checkout):
    """Tracked and untracked-but-not-ignored files only: what a fresh clone would hold."""
    return copy_checkout(tmp_path_factory.mktemp("clinsynth") / "repo")


FOUNDATION_TARGETS = ["ingest", "kg"]  # the LLM recipes are reproduced by their own stage tests (see README)


@pytest.mark.slow
def test_dvc_repro_runs_the_foundation_then_is_a_no_op(repo_copy):
    run([DVC, "repro", *FOUNDATION_TARGETS], repo_copy)
    ingest = json.loads((repo_copy / "metrics/ingest.json").read_text())
    assert ingest["notes"] > 100 and set(ingest["splits"]) == {"train", "dev", "test"}
    # Same params and code: the foundation's committed metrics come out byte-identical ...
    foundation = ["metrics/demo_data.json", "metrics/ingest.json", "metrics/kg_build.json", "metrics/kg.json"]
    assert run(["git", "status", "--porcelain", "--", *foundation], repo_copy) == ""
    # ... and a second run has nothing to do.
    second = run([DVC, "repro", *FOUNDATION_TARGETS], repo_copy)
    assert "Running stage" not in second
    assert "Data and pipelines are up to date." in run([DVC, "status", *FOUNDATION_TARGETS], repo_copy)


@pytest.mark.slow
def test_changing_chunk_chars_reruns_ingest_not_demo_data(repo_copy):
    params = repo_copy / "params.yaml"
    params.write_text(params.read_text().replace("chunk_chars: 1000", "chunk_chars: 700"))
    out = run([DVC, "repro", "ingest"], repo_copy)
    assert "Running stage 'ingest'" in out and "Running stage 'demo_data'" not in out
    status = json.loads(run([DVC, "status", "--json", *FOUNDATION_TARGETS], repo_copy) or "{}")
    assert "ingest" not in status and "demo_data" not in status


def declared_outputs(repo: Path) -> dict[str, list[str]]:
    """Every stage of the resolved dvc.yaml with its metrics and plots files (DVC's own view of the DAG)."""
    from dvc.repo import Repo

    with Repo(str(repo)) as dvc_repo:
        return {stage.name: [str(out.fs_path) for out in stage.outs if out.metric or out.plot]
                for stage in dvc_repo.index.stages}


@pytest.fixture(scope="module")
def ci_copy(tmp_path_factory, copy_checkout):
    """A second fresh-clone copy switched to the ci profile (the foundation tests keep the demo's)."""
    dest = copy_checkout(tmp_path_factory.mktemp("clinsynth_ci") / "repo")
    params = dest / "params.yaml"
    text = params.read_text()
    assert "\n  profile: demo " in text
    params.write_text(text.replace("\n  profile: demo ", "\n  profile: ci   ", 1))
    run(["git", "-c", "user.email=t@t", "-c", "user.name=t", "commit", "-qam", "ci profile"], dest)
    return dest


@pytest.mark.slow
def test_the_whole_dag_runs_on_the_ci_profile_then_is_a_no_op(ci_copy):
    """Every stage of dvc.yaml, end to end, as `make demo` runs it (`clinsynth run`), on the ci profile."""
    stages = declared_outputs(ci_copy)
    assert len(stages) > 40, sorted(stages)
    clinsynth = str(Path(sys.executable).with_name("clinsynth"))
    run([clinsynth, "preflight"], ci_copy)
    out = run([clinsynth, "run"], ci_copy)
    ran = {line.split("'")[1] for line in out.splitlines() if line.startswith("Running stage '")}
    assert ran == set(stages), f"not run: {sorted(set(stages) - ran)}"
    missing = [f"{stage}: {path}" for stage, paths in stages.items() for path in paths if not Path(path).exists()]
    assert not missing, "metrics/plots not written:\n" + "\n".join(missing)
    for stage, paths in stages.items():
        for path in paths:
            if path.endswith(".json") and "/plots/" not in path:
                assert json.loads(Path(path).read_text()), f"{stage}: {path} is empty"
    # Same params, same code: nothing left to do.
    second = run([DVC, "repro"], ci_copy)
    assert "Running stage" not in second, second[-2000:]
    assert "Data and pipelines are up to date." in run([DVC, "status"], ci_copy)


@pytest.mark.slow
def test_a_colleague_pulls_the_outputs_and_dvc_repro_changes_nothing(ci_copy, tmp_path):
    """Issue 16: after `dvc pull` on another checkout, `dvc repro` leaves git status and dvc.lock unchanged."""
    if "Data and pipelines are up to date." not in run([DVC, "status"], ci_copy):
        pytest.skip("needs the whole-DAG run above to have finished")
    remote = tmp_path / "remote"
    run([DVC, "remote", "add", "-d", "team", str(remote)], ci_copy)
    run(["git", "add", "-A"], ci_copy)
    run(["git", "-c", "user.email=t@t", "-c", "user.name=t", "commit", "-qm", "ci run"], ci_copy)
    run([DVC, "push", "-q"], ci_copy)
    colleague = tmp_path / "colleague"
    run(["git", "clone", "-q", str(ci_copy), str(colleague)], tmp_path)
    run([DVC, "pull", "-q"], colleague)
    lock = (colleague / "dvc.lock").read_bytes()
    out = run([DVC, "repro"], colleague)
    assert "Running stage" not in out, out[-2000:]
    assert (colleague / "dvc.lock").read_bytes() == lock
    assert run(["git", "status", "--porcelain"], colleague) == ""
