"""Your own data is only ever read: inputs never overlap a stage's output, and recipes say what they need."""

import json
import re
import shutil
import subprocess
import sys
from pathlib import Path

import pytest
import yaml

from clinsynth.inputs import (CORPORA, EVALUATE_STAGES, NEEDS, ReadSlots, RecipesConfig, check_recipes, dvc_outputs,
                              input_problems, load_recipes, missing_inputs, output_overlaps, switched_off)
from clinsynth.params import ConfigError, Paths, read_params
from clinsynth.switches import recipes_command, switch_recipes

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
    assert "switch the recipe off: recipes.enabled.fhir_qa: []" in missing[0]


def test_an_ingest_input_outside_raw_notes_is_refused():
    params = read_params(ROOT / "params.yaml")
    params["ingest"]["inputs"] = [{"path": "elsewhere/notes.jsonl", "format": "jsonl"}]
    (problem,) = input_problems(params, ROOT)
    assert problem.startswith("ingest.inputs[0].path = elsewhere/notes.jsonl is not inside base.paths.raw_notes")


def test_recipes_params_are_checked_against_what_each_sample_stage_reads():
    paths = Paths()
    on = {r: [r] for r in NEEDS}
    good = RecipesConfig(enabled=on, reads={
        "rephrase": ReadSlots(paths.chunks, paths.chunks), "kg_notes": ReadSlots(paths.notes, paths.kg_graph),
        "brat_augment": ReadSlots(paths.brat, paths.brat), "retrieval_queries": ReadSlots(paths.chunks, paths.chunks),
        "fhir_qa": ReadSlots(paths.fhir_resources, paths.fhir_resources)})
    check_recipes(good, paths)
    with pytest.raises(ConfigError, match="recipes.enabled: unknown recipe 'rephrasing'"):
        check_recipes(RecipesConfig({**on, "rephrasing": ["rephrasing"]}, good.reads), paths)
    bad_reads = {**good.reads, "brat_augment": ReadSlots("data/mine/brat", "data/mine/brat")}
    with pytest.raises(ConfigError, match=r"recipes.reads.brat_augment: expected \{first: data/demo/brat"):
        check_recipes(RecipesConfig(on, bad_reads), paths)


# --- one switch per recipe: recipes.enabled.R is [R] (on) or [] (off); DVC builds no stage from [] ---

PARAMS_TEXT = (ROOT / "params.yaml").read_text()
NOTES_ONLY = ["rephrase", "retrieval_queries"]


def project_with(tmp_path: Path, text: str) -> Path:
    """dvc.yaml + this params.yaml text in a fresh DVC project."""
    (tmp_path / "params.yaml").write_text(text)
    shutil.copy(ROOT / "dvc.yaml", tmp_path / "dvc.yaml")
    subprocess.run([DVC, "init", "--no-scm", "-q"], cwd=tmp_path, check=True)
    return tmp_path


def dvc_stages(root: Path) -> set[str]:
    out = subprocess.run([DVC, "stage", "list", "--name-only"], cwd=root, check=True, capture_output=True, text=True)
    return set(out.stdout.split())


def owned_by(stage: str, recipe: str) -> bool:
    """Whether a stage exists only for ``recipe``: it loops over its switch (``name@R``, a matrix ``name@R-x``),
    or over what the switch keeps in step (sample@R, generate@R over recipes.reads; postprocess@C)."""
    suffix = stage.partition("@")[2]
    return suffix == recipe or suffix.startswith(recipe + "-") or suffix in CORPORA[recipe]


@pytest.fixture(scope="module")
def all_on(tmp_path_factory) -> set[str]:
    return dvc_stages(project_with(tmp_path_factory.mktemp("all"), PARAMS_TEXT))


