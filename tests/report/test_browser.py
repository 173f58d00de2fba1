"""The fixture page in headless Chromium: every section and every figure is in the DOM it builds."""

import os
import re
import subprocess
from pathlib import Path

import pytest

CHROMIUM = Path("/usr/bin/chromium")
FLAGS = ["--headless", "--no-sandbox", "--disable-gpu", "--disable-quic", "--no-first-run",
         "--disable-background-networking", "--disable-component-update", "--disable-sync"]


def chromium(tmp_path: Path, *args: str) -> str:
    if not CHROMIUM.exists():
        pytest.fail(f"{CHROMIUM} not found: run `make install-test` (scripts/install_test_deps.sh installs chromium)")
    env = {**os.environ, "XDG_CONFIG_HOME": str(tmp_path / "xdg")}
    proc = subprocess.run([str(CHROMIUM), *FLAGS, f"--user-data-dir={tmp_path / 'profile'}", *args],
                          capture_output=True, text=True, env=env, timeout=120)
    assert proc.returncode == 0, proc.stderr[-2000:]
    return proc.stdout


def test_chromium_builds_every_section_and_figure(fixture_page, tmp_path):
    page = tmp_path / "index.html"
    page.write_text(fixture_page, encoding="utf-8")
    dom = chromium(tmp_path, "--dump-dom", page.as_uri())
    ids = re.findall(r'<section[^>]* id="([^"]+)"', dom)
    assert ids == re.findall(r'<section[^>]* id="([^"]+)"', fixture_page)   # every section the page has, in order
    with_data = ["rephrase", "kg_notes", "brat_augment"]   # the fixtures have files for these; retrieval, fhir_qa: none
    assert ids == ["verdicts", "summary", "missing"] + [f"{r}-{part}" if part else f"recipe-{r}" for r in with_data
                                           for part in ("", "samples", "quality", "downstream", "plots")] + \
        ["recipe-retrieval", "recipe-fhir_qa"]
    images = re.findall(r'<img class="plot" data-plot="([^"]+)"[^>]* src="data:image/png;base64,', dom)
    assert images == re.findall(r'<img class="plot" data-plot="([^"]+)"', fixture_page)   # every figure
    assert images == ["rephrase-curve-rephrase_loss", "rephrase-leakage", "kg_notes-deltas-metrics-kg_notes-json",
                      "brat_augment-curve-brat_augment_ner_loss", "brat_augment-deltas-metrics-brat_augment-json"]
    assert dom.count("<mark>") == fixture_page.count("<mark>") > 0
    assert "<script>" not in dom                                   # the escaped sample stayed text
