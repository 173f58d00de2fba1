"""Every stage script answers ``--help`` with its docstring and refuses an unexpected argument, running nothing."""

from __future__ import annotations

import runpy
import sys
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parents[1]
STAGES = sorted((REPO / "stages").glob("*.py"))


def run_script(path: Path, argv: list[str], monkeypatch: pytest.MonkeyPatch) -> int:
    monkeypatch.setattr(sys, "argv", [str(path), *argv])
    with pytest.raises(SystemExit) as exit_info:
        runpy.run_path(str(path), run_name="__main__")
    return exit_info.value.code


@pytest.mark.parametrize("script", STAGES, ids=lambda p: p.stem)
def test_help_prints_the_docstring_and_runs_nothing(script: Path, monkeypatch: pytest.MonkeyPatch,
                                                    tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    monkeypatch.chdir(tmp_path)  # a stage that ran would fail here (no params.yaml) or write here
    assert run_script(script, ["--help"], monkeypatch) == 0
    first_line = script.read_text(encoding="utf-8").split('"""')[1].strip().splitlines()[0]
    out = capsys.readouterr().out
    assert out.startswith(f"usage: {script.name}") and " ".join(first_line.split()[:6]) in " ".join(out.split())
    assert list(tmp_path.iterdir()) == []


def test_an_unexpected_argument_is_an_error_not_a_run(monkeypatch: pytest.MonkeyPatch, tmp_path: Path,
                                                      capsys: pytest.CaptureFixture[str]) -> None:
    monkeypatch.chdir(tmp_path)
    assert run_script(REPO / "stages/ingest.py", ["extra"], monkeypatch) == 2
    assert "unrecognized arguments: extra" in capsys.readouterr().err
    assert run_script(REPO / "stages/sample.py", [], monkeypatch) == 2  # its recipe is required
    assert "the following arguments are required: recipe_name" in capsys.readouterr().err
