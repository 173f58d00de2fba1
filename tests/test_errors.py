"""Expected errors print '<stage>: <message>' without a traceback and exit 1; bugs keep their traceback."""

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest

from clinsynth.corpus import IngestError
from clinsynth.errors import InputError, is_expected, run_stage
from clinsynth.params import ConfigError

ROOT = Path(__file__).parents[1]
ENV = {**os.environ, "PYTHONPATH": str(ROOT / "src")}


def run(args: list[str], cwd: Path) -> subprocess.CompletedProcess:
    return subprocess.run([sys.executable, *args], cwd=cwd, env=ENV, capture_output=True, text=True, timeout=120)


def test_run_stage_prints_expected_errors_and_exits_1(capsys):
    def main(recipe):
        raise ConfigError(f"params.yaml: sample.{recipe}: missing key 'n'")

    with pytest.raises(SystemExit) as exit_:
        run_stage(main, "rephrase", name="sample@rephrase")
    assert exit_.value.code == 1
    assert capsys.readouterr().err == "sample@rephrase: params.yaml: sample.rephrase: missing key 'n'\n"


def test_run_stage_keeps_the_traceback_of_a_bug():
    def main():
        raise KeyError("bug")

    with pytest.raises(KeyError):
        run_stage(main, name="x")


def test_missing_input_file_is_expected(capsys):
    def main():
        open("/nonexistent/input.jsonl")

    with pytest.raises(SystemExit):
        run_stage(main, name="ingest")
    assert capsys.readouterr().err == "ingest: /nonexistent/input.jsonl: no such file or directory\n"


def test_the_project_errors_are_expected():
    from clinsynth.brat import BratFormatError
    from clinsynth.fhir.bundle import FhirFormatError
    from clinsynth.generation.cache import CacheError
    from clinsynth.kg.parse import KGFormatError
    from clinsynth.quality.gates import QualityGateError
    from clinsynth.brat.silver import SilverCorpusError
    from clinsynth.recipes.kg_notes import SamplingError
    from clinsynth.retrieval.queryset import QuerySetError

    for cls in (ConfigError, IngestError, BratFormatError, FhirFormatError, QualityGateError, SilverCorpusError,
                SamplingError, QuerySetError):
        assert issubclass(cls, InputError), cls
    for cls in (CacheError, KGFormatError):  # matched by name in clinsynth.errors.ELSEWHERE
        assert is_expected(cls("x")), cls
    assert not is_expected(ValueError("x")) and not is_expected(AttributeError("x"))


def write_params(tmp_path: Path, chunk_chars: int = 800) -> None:
    (tmp_path / "params.yaml").write_text(
        "base:\n  seed: 1\n  profile: demo\n  paths: {raw_notes: notes, metrics: metrics}\n"
        "ingest:\n  inputs: [{path: notes/notes.jsonl, format: jsonl}]\n  on_bad_row: fail\n"
        f"  split_fractions: {{train: 0.8, dev: 0.1, test: 0.1}}\n  chunk_chars: {chunk_chars}\n  min_note_chars: 1\n")
    (tmp_path / "notes").mkdir(exist_ok=True)


def test_ingest_stage_bad_param_prints_one_line(tmp_path):
    write_params(tmp_path, chunk_chars=0)
    result = run([str(ROOT / "stages" / "ingest.py")], tmp_path)
    assert result.returncode == 1
    assert result.stderr == "ingest: params.yaml: ingest.chunk_chars: expected int >= 1, got 0\n"


def test_ingest_stage_bad_row_prints_file_and_line_without_traceback(tmp_path):
    write_params(tmp_path)
    (tmp_path / "notes" / "notes.jsonl").write_text(json.dumps(["not", "an", "object"]) + "\n")
    result = run([str(ROOT / "stages" / "ingest.py")], tmp_path)
    assert result.returncode == 1 and "Traceback" not in result.stderr
    assert result.stderr == ("ingest: notes/notes.jsonl:1: not_object: expected a JSON object, found list "
                             "(set ingest.on_bad_row: skip to skip and count such rows)\n")


def test_cli_expected_error_prints_without_traceback(tmp_path):
    result = run(["-m", "clinsynth.cli", "brat", "encode", str(tmp_path / "nope"), str(tmp_path / "out.jsonl")], tmp_path)
    assert result.returncode == 1 and "Traceback" not in result.stderr
    assert result.stderr == f"clinsynth: {tmp_path / 'nope'}: not a directory; expected a folder of .txt/.ann pairs\n"


def test_every_stage_reports_through_run_stage():
    for stage in sorted((ROOT / "stages").glob("*.py")):
        tail = stage.read_text().rsplit('if __name__ == "__main__":', 1)[1]
        assert "from clinsynth.errors import run_stage" in tail and "run_stage(main" in tail, stage.name


def test_stage_with_an_argument_is_named_as_dvc_names_it(tmp_path):
    result = run([str(ROOT / "stages" / "sample.py"), "rephrase"], tmp_path)  # no params.yaml here
    assert result.returncode == 1
    assert result.stderr == ("sample@rephrase: params.yaml: not found; run from the repository root or pass the "
                             "params file\n")
