"""Templates, prompt records and the rephrase recipe's sampler and parser."""

from __future__ import annotations

import shutil
from pathlib import Path

import pytest

from clinsynth.generation.types import Message, SamplingParams, request_seed
from clinsynth.records import Rejection, dumps
from clinsynth.prompting import TemplateError, build_prompts, load_template, prompt_id, render_messages, template_path
from clinsynth.generation.engine import to_request
from clinsynth.recipes.registry import load_recipe

REPO = Path(__file__).resolve().parents[1]
REPHRASE_TEMPLATES = ["rephrase.general.v1", "rephrase.medical.v1", "rephrase.style.v1"]


@pytest.fixture()
def prompts_dir(tmp_path: Path) -> Path:
    shutil.copytree(REPO / "prompts", tmp_path / "prompts")
    return tmp_path / "prompts"


def write(prompts_dir: Path, name: str, text: str) -> None:
    path = template_path(prompts_dir, name)
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(text, encoding="utf-8")


def test_template_name_maps_to_file() -> None:
    assert template_path("prompts", "rephrase.general.v1") == Path("prompts/rephrase/general.v1.j2")


@pytest.mark.parametrize("name", ["rephrase.general", "Rephrase.general.v1", "rephrase.general.1", "general.v1"])
def test_bad_template_name(name: str) -> None:
    with pytest.raises(TemplateError, match=r"expected '<recipe>\.<name>\.v<N>'"):
        template_path("prompts", name)


def test_missing_template_lists_existing(prompts_dir: Path) -> None:
    with pytest.raises(TemplateError, match=r"rephrase\.nope\.v1: .*not found; templates in .*general\.v1"):
        load_template(prompts_dir, "rephrase.nope.v1")


@pytest.mark.parametrize("name", REPHRASE_TEMPLATES)
def test_shipped_templates_render(name: str) -> None:
    template = load_template(REPO / "prompts", name)
    messages = render_messages(template, {"text": "Pt has a cough."})
    assert [m.role for m in messages] == ["system", "user"]
    assert messages[1].content.endswith("Pt has a cough.")


def test_undefined_variable_names_template_and_variable(prompts_dir: Path) -> None:
    write(prompts_dir, "demo.bad.v1", "{% block user %}Rewrite {{ text }} for {{ audience }}.{% endblock %}")
    template = load_template(prompts_dir, "demo.bad.v1")
    with pytest.raises(TemplateError, match=r"demo\.bad\.v1 \(.*bad\.v1\.j2\): undefined variable 'audience'"):
        render_messages(template, {"text": "x"})


def test_undefined_attribute_is_a_template_error(prompts_dir: Path) -> None:
    write(prompts_dir, "demo.attr.v1", "{% block user %}{{ note.section }}{% endblock %}")
    template = load_template(prompts_dir, "demo.attr.v1")
    with pytest.raises(TemplateError, match=r"demo\.attr\.v1 .*undefined variable 'section'"):
        render_messages(template, {"note": {"text": "x"}})


def test_syntax_error_names_template_and_line(prompts_dir: Path) -> None:
    write(prompts_dir, "demo.syntax.v1", "{% block user %}\n{{ text }\n{% endblock %}")
    with pytest.raises(TemplateError, match=r"demo\.syntax\.v1 \(.*:2\): syntax error"):
        load_template(prompts_dir, "demo.syntax.v1")


def test_template_needs_user_block(prompts_dir: Path) -> None:
    write(prompts_dir, "demo.plain.v1", "Rewrite {{ text }}")
    with pytest.raises(TemplateError, match=r"no '\{% block user %\}'"):
        load_template(prompts_dir, "demo.plain.v1")


def test_prompt_id_is_stable_and_ignores_template_text(prompts_dir: Path, chunk_records: list[dict]) -> None:
    recipe = load_recipe("rephrase")
    before = build_prompts("rephrase", [load_template(prompts_dir, n) for n in REPHRASE_TEMPLATES], chunk_records[:2],
                           recipe.build_vars, recipe.source_ids, base_seed=13)
    path = template_path(prompts_dir, "rephrase.style.v1")
    path.write_text(path.read_text(encoding="utf-8").replace("SOAP-style", "problem-oriented"), encoding="utf-8")
    after = build_prompts("rephrase", [load_template(prompts_dir, n) for n in REPHRASE_TEMPLATES], chunk_records[:2],
                          recipe.build_vars, recipe.source_ids, base_seed=13)
    assert [p.id for p in before] == [p.id for p in after] == sorted(p.id for p in before)
    changed = {b.template for b, a in zip(before, after) if b.messages != a.messages}
    assert changed == {"rephrase.style.v1"}
    assert all(p.seed == request_seed(13, p.id) for p in after)
    assert before[0].id == prompt_id(before[0].template, before[0].source_ids)


