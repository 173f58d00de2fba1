"""Shared helpers for the quality tests: the hand-made fixture records and a seeded random-prose maker."""

from __future__ import annotations

import itertools
import random
from pathlib import Path

import pytest

from clinsynth.params import from_mapping
from clinsynth.quality.postprocess import PostprocessConfig
from clinsynth.recipes import rephrase
from clinsynth.records import Generation, Note, Prompt, Rejection, read_records

FIXTURES = Path(__file__).resolve().parents[1] / "fixtures" / "quality"
WORDS = [f"w{i}" for i in range(3000)]
CUM_WEIGHTS = list(itertools.accumulate(1.0 / (rank + 1) for rank in range(len(WORDS))))


def load_fixture(name: str, cls):
    return read_records(FIXTURES / name, cls)


@pytest.fixture
def fixture_records():
    return {
        "prompts": load_fixture("prompts/rephrase.jsonl", Prompt),
        "generations": load_fixture("generations/rephrase.jsonl", Generation),
        "rejections": load_fixture("generations/rephrase.rejections.jsonl", Rejection),
        "notes": load_fixture("notes.jsonl", Note),
        "check": rephrase.CHECK,  # what postprocess@rephrase passes: the recipe's own record check
    }


def make_config(**overrides) -> PostprocessConfig:
    """The defaults of PostprocessConfig's parts, with top-level keys overridden (as params.yaml would)."""
    data = {"synthetic_dir": "data/synthetic", "leakage": {}, "dedup": {}, "diversity": {}, "membership": {},
            "recipes": {}}
    data.update(overrides)
    return from_mapping(PostprocessConfig, data, "test")


def prose(rng: random.Random, n_tokens: int) -> str:
    """Random words with Zipf-like frequencies, in sentences: shares frequent words, almost no long n-grams."""
    words = rng.choices(WORDS, cum_weights=CUM_WEIGHTS, k=n_tokens)
    return " ".join(w + ("." if i % 12 == 11 else "") for i, w in enumerate(words))
