"""Shared helpers for the report tests: settings pointing at tests/fixtures/report and the loaded inputs."""

from __future__ import annotations

import contextlib
import dataclasses
from pathlib import Path

import pytest

from clinsynth.report.inputs import ReportConfig, load_inputs

FIXTURES = Path(__file__).resolve().parents[1] / "fixtures" / "report"
ROOT = Path(__file__).resolve().parents[2]


def fixture_config(**overrides) -> ReportConfig:
    """Every fixture file listed, as a user's params.yaml would after the recipes land."""
    cfg = ReportConfig(
        metrics=[f"metrics/{name}.json" for name in ("demo_data", "ingest", "kg", "rephrase", "kg_notes", "brat_augment")],
        plots=["metrics/plots/rephrase_loss.json", "metrics/plots/brat_augment_ner_loss.csv"],
        recipes=["rephrase"])
    return dataclasses.replace(cfg, **overrides)


def load_fixture_inputs(cfg: ReportConfig | None = None, seed: int = 13):
    """Loaded from inside the fixture folder, so paths are relative as in the repository."""
    with contextlib.chdir(FIXTURES):
        return load_inputs(cfg or fixture_config(), metrics_dir=Path("metrics"), synthetic_dir=Path("data/synthetic"),
                           notes=Path("data/interim/notes.jsonl"), chunks=Path("data/interim/chunks.jsonl"),
                           ngram=4, seed=seed)


@pytest.fixture(scope="session")
def fixture_inputs():
    return load_fixture_inputs()


@pytest.fixture(scope="session")
def fixture_page(fixture_inputs) -> str:
    from clinsynth.report.render import render_report

    return render_report(fixture_inputs)
