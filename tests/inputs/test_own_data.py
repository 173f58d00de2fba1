"""README's "Using your own data", followed literally on notes that are not Synthea, in a temporary copy."""

import hashlib
import json
import os
import re
import shutil
import subprocess
import sys
from pathlib import Path

import pytest
import yaml

from clinsynth.params import PROFILES

ROOT = Path(__file__).resolve().parents[2]
FIXTURE = ROOT / "tests/fixtures/own_notes/notes.jsonl"
BIN = Path(sys.executable).parent


def run(cmd, cwd, check=True):
    env = {**os.environ, "PATH": f"{BIN}{os.pathsep}{os.environ.get('PATH', '')}"}
    proc = subprocess.run(cmd, cwd=cwd, capture_output=True, text=True, env=env)
    if check:
        assert proc.returncode == 0, f"{cmd} failed:\n{proc.stdout[-4000:]}\n{proc.stderr[-4000:]}"
    return proc


def readme_own_data_steps() -> tuple[dict, list[str]]:
    """The params block and the shell lines of README's "Using your own data" section."""
    section = re.search(r"^## Using your own data\n(.*?)^## ", (ROOT / "README.md").read_text(), re.S | re.M)[1]
    (params_block,) = re.findall(r"```yaml\n(.*?)```", section, re.S)
    shell = [line for block in re.findall(r"```bash\n(.*?)```", section, re.S) for line in block.splitlines()
             if line.strip() and not line.startswith("#")]
    return yaml.safe_load(params_block), shell


def merge(into: dict, edit: dict) -> None:
    for key, value in edit.items():
        if isinstance(value, dict) and isinstance(into.get(key), dict):
            merge(into[key], value)
        else:
            into[key] = value


def sha(path: Path) -> str:
    return hashlib.sha256(path.read_bytes()).hexdigest()


@pytest.mark.slow
@pytest.mark.timeout(1800)
def test_own_notes_run_the_recipes_they_support_and_are_never_written(tmp_path):
    repo = tmp_path / "repo"
    files = run(["git", "ls-files", "-co", "--exclude-standard", "-z"], ROOT).stdout.split("\0")
    for rel in filter(None, files):
        if (ROOT / rel).is_file():
            (repo / rel).parent.mkdir(parents=True, exist_ok=True)
            shutil.copy2(ROOT / rel, repo / rel)
    run(["git", "init", "-q"], repo)
    edit, shell = readme_own_data_steps()
    params = yaml.safe_load((repo / "params.yaml").read_text())
    merge(params, edit)
    params["base"]["profile"] = "ci" if "ci" in PROFILES else "demo"  # small sizes; the steps are the README's
    (repo / "params.yaml").write_text(yaml.safe_dump(params, sort_keys=False))
    own = repo / "data/own/notes.jsonl"
    own.parent.mkdir(parents=True)
    shutil.copy(FIXTURE, own)
    before = sha(own)
    assert shell == ["clinsynth run"], shell  # what README tells the user to type

    result = run([str(BIN / "clinsynth"), "run"], repo)

    assert "$ dvc repro evaluate_rephrase" in result.stdout
    rephrase = json.loads((repo / "metrics/rephrase.json").read_text())
    assert rephrase, "evaluate_rephrase wrote no metrics"
    ingest = json.loads((repo / "metrics/ingest.json").read_text())
    assert ingest["notes"] == sum(1 for _ in FIXTURE.open())
    assert sha(own) == before  # the user's file, byte for byte
    assert not (repo / "data/demo").exists()  # nothing of the demo was built
    status = run([str(BIN / "dvc"), "status"], repo).stdout
    assert "demo_data" not in status and "brat_silver" not in status
    assert "evaluate_rephrase" not in status  # what ran is up to date