def test_every_stage_is_shared_or_owned_by_one_recipe(all_on):
    shared = {s for s in all_on if not any(owned_by(s, r) for r in NEEDS)}
    assert shared == {"demo_data@synthea", "ingest", "kg_build", "kg", "generator_model", "report"}
    for recipe, stage in EVALUATE_STAGES.items():
        assert f"{stage}@{recipe}" in all_on
    assert all(sum(owned_by(s, r) for r in NEEDS) <= 1 for s in all_on)


def test_switched_off_recipes_have_no_stage_and_the_others_keep_all_theirs(tmp_path, all_on):
    text = switch_recipes(PARAMS_TEXT, NOTES_ONLY)
    root = project_with(tmp_path, text)
    assert load_recipes(root / "params.yaml").on == NOTES_ONLY
    pruned = dvc_stages(root)
    off = ["kg_notes", "brat_augment", "fhir_qa"]
    assert pruned == {s for s in all_on if not any(owned_by(s, r) for r in off)}
    assert {"pretrain@rephrase-real", "evaluate_rephrase@rephrase", "sample@retrieval_queries",
            "evaluate_retrieval@retrieval_queries", "postprocess@rephrase", "report"} <= pruned
    status = subprocess.run([DVC, "status", "--json"], cwd=root, capture_output=True, text=True)
    assert status.returncode == 0, status.stderr
    listed = set(json.loads(status.stdout or "{}"))
    assert listed and not {s for s in listed if any(owned_by(s, r) for r in off)}, listed
    assert switched_off(root / "params.yaml") == frozenset(off)


def test_switching_rewrites_only_the_three_blocks_and_switching_back_restores_the_stages(tmp_path, all_on):
    path = tmp_path / "params.yaml"
    path.write_text(PARAMS_TEXT)
    assert recipes_command(["rephrase"], only=True, on=False, off=False, path=path) == (
        "recipes on: rephrase; off: kg_notes, brat_augment, retrieval_queries, fhir_qa")
    text = path.read_text()
    removed = set(PARAMS_TEXT.splitlines()) - set(text.splitlines())
    assert all(line.startswith(("    kg_notes", "    brat_augment", "    retrieval_queries", "    fhir_qa"))
               for line in removed), removed
    assert "    fhir_qa: []\n" in text and "  reads:\n    rephrase:" in text
    assert "kg_notes_lora" not in text.split("postprocess:", 1)[1].split("recipes:", 1)[0]
    recipes_command(list(NEEDS), only=False, on=True, off=False, path=path)
    assert load_recipes(path).on == list(NEEDS)
    (tmp_path / "back").mkdir()
    assert dvc_stages(project_with(tmp_path / "back", path.read_text())) == all_on


@pytest.mark.parametrize(("edit", "message"), [
    (lambda t: t.replace("    fhir_qa: [fhir_qa]", "    fhir_qa: []", 1),
     r"recipes.reads.fhir_qa: fhir_qa is switched off \(recipes.enabled.fhir_qa: \[\]\), but sample@fhir_qa .* "
     r"delete the line `fhir_qa: \{...\}` under recipes.reads"),
    (lambda t: switch_recipes(t, ["rephrase"]).replace("  corpora:", "  corpora:\n    kg_notes: kg_notes", 1),
     r"postprocess.corpora.kg_notes: its recipe kg_notes is switched off .* delete the line `kg_notes: kg_notes`"),
    (lambda t: t.replace("    kg_notes_lora: kg_notes ", "    kg_notes_other: kg_notes ", 1),
     r"postprocess.corpora: kg_notes is switched on .* add the line `kg_notes_lora: kg_notes`"),
    (lambda t: t.replace("    rephrase: [rephrase]", "    rephrase: yes", 1),  # YAML 1.1: a boolean
     r"recipes.enabled.rephrase: expected \[rephrase\] \(on\) or \[\] \(off\), found True"),
    (lambda t: t.replace("    rephrase: [rephrase]", "    rephrase: [rephrase, kg_notes]", 1),
     r"recipes.enabled.rephrase: expected \[rephrase\] .* found \['rephrase', 'kg_notes'\]"),
    (lambda t: t.replace("    brat_augment: [brat_augment]\n", "", 1),
     r"recipes.enabled: no switch for brat_augment; add the line `brat_augment: \[brat_augment\]`"),
    (lambda t: re.sub(r"  enabled:\n(    .*\n)+", "  enabled: [rephrase, kg_notes]\n", t, count=1),  # the old form
     r"recipes.enabled: expected one switch per recipe, \{R: \[R\] or \[\]\}"),
])
def test_params_load_rejects_switches_out_of_step_naming_the_line(tmp_path, edit, message):
    text = edit(PARAMS_TEXT)
    assert text != PARAMS_TEXT
    (tmp_path / "params.yaml").write_text(text)
    with pytest.raises(ConfigError, match=message):
        load_recipes(tmp_path / "params.yaml")


