from collections import Counter

import pytest

from clinsynth.records import Rejection
from clinsynth.prompting import build_prompts, load_template
from clinsynth.records import Generation, Prompt
from clinsynth.recipes import kg_notes as kn

TEMPLATES = ["kg_notes.baseline.v1", "kg_notes.full.v1"]


def draws(notes, tiny_kg, **overrides):
    cfg = kn.SampleConfig(templates=TEMPLATES, n_prompts=12, **overrides)
    return kn.select_sources([kn.DrawPool(notes, tiny_kg)], cfg, seed=5)


def test_draws_are_seeded_and_complete(notes, tiny_kg):
    first = draws(notes, tiny_kg)
    assert first == draws(notes, tiny_kg)
    assert [d["id"] for d in first] == [f"kg_notes-draw-{i:05d}" for i in range(12)]
    assert {d["vars"]["code"] for d in first} <= {"A01", "B01", "E01"}
    for d in first:
        v = d["vars"]
        assert 0 <= len(v["symptoms"]) <= 5 and len({s["id"] for s in v["symptoms"]}) == len(v["symptoms"])
        assert v["example_id"] in d["source_ids"]
        assert v["example"] and d["source_ids"][1] == "ICD10CM:" + v["code"]
    e01 = next(d for d in first if d["vars"]["code"] == "E01")["vars"]
    assert e01["symptom_source"] == "descendant" and [s["id"] for s in e01["symptoms"]] == ["HP:2"]
    assert e01["example_id"] == "n5" and e01["disease"] == "Epsilon disorder"


def test_explicit_targets_without_train_notes_or_symptoms(notes, tiny_kg):
    result = draws(notes, tiny_kg, targets=["Z99", "Q00"], example="train_note")
    counts = Counter((d["vars"]["code"], d["vars"]["symptom_source"]) for d in result)
    assert set(counts) == {("Z99", "none"), ("Q00", "not_in_kg")}
    assert all(d["vars"]["symptoms"] == [] and d["vars"]["example"] is None for d in result)
    assert {d["vars"]["disease"] for d in result} == {"Zeta status", "Q00"}


def test_no_example_switch(notes, tiny_kg):
    assert all(d["vars"]["example"] is None and len(d["source_ids"]) == 2 for d in draws(notes, tiny_kg, example="none"))


def test_templates_render_both_prompt_sets(notes, tiny_kg, prompts_dir):
    templates = [load_template(prompts_dir, t) for t in TEMPLATES]
    prompts = build_prompts("kg_notes", templates, draws(notes, tiny_kg), kn.build_vars, kn.source_ids, 13)
    assert Counter(p.template for p in prompts) == {"kg_notes.baseline.v1": 12, "kg_notes.full.v1": 12}
    full = next(p for p in prompts if p.template == "kg_notes.full.v1" and p.vars["symptoms"])
    user = full.messages[-1].content
    assert full.vars["disease"] in user and all(s["text"] in user for s in full.vars["symptoms"])
    assert full.vars["example"] in user
    base = next(p for p in prompts if p.template == "kg_notes.baseline.v1")
    assert base.vars["disease"] in base.messages[-1].content and "reports" not in base.messages[-1].content


def test_cut_example_on_a_line_break():
    assert kn.cut_example("line one\nline two\nline three", 16) == "line one"
    assert kn.cut_example("short", 100) == "short"


def test_parse_completion():
    prompt = {"id": "p1"}
    assert kn.parse_completion("  A note.  ", prompt) == {"text": "A note."}
    assert kn.parse_completion("   ", prompt) == Rejection("p1", "empty", "the reply is empty or whitespace")
    assert kn.parse_completion("I'm sorry, I cannot", prompt).reason == "refusal"


# ---- fidelity: symptom usage with KG synonyms --------------------------------------------------------
SYMPTOMS = [{"id": "HP:1", "text": "Fever", "variants": ["Fever", "Pyrexia"]},
            {"id": "HP:2", "text": "Cough", "variants": ["Cough"]},
            {"id": "HP:3", "text": "Tiredness", "variants": ["Fatigue", "Tiredness"]}]


@pytest.mark.parametrize("text, usage", [
    ("Patient has PYREXIA and a dry cough.", 2 / 3),         # synonym, any case
    ("fever; cough; fatigue", 1.0),
    ("Coughing at night, feverish.", 0.0),                   # whole phrases only: no stems
    ("No complaints.", 0.0),
])
def test_symptom_usage_counts_synonyms(text, usage):
    assert kn.symptom_usage(text, SYMPTOMS) == pytest.approx(usage)


