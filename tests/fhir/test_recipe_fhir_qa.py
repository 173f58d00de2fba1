"""Recipe fhir_qa: the seeded sampler, the prompt, and the reply parser's rejections."""

import dataclasses
import json

import pytest

from clinsynth.records import Rejection
from clinsynth.prompting import build_prompts, load_template
from clinsynth.recipes import fhir_qa
from clinsynth.recipes.registry import load_recipe

from .conftest import ROOT

CFG = fhir_qa.SampleConfig(templates=["fhir_qa.write.v1"], per_patient=3, max_prompts=0, min_resources=2,
                           max_resources=4, split="test")
PROMPT = {"id": "fhir_qa.write.v1:abc", "vars": {"patient_id": "p1", "target": "R2", "resources": [
    {"ref": "R1", "id": "c1", "text": "Condition | Acute bronchitis (SNOMED 10509002) | onset 2019-02-01 | resolved"},
    {"ref": "R2", "id": "o2", "text": "Observation | Body Weight (LOINC 29463-7) | 2021-06-10 | 78 kg | final"},
]}}


def _records(resources):
    return [dataclasses.asdict(r) for r in resources]


def test_recipe_is_registered():
    assert load_recipe("fhir_qa") is fhir_qa


def test_sampler_is_seeded_type_filtered_and_split_only(resources):
    records = _records(resources)
    seeds = fhir_qa.select_sources(records, CFG, seed=13)
    assert seeds == fhir_qa.select_sources(list(reversed(records)), CFG, seed=13)  # input order does not matter
    assert seeds != fhir_qa.select_sources(records, CFG, seed=14)
    assert [s["id"] for s in seeds] == ["p1:q0", "p1:q1", "p1:q2"]
    by_id = {r["id"]: r for r in records}
    for s in seeds:
        assert 2 <= len(s["resources"]) <= 4
        assert [r["ref"] for r in s["resources"]] == [f"R{i}" for i in range(1, len(s["resources"]) + 1)]
        assert s["target"] in {r["ref"] for r in s["resources"]}
        assert all(by_id[r["id"]]["type"] in CFG.types for r in s["resources"])
        dates = [by_id[r["id"]]["date"] for r in s["resources"]]
        assert dates == sorted(dates)
    assert fhir_qa.select_sources(records, dataclasses.replace(CFG, split="train"), 13) == []
    assert len(fhir_qa.select_sources(records, dataclasses.replace(CFG, max_prompts=2), 13)) == 2


def test_sampler_rejects_bad_bounds(resources):
    with pytest.raises(ValueError, match=r"min_resources \(5\) <= max_resources \(2\)"):
        fhir_qa.select_sources(_records(resources), dataclasses.replace(CFG, min_resources=5, max_resources=2), 13)


def test_prompt_shows_entries_and_target(resources):
    template = load_template(ROOT / "prompts", "fhir_qa.write.v1")
    seeds = fhir_qa.select_sources(_records(resources), CFG, 13)
    prompts = build_prompts("fhir_qa", [template], seeds, fhir_qa.build_vars, fhir_qa.source_ids, 13)
    roles = [m.role for m in prompts[0].messages]
    assert roles == ["system", "user", "assistant", "user"]  # a worked example, then the real record
    example, reply, user = (m.content for m in prompts[0].messages[1:])
    assert fhir_qa.parse_completion(reply, {**PROMPT, "vars": {**PROMPT["vars"], "target": "R2"}})["answer"] == \
        "78 kg, measured on 2021-06-10."  # the example reply parses against the example record (same as PROMPT's)
    seed = next(s for s in seeds if prompts[0].source_ids[0] == s["id"])
    assert f"{seed['resources'][0]['ref']}: {seed['resources'][0]['text']}\n" in user
    assert user.endswith(f"Write a question about entry {seed['target']}, then answer it using only {seed['target']}.")


@pytest.mark.parametrize("reply, question, answer, ids", [
    ("Question: What was the body weight?\nAnswer: 78 kg.", "What was the body weight?", "78 kg.", ["o2"]),
    ("**Question:** What was the body weight?\n**Answer:** 78 kg", "What was the body weight?", "78 kg", ["o2"]),
    ("What was the weight in 2021? It was 78 kg on 2021-06-10.", "What was the weight in 2021?",
     "It was 78 kg on 2021-06-10.", ["o2"]),
    ("Q: What weight? A: 78 kg", "What weight?", "78 kg", ["o2"]),
    ("Question: What weight?\nAnswers: 78 kg", "What weight?", "78 kg", ["o2"]),
    ("Question: Was bronchitis (R1) before the weight?\nAnswer: Yes, bronchitis in 2019.",
     "Was bronchitis (R1) before the weight?", "Yes, bronchitis in 2019.", ["o2", "c1"]),
])
def test_parser_accepts(reply, question, answer, ids):
    parsed = fhir_qa.parse_completion(reply, PROMPT)
    assert parsed == {"patient_id": "p1", "question": question, "answer": answer,
                      "refs": ["R2", "R1"][:len(ids)], "resource_ids": ids, "text": f"{question}\n{answer}"}


