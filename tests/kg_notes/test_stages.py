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
