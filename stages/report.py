"""Stage report: the metrics files, curves and synthetic corpora listed in params.yaml `report:` -> reports/.

    python stages/report.py

Writes reports/index.html (one self-contained page, byte-identical run to run unless report.include_timings)
and reports/leakage.json (leakage histogram rows for `dvc plots`). A listed file that does not exist fails
the stage naming it; what is not listed is shown on the page as missing, a recipe switched off in
recipes.enabled as not enabled (its listed files skipped). See docs/report.md.
"""

from __future__ import annotations

from clinsynth.inputs import switched_off
from clinsynth.params import load_base, load_params
from clinsynth.quality.postprocess import PostprocessConfig
from clinsynth.records import write_json
from clinsynth.report.build import build_report, summary_line, write_text
from clinsynth.report.inputs import ReportConfig


def main() -> None:
    base = load_base()
    cfg = load_params("report", ReportConfig)
    post = load_params("postprocess", PostprocessConfig)
    report = build_report(cfg, base, post.synthetic_dir, post.leakage.ngram, off=switched_off())
    write_text(cfg.out, report.html)
    write_json(cfg.leakage_plot, report.leakage_rows)
    print(summary_line(report, cfg.out))


if __name__ == "__main__":
    from clinsynth.errors import run_stage

    run_stage(main)
