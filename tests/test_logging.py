"""Logging is configured in one place (clinsynth.errors) for the stage scripts and the clinsynth CLI:
INFO by default, -v/--verbose DEBUG, -q/--quiet WARNING, CLINSYNTH_LOG_LEVEL where no flag can be passed."""

import json
import logging
import os
import subprocess
import sys
from pathlib import Path

import pytest

from clinsynth.errors import InputError, LOG_ENV, choose_log_level

ROOT = Path(__file__).parents[1]
DEBUG_LINE = "DEBUG clinsynth.corpus: skipped: notes/notes.jsonl:2: missing_field"  # a library logger's decision


def run(args: list[str], cwd: Path, **env: str) -> subprocess.CompletedProcess:
    environ = {k: v for k, v in os.environ.items() if k != LOG_ENV}
    return subprocess.run([sys.executable, *args], cwd=cwd, env={**environ, "PYTHONPATH": str(ROOT / "src"), **env},
                          capture_output=True, text=True, timeout=120)


@pytest.fixture
def ingest_dir(tmp_path: Path) -> Path:
    """An ingest run that succeeds and skips one bad row (on_bad_row: skip)."""
    (tmp_path / "params.yaml").write_text(
        "base:\n  seed: 1\n  profile: demo\n  paths: {raw_notes: notes, metrics: metrics}\n"
        "ingest:\n  inputs: [{path: notes/notes.jsonl, format: jsonl}]\n  on_bad_row: skip\n"
        "  split_fractions: {train: 0.8, dev: 0.1, test: 0.1}\n  chunk_chars: 800\n  min_note_chars: 1\n")
    (tmp_path / "notes").mkdir()
    rows = [{"id": "n1", "text": "Chest pain. Aspirin given.", "patient_id": "p1"}, {"id": "n2"}]
    (tmp_path / "notes" / "notes.jsonl").write_text("".join(json.dumps(r) + "\n" for r in rows))
    return tmp_path


@pytest.mark.parametrize(("flags", "env", "has_debug"), [
    ([], {}, False),
    (["--verbose"], {}, True),
    (["-v"], {}, True),
    ([], {LOG_ENV: "debug"}, True),
    (["--quiet"], {LOG_ENV: "DEBUG"}, False),  # a flag wins over the environment
])
def test_stage_log_level_from_flags_and_env(ingest_dir: Path, flags: list[str], env: dict[str, str],
                                            has_debug: bool) -> None:
    result = run([str(ROOT / "stages" / "ingest.py"), *flags], ingest_dir, **env)
    assert result.returncode == 0, result.stderr
    assert (DEBUG_LINE in result.stderr) is has_debug, result.stderr
    assert "ingest: 1 notes" in result.stdout  # the stage's summary stays its output (stdout)


def test_stage_log_line_has_time_level_and_logger(ingest_dir: Path) -> None:
    line = next(x for x in run([str(ROOT / "stages" / "ingest.py"), "-v"], ingest_dir).stderr.splitlines()
                if DEBUG_LINE in x)
    date, time_, *_ = line.split(" ")
    assert len(date) == 10 and date[4] == "-" and len(time_) == 8 and time_[2] == ":", line


def test_a_bad_env_level_is_an_expected_error(ingest_dir: Path) -> None:
    result = run([str(ROOT / "stages" / "ingest.py")], ingest_dir, **{LOG_ENV: "loud"})
    assert result.returncode == 1 and "Traceback" not in result.stderr
    assert result.stderr.startswith(f"ingest: {LOG_ENV}='loud': not a log level; expected one of DEBUG, INFO")


def test_verbose_adds_the_traceback_of_an_expected_error(tmp_path: Path) -> None:
    quiet = run([str(ROOT / "stages" / "sample.py"), "rephrase"], tmp_path)  # no params.yaml here
    verbose = run([str(ROOT / "stages" / "sample.py"), "rephrase", "--verbose"], tmp_path)
    assert quiet.returncode == verbose.returncode == 1
    assert "Traceback" not in quiet.stderr and "Traceback" in verbose.stderr
    assert verbose.stderr.endswith(quiet.stderr)  # the message itself is the same last line


def test_generate_stage_takes_the_log_flags(tmp_path: Path) -> None:  # it has its own parser
    result = run([str(ROOT / "stages" / "generate.py"), "--help"], tmp_path)
    assert result.returncode == 0 and "--verbose" in result.stdout and "--quiet" in result.stdout


def test_cli_verbose_shows_library_debug_lines(tmp_path: Path) -> None:
    (tmp_path / "orphan.ann").write_text("T1\tDrug 0 7\taspirin\n")  # no .txt beside it: skipped, counted
    args = ["-m", "clinsynth.cli"]
    default = run([*args, "brat", "validate", str(tmp_path)], tmp_path)
    verbose = run([*args, "--verbose", "brat", "validate", str(tmp_path)], tmp_path)
    env = run([*args, "brat", "validate", str(tmp_path)], tmp_path, **{LOG_ENV: "DEBUG"})
    quiet = run([*args, "-q", "brat", "validate", str(tmp_path)], tmp_path)
    debug_line = "DEBUG clinsynth.brat.corpus: skipped: orphan.ann: no orphan.txt beside it"
    assert debug_line not in default.stderr and "orphan.ann: no orphan.txt" in default.stdout  # the CLI's report
    assert debug_line in verbose.stderr and debug_line in env.stderr
    assert "clinsynth.brat.corpus" not in quiet.stderr


@pytest.mark.parametrize(("verbose", "quiet", "env", "level"), [
    (False, False, {}, logging.INFO),
    (True, False, {LOG_ENV: "ERROR"}, logging.DEBUG),
    (False, True, {}, logging.WARNING),
    (False, False, {LOG_ENV: "warning"}, logging.WARNING),
    (False, False, {LOG_ENV: "15"}, 15),
    (False, False, {LOG_ENV: " "}, logging.INFO),
])
def test_choose_log_level(verbose: bool, quiet: bool, env: dict[str, str], level: int) -> None:
    assert choose_log_level(verbose, quiet, env) == level


def test_choose_log_level_refuses_both_flags_and_unknown_names() -> None:
    with pytest.raises(InputError, match="--verbose and --quiet together"):
        choose_log_level(True, True, {})
    with pytest.raises(InputError, match=r"CLINSYNTH_LOG_LEVEL='chatty': not a log level; expected one of DEBUG"):
        choose_log_level(env={LOG_ENV: "chatty"})
