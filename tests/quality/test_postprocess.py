import dataclasses
import json
import random

import pytest

from clinsynth.corpus import Note
from clinsynth.quality.inputs import QualityInputError
from clinsynth.records import Generation, Prompt, RecordFormatError, record_from_row
from clinsynth.quality.leakage import tokenize
from clinsynth.quality.postprocess import postprocess
from tests.quality.conftest import make_config, prose


def test_fixture_corpus_drops_each_planted_problem_for_its_reason(fixture_records):
    result = postprocess("rephrase", **fixture_records, cfg=make_config(), seed=13)
    assert [r.id for r in result.kept] == ["g-001", "g-002"]
    reasons = {d.id: (d.stage, d.reason, d.duplicate_of) for d in result.dropped}
    assert reasons == {"g-003": ("postprocess", "leakage_span", None), "g-004": ("postprocess", "length_ratio_low", None),
                       "g-005": ("postprocess", "near_duplicate", "g-001"),
                       "g-006": ("postprocess", "exact_duplicate", "g-002"),
                       "p-007": ("generate", "refusal", None)}  # a rejection with no reply: keyed by its prompt id
    rejected, prompt = result.dropped[-1], next(p for p in fixture_records["prompts"] if p.id == "p-007")
    assert (rejected.text, rejected.template, rejected.vars) == ("", prompt.template, prompt.vars)
    counts = result.metrics["counts"]
    assert (counts["prompts"], counts["generations"], counts["kept"]) == (7, 6, 2)
    assert counts["rejected_at_generation"] == {"refusal": 1} and counts["prompts_without_output"] == 0
    near = next(d for d in result.dropped if d.id == "g-005")
    assert 0.8 <= near.jaccard_exact < 1 and near.jaccard_estimated > 0.7
    assert near.detail.startswith("near duplicate of kept record 'g-001': Jaccard of 3-token shingles 0.")
    assert result.kept[0].leakage["train_longest_span"] < 8 and result.kept[0].checks["length_ratio"] > 0.5
    assert result.failures == []


def test_metrics_are_deterministic_and_rounded(fixture_records):
    a = postprocess("rephrase", **fixture_records, cfg=make_config(), seed=13)
    b = postprocess("rephrase", **fixture_records, cfg=make_config(), seed=13)
    assert json.dumps(a.metrics, sort_keys=True) == json.dumps(b.metrics, sort_keys=True)
    assert a.metrics["counts"]["kept_fraction"] == 0.3333
    assert "timings" not in json.dumps(a.metrics) and set(a.timings) >= {"leakage", "dedup", "membership"}


def _planted_corpus(seed: int, n_notes: int = 40, n_records: int = 60, n_planted: int = 20):
    """Train and held-out notes, one prompt per record (source: a train note), planted 30-40 token copies
    taken from a train note *other than* the prompted one."""
    rng = random.Random(seed)
    notes = [Note(f"n{i:03d}", prose(rng, 200), "train" if i < n_notes else "test", {"patient_id": f"p{i}"})
             for i in range(n_notes + 10)]
    prompts, gens, planted = [], [], set()
    for i in range(n_records):
        source = notes[i % n_notes]
        prompts.append(Prompt(f"p{i:03d}", "unit", "unit.v1", "sha", [], {}, [f"{source.id}:0"], i))
        text = prose(rng, 80)
        if i < n_planted:
            other = notes[(i + 1 + rng.randrange(n_notes - 1)) % n_notes]
            tokens = tokenize(other.text)
            length = rng.randrange(30, 41)
            start = rng.randrange(len(tokens) - length)
            filler = text.split()
            cut = rng.randrange(len(filler))
            text = " ".join(filler[:cut] + tokens[start : start + length] + filler[cut:])
            planted.add(f"g{i:03d}")
        gens.append(Generation(f"g{i:03d}", f"p{i:03d}", "m@sha", "ps", text, "stop", 10, 10))
    return notes, prompts, gens, planted


@pytest.mark.parametrize("seed", range(3))
def test_planted_verbatim_copies_of_30_plus_tokens_from_any_train_note_are_all_caught(seed):
    notes, prompts, gens, planted = _planted_corpus(seed)
    result = postprocess("unit", prompts, gens, [], notes, make_config(), seed=seed)
    leaked = {d.id for d in result.dropped if d.reason == "leakage_span"}
    assert leaked == planted
    for d in result.dropped:
        assert d.leakage["train_longest_span"] >= 30
        assert d.leakage["source_longest_span"] < 30  # copied from another note than the prompted one
    leak = result.metrics["leakage"]
    assert leak["dropped"] == 20 and leak["dropped_fraction"] == round(20 / 60, 4)
    assert leak["train"]["longest_span"]["histogram"]["[0,8)"] == 40
    assert sum(leak["train"]["longest_span"]["histogram"].values()) == 60
    assert leak["prompted_source"]["measured"] == 60
    assert result.metrics["membership"]["status"] == "ok"


