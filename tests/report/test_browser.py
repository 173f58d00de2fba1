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
    assert ids[:8] == ["summary", "missing", "recipe-rephrase", "rephrase-samples", "rephrase-quality",
                       "rephrase-downstream", "rephrase-plots", "recipe-kg_notes"]
    assert {"recipe-brat_augment", "brat_augment-plots", "recipe-retrieval", "recipe-fhir_qa"} <= set(ids)
    images = re.findall(r'<img class="plot" data-plot="([^"]+)"[^>]* src="data:image/png;base64,', dom)
    assert len(images) == 5 and len(images) == fixture_page.count('<img class="plot"')
    assert dom.count("<mark>") == fixture_page.count("<mark>") > 0
    assert "<script>" not in dom                                   # the escaped sample stayed text
