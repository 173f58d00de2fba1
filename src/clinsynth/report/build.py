"""Settings in, page out: what the ``report`` stage and ``clinsynth report`` share."""

from __future__ import annotations

import dataclasses
import os
from pathlib import Path
from typing import Any

from clinsynth.params import BaseConfig
from clinsynth.report.inputs import ReportConfig, ReportInputs, discover, load_inputs


@dataclasses.dataclass(frozen=True)
class Report:
    html: str
    leakage_rows: list[dict[str, Any]]  # for `dvc plots` (report.leakage_plot)
    inputs: ReportInputs


def build_report(cfg: ReportConfig, base: BaseConfig, synthetic_dir: str, ngram: int,
                 discover_inputs: bool = False, off: frozenset[str] = frozenset()) -> Report:
    """Load what ``cfg`` lists (or, with ``discover_inputs``, everything present) and render the page; ``off``:
    the recipes switched off (and "demo" without demo data), shown as not enabled (report.inputs.load_inputs)."""
    from clinsynth.report.render import leakage_rows, render_report  # matplotlib only when rendering

    metrics_dir, synthetic = Path(base.paths.metrics), Path(synthetic_dir)
    if discover_inputs:
        cfg = discover(cfg, metrics_dir, synthetic)
    inputs = load_inputs(cfg, metrics_dir=metrics_dir, synthetic_dir=synthetic, notes=Path(base.paths.notes),
                         chunks=Path(base.paths.chunks), ngram=ngram, seed=base.seed, off=off)
    return Report(render_report(inputs), leakage_rows(inputs), inputs)


def write_text(path: Path | str, text: str) -> None:
    """Atomically (temp file + rename), UTF-8, ``\\n`` line ends."""
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.with_name(path.name + ".tmp")
    tmp.write_text(text, encoding="utf-8", newline="\n")
    os.replace(tmp, path)


def summary_line(report: Report, out: str) -> str:
    i = report.inputs
    shown = [r.name for r in i.recipes if r.quality or r.metrics or r.curves]
    plots = report.html.count('<img class="plot"')
    return (f"report: {len(i.pipeline)} pipeline metrics files, recipes with data {shown or 'none'}, "
            f"{len(i.missing)} missing parts, {plots} plots -> {out}")
