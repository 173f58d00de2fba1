"""`clinsynth report`: render the report page to a path (the `report` stage's function, same settings)."""

from __future__ import annotations

from pathlib import Path

import typer


def report_command(
    out: Path = typer.Option(None, "--out", "-o", help="where to write the page (default: params report.out)"),
    params: Path = typer.Option(Path("params.yaml"), help="the params file to read `report:` etc. from"),
    discover: bool = typer.Option(False, "--discover", help="show every metrics file, curve and corpus present, "
                                  "not only those listed in params.yaml report:"),
) -> None:
    """Render the pipeline report (one self-contained HTML page) from the metrics files and synthetic corpora."""
    from clinsynth.inputs import switched_off
    from clinsynth.params import load_base, load_params
    from clinsynth.quality.postprocess import PostprocessConfig
    from clinsynth.report.build import build_report, summary_line, write_text
    from clinsynth.report.inputs import ReportConfig, ReportInputError

    cfg = load_params("report", ReportConfig, params)
    post = load_params("postprocess", PostprocessConfig, params)
    try:
        # --discover shows every file present; otherwise a switched-off recipe's listed files are skipped
        off = frozenset() if discover else switched_off(params)
        report = build_report(cfg, load_base(params), post.synthetic_dir, post.leakage.ngram, discover, off)
    except ReportInputError as exc:
        typer.echo(f"error: {exc}", err=True)
        raise typer.Exit(code=1) from exc
    target = out or Path(cfg.out)
    write_text(target, report.html)
    typer.echo(summary_line(report, str(target)))