def test_a_switched_off_recipes_input_is_not_checked(tmp_path):
    params = yaml.safe_load(switch_recipes(PARAMS_TEXT, ["rephrase"]))
    params["demo_data"]["sets"] = []
    params["base"]["paths"]["raw_notes"] = "data/own"
    params["ingest"]["inputs"] = [{"path": "data/own/notes.jsonl", "format": "jsonl"}]
    # raw_fhir and brat still name the demo's folders, which nothing builds now: fine, no enabled recipe reads them
    assert input_problems(params, tmp_path) == []
    params["recipes"]["enabled"]["fhir_qa"] = ["fhir_qa"]
    assert [p.split(" = ")[0] for p in input_problems(params, tmp_path)] == ["base.paths.raw_fhir"]


def test_preflight_names_an_input_a_stage_would_overwrite(tmp_path):
    from clinsynth.preflight import find_problems

    root = dvc_project(tmp_path, lambda p: p["base"]["paths"].__setitem__("raw_fhir", "data/interim/fhir"))
    problems = [p.what for p in find_problems(root, only=["inputs"])]
    assert any(p.startswith("base.paths.raw_fhir = data/interim/fhir overlaps data/interim/fhir/resources.jsonl, "
                            "an output of stage fhir_ingest") for p in problems), problems
    assert any(p.startswith("recipe fhir_qa needs FHIR R4 bundles") for p in problems)  # and nothing is there


def test_switching_also_works_on_a_block_style_file_and_with_every_recipe_off(tmp_path):
    path = tmp_path / "params.yaml"
    path.write_text(yaml.safe_dump(yaml.safe_load(PARAMS_TEXT), sort_keys=False))  # `rephrase:\n- rephrase`
    recipes_command(["rephrase"], only=True, on=False, off=False, path=path)
    assert load_recipes(path).on == ["rephrase"]
    recipes_command(["rephrase"], only=False, on=False, off=True, path=path)
    params = read_params(path)
    assert params["recipes"]["reads"] == {} and params["postprocess"]["corpora"] == {}
    recipes_command(list(NEEDS), only=True, on=False, off=False, path=path)
    assert load_recipes(path).on == list(NEEDS)
    assert read_params(path)["postprocess"]["corpora"] == read_params(ROOT / "params.yaml")["postprocess"]["corpora"]


def test_run_is_plain_dvc_repro_and_names_the_switched_off_recipes(tmp_path, monkeypatch):
    from typer.testing import CliRunner

    from clinsynth.cli import app

    root = project_with(tmp_path, switch_recipes(PARAMS_TEXT, NOTES_ONLY))
    monkeypatch.chdir(root)
    result = CliRunner().invoke(app, ["run", "--dry-run"])
    assert result.exit_code == 0, result.output
    assert "switched off (recipes.enabled.R: [], no stage in dvc.yaml's DAG): kg_notes, brat_augment, fhir_qa" \
        in result.output
    assert "metrics from evaluate_retrieval@retrieval_queries" in result.output
    assert result.output.rstrip().endswith("$ dvc repro")
