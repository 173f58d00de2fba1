"""The postprocess stage and the why-dropped command, on the hand-made fixtures in a temporary project."""

import contextlib
import importlib.util
import io
import json
import os
import shutil
from pathlib import Path

import pytest
import yaml
from typer.testing import CliRunner

from clinsynth.cli import app
from clinsynth.kg import KnowledgeGraph
from clinsynth.kg.graph import build_multidigraph
from clinsynth.quality.gates import QualityGateError
from tests.quality.conftest import FIXTURES

ROOT = Path(__file__).resolve().parents[2]


def _project(tmp_path: Path, **limits) -> Path:
    params = yaml.safe_load((ROOT / "params.yaml").read_text())
    params["postprocess"].update(limits)
    for name in limits:  # a limit set here must not be masked by a recipe's own override in the repo's params
        for recipe in params["postprocess"].get("recipes", {}).values():
            recipe.get("limits", {}).pop(name, None)
    (tmp_path / "params.yaml").write_text(yaml.safe_dump(params))
    for rel, dest in [("notes.jsonl", "data/interim/notes.jsonl"), ("prompts/rephrase.jsonl", "data/prompts/rephrase.jsonl"),
                      ("generations/rephrase.jsonl", "data/generations/rephrase.jsonl"),
                      ("generations/rephrase.rejections.jsonl", "data/generations/rephrase.rejections.jsonl")]:
        (tmp_path / dest).parent.mkdir(parents=True, exist_ok=True)
        shutil.copy(FIXTURES / rel, tmp_path / dest)
    kg = KnowledgeGraph(build_multidigraph([("ICD10CM:I10", {"label": "Hypertension", "type": "Disease"})], []))
    kg.save(tmp_path / params["base"]["paths"]["kg_graph"])  # fidelity links concepts to base.paths.kg_graph
    return tmp_path


def _load_stage():
    spec = importlib.util.spec_from_file_location("stage_postprocess", ROOT / "stages" / "postprocess.py")
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def _run_stage(cwd: Path, corpus: str = "rephrase") -> None:
    """Run the stage's main() in-process with ``cwd`` as the project root."""
    old = os.getcwd()
    os.chdir(cwd)
    try:
        _load_stage().main(corpus)
    finally:
        os.chdir(old)


@pytest.fixture(scope="module")
def stage_run(tmp_path_factory):
    cwd = _project(tmp_path_factory.mktemp("postprocess"))
    with contextlib.redirect_stdout(io.StringIO()) as out:
        _run_stage(cwd)
    return cwd, out.getvalue()


def test_stage_writes_corpus_dropped_card_and_metrics(stage_run):
    cwd, printed = stage_run
    out = cwd / "data/synthetic/rephrase"
    kept = [json.loads(line) for line in (out / "records.jsonl").read_text().splitlines()]
    dropped = [json.loads(line) for line in (out / "dropped.jsonl").read_text().splitlines()]
    assert [r["id"] for r in kept] == ["g-001", "g-002"] and len(dropped) == 5
    assert [d["stage"] for d in dropped].count("generate") == 1  # the refusal at generate, beside the 4 gate drops
    assert {"parsed", "vars", "template_sha", "contract"} <= set(kept[0])  # what a task needs, in the record
    assert set(kept[0]["leakage"]) == {"train_longest_span", "train_overlap", "source_longest_span", "source_overlap"}
    assert "postprocess@rephrase: 7 prompts, 6 generations, 1 rejected at generation" in printed
    metrics = json.loads((cwd / "metrics/quality_rephrase.json").read_text())
    assert metrics["counts"]["kept"] == 2
    assert set(json.loads((cwd / "metrics/timing/quality_rephrase.json").read_text())) >= {"leakage", "dedup"}


def test_card_holds_generator_templates_counts_figures_and_command(stage_run):
    cwd, _ = stage_run
    card = json.loads((cwd / "data/synthetic/rephrase/card.json").read_text())
    assert card["command"] == "dvc repro postprocess@rephrase"
    assert card["generators"] == [{"identity": "SmolLM2-135M-Instruct@9b1f3c0a7d2e4f51", "name": "SmolLM2-135M-Instruct",
                                   "weights_sha": "9b1f3c0a7d2e4f51", "adapter": None, "generations": 6}]
    assert card["templates"] == [{"name": "rephrase.clinical.v1", "sha": "3f2a9c1e5b7d4a60", "prompts": 7}]
    assert card["sampling"] == {"params_sha": {"c0ffee1234abcd56": 6}, "seed": 13}
    assert card["counts"]["dropped"] == {"exact_duplicate": 1, "leakage_span": 1, "length_ratio_low": 1,
                                         "near_duplicate": 1}
    assert card["counts"]["rejected_at_generation"] == {"refusal": 1}
    assert card["leakage"]["train"]["longest_span"]["max"] >= 30 and "distinct_2" in card["diversity"]
    assert set(card["inputs"]) == {"data/prompts/rephrase.jsonl", "data/generations/rephrase.jsonl",
                                   "data/generations/rephrase.rejections.jsonl", "data/interim/notes.jsonl"}
    md = (cwd / "data/synthetic/rephrase/CARD.md").read_text()
    for text in ("Rebuild: `dvc repro postprocess@rephrase`", "| SmolLM2-135M-Instruct | 9b1f3c0a7d2e4f51 |",
                 "| rephrase.clinical.v1 | `3f2a9c1e5b7d4a60` | 7 |", "| rejected at generation: refusal | 1 |",
                 "| dropped: near_duplicate | 1 |", "| **kept** | **2** (33.3% of generations) |",
                 "## Leakage against the train notes", "## Membership audit", "`postprocess.max_dropped_fraction`"):
        assert text in md


