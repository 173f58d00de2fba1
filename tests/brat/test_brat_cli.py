import json
from pathlib import Path

from typer.testing import CliRunner

from clinsynth.cli import app

FIXTURES = Path(__file__).parents[1] / "fixtures" / "brat"
runner = CliRunner()


def test_validate_valid_corpus_exits_zero():
    result = runner.invoke(app, ["brat", "validate", str(FIXTURES / "corpus")])
    assert result.exit_code == 0
    assert result.output == "2 documents: 2 valid, 0 invalid; 0 issues\n"


def test_validate_prints_every_issue_and_exits_non_zero():
    result = runner.invoke(app, ["brat", "validate", str(FIXTURES / "invalid")])
    assert result.exit_code == 1
    lines = result.output.splitlines()
    assert [line.split(": ")[0] for line in lines[:-1]] == [
        "broken.ann:2", "broken.ann:3", "broken.ann:4", "broken.ann:5", "broken.ann:6", "broken.ann:7",
        "mismatch.ann:1", "orphan.ann"]
    assert lines[3] == ("broken.ann:5: Arg2 points to missing id 'T9' in 'R1\\tTreats Arg1:T1 Arg2:T9'; "
                        "expected an id defined in the same .ann")
    assert lines[-1] == ("4 documents: 1 valid, 3 invalid; 8 issues (duplicate_id=1, malformed_line=2, missing_file=1, "
                         "missing_reference=1, span_out_of_bounds=1, span_text_mismatch=2)")


def test_validate_missing_directory_exits_two(tmp_path):
    result = runner.invoke(app, ["brat", "validate", str(tmp_path / "nope")])
    assert result.exit_code == 2
    assert "nope: not a directory; expected a folder of .txt/.ann pairs" in result.output


def test_encode_writes_one_segment_per_line(tmp_path):
    out = tmp_path / "segments.jsonl"
    result = runner.invoke(app, ["brat", "encode", str(FIXTURES / "corpus"), str(out), "--label", "Drug"])
    assert result.exit_code == 0, result.output
    records = [json.loads(line) for line in out.read_text(encoding="utf-8").splitlines()]
    assert [r["segment_id"] for r in records] == ["note_01:0", "note_01:1", "note_01:2", "note_02:0"]
    assert records[0]["encoded"] == "Started [[Drug: metformin]] [[Dose: 500 mg]] for [[Condition: type 2 diabetes]]."
    assert result.output.startswith("2 documents: 4 segments written to ")
