import json
from pathlib import Path

import pytest

from clinsynth.kg import KnowledgeGraph
from clinsynth.kg.graph import build_multidigraph

FIXTURES = Path(__file__).resolve().parents[1] / "fixtures" / "kg_notes"
ROOT = Path(__file__).resolve().parents[2]

NODES = {
    "ICD10CM:A00-B99": ("Group", "Infections", []),
    "ICD10CM:A01": ("Disease", "Alpha disease", []),
    "ICD10CM:A01.1": ("Disease", "Alpha disease, chronic", []),
    "ICD10CM:B01": ("Disease", "Beta disease", []),
    "ICD10CM:C01": ("Disease", "Gamma disease", []),
    "ICD10CM:D01": ("Disease", "Delta disease", []),
    "ICD10CM:E01": ("Disease", "Epsilon disorder", []),
    "ICD10CM:E01.1": ("Disease", "Epsilon disorder, type 1", []),
    "ICD10CM:F01": ("Disease", "Phi disease", []),
    "ICD10CM:F01.1": ("Disease", "Phi disease, left", []),
    "ICD10CM:F01.2": ("Disease", "Phi disease, right", []),
    "ICD10CM:Z99": ("Disease", "Zeta status", []),
    "HP:1": ("Symptom", "Fever", ["Pyrexia", "High temperature", "Fever (finding) of unknown origin, NOS"]),
    "HP:2": ("Symptom", "Cough", []),
    "HP:3": ("Symptom", "Fatigue", ["Tiredness"]),
    "HP:4": ("Symptom", "Rash", ["Skin eruption"]),
}
EDGES = [
    ("ICD10CM:A01", "HP:1", "has_symptom"), ("ICD10CM:A01", "HP:2", "has_symptom"), ("ICD10CM:A01", "HP:3", "has_symptom"),
    ("ICD10CM:B01", "HP:3", "has_symptom"), ("ICD10CM:B01", "HP:4", "has_symptom"),
    ("ICD10CM:C01", "HP:3", "has_symptom"), ("ICD10CM:D01", "HP:3", "has_symptom"),
    ("ICD10CM:E01.1", "HP:2", "has_symptom"), ("ICD10CM:F01.2", "HP:4", "has_symptom"),
    ("ICD10CM:A01", "ICD10CM:A00-B99", "is_a"), ("ICD10CM:A01.1", "ICD10CM:A01", "is_a"),
    ("ICD10CM:E01.1", "ICD10CM:E01", "is_a"), ("ICD10CM:F01.1", "ICD10CM:F01", "is_a"),
    ("ICD10CM:F01.2", "ICD10CM:F01", "is_a"),
]


@pytest.fixture(scope="session")
def tiny_kg() -> KnowledgeGraph:
    """Six diseases with symptoms (N = 6): df(Fever)=1, df(Cough)=2, df(Fatigue)=4, df(Rash)=2."""
    nodes = [(n, {"label": label, "type": t, "synonyms": syn}) for n, (t, label, syn) in NODES.items()]
    edges = [(s, t, r, {"relation": r, "provenance": "test"}) for s, t, r in EDGES]
    return KnowledgeGraph(build_multidigraph(nodes, edges))


@pytest.fixture(scope="session")
def notes() -> list[dict]:
    return [json.loads(line) for line in (FIXTURES / "notes.jsonl").read_text(encoding="utf-8").splitlines()]


@pytest.fixture(scope="session")
def generations() -> list[dict]:
    return [json.loads(line) for line in (FIXTURES / "generations.jsonl").read_text(encoding="utf-8").splitlines()]


@pytest.fixture(scope="session")
def prompts_dir() -> Path:
    return ROOT / "prompts"
