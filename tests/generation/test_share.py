"""The shared cache artefact: deterministic export, safe merge (conflicts kept local), file:line errors."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from typer.testing import CliRunner

from clinsynth.generation import share
from clinsynth.generation.cache import GenerationCache
from clinsynth.generation.types import Completion

K1, K2, K3 = "1" * 64, "2" * 64, "3" * 64


def filled(path: Path, rows: dict[str, str]) -> GenerationCache:
    cache = GenerationCache(path)
    for key, text in rows.items():
        cache.put(key, "m@ab;float16;decode-v1", Completion(f"p-{key[0]}", text, "stop", 7, 3))
    return cache


def row_line(**overrides) -> str:
    row = {"finish_reason": "stop", "key": K1, "model": "m@ab", "n_completion_tokens": 3, "n_prompt_tokens": 7,
           "request_id": "p-1", "text": "Cough for 3 days."}
    row.update(overrides)
    return json.dumps(row, sort_keys=True, ensure_ascii=False)


def test_export_is_sorted_deterministic_and_round_trips(tmp_path: Path) -> None:
    with filled(tmp_path / "a.sqlite", {K2: "Fièvre, 38.5 °C.", K1: "Cough for 3 days."}) as cache:
        report = share.export_cache(cache, tmp_path / "shared/generations.jsonl")
        first = (tmp_path / "shared/generations.jsonl").read_bytes()
        cache.get_many([K1])  # touches last_used_at: not in the artefact
        share.export_cache(cache, tmp_path / "again.jsonl")
        rows = cache.rows()
    assert report.rows == 2 and report.withheld == []
    assert (tmp_path / "again.jsonl").read_bytes() == first
    lines = first.decode("utf-8").splitlines()
    assert [json.loads(line)["key"] for line in lines] == [K1, K2]
    assert lines[0] == row_line(model="m@ab;float16;decode-v1")  # exactly the shared fields, sorted keys
    assert "Fièvre, 38.5 °C." in lines[1]  # UTF-8, not \\u escapes: diffs stay readable
    with GenerationCache(tmp_path / "b.sqlite") as other:
        result = share.import_artefact(other, tmp_path / "again.jsonl")
        assert other.rows() == rows and other.generated_twice() == 0
    assert (result.rows, result.added, result.present, result.conflicts) == (2, 2, 0, [])


def test_import_adds_missing_keeps_local_on_conflict_and_reports_it(tmp_path: Path) -> None:
    with filled(tmp_path / "a.sqlite", {K1: "Cough for 3 days.", K2: "Rash on both arms.", K3: "New here."}) as a:
        share.export_cache(a, tmp_path / "a.jsonl")
    with filled(tmp_path / "b.sqlite", {K1: "Cough for 3 days.", K2: "Rash on the left arm."}) as b:
        report = share.import_artefact(b, tmp_path / "a.jsonl")
        texts = {row[0]: row[3] for row in b.rows()}
    assert (report.added, report.present, len(report.conflicts)) == (1, 1, 1)
    assert texts == {K1: "Cough for 3 days.", K2: "Rash on the left arm.", K3: "New here."}  # local K2 kept
    assert report.summary().splitlines() == [
        f"{tmp_path / 'a.jsonl'}: 3 rows: 1 added, 1 already present, 1 conflicts (local kept)",
        "  conflict: key 2222222222222222... (m@ab;float16;decode-v1): text differ; local 'Rash on the left arm.' "
        "vs shared 'Rash on both arms.'",
    ]


def test_importing_twice_changes_nothing(tmp_path: Path) -> None:
    with filled(tmp_path / "a.sqlite", {K1: "x", K2: "y"}) as a:
        share.export_cache(a, tmp_path / "a.jsonl")
    with GenerationCache(tmp_path / "b.sqlite") as b:
        share.import_artefact(b, tmp_path / "a.jsonl")
        again = share.import_artefact(b, tmp_path / "a.jsonl")
    assert (again.added, again.present, again.conflicts) == (0, 2, [])


@pytest.mark.parametrize(("line", "message"), [
    ('{"key": "1111", oops}', r"a\.jsonl:2: not JSON \(Expecting property name enclosed in double quotes at column 17\)"),
    ("[1, 2]", r"a\.jsonl:2: expected a JSON object with keys key, model"),
    (row_line(key="ABC"), r"a\.jsonl:2: key: expected 64 lowercase hex digits \(a sha256\), got 'ABC'"),
    (row_line(n_prompt_tokens=-1), r"a\.jsonl:2: n_prompt_tokens: expected an int >= 0, got -1"),
    (row_line(n_prompt_tokens=True), r"a\.jsonl:2: n_prompt_tokens: expected an int >= 0, got True"),
    (row_line(text=None), r"a\.jsonl:2: text: expected a string, got NoneType None"),
    (row_line(model=""), r"a\.jsonl:2: model: empty"),
    (json.dumps({"key": K2, "text": "x", "when": 1}), r"a\.jsonl:2: missing keys \['finish_reason', 'model', "
                                                     r"'n_completion_tokens', 'n_prompt_tokens', 'request_id'\], "
                                                     r"unknown keys \['when'\]"),
    (row_line(text="another reply"), r"a\.jsonl:2: key 1111111111111111\.\.\. again with another reply \(first at "
                                     r"line 1\)"),
    ("<<<<<<< HEAD", r"a\.jsonl:2: a git merge conflict marker '<<<<<<< HEAD'; resolve the \.dvc file's conflict"),
])
def test_a_malformed_line_names_file_and_line_and_nothing_is_imported(tmp_path: Path, line: str, message: str) -> None:
    artefact = tmp_path / "a.jsonl"
    artefact.write_text(row_line() + "\n" + line + "\n" + row_line(key=K3) + "\n", encoding="utf-8")
    with GenerationCache(tmp_path / "b.sqlite") as cache:
        with pytest.raises(share.CacheShareError, match=message):
            share.import_artefact(cache, artefact)
        assert cache.rows() == []


def test_errors_are_listed_together_up_to_a_limit(tmp_path: Path) -> None:
    artefact = tmp_path / "a.jsonl"
    artefact.write_text("\n".join(["nope"] * 8) + "\n", encoding="utf-8")
    with GenerationCache(tmp_path / "b.sqlite") as cache, pytest.raises(share.CacheShareError) as err:
        share.import_artefact(cache, artefact)
    lines = str(err.value).splitlines()
    assert [line.split(": ")[0] for line in lines[:5]] == [f"{artefact}:{n}" for n in range(1, 6)]
    assert lines[5:] == ["... and 3 more malformed lines", "nothing was imported"]


def test_not_utf8_and_missing_artefacts_say_what_to_do(tmp_path: Path) -> None:
    (tmp_path / "bad.jsonl").write_bytes(b'{"text": "\xff"}\n')
    with GenerationCache(tmp_path / "c.sqlite") as cache:
        with pytest.raises(share.CacheShareError, match=r"bad\.jsonl: byte 10 is not UTF-8"):
            share.import_artefact(cache, tmp_path / "bad.jsonl")
        with pytest.raises(share.CacheShareError, match=r"no such artefact; write one with `clinsynth cache export`"):
            share.import_artefact(cache, tmp_path / "none.jsonl")
        with pytest.raises(share.CacheShareError, match=r"none\.jsonl\.dvc: not found; `git pull` the commit"):
            share.pull_cache(cache, tmp_path / "none.jsonl")


def test_a_reply_that_looks_like_a_credential_is_withheld(tmp_path: Path) -> None:
    with filled(tmp_path / "a.sqlite", {K1: "fine", K2: "Authorization: Bearer sk-live-abcdef123456"}) as cache:
        report = share.export_cache(cache, tmp_path / "a.jsonl")
    assert report.withheld == [K2] and report.rows == 1
    assert "sk-live" not in (tmp_path / "a.jsonl").read_text(encoding="utf-8")


def test_cli_export_and_import(tmp_path: Path) -> None:
    from clinsynth.generation.cli import app

    with filled(tmp_path / "a.sqlite", {K1: "x", K2: "y"}):
        pass
    with filled(tmp_path / "b.sqlite", {K2: "other"}):
        pass
    runner = CliRunner()
    out = runner.invoke(app, ["export", "--cache", str(tmp_path / "a.sqlite"), "--artefact", str(tmp_path / "s.jsonl")])
    assert out.exit_code == 0 and out.output == f"{tmp_path / 's.jsonl'}: 2 rows written\n"
    args = ["import", "--cache", str(tmp_path / "b.sqlite"), "--artefact", str(tmp_path / "s.jsonl")]
    merged = runner.invoke(app, args)
    assert merged.exit_code == 0 and "1 added, 0 already present, 1 conflicts (local kept)" in merged.output
    strict = runner.invoke(app, [*args, "--fail-on-conflict"])
    assert strict.exit_code == 1 and "0 added, 1 already present, 1 conflicts" in strict.output
