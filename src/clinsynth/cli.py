"""The `clinsynth` command line: what is not a DVC stage (inspection, validation, cache care).

Each domain keeps its commands in its own module and is added here as a sub-command group.
"""

from __future__ import annotations

import typer

from clinsynth import errors
from clinsynth.brat import cli as brat_cli
from clinsynth.generation import cli as cache_cli
from clinsynth.kg import cli as kg_cli
from clinsynth.quality import cli as quality_cli
from clinsynth.report import cli as report_cli

class _App(typer.Typer):
    """The top-level app: an expected error (bad input or params) prints ``clinsynth: <message>``, exit 1, no traceback.

    Catching here, not in ``main``, also covers the ``clinsynth = clinsynth.cli:app`` entry point.
    """

    def __call__(self, *args, **kwargs):
        try:
            return super().__call__(*args, **kwargs)
        except Exception as exc:
            if not errors.is_expected(exc):
                raise
            errors.report("clinsynth", exc)


app = _App(help="clinsynth: synthetic clinical corpora, measured.", no_args_is_help=True)


def _print_version(value: bool) -> None:
    if value:
        from importlib.metadata import version

        typer.echo(f"clinsynth {version('clinsynth')}")
        raise typer.Exit()


@app.callback()
def _options(_version: bool = typer.Option(False, "--version", callback=_print_version, is_eager=True,
                                           help="print the installed version and exit"),
             verbose: bool = typer.Option(False, "--verbose", "-v",
                                          help=f"log DEBUG lines and an error's traceback (also: {errors.LOG_ENV}=DEBUG)"),
             quiet: bool = typer.Option(False, "--quiet", "-q", help=f"log warnings only (also: {errors.LOG_ENV}=WARNING)"),
             ) -> None:
    """clinsynth: synthetic clinical corpora, measured."""
    errors.configure_logging(errors.choose_log_level(verbose, quiet))  # the one place the CLI configures logging

# Sub-command groups (one line each; keep alphabetical).
# app.add_typer(<module>.app, name="<group>")
app.add_typer(brat_cli.app, name="brat")
app.add_typer(cache_cli.app, name="cache")
app.add_typer(kg_cli.app, name="kg")
app.add_typer(quality_cli.app, name="quality")
app.command("report")(report_cli.report_command)


@app.command("run")
def run_command(dry_run: bool = typer.Option(False, "--dry-run", help="print the dvc command, run nothing")) -> None:
    """Check the inputs, then `dvc repro` the recipes in params.yaml recipes.enabled."""
    from clinsynth.pipeline import run_command as run

    run(dry_run)


@app.command("recipes")
def recipes_command(
    names: list[str] = typer.Argument(None, help="recipe names (rephrase kg_notes brat_augment retrieval_queries fhir_qa)"),
    only: bool = typer.Option(False, "--only", help="switch on exactly these, the others off"),
    on: bool = typer.Option(False, "--on", help="switch these on too"),
    off: bool = typer.Option(False, "--off", help="switch these off"),
    params_file: str = typer.Option("params.yaml", "--params", help="the params file to rewrite"),
) -> None:
    """Show or switch the recipes (params.yaml recipes.enabled, with recipes.reads and postprocess.corpora in step)."""
    from clinsynth.switches import recipes_command as switch

    typer.echo(switch(names or [], only, on, off, params_file))


@app.command("diff")
def diff_command(
    old_rev: str = typer.Argument("HEAD", help="baseline revision"),
    new_rev: str = typer.Argument(None, help="revision to compare (default: the workspace)"),
) -> None:
    """Print `dvc metrics diff` and `dvc params diff` as Markdown, grouped by recipe."""
    from clinsynth.review import review_diff

    typer.echo(review_diff(old_rev, new_rev))


@app.command("preflight")
def preflight_command(
    params_file: str = typer.Option("params.yaml", "--params", help="the params file the stages read"),
    min_free_gb: float = typer.Option(None, help="free disk space required (default: the demo's measured need, "
                                      "or $CLINSYNTH_MIN_FREE_GB)"),
) -> None:
    """Check every run-time need (models, WordNet, disk, python, dvc, params) in seconds; exit 1 if one is missing."""
    import time

    from clinsynth.preflight import Problem, format_problems, run_checks

    start = time.perf_counter()
    results = run_checks(".", params_file, free_bytes=None if min_free_gb is None else int(min_free_gb * 1e9))
    problems = [r for r in results if isinstance(r, Problem)]
    if problems:
        typer.echo(format_problems(problems), err=True)
        raise typer.Exit(1)
    typer.echo(f"preflight OK in {time.perf_counter() - start:.1f} s: " + "; ".join(map(str, results)))


def main() -> None:
    app()


if __name__ == "__main__":
    main()
