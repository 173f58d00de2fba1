"""The report stage and `clinsynth report` in a temporary project; params.yaml and dvc.yaml kept in step."""

import contextlib
import dataclasses
import importlib.util
import io
import json
import shutil
from pathlib import Path

import pytest
import yaml
from typer.testing import CliRunner

from clinsynth.cli import app
from clinsynth.params import load_params
from clinsynth.report.inputs import ReportConfig, ReportInputError
from tests.report.conftest import FIXTURES, ROOT, fixture_config


def _project(tmp_path: Path, **report) -> Path:
    params = yaml.safe_load((ROOT / "params.yaml").read_text())
    listed = dataclasses.asdict(fixture_config())
    params["report"] = {k: listed[k] for k in ("metrics", "plots", "recipes")} | report
    (tmp_path / "params.yaml").write_text(yaml.safe_dump(params))
    shutil.copytree(FIXTURES, tmp_path, dirs_exist_ok=True)
    return tmp_path


def _run_stage(cwd: Path) -> str:
    spec = importlib.util.spec_from_file_location("stage_report", ROOT / "stages" / "report.py")
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    with contextlib.chdir(cwd), contextlib.redirect_stdout(io.StringIO()) as out:
        module.main()
    return out.getvalue()


def test_repository_params_load_and_every_listed_input_is_a_dvc_dep():
    cfg = load_params("report", ReportConfig, ROOT / "params.yaml")
    stage = yaml.safe_load((ROOT / "dvc.yaml").read_text())["stages"]["report"]
    params = yaml.safe_load((ROOT / "params.yaml").read_text())
    # DVC cannot drop a switched-off recipe's files from a deps list: the stage depends on the folders
    folders = {params["base"]["paths"]["metrics"], params["postprocess"]["synthetic_dir"]}
    assert {"${base.paths.metrics}", "${postprocess.synthetic_dir}"} <= set(stage["deps"])
    listed = cfg.metrics + cfg.plots + [p for r in cfg.recipes for p in (f"data/synthetic/{r}/records.jsonl",
                                                                         f"metrics/quality_{r}.json")]
    missing = [p for p in listed if not any(p.startswith(f + "/") for f in folders)]
    assert not missing, f"listed in params.yaml report but in no folder stage report depends on: {missing}"
    assert {"recipes.enabled", "demo_data.sets"} <= set(stage["params"])
    # the modules it runs: tests/test_stage_deps.py checks every stage's deps against its import closure
    assert stage["outs"] == ["${report.out}", {"${report.leakage_plot}": {"cache": False}}]


def test_stage_writes_page_and_plot_rows_byte_identical_on_rerun(tmp_path):
    cwd = _project(tmp_path)
    printed = _run_stage(cwd)
    assert printed == ("report: 3 pipeline metrics files, recipes with data ['rephrase', 'kg_notes', 'brat_augment'], "
                       "4 missing parts, 5 plots -> reports/index.html\n")
    page = (cwd / "reports/index.html").read_bytes()
    rows = json.loads((cwd / "reports/leakage.json").read_text())
    assert rows[0]["bucket"] == "rephrase · longest span · [0,8)" and b'id="rephrase-samples"' in page
    _run_stage(cwd)
    assert (cwd / "reports/index.html").read_bytes() == page


def test_a_switched_off_recipe_is_not_required_and_shown_as_not_enabled(tmp_path):
    cwd = _project(tmp_path, metrics=["metrics/kg.json", "metrics/icd.json", "metrics/retrieval.json"])
    params = yaml.safe_load((cwd / "params.yaml").read_text())
    params["recipes"]["enabled"].update(kg_notes=[], retrieval_queries=[])
    params["recipes"]["reads"] = {k: v for k, v in params["recipes"]["reads"].items() if k not in ("kg_notes",
                                                                                                    "retrieval_queries")}
    params["postprocess"]["corpora"] = {k: v for k, v in params["postprocess"]["corpora"].items()
                                        if v not in ("kg_notes", "retrieval_queries")}
    (cwd / "params.yaml").write_text(yaml.safe_dump(params))
    (cwd / "metrics/icd.json").write_text('{"stale": 1}')  # git keeps the demo's metrics: never shown when off
    printed = _run_stage(cwd)
    page = (cwd / "reports/index.html").read_text()
    assert "retrieval: not enabled (recipes.enabled.retrieval_queries: [])" in page
    assert "kg_notes: not enabled (recipes.enabled.kg_notes: [])" in page
    assert "stale" not in page and "recipes with data ['rephrase', 'brat_augment']" in printed


def test_stage_fails_naming_a_listed_file_that_is_missing(tmp_path):
    cwd = _project(tmp_path, metrics=["metrics/kg.json", "metrics/retrieval.json"])
    with pytest.raises(ReportInputError, match=r"report\.metrics lists metrics/retrieval\.json, which"):
        _run_stage(cwd)


def test_cli_renders_to_a_path_and_discovers(tmp_path):
    cwd = _project(tmp_path, metrics=["metrics/kg.json"], plots=[], recipes=[])
    runner = CliRunner()
    with contextlib.chdir(cwd):
        listed = runner.invoke(app, ["report", "--out", "out/listed.html"])
        found = runner.invoke(app, ["report", "-o", "out/all.html", "--discover"])
    assert listed.exit_code == 0, listed.output
    assert listed.output.startswith("report: 1 pipeline metrics files, recipes with data none")
    assert found.exit_code == 0 and "recipes with data ['rephrase', 'kg_notes', 'brat_augment']" in found.output
    assert 'id="rephrase-samples"' in (cwd / "out/all.html").read_text()
    assert 'id="rephrase-samples"' not in (cwd / "out/listed.html").read_text()


def test_cli_reports_a_missing_listed_file_without_a_traceback(tmp_path):
    cwd = _project(tmp_path, recipes=["fhir_qa"])
    with contextlib.chdir(cwd):
        result = CliRunner().invoke(app, ["report"])
    assert result.exit_code == 1
    assert "error: params.yaml report.recipes lists data/synthetic/fhir_qa/records.jsonl" in result.output


def test_the_retrieval_queries_corpus_is_shown_in_the_retrieval_section(tmp_path):
    cwd = _project(tmp_path)
    shutil.copytree(cwd / "data/synthetic/rephrase", cwd / "data/synthetic/retrieval_queries")
    shutil.copy(cwd / "metrics/quality_rephrase.json", cwd / "metrics/quality_retrieval_queries.json")
    params = yaml.safe_load((cwd / "params.yaml").read_text())
    params["report"]["recipes"] = [*params["report"]["recipes"], "retrieval_queries"]
    (cwd / "params.yaml").write_text(yaml.safe_dump(params))
    printed = _run_stage(cwd)
    page = (cwd / "reports/index.html").read_text()
    assert 'id="retrieval-quality"' in page and 'id="recipe-retrieval_queries"' not in page
    assert "'retrieval'" in printed and "retrieval: no synthetic corpus" not in page
