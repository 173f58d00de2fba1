"""The engine over a fake backend: cache hits, resume semantics, template edits, deterministic outputs."""

from __future__ import annotations

import dataclasses
import json
import shutil
from pathlib import Path

import pytest

from clinsynth.generation.cache import GenerationCache
from clinsynth.generation.engine import BackendContractError, generate, run_requests
from clinsynth.generation.types import Completion, Message, Request, SamplingParams
from clinsynth.prompting import build_prompts, load_template, template_path
from clinsynth.recipes.registry import load_recipe
from clinsynth.records import dumps

from .fakes import EchoBackend

REPO = Path(__file__).resolve().parents[2]
TEMPLATES = ["rephrase.general.v1", "rephrase.medical.v1", "rephrase.style.v1"]
SAMPLING = SamplingParams(temperature=0.7, top_p=0.95, max_new_tokens=32)


def make_prompts(prompts_dir: Path, chunks: list[dict]) -> list[dict]:
    recipe = load_recipe("rephrase")
    templates = [load_template(prompts_dir, n) for n in TEMPLATES]
    prompts = build_prompts("rephrase", templates, recipe.select_sources(chunks, recipe.SampleConfig(TEMPLATES, 0), 13),
                            recipe.build_vars, recipe.source_ids, 13)
    return [json.loads(dumps(p)) for p in prompts]


def run(prompts: list[dict], backend: EchoBackend, cache_path: Path):
    with GenerationCache(cache_path) as cache:
        return generate(prompts, SAMPLING, backend, cache, load_recipe("rephrase").parse_completion)


def test_second_run_is_all_cache_hits_and_writes_identical_outputs(tmp_path: Path, chunk_records: list[dict]) -> None:
    prompts = make_prompts(REPO / "prompts", chunk_records)
    first = run(prompts, EchoBackend(), tmp_path / "c.sqlite")
    backend = EchoBackend()
    second = run(prompts, backend, tmp_path / "c.sqlite")
    assert backend.calls == []
    assert (first.timing["generated"], second.timing["cache_hits"]) == (15, 15)
    assert [dumps(g) for g in first.generations] == [dumps(g) for g in second.generations]
    assert first.metrics == second.metrics  # committed metrics do not depend on the cache
    assert [g.prompt_id for g in first.generations] == sorted(p["id"] for p in prompts)


def test_editing_one_of_three_templates_regenerates_only_its_prompts(tmp_path: Path, chunk_records: list[dict]) -> None:
    prompts_dir = tmp_path / "prompts"
    shutil.copytree(REPO / "prompts", prompts_dir)
    run(make_prompts(prompts_dir, chunk_records), EchoBackend(), tmp_path / "c.sqlite")
    path = template_path(prompts_dir, "rephrase.medical.v1")
    path.write_text(path.read_text(encoding="utf-8").replace("physician", "clinician"), encoding="utf-8")
    backend = EchoBackend()
    result = run(make_prompts(prompts_dir, chunk_records), backend, tmp_path / "c.sqlite")
    assert result.timing["cache_hits"] == 10 and result.timing["generated"] == 5
    assert {c.split(":")[0] for c in backend.calls} == {"rephrase.medical.v1"}


def test_failures_are_rejections_and_never_cached(tmp_path: Path, chunk_records: list[dict]) -> None:
    prompts = make_prompts(REPO / "prompts", chunk_records)
    bad = prompts[0]["id"]
    result = run(prompts, EchoBackend(fail_ids=[bad]), tmp_path / "c.sqlite")
    assert [(r.prompt_id, r.reason, r.generation_id) for r in result.rejections] == [(bad, "prompt_too_long", None)]
    assert result.metrics["rejected"] == {"prompt_too_long": 1}
    backend = EchoBackend()
    run(prompts, backend, tmp_path / "c.sqlite")
    assert backend.calls == [bad]  # retried, everything else cached


def test_parser_rejections_keep_their_cache_key(tmp_path: Path, chunk_records: list[dict]) -> None:
    prompts = make_prompts(REPO / "prompts", chunk_records)
    result = run(prompts, EchoBackend(reply="I'm sorry, I can't do that."), tmp_path / "c.sqlite")
    assert result.metrics["rejected"] == {"refusal": 15} and result.generations == []
    with GenerationCache(tmp_path / "c.sqlite") as cache:
        assert {r.generation_id for r in result.rejections} == cache.keys()


def test_identical_requests_are_generated_once(tmp_path: Path) -> None:
    message = (Message("user", "same"),)
    requests = [Request(f"p{i}", message, 5, SAMPLING) for i in range(3)]
    backend = EchoBackend()
    with GenerationCache(tmp_path / "c.sqlite") as cache:
        outcomes = list(run_requests(requests, backend, cache))
    assert backend.calls == ["p0"]
    assert sorted(o.request.id for o in outcomes) == ["p0", "p1", "p2"]
    assert {o.result.request_id for o in outcomes} == {"p0", "p1", "p2"}


class ForgetfulBackend(EchoBackend):
    def generate(self, requests):
        yield from list(super().generate(requests))[1:]


def test_a_backend_that_drops_a_request_is_an_error(tmp_path: Path) -> None:
    requests = [Request(f"p{i}", (Message("user", str(i)),), i, SAMPLING) for i in range(2)]
    with GenerationCache(tmp_path / "c.sqlite") as cache, pytest.raises(BackendContractError, match="no result for 1"):
        list(run_requests(requests, ForgetfulBackend(), cache))


def test_each_reply_is_committed_before_the_next_is_asked_for(tmp_path: Path) -> None:
    requests = [Request(f"p{i}", (Message("user", str(i)),), i, SAMPLING) for i in range(3)]
    with GenerationCache(tmp_path / "c.sqlite") as cache:
        stream = run_requests(requests, EchoBackend(), cache)
        next(stream)
        with GenerationCache(tmp_path / "c.sqlite") as reader:  # as a rerun after a kill would see it
            assert reader.stats().entries == 1
        assert isinstance(next(stream).result, Completion)
