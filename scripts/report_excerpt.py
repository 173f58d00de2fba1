"""Cut the sections of class CLASS out of reports/index.html into one page (its own CSS kept), for a screenshot.

    python scripts/report_excerpt.py fidelity > /tmp/fidelity.html

Each section is preceded by the heading of the recipe section holding it. Reads the page, writes stdout.
"""

from __future__ import annotations

import re
import sys
from pathlib import Path


def excerpt(page: str, css_class: str) -> str:
    style = "".join(re.findall(r"<style>.*?</style>", page, flags=re.S))
    parts = []
    for recipe in re.finditer(r'<section[^>]*id="recipe-([^"]+)".*?(?=<section[^>]*id="recipe-|</body>)', page, flags=re.S):
        found = re.findall(rf'<section class="{css_class}">.*?</section>', recipe.group(0), flags=re.S)
        parts += [f"<h2>{recipe.group(1)}</h2>", *found] if found else []
    return f"<!doctype html><html><head><meta charset='utf-8'>{style}</head><body>{''.join(parts)}</body></html>"


if __name__ == "__main__":
    sys.stdout.write(excerpt(Path("reports/index.html").read_text(encoding="utf-8"), sys.argv[1]))