def test_crossing_a_limit_is_reported_with_the_exact_message():
    notes, prompts, gens, _ = _planted_corpus(0)
    result = postprocess("unit", prompts, gens, [], notes, make_config(max_dropped_fraction=0.25), seed=0)
    assert result.failures == ["quality_unit: leakage.dropped_fraction = 0.3333 > max 0.25 "
                               "(postprocess.max_dropped_fraction)"]
    assert result.metrics["limits"]["max_dropped_fraction"]["status"] == "failed"


def test_generation_of_an_unknown_prompt_is_an_input_error(fixture_records):
    stray = dataclasses.replace(fixture_records["generations"][0], id="g-999", prompt_id="p-404")
    records = {**fixture_records, "generations": fixture_records["generations"] + [stray]}
    with pytest.raises(QualityInputError, match=r"generation 'g-999': prompt_id 'p-404' is not among the 7 prompts"):
        postprocess("rephrase", **records, cfg=make_config(), seed=1)


def test_record_from_row_names_file_line_and_field():
    with pytest.raises(RecordFormatError, match=r"gens.jsonl:3: missing field 'model'; a Generation needs id, prompt_id, model"):
        record_from_row(Generation, {"id": "g", "prompt_id": "p"}, "gens.jsonl:3")
    with pytest.raises(RecordFormatError, match=r"p.jsonl:1: field 'seed' = '7' is str; expected int"):
        record_from_row(Prompt, {"id": "p", "recipe": "r", "template": "t", "template_sha": "s", "messages": [],
                                 "vars": {}, "source_ids": [], "seed": "7"}, "p.jsonl:1")


def test_repository_params_load():
    from pathlib import Path

    from clinsynth.params import from_mapping, load_params
    from clinsynth.quality.postprocess import PostprocessConfig
    from clinsynth.recipes.registry import load_recipe

    params = Path(__file__).resolve().parents[2] / "params.yaml"
    cfg = load_params("postprocess", PostprocessConfig, params)
    assert set(cfg.recipes) <= set(cfg.corpora), "postprocess.recipes is keyed by corpus (postprocess.corpora)"
    for corpus, recipe_params in cfg.recipes.items():
        check = load_recipe(cfg.corpora[corpus]).CHECK
        assert check is not None or not recipe_params.check, corpus
        if check:
            from_mapping(check.config, recipe_params.check, corpus)


def test_a_corpus_takes_its_own_settings_and_names_its_limits(fixture_records):
    cfg = make_config(min_kept_fraction=0.6, recipes={"rephrase_b": {"check": {"min_length_ratio": 0.0},
                                                                      "limits": {"max_membership_auc": None}}})
    result = postprocess("rephrase", **fixture_records, cfg=cfg, seed=13, corpus="rephrase_b")
    assert (result.metrics["recipe"], result.metrics["corpus"]) == ("rephrase", "rephrase_b")
    assert "length_ratio_low" not in result.metrics["counts"]["dropped"]  # the corpus's check settings
    assert result.metrics["limits"]["max_membership_auc"]["param"] == "postprocess.recipes.rephrase_b.limits.max_membership_auc"
    assert result.failures == ["quality_rephrase_b: counts.kept_fraction = 0.5 < min 0.6 (postprocess.min_kept_fraction)"]
    assert {r.recipe for r in result.kept} == {"rephrase"}


def test_the_gated_text_may_be_a_field_of_the_parsed_reply(fixture_records):
    wrapped = [dataclasses.replace(g, text=f"[[X: {g.text}]]", parsed={"plain": g.text})
               for g in fixture_records["generations"]]
    records = {**fixture_records, "generations": wrapped}
    plain = postprocess("rephrase", **fixture_records, cfg=make_config(), seed=13)
    cfg = make_config(recipes={"rephrase": {"text": "parsed.plain"}})
    result = postprocess("rephrase", **records, cfg=cfg, seed=13)
    assert [(r.id, r.text) for r in result.kept] == [(r.id, r.text) for r in plain.kept]
    assert result.metrics["text"] == "parsed.plain"
    with pytest.raises(QualityInputError, match=r"generation 'g-001': no text at 'parsed.missing' \(parsed has \['plain'\]\)"):
        postprocess("rephrase", **records, cfg=make_config(recipes={"rephrase": {"text": "parsed.missing"}}), seed=13)


def test_parsed_is_optional_and_checked():
    row = {"id": "g", "prompt_id": "p", "model": "m", "params_sha": "s", "text": "t", "finish_reason": "stop",
           "n_prompt_tokens": 1, "n_completion_tokens": 1}
    assert record_from_row(Generation, row, "g.jsonl:1").parsed == {}
    assert record_from_row(Generation, {**row, "parsed": {"text": "u"}}, "g.jsonl:1").parsed == {"text": "u"}
    with pytest.raises(RecordFormatError, match=r"g.jsonl:2: field 'parsed' = 'u' is str; expected dict"):
        record_from_row(Generation, {**row, "parsed": "u"}, "g.jsonl:2")
