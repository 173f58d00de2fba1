"""params.yaml's generate section, backend dispatch, and `clinsynth cache stats|prune`."""

from __future__ import annotations

import json
import sys
import types
from pathlib import Path

import pytest
from typer.testing import CliRunner

from clinsynth.generation.cache import GenerationCache
from clinsynth.generation.factory import GenerateConfig, make_backend
from clinsynth.generation.types import Completion, SamplingParams
from clinsynth.params import ConfigError, from_mapping, load_params

REPO = Path(__file__).resolve().parents[2]


def test_repo_params_load() -> None:
    cfg = load_params("generate", GenerateConfig, REPO / "params.yaml")
    sampling = cfg.sampling_for("rephrase")
    assert isinstance(sampling, SamplingParams) and sampling.max_new_tokens > 0
    with pytest.raises(ConfigError, match="generate.sampling has no 'no_such_recipe' block"):
        cfg.sampling_for("no_such_recipe")


def test_unknown_key_is_rejected() -> None:
    with pytest.raises(ConfigError, match="unknown key 'batchsize'; valid keys: adapter, batch_size"):
        from_mapping(GenerateConfig, {"sampling": {}, "transformers": {"batchsize": 2}}, "generate")


def test_openai_backend_is_imported_lazily_and_typed(monkeypatch: pytest.MonkeyPatch) -> None:
    import dataclasses

    @dataclasses.dataclass(frozen=True)
    class OpenAIConfig:
        base_urls: list[str]
        model: str

    class OpenAIBackend:
        def __init__(self, config: OpenAIConfig) -> None:
            self.config = config

    fake = types.ModuleType("clinsynth.generation.openai_backend")
    fake.OpenAIConfig, fake.OpenAIBackend = OpenAIConfig, OpenAIBackend
    monkeypatch.setitem(sys.modules, "clinsynth.generation.openai_backend", fake)
    cfg = GenerateConfig(sampling={}, backend="openai",
                         openai={"base_urls": ["http://a:8000"], "model": {"demo": "smol", "full": "big"}})
    backend = make_backend(cfg, profile="demo")
    assert backend.config == OpenAIConfig(["http://a:8000"], "smol")
    with pytest.raises(ConfigError, match="generate.openai: unknown key 'url'"):
        make_backend(GenerateConfig(sampling={}, backend="openai", openai={"url": "x"}), "demo")


def test_cache_stats_and_prune(tmp_path: Path) -> None:
    from clinsynth.generation.cli import app

    cache_path, gens = tmp_path / "c.sqlite", tmp_path / "generations"
    gens.mkdir()
    with GenerationCache(cache_path) as cache:
        for key in ("used", "rejected", "stale"):
            cache.put(key, "m@1", Completion(key, key, "stop", 1, 1))
    (gens / "rephrase.jsonl").write_text(json.dumps({"id": "used", "prompt_id": "p"}) + "\n", encoding="utf-8")
    (gens / "rephrase.rejections.jsonl").write_text(
        json.dumps({"prompt_id": "q", "reason": "refusal", "detail": "", "generation_id": "rejected"}) + "\n",
        encoding="utf-8")
    runner = CliRunner()
    stats = runner.invoke(app, ["stats", "--cache", str(cache_path)])
    assert stats.exit_code == 0 and json.loads(stats.output)["entries"] == 3
    kept = runner.invoke(app, ["prune", "--cache", str(cache_path), "--generations", str(gens), "--older-than", "30"])
    assert "pruned 0 entries" in kept.output  # 'stale' is unreferenced but recent
    pruned = runner.invoke(app, ["prune", "--cache", str(cache_path), "--generations", str(gens)])
    assert pruned.exit_code == 0 and "pruned 1 entries; 2 left" in pruned.output
    with GenerationCache(cache_path) as cache:
        assert cache.keys() == {"used", "rejected"}