def test_stage_is_deterministic(stage_run, tmp_path):
    cwd, _ = stage_run
    again = _project(tmp_path)
    with contextlib.redirect_stdout(io.StringIO()):
        _run_stage(again)
    for rel in ("metrics/quality_rephrase.json", "data/synthetic/rephrase/records.jsonl",
                "data/synthetic/rephrase/dropped.jsonl", "data/synthetic/rephrase/card.json",
                "data/synthetic/rephrase/CARD.md"):
        assert (again / rel).read_bytes() == (cwd / rel).read_bytes(), rel


def test_stage_fails_on_a_crossed_limit_after_writing_its_outputs(tmp_path):
    cwd = _project(tmp_path, min_kept_fraction=0.5)
    message = "quality_rephrase: counts.kept_fraction = 0.3333 < min 0.5 (postprocess.min_kept_fraction)"
    with contextlib.redirect_stdout(io.StringIO()), pytest.raises(QualityGateError) as info:
        _run_stage(cwd)
    assert str(info.value) == message
    assert (cwd / "data/synthetic/rephrase/dropped.jsonl").exists()
    assert json.loads((cwd / "metrics/quality_rephrase.json").read_text())["limits"]["min_kept_fraction"]["status"] == "failed"


def test_why_dropped_explains_a_near_duplicate_with_its_kept_twin(stage_run):
    cwd, _ = stage_run
    result = CliRunner().invoke(app, ["quality", "why-dropped", "g-005", "--synthetic-dir", str(cwd / "data/synthetic")])
    assert result.exit_code == 0, result.output
    lines = result.output.splitlines()
    assert lines[0] == "g-005 (recipe rephrase, prompt p-005): dropped as near_duplicate"
    assert "duplicates kept record g-001: Jaccard exact 0.8" in result.output
    assert any(line.startswith("  kept    (g-001): A 67-year-old woman") for line in lines)


def test_why_dropped_by_prompt_id_and_for_leakage(stage_run):
    cwd, _ = stage_run
    result = CliRunner().invoke(app, ["quality", "why-dropped", "p-003", "--recipe", "rephrase",
                                      "--synthetic-dir", str(cwd / "data/synthetic")])
    assert result.exit_code == 0
    assert "dropped as leakage_span" in result.output and "shares a verbatim span of 34 tokens" in result.output


def test_why_dropped_unknown_id_exits_1(stage_run):
    cwd, _ = stage_run
    result = CliRunner().invoke(app, ["quality", "why-dropped", "g-001", "--synthetic-dir", str(cwd / "data/synthetic")])
    assert result.exit_code == 1
    assert "'g-001' is not a dropped record" in result.output


def test_a_corpus_answering_another_recipes_prompts(tmp_path):
    """postprocess@<corpus> reads data/generations/<corpus>.jsonl and the prompts of postprocess.corpora[<corpus>]
    (as kg_notes_lora answers the kg_notes prompts), and writes under its own name."""
    cwd = _project(tmp_path)
    params = yaml.safe_load((cwd / "params.yaml").read_text())
    params["postprocess"]["corpora"]["rephrase_lora"] = "rephrase"
    (cwd / "params.yaml").write_text(yaml.safe_dump(params))
    for suffix in (".jsonl", ".rejections.jsonl"):
        shutil.copy(cwd / f"data/generations/rephrase{suffix}", cwd / f"data/generations/rephrase_lora{suffix}")
    with contextlib.redirect_stdout(io.StringIO()) as out:
        _run_stage(cwd, "rephrase_lora")
    assert "postprocess@rephrase_lora: 7 prompts, 6 generations" in out.getvalue()
    metrics = json.loads((cwd / "metrics/quality_rephrase_lora.json").read_text())
    assert (metrics["recipe"], metrics["corpus"], metrics["counts"]["kept"]) == ("rephrase", "rephrase_lora", 2)
    card = json.loads((cwd / "data/synthetic/rephrase_lora/card.json").read_text())
    assert card["command"] == "dvc repro postprocess@rephrase_lora"
    assert "data/generations/rephrase_lora.jsonl" in card["inputs"] and "data/prompts/rephrase.jsonl" in card["inputs"]


def test_an_unknown_corpus_names_the_listed_ones(tmp_path):
    from clinsynth.params import ConfigError

    cwd = _project(tmp_path)
    with pytest.raises(ConfigError, match=r"postprocess.corpora has no corpus 'nope'; it lists \[.*'rephrase'"):
        _run_stage(cwd, "nope")
