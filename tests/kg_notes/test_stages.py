import importlib.util
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]


def load_stage(name):
    spec = importlib.util.spec_from_file_location(f"stage_{name}", ROOT / "stages" / f"{name}.py")
    module = importlib.util.module_from_spec(spec)
    sys.modules[spec.name] = module
    spec.loader.exec_module(module)
    return module


def test_corpus_files_are_rewritten_only_when_their_content_changes(tmp_path):
    stage = load_stage("kg_notes_corpora")
    path = tmp_path / "full_v1.jsonl"
    assert stage.write_if_changed(path, '{"id": "g1"}\n')
    mtime = path.stat().st_mtime_ns
    assert not stage.write_if_changed(path, '{"id": "g1"}\n') and path.stat().st_mtime_ns == mtime
    assert stage.write_if_changed(path, '{"id": "g2"}\n')


def test_variants_in_params_match_between_stages():
    import yaml

    params = yaml.safe_load((ROOT / "params.yaml").read_text(encoding="utf-8"))
    assert list(params["kg_notes_corpora"]["variants"]) == params["evaluate_kg_notes"]["variants"]
    templates = {v["template"] for v in params["kg_notes_corpora"]["variants"].values()}
    assert templates <= set(params["sample"]["kg_notes"]["templates"])


def test_upsampled_arms_are_the_variants_with_upsample_draws():
    import yaml

    params = yaml.safe_load((ROOT / "params.yaml").read_text(encoding="utf-8"))
    with_upsample = [name for name, v in params["kg_notes_corpora"]["variants"].items() if "upsample" in v.get("draw_sets", ["all"])]
    assert with_upsample and with_upsample == params["evaluate_kg_notes"]["upsampled"]


def test_side_by_side_table_names_the_arms():
    from clinsynth.evaluation.icd import side_by_side

    metrics = {"hit@1": 0.5, "hit@5": 0.8}
    result = {"baseline": {"minilm": {"all": metrics, "rare": {"hit@1": 0.0, "hit@5": 0.0}}},
              "augmented": {"minilm": {"all": {"hit@1": 0.6, "hit@5": 0.9}, "rare": {"hit@1": 0.1, "hit@5": 0.2}}},
              "synthetic_notes": 7}
    table = side_by_side({"full_v1": {**result, "synthetic_notes": 3}, "full_v1_rare": result}, ["full_v1_rare"])
    rare = table["minilm"]["rare"]
    assert list(rare) == ["real", "real+synthetic[full_v1]", "real+synthetic(upsampled rare codes)[full_v1_rare]"]
    assert rare["real"] == {"hit@1": 0.0, "hit@5": 0.0, "synthetic_notes": 0}
    assert rare["real+synthetic(upsampled rare codes)[full_v1_rare]"] == {"hit@1": 0.1, "hit@5": 0.2, "synthetic_notes": 7}
    assert table["minilm"]["all"]["real+synthetic[full_v1]"]["synthetic_notes"] == 3
