import pytest

from clinsynth.quality.leakage import NgramIndex
from clinsynth.training import generator_pairs as kc

FEVER = {"id": "HP:1", "text": "Fever", "variants": ["Fever", "Pyrexia"]}
COUGH = {"id": "HP:2", "text": "Cough", "variants": ["Cough"]}


def prompts(notes):
    example = notes[0]["text"]
    return {
        "kg_notes.full.v1:aaaa": {"template": "kg_notes.full.v1", "vars": {"code": "A01", "symptoms": [FEVER, COUGH], "example": example}},
        "kg_notes.full.v1:bbbb": {"template": "kg_notes.full.v1", "vars": {"code": "A01", "symptoms": [FEVER], "example": example}},
        "kg_notes.baseline.v1:cccc": {"template": "kg_notes.baseline.v1", "vars": {"code": "B01", "symptoms": [], "example": None}},
    }


def test_gates_keep_measure_and_drop_copies_of_the_example(notes, generations):
    index = NgramIndex(4).add(n["text"] for n in notes if n["split"] == "train")
    kept, drops, usage, spans = kc.gate_generations(prompts(notes), generations, index, kc.GateConfig(ngram=4, max_span=10))
    assert [r["id"] for r in kept] == ["g1", "g3"] and drops == {"copies_example": 1}
    assert usage == [1.0, 1.0]  # g1: pyrexia (synonym of fever) + cough; g2 says fever
    assert kept[0]["symptom_usage"] == 1.0 and kept[1]["symptom_usage"] is None
    assert spans[0] == 0 and spans[1] >= 17  # g2 repeats 17 tokens of its example note
    kept, drops, *_ = kc.gate_generations(prompts(notes), generations, index, kc.GateConfig(ngram=4, max_span=40, max_overlap=1.0))
    assert len(kept) == 3 and not drops


def test_gates_drop_low_symptom_usage(notes, generations):
    index = NgramIndex(4)
    prompt = prompts(notes)
    prompt["kg_notes.full.v1:aaaa"]["vars"]["symptoms"] = [FEVER, COUGH, {"id": "x", "text": "Rash", "variants": ["Rash"]}]
    _, drops, usage, _ = kc.gate_generations(prompt, generations, index, kc.GateConfig(ngram=4, max_span=100, min_symptom_usage=0.7))
    assert drops == {"symptom_usage_low": 1} and usage[0] == pytest.approx(2 / 3)


def test_distribution_rounded_with_histogram():
    out = kc.distribution([0.0, 0.5, 1.0, 1.0], [0.0, 0.5, 1.0])
    assert out["n"] == 4 and out["mean"] == 0.625 and out["histogram"] == {"0-0.5": 1, "0.5-1": 3}
    assert kc.distribution([], [0, 1])["mean"] is None


def test_finetune_vars_find_the_symptoms_a_note_mentions(notes, tiny_kg):
    v = kc.finetune_vars(notes[0], tiny_kg, notes, kc.ResolveConfig())
    assert v["disease"] == "Alpha disease" and [s["id"] for s in v["symptoms"]] == ["HP:1", "HP:2"]
    assert v["example"] is None
    both = kc.finetune_vars(notes[2], tiny_kg, notes, kc.ResolveConfig())
    assert both["disease"] == "Alpha disease and Beta disease" and both["code"] == "A01, B01"
    assert [n["id"] for n in kc.select_finetune_notes(notes, 0, "train", 1)] == ["n1", "n2", "n3", "n5"]
    assert len(kc.select_finetune_notes(notes, 2, "train", 1)) == 2