def test_prompt_record_fields_and_request(chunk_records: list[dict]) -> None:
    recipe = load_recipe("rephrase")
    template = load_template(REPO / "prompts", "rephrase.general.v1")
    (prompt,) = build_prompts("rephrase", [template], chunk_records[:1], recipe.build_vars, recipe.source_ids, 13)
    import json

    record = json.loads(dumps(prompt.to_dict()))  # what sample@R writes: no contract key without a contract
    assert sorted(record) == ["id", "messages", "recipe", "seed", "source_ids", "template", "template_sha", "vars"]
    assert json.loads(dumps(prompt)) == record | {"contract": None}  # the dataclass itself: contract null
    assert record["source_ids"] == [chunk_records[0]["id"]] and record["template_sha"] == template.sha
    request = to_request(record, SamplingParams())
    assert request.messages == prompt.messages and request.seed == prompt.seed and request.id == prompt.id


def test_rephrase_selects_train_chunks_deterministically(chunk_records: list[dict]) -> None:
    recipe = load_recipe("rephrase")
    cfg = recipe.SampleConfig(templates=REPHRASE_TEMPLATES, max_chunks=3, min_chars=200)
    chosen = recipe.select_sources(chunk_records, cfg, seed=13)
    assert len(chosen) == 3 and all(c["split"] == "train" and len(c["text"]) >= 200 for c in chosen)
    assert chosen == recipe.select_sources(list(reversed(chunk_records)), cfg, seed=13)
    everything = recipe.select_sources(chunk_records, recipe.SampleConfig(REPHRASE_TEMPLATES, 0), seed=13)
    assert [c["id"] for c in everything] == ["note00:0", "note01:0", "note02:0", "note03:0", "note04:0"]


def test_chunk_sampling_honours_max_chars(chunk_records: list[dict]) -> None:
    from clinsynth.recipes.chunk_sampling import select_chunks

    lengths = sorted(len(c["text"].strip()) for c in chunk_records if c["split"] == "train")
    cap = lengths[len(lengths) // 2]
    chosen = select_chunks(chunk_records, split="train", min_chars=0, max_chars=cap, max_chunks=0, seed=1)
    assert chosen and all(len(c["text"].strip()) <= cap for c in chosen)
    assert len(chosen) == sum(n <= cap for n in lengths)
    with pytest.raises(ValueError, match="max_chars \\(10\\) is below min_chars \\(200\\)"):
        select_chunks(chunk_records, split="train", min_chars=200, max_chars=10, max_chunks=0, seed=1)


@pytest.mark.parametrize(("text", "reason"), [
    ("", "empty"), ("  \n ", "empty"),
    ("I'm sorry, but I can't help with that.", "refusal"), ("As an AI language model, I cannot", "refusal"),
    ("I cannot rephrase medical records.", "refusal"),
])
def test_rephrase_parser_rejects(text: str, reason: str) -> None:
    result = load_recipe("rephrase").parse_completion(text, {"id": "p1"})
    assert isinstance(result, Rejection) and result.reason == reason and result.prompt_id == "p1"


def test_rephrase_parser_keeps_text() -> None:
    result = load_recipe("rephrase").parse_completion("  The patient reports a cough.\n", {"id": "p1"})
    assert result == {"text": "The patient reports a cough."}


def test_unknown_recipe_lists_known() -> None:
    from clinsynth.params import ConfigError

    with pytest.raises(ConfigError, match="unknown recipe 'nope'; known recipes: rephrase"):
        load_recipe("nope")


def test_message_roles_from_blocks(prompts_dir: Path) -> None:
    write(prompts_dir, "demo.user.v1", "{% block user %}  Only {{ x }}  {% endblock %}")
    assert render_messages(load_template(prompts_dir, "demo.user.v1"), {"x": 1}) == (Message("user", "Only 1"),)


def test_worked_example_blocks_become_a_past_exchange(tmp_path):
    from clinsynth.prompting import TemplateError, load_template, render_messages

    folder = tmp_path / "r"
    folder.mkdir()
    (folder / "ex.v1.j2").write_text("{% block system %}S{% endblock %}{% block example_user %}EU{% endblock %}"
                                     "{% block example_assistant %}EA{% endblock %}{% block user %}U {{ x }}{% endblock %}")
    messages = render_messages(load_template(tmp_path, "r.ex.v1"), {"x": 1})
    assert [(m.role, m.content) for m in messages] == [("system", "S"), ("user", "EU"), ("assistant", "EA"), ("user", "U 1")]
    (folder / "half.v1.j2").write_text("{% block example_user %}EU{% endblock %}{% block user %}U{% endblock %}")
    with pytest.raises(TemplateError, match=r"block 'example_user' without its pair"):
        load_template(tmp_path, "r.half.v1")