@pytest.mark.parametrize("reply, reason, detail", [
    ("   ", "empty", "empty or whitespace"),
    ("I'm sorry, I cannot do that.", "refusal", "refusal"),
    ("The patient weighs 78 kg.", "no_question", "no '?'"),
    ("What is the treatment for Influenza?", "missing_answer", "without an answer"),
    ("Question: What about R7?\nAnswer: 78 kg", "unknown_resource_id", "cites ['R7'] not among the prompt's ['R1', 'R2']"),
    ("Question: What is the weight?\nAnswer: nothing is known", "answer_not_grounded", "shares no word with ['R2']"),
    ("Question: What is the weight?\nAnswer: 87 kg on 2021-06-10", "answer_value_changed",
     "holds ['87'], which no cited entry of ['R2'] holds"),
    ("Question: When was it weighed?\nAnswer: 78 kg on 2021-07-10", "answer_value_changed", "holds ['2021-07-10']"),
    ("Question: What was the weight?\nAnswer: How did the body weight of 78 kg change over time",
     "answer_is_question", "is a question, not an answer"),  # the demo's reply, without its '?'
])
def test_parser_rejects(reply, reason, detail):
    parsed = fhir_qa.parse_completion(reply, PROMPT)
    assert isinstance(parsed, Rejection)
    assert (parsed.prompt_id, parsed.reason) == (PROMPT["id"], reason) and reason in fhir_qa.REJECTION_REASONS
    assert detail in parsed.detail


@pytest.mark.parametrize("answer, changed", [
    ("78 kg, measured on 2021-06-10.", []),
    ("78 kg in June 2021", []),                 # a date's parts: 2021 is in 2021-06-10
    ("78 kg on 10/06/2021", []),                # another date format, the same parts
    ("78.5 kg", ["78.5"]),                      # a dose or measurement that is not in the record
    ("The weight was 7.8 kg", ["7.8"]),
    ("bronchitis", []),
])
def test_answer_values_are_read_against_the_cited_entries(answer, changed):
    assert fhir_qa.changed_values(answer, PROMPT["vars"]["resources"][1]["text"]) == changed


def test_grounding_words_are_the_entry_name_values_and_dates():
    text = PROMPT["vars"]["resources"][1]["text"]  # Observation | Body Weight (LOINC 29463-7) | 2021-06-10 | 78 kg | final
    assert fhir_qa.grounding_words(text) == ["2021-06-10", "Weight", "Body", "78"]


@pytest.mark.parametrize("answer, ok", [
    ("78 kg, measured on 2021-06-10.", True),
    ("The body weight.", True),                 # case-insensitive
    ("Seventy-eight kilograms.", False),        # no word of the entry
    ("Overweighted.", False),                   # a word inside another word is no mention
    ("Was the body weight 78 kg?", False),      # a question in the answer field (a demo reply did this)
    ("78 kg? Yes.", False),
])
def test_the_contract_answer_holds_a_word_of_the_target_entry(answer, ok):
    from clinsynth.generation.reply_check import contract_violation

    contract = fhir_qa.build_contract(PROMPT["vars"])
    reply = json.dumps({"question": "What was the weight?", "answer": answer, "resource_ids": ["R2"]})
    assert (contract_violation(contract, reply) is None) == ok


@pytest.mark.parametrize("answer", ["Was 78 kg on 2021-06-10.", "Had a weight of 78 kg.", "Is 78 kg."])
def test_an_answer_opening_with_an_auxiliary_and_no_subject_is_an_answer(answer):
    reply = f"Question: What was the weight?\nAnswer: {answer}"
    assert isinstance(fhir_qa.parse_completion(reply, PROMPT), dict)


def test_a_contract_answer_that_opens_like_a_question_is_rejected():
    prompt = PROMPT | {"contract": fhir_qa.build_contract(PROMPT["vars"]).to_dict()}
    reply = json.dumps({"question": "What was the weight?", "answer": "Is the weight 78 kg", "resource_ids": ["R2"]})
    parsed = fhir_qa.parse_completion(reply, prompt)
    assert isinstance(parsed, Rejection) and parsed.reason == "answer_is_question"