def test_usage_is_none_without_symptoms():
    assert kn.symptom_usage("anything", []) is None


def test_check_is_the_recipes_own_and_drops_below_minimum():
    check = kn.CHECK
    assert check.config is kn.KgNotesCheckConfig
    prompt = Prompt("p", "kg_notes", "kg_notes.full.v1", "sha", [], {"symptoms": SYMPTOMS}, [], 1)
    gen = Generation("g", "p", "m", "s", "fever only", "stop", 1, 1)
    assert check.run(prompt, gen, kn.KgNotesCheckConfig()).figures == {"symptom_usage": pytest.approx(1 / 3)}
    dropped = check.run(prompt, gen, kn.KgNotesCheckConfig(min_symptom_usage=0.5))
    assert dropped.reason == "symptom_usage_low"
    empty = Prompt("p", "kg_notes", "kg_notes.baseline.v1", "sha", [], {"symptoms": []}, [], 1)
    assert check.run(empty, gen, kn.KgNotesCheckConfig(min_symptom_usage=0.5)).reason is None


def test_check_measures_whether_the_note_names_the_disease():
    check = kn.CHECK
    prompt = Prompt("p", "kg_notes", "kg_notes.full.v1", "sha", [], {"disease": "Acute bronchitis", "symptoms": []}, [], 1)
    named = Generation("g", "p", "m", "s", "Assessment: acute  bronchitis, fever.", "stop", 1, 1)
    other = Generation("g", "p", "m", "s", "Assessment: sinusitis.", "stop", 1, 1)
    assert check.run(prompt, named, kn.KgNotesCheckConfig()).figures == {"disease_used": 1.0}
    assert check.run(prompt, other, kn.KgNotesCheckConfig()).figures == {"disease_used": 0.0}


def test_upsample_draws_target_rare_codes_and_leave_the_main_draws_alone(notes, tiny_kg):
    # train frequencies: A01 2, B01 2, E01 1 -> with rare_max_train_notes 1 only E01 is rare
    upsample = kn.UpsampleConfig(n_prompts=4, targets="rare", templates=["kg_notes.full.v1"])
    result = draws(notes, tiny_kg, rare_max_train_notes=1, upsample=upsample)
    main, extra = result[:12], result[12:]
    assert main == draws(notes, tiny_kg, rare_max_train_notes=1)
    assert all(d["vars"]["draw_set"] == "all" for d in main)
    assert [d["id"] for d in extra] == [f"kg_notes-rare-draw-{i:05d}" for i in range(4)]
    assert {d["vars"]["code"] for d in extra} == {"E01"} and {d["vars"]["draw_set"] for d in extra} == {"upsample"}
    cfg = kn.SampleConfig(templates=TEMPLATES, n_prompts=12, upsample=upsample)
    assert kn.templates_for(extra[0], cfg) == ["kg_notes.full.v1"] and kn.templates_for(main[0], cfg) is None


def test_upsample_templates_must_be_recipe_templates(notes, tiny_kg):
    with pytest.raises(kn.SamplingError, match="upsample.templates"):
        draws(notes, tiny_kg, upsample=kn.UpsampleConfig(n_prompts=2, templates=["kg_notes.other.v9"]))


def test_upsample_draws_render_only_under_their_templates(notes, tiny_kg, prompts_dir):
    upsample = kn.UpsampleConfig(n_prompts=3, targets=["E01"], templates=["kg_notes.full.v1"])
    cfg = kn.SampleConfig(templates=TEMPLATES, n_prompts=12, upsample=upsample)
    result = kn.select_sources([kn.DrawPool(notes, tiny_kg)], cfg, seed=5)
    templates = [load_template(prompts_dir, t) for t in TEMPLATES]
    prompts = build_prompts("kg_notes", templates, result, kn.build_vars, kn.source_ids, 13,
                            templates_for=lambda source: kn.templates_for(source, cfg))
    counts = Counter((p.template, p.vars["draw_set"]) for p in prompts)
    assert counts == {("kg_notes.baseline.v1", "all"): 12, ("kg_notes.full.v1", "all"): 12, ("kg_notes.full.v1", "upsample"): 3}


def test_draw_set_names_are_checked():
    kn.check_draw_sets(["all", "upsample"], "x")
    for bad in (["al"], []):
        with pytest.raises(kn.SamplingError, match="expected a non-empty subset"):
            kn.check_draw_sets(bad, "kg_notes_corpora.variants.v.draw_sets")
