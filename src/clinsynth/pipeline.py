"""`clinsynth run`: check the inputs, then reproduce the enabled recipes (params.yaml recipes.enabled).

A switched-off recipe (``recipes.enabled.R: []``) has no stage in the DAG: each of its stages loops over that
empty list, and DVC builds none from it. So this is plain ``dvc repro``: every enabled recipe to its metrics,
then the report, which shows the switched-off recipes as "not enabled".
"""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
from pathlib import Path

import typer

from clinsynth.inputs import EVALUATE_STAGES, NEEDS, input_report, load_recipes
from clinsynth.params import ConfigError


def run_command(dry_run: bool = typer.Option(False, "--dry-run", help="print the dvc command, run nothing")) -> None:
    """Check the inputs, then `dvc repro` the recipes switched on in recipes.enabled."""
    try:
        recipes = load_recipes()
        problems = input_report(recipes.on)
    except ConfigError as exc:
        typer.echo(f"clinsynth run: {exc}", err=True)
        raise typer.Exit(2)
    if problems:
        typer.echo("clinsynth run: the inputs in params.yaml need fixing first:\n  - " + "\n  - ".join(problems), err=True)
        raise typer.Exit(2)
    for recipe in recipes.on:
        typer.echo(f"recipe {recipe}: needs {', '.join(NEEDS[recipe])}; "
                   f"metrics from {EVALUATE_STAGES[recipe]}@{recipe}")
    skipped = [r for r in NEEDS if r not in recipes.on]
    if skipped:
        typer.echo(f"switched off (recipes.enabled.R: [], no stage in dvc.yaml's DAG): {', '.join(skipped)}")
    dvc = shutil.which("dvc") or str(Path(sys.executable).with_name("dvc"))
    typer.echo("$ dvc repro")
    if dry_run:
        return
    # stages run `python stages/<name>.py`: this interpreter's folder first on PATH, as `make demo` does
    env = {**os.environ, "PATH": f"{Path(sys.executable).parent}{os.pathsep}{os.environ.get('PATH', '')}"}
    raise typer.Exit(subprocess.call([dvc, "repro"], env=env))
