"""`clinsynth run`: check the inputs, then reproduce the enabled recipes (params.yaml recipes.enabled).

DVC has no conditional stages, so every recipe's stages stay in dvc.yaml; this command picks the targets:
with all recipes enabled it is plain ``dvc repro`` (the whole DAG with the report), otherwise ``dvc repro`` of
each enabled recipe's evaluate stage (and what it needs, nothing else).
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


def repro_targets(enabled: list[str]) -> list[str]:
    """The `dvc repro` targets for these recipes: none (the whole DAG) when all are enabled."""
    if sorted(enabled) == sorted(EVALUATE_STAGES):
        return []
    return [EVALUATE_STAGES[r] for r in EVALUATE_STAGES if r in enabled]


def run_command(dry_run: bool = typer.Option(False, "--dry-run", help="print the dvc command, run nothing")) -> None:
    """Check the inputs, then `dvc repro` the recipes in recipes.enabled."""
    try:
        recipes = load_recipes()
        problems = input_report(recipes.enabled)
    except ConfigError as exc:
        typer.echo(f"clinsynth run: {exc}", err=True)
        raise typer.Exit(2)
    if problems:
        typer.echo("clinsynth run: the inputs in params.yaml need fixing first:\n  - " + "\n  - ".join(problems), err=True)
        raise typer.Exit(2)
    targets = repro_targets(recipes.enabled)
    for recipe in recipes.enabled:
        typer.echo(f"recipe {recipe}: needs {', '.join(NEEDS[recipe])}")
    if targets:
        skipped = [r for r in EVALUATE_STAGES if r not in recipes.enabled]
        typer.echo(f"not run (not in recipes.enabled): {', '.join(skipped)}; the report needs every recipe")
    dvc = shutil.which("dvc") or str(Path(sys.executable).with_name("dvc"))
    cmd = [dvc, "repro", *targets]
    typer.echo("$ " + " ".join(["dvc", "repro", *targets]))
    if dry_run:
        return
    # stages run `python stages/<name>.py`: this interpreter's folder first on PATH, as `make demo` does
    env = {**os.environ, "PATH": f"{Path(sys.executable).parent}{os.pathsep}{os.environ.get('PATH', '')}"}
    raise typer.Exit(subprocess.call(cmd, env=env))
