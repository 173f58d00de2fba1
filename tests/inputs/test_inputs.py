"""Your own data is only ever read: inputs never overlap a stage's output, and recipes say what they need."""

import shutil
import subprocess
import sys
from pathlib import Path

import pytest
import yaml

from clinsynth.inputs import (NEEDS, ReadSlots, RecipesConfig, check_recipes, dvc_outputs, input_problems,
                              missing_inputs, output_overlaps)
from clinsynth.params import ConfigError, Paths, read_params
from clinsynth.pipeline import repro_targets

ROOT = Path(__file__).resolve().parents[2]
DVC = str(Path(sys.executable).with_name("dvc"))


def dvc_project(tmp_path: Path, edit=None) -> Path:
    """dvc.yaml + params.yaml (edited) in a fresh DVC project: what DVC resolves there is what `dvc repro` sees."""
    params = read_params(ROOT / "params.yaml")
    if edit:
        edit(params)
    (tmp_path / "params.yaml").write_text(yaml.safe_dump(params, sort_keys=False))
    shutil.copy(ROOT / "dvc.yaml", tmp_path / "dvc.yaml")
    subprocess.run([DVC, "init", "--no-scm", "-q"], cwd=tmp_path, check=True)
    return tmp_path


def test_the_committed_params_name_inputs_no_stage_writes():
    params = read_params(ROOT / "params.yaml")
    outputs = dvc_outputs(ROOT)
    assert any(stage == "ingest" for stage, _ in outputs)  # the index was really read
    assert input_problems(params, ROOT) == []
    assert output_overlaps(params, outputs, ROOT) == []


def test_an_input_inside_a_stage_output_is_refused_with_the_stage_named(tmp_path):
    def edit(p):
        p["base"]["paths"]["raw_notes"] = "data/interim"
        p["ingest"]["inputs"] = [{"path": "data/interim/notes.jsonl", "format": "jsonl"}]

    root = dvc_project(tmp_path, edit)
    problems = output_overlaps(read_params(root / "params.yaml"), dvc_outputs(root), root)
    assert any("base.paths.raw_notes = data/interim overlaps data/interim/notes.jsonl, an output of stage ingest"
               in p for p in problems), problems
    assert any(p.startswith("ingest.inputs[0].path = data/interim/notes.jsonl overlaps") for p in problems)


def test_a_folder_that_contains_outputs_is_refused(tmp_path):
    root = dvc_project(tmp_path, lambda p: p["base"]["paths"].__setitem__("raw_fhir", "data"))
    problems = output_overlaps(read_params(root / "params.yaml"), dvc_outputs(root), root)
    assert any(p.startswith("base.paths.raw_fhir = data overlaps") for p in problems)


def test_with_own_data_the_demo_stages_are_gone_and_its_folder_is_no_input(tmp_path):
    def edit(p):
        p["demo_data"]["sets"] = []

    root = dvc_project(tmp_path, edit)
    stages = {stage for stage, _ in dvc_outputs(root)}
    assert not {s for s in stages if s.startswith(("demo_data", "brat_silver"))}
    problems = input_problems(read_params(root / "params.yaml"), root)
    assert any(p.startswith("base.paths.raw_notes = data/demo/notes lies in the demo's folder data/demo") and
               "demo_data.sets is []" in p for p in problems), problems


def test_own_notes_outside_the_repository_are_fine(tmp_path):
    own = tmp_path / "secure"
    (own / "notes").mkdir(parents=True)
    (own / "notes" / "notes.jsonl").write_text("{}\n")

    def edit(p):
        p["demo_data"]["sets"] = []
        p["base"]["paths"].update(raw_notes=str(own / "notes"), raw_fhir=str(own / "fhir"), brat=str(own / "brat"))
        p["ingest"]["inputs"] = [{"path": str(own / "notes" / "notes.jsonl"), "format": "jsonl"}]

    (tmp_path / "repo").mkdir()
    root = dvc_project(tmp_path / "repo", edit)
    params = read_params(root / "params.yaml")
    assert input_problems(params, root) == []
    assert output_overlaps(params, dvc_outputs(root), root) == []
    # notes only: rephrase and retrieval can run, fhir_qa and brat_augment say what they lack
    assert missing_inputs(params, ["rephrase", "retrieval_queries"], root) == []
    missing = missing_inputs(params, ["fhir_qa", "brat_augment"], root)
    assert [p.split(" needs ")[0] for p in missing] == ["recipe fhir_qa", "recipe brat_augment"]
    assert "drop fhir_qa from recipes.enabled" in missing[0]


def test_an_ingest_input_outside_raw_notes_is_refused():
    params = read_params(ROOT / "params.yaml")
    params["ingest"]["inputs"] = [{"path": "elsewhere/notes.jsonl", "format": "jsonl"}]
    (problem,) = input_problems(params, ROOT)
    assert problem.startswith("ingest.inputs[0].path = elsewhere/notes.jsonl is not inside base.paths.raw_notes")


def test_recipes_params_are_checked_against_what_each_sample_stage_reads():
    paths = Paths()
    good = RecipesConfig(enabled=list(NEEDS), reads={
        "rephrase": ReadSlots(paths.chunks, paths.chunks), "kg_notes": ReadSlots(paths.notes, paths.kg_graph),
        "brat_augment": ReadSlots(paths.brat, paths.brat), "retrieval_queries": ReadSlots(paths.chunks, paths.chunks),
        "fhir_qa": ReadSlots(paths.fhir_resources, paths.fhir_resources)})
    check_recipes(good, paths)
    with pytest.raises(ConfigError, match="recipes.enabled: unknown recipe 'rephrasing'"):
        check_recipes(RecipesConfig(["rephrasing"], good.reads), paths)
    bad_reads = {**good.reads, "brat_augment": ReadSlots("data/mine/brat", "data/mine/brat")}
    with pytest.raises(ConfigError, match=r"recipes.reads.brat_augment: expected \{first: data/demo/brat"):
        check_recipes(RecipesConfig(list(NEEDS), bad_reads), paths)


def test_run_targets_the_enabled_recipes_only():
    assert repro_targets(list(NEEDS)) == []  # all: the whole DAG, report included
    assert repro_targets(["retrieval_queries", "rephrase"]) == ["evaluate_rephrase", "evaluate_retrieval"]


def test_preflight_names_an_input_a_stage_would_overwrite(tmp_path):
    from clinsynth.preflight import find_problems

    root = dvc_project(tmp_path, lambda p: p["base"]["paths"].__setitem__("raw_fhir", "data/interim/fhir"))
    problems = [p.what for p in find_problems(root, only=["inputs"])]
    assert any(p.startswith("base.paths.raw_fhir = data/interim/fhir overlaps data/interim/fhir/resources.jsonl, "
                            "an output of stage fhir_ingest") for p in problems), problems
    assert any(p.startswith("recipe fhir_qa needs FHIR R4 bundles") for p in problems)  # and nothing is there
