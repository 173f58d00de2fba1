import pytest

from clinsynth.records import Rejection
from clinsynth.recipes.retrieval_queries import parse_completion

PROMPT = {"id": "retrieval_queries.entities.v1:abc"}


@pytest.mark.parametrize("reply, expected", [
    ("Hypertension\nT2DM\nlisinopril\n", ["Hypertension", "T2DM", "lisinopril"]),
    ("- Hypertension\n* Asthma\n• Cough", ["Hypertension", "Asthma", "Cough"]),
    ("1. Hypertension\n2) Type 2 diabetes mellitus.\n", ["Hypertension", "Type 2 diabetes mellitus"]),
    ('["hypertension", "metformin"]', ["hypertension", "metformin"]),
    ('```json\n["asthma", "albuterol"]\n```', ["asthma", "albuterol"]),
    ("Diseases: hypertension, diabetes; obesity\nDrugs: lisinopril\nProcedures:", ["hypertension", "diabetes", "obesity", "lisinopril"]),
    ("Hypertension\nhypertension\nHYPERTENSION", ["Hypertension"]),
    ("Here are the terms:\nAsthma\nThe patient has a long history of wheezing since childhood and uses an inhaler daily.",
     ["Asthma"]),
])
def test_entity_lists(reply, expected):
    parsed = parse_completion(reply, PROMPT)
    assert parsed["entities"] == expected


def test_dropped_lines_are_counted():
    parsed = parse_completion("Asthma\nasthma\nThe patient is fine.\n???", PROMPT)
    assert parsed == {"entities": ["Asthma"], "dropped_lines": 3, "text": "Asthma"}


@pytest.mark.parametrize("reply, reason, detail", [
    ("", "empty", "empty or whitespace"),
    ("   \n ", "empty", "empty or whitespace"),
    ("I'm sorry, I can't help with that.", "refusal", "refusal"),
    ('["asthma", "cough"', "malformed_json", "is not JSON"),
    ('[1, 2]', "malformed_json", "expected a JSON list of strings"),
    ("The note describes a routine visit.", "no_entities", "no usable term in 1 line"),
])
def test_rejections(reply, reason, detail):
    parsed = parse_completion(reply, PROMPT)
    assert isinstance(parsed, Rejection)
    assert (parsed.prompt_id, parsed.reason) == (PROMPT["id"], reason)
    assert detail in parsed.detail


def test_entities_are_capped():
    parsed = parse_completion("\n".join(f"term {i}" for i in range(30)), PROMPT)
    assert len(parsed["entities"]) == 20 and parsed["dropped_lines"] == 10
