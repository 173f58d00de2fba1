import pytest

from clinsynth.fhir.question_prompt import (REJECTION_REASONS, GeneratedQuestion, QuestionSeed, Rejection,
                                            SeedResource, build_messages, parse_completion, sample_question_seeds)

from .conftest import ROOT

TEMPLATE = ROOT / "prompts" / "fhir_qa" / "questions.v1.j2"
SEED = QuestionSeed("p1:q0", "p1", [
    SeedResource("R1", "c1", "Condition | Essential hypertension (SNOMED 59621000) | onset 2001-03-04 | active"),
    SeedResource("R2", "m1", "MedicationRequest | lisinopril 10 MG Oral Tablet (RxNorm 314076) | authored 2019-03-04 | reason Essential hypertension | active"),
])
GOOD = '{"question": "What is the patient taking for hypertension?", "resource_ids": ["R2", "R1"], "answer": "Lisinopril 10 mg."}'


def test_build_messages_shows_refs_and_texts():
    system, user = build_messages(SEED, TEMPLATE)
    assert system.role == "system" and "JSON" in system.content
    assert user.role == "user"
    assert "R1: Condition | Essential hypertension (SNOMED 59621000) | onset 2001-03-04 | active\n" in user.content
    assert "R2: MedicationRequest | lisinopril" in user.content
    assert '"resource_ids"' in user.content


@pytest.mark.parametrize("reply", [
    GOOD,
    f"Sure! Here it is:\n```json\n{GOOD}\n```\nHope this helps.",
    f"{GOOD} trailing words",
    GOOD.replace('"R2", "R1"', '"r2", "m1", "R1"'),  # refs are case-insensitive; FHIR ids accepted; deduplicated
])
def test_good_replies_map_refs_to_fhir_ids(reply):
    parsed = parse_completion(reply, SEED)
    assert parsed == GeneratedQuestion("p1:q0", "p1", "What is the patient taking for hypertension?", ["m1", "c1"],
                                       "Lisinopril 10 mg.")


@pytest.mark.parametrize("reply, reason, detail", [
    ("I cannot write a question.", "no_json", "no '{' in reply"),
    ('{"question": "x", "resource_ids": ["R1"], "answer": }', "invalid_json", "Expecting value"),
    ('```json\n["R1"]\n```', "no_json", ""),
    ('{"question": "x", "answer": "y"}', "missing_field", "missing ['resource_ids']"),
    ('{"question": "x", "resource_ids": "R1", "answer": "y"}', "wrong_type", "got str, str, str"),
    ('{"question": 3, "resource_ids": ["R1"], "answer": "y"}', "wrong_type", "got int, list, str"),
    ('{"question": "  ", "resource_ids": [], "answer": "y"}', "empty_field", "empty ['question', 'resource_ids']"),
    ('{"question": "x", "resource_ids": ["R1", "R9"], "answer": "y"}', "unknown_resource_id", "cites ['R9']"),
])
def test_rejections(reply, reason, detail):
    parsed = parse_completion(reply, SEED)
    assert isinstance(parsed, Rejection)
    assert parsed.prompt_id == "p1:q0"
    assert parsed.reason == reason and reason in REJECTION_REASONS
    assert detail in parsed.detail


def test_object_inside_other_json_is_read():
    parsed = parse_completion(f"[{GOOD}]", SEED)
    assert isinstance(parsed, GeneratedQuestion) and parsed.resource_ids == ["m1", "c1"]


def test_sample_question_seeds(resources):
    seeds = sample_question_seeds({"p1": resources}, per_patient=3, min_resources=2, max_resources=4, seed=13)
    assert [s.id for s in seeds] == ["p1:q0", "p1:q1", "p1:q2"]
    assert seeds == sample_question_seeds({"p1": resources}, 3, 2, 4, 13)
    for s in seeds:
        assert 2 <= len(s.resources) <= 4
        assert [r.ref for r in s.resources] == [f"R{i}" for i in range(1, len(s.resources) + 1)]
        assert not any(r.text.startswith(("Patient", "Goal", "Device")) for r in s.resources)
