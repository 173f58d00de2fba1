"""CARD.md is a Hugging Face dataset card whose data_files load the corpus the real postprocess stage wrote."""

import contextlib
import io
import json

import datasets
import pyarrow as pa
import pyarrow.parquet as pq
import pytest
import yaml
from huggingface_hub import DatasetCard, DatasetCardData

from clinsynth.quality.card import load_corpus, size_category
from clinsynth.quality.table import column_kinds, json_columns
from tests.quality.test_stage import ROOT, _project, _run_stage

CORPUS = "data/synthetic/rephrase"


def _corpus(tmp_path, parquet: bool):
    (tmp_path / "project").mkdir(parents=True)
    cwd = _project(tmp_path / "project")
    params = yaml.safe_load((cwd / "params.yaml").read_text())
    params["postprocess"]["parquet"] = parquet
    (cwd / "params.yaml").write_text(yaml.safe_dump(params))
    with contextlib.redirect_stdout(io.StringIO()):
        _run_stage(cwd)
    return cwd / CORPUS


def _jsonl(path):
    return [json.loads(line) for line in path.read_text().splitlines()]


@pytest.fixture(scope="module")
def with_parquet(tmp_path_factory):
    return _corpus(tmp_path_factory.mktemp("parquet"), parquet=True)


@pytest.fixture(scope="module")
def jsonl_only(tmp_path_factory):
    return _corpus(tmp_path_factory.mktemp("jsonl"), parquet=False)


def test_front_matter_parses_as_dataset_card_data(with_parquet):
    card = DatasetCard.load(with_parquet / "CARD.md")
    assert isinstance(card.data, DatasetCardData)
    data = card.data.to_dict()
    assert data["pretty_name"] == "clinsynth synthetic corpus: rephrase"
    assert (data["license"], data["language"], data["size_categories"]) == ("other", ["en"], ["n<1K"])
    assert data["task_categories"] == ["text-generation"]  # params.yaml postprocess.card.task_categories.rephrase
    assert {"synthetic", "clinical"} <= set(data["tags"])
    assert data["configs"] == [
        {"config_name": "default", "data_files": [{"split": "train", "path": "records.jsonl"}]},
        {"config_name": "parquet", "data_files": [{"split": "train", "path": "parquet/records.parquet"}]}]
    assert "Rebuild: `dvc repro postprocess@rephrase`" in card.text and "## Counts" in card.text
    assert json.loads((with_parquet / "card.json").read_text())["data_files"] == {
        "default": "records.jsonl", "parquet": "parquet/records.parquet"}
    # datasets reads the same configs from the card data (as it does from a README.md)
    from datasets.utils.metadata import MetadataConfigs

    assert sorted(MetadataConfigs.from_dataset_card_data(card.data)) == ["default", "parquet"]


@pytest.mark.parametrize("config", ["default", "parquet"])
def test_each_config_loads_the_records_in_order(with_parquet, config, tmp_path):
    rows = load_corpus(with_parquet, config, cache_dir=str(tmp_path / "cache"))
    expected = _jsonl(with_parquet / "records.jsonl")
    assert isinstance(rows, datasets.Dataset)
    assert rows.num_rows == len(expected) == 2 and rows["id"] == [r["id"] for r in expected]
    assert rows["text"] == [r["text"] for r in expected]
    if config == "parquet":  # free-form dicts as JSON strings, the record's own dicts once decoded
        assert [json.loads(v) for v in rows["vars"]] == [r["vars"] for r in expected]
        assert [json.loads(v) for v in rows["leakage"]] == [r["leakage"] for r in expected]


def test_load_dataset_json_from_the_cards_data_files(jsonl_only, tmp_path):
    card = DatasetCard.load(jsonl_only / "CARD.md")
    (files,) = [c["data_files"] for c in card.data.configs if c["config_name"] == "default"]
    rows = datasets.load_dataset("json", data_files={f["split"]: str(jsonl_only / f["path"]) for f in files},
                                 split="train", cache_dir=str(tmp_path / "cache"))
    assert rows["id"] == [r["id"] for r in _jsonl(jsonl_only / "records.jsonl")]


def test_saved_as_readme_the_folder_loads_by_path(jsonl_only, tmp_path):
    """datasets reads a folder's README.md (the Hub's name); one builder per folder, so a JSONL-only one here
    (with the Parquet copy beside it, load_dataset(folder) would read both configs with one builder)."""
    folder = tmp_path / "hub"
    folder.mkdir()
    (folder / "records.jsonl").write_bytes((jsonl_only / "records.jsonl").read_bytes())
    DatasetCard.load(jsonl_only / "CARD.md").save(folder / "README.md")
    rows = datasets.load_dataset(str(folder), split="train", cache_dir=str(tmp_path / "cache"))
    assert rows["id"] == [r["id"] for r in _jsonl(jsonl_only / "records.jsonl")]


def test_demo_profile_writes_an_empty_parquet_folder_and_no_parquet_config(jsonl_only):
    assert (jsonl_only / "parquet").is_dir() and not any((jsonl_only / "parquet").iterdir())
    card = DatasetCard.load(jsonl_only / "CARD.md")
    assert [c["config_name"] for c in card.data.configs] == ["default"]
    assert "No Parquet copy" in card.text


def test_parquet_schema_is_fixed_by_the_record_type(with_parquet):
    schema = pq.read_schema(with_parquet / "parquet/records.parquet")
    assert schema.names == list(column_kinds())
    assert {name: schema.field(name).type for name in ("id", "source_ids", "vars", "contract")} == {
        "id": pa.string(), "source_ids": pa.list_(pa.string()), "vars": pa.string(), "contract": pa.string()}
    assert json_columns() == ["parsed", "vars", "contract", "leakage", "checks", "fidelity"]


def test_parquet_is_deterministic_and_a_stale_copy_is_removed(with_parquet, tmp_path):
    again = _corpus(tmp_path / "again", parquet=True)
    assert (again / "parquet/records.parquet").read_bytes() == (with_parquet / "parquet/records.parquet").read_bytes()
    cwd = again.parents[2]
    params = yaml.safe_load((cwd / "params.yaml").read_text())
    params["postprocess"]["parquet"] = False
    (cwd / "params.yaml").write_text(yaml.safe_dump(params))
    with contextlib.redirect_stdout(io.StringIO()):
        _run_stage(cwd)
    assert not (again / "parquet/records.parquet").exists()


@pytest.mark.parametrize("rows, category", [(0, "n<1K"), (999, "n<1K"), (1000, "1K<n<10K"), (250_000, "100K<n<1M")])
def test_size_category(rows, category):
    assert size_category(rows) == category


def test_repository_params_write_parquet_for_the_full_profile_only():
    params = yaml.safe_load((ROOT / "params.yaml").read_text())
    assert params["postprocess"]["parquet"] == {"demo": False, "full": True, "ci": False}
