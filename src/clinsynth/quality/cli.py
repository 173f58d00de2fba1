"""`clinsynth quality ...`: inspect what the postprocess gates did to a synthetic corpus."""

from __future__ import annotations

from pathlib import Path

import typer

from clinsynth.quality.explain import explain_dropped
from clinsynth.records import read_jsonl

app = typer.Typer(help="Quality gates of synthetic corpora: why a record was dropped.", no_args_is_help=True)


@app.command("why-dropped")
def why_dropped(
    record_id: str = typer.Argument(..., help="a dropped record's id (its generation id) or its prompt id"),
    recipe: str = typer.Option(None, help="look only in data/synthetic/<recipe>/ (default: every recipe)"),
    synthetic_dir: Path = typer.Option(Path("data/synthetic"), help="where postprocess wrote the corpora"),
) -> None:
    """Print why RECORD_ID was dropped: reason, figures, and for a duplicate the kept record it repeats."""
    folders = [synthetic_dir / recipe] if recipe else sorted(p for p in synthetic_dir.glob("*") if p.is_dir())
    for folder in folders:
        if not (folder / "dropped.jsonl").exists():
            continue
        for row in read_jsonl(folder / "dropped.jsonl"):
            if record_id in (row["id"], row["prompt_id"]):
                kept = None
                if row.get("duplicate_of") and (folder / "records.jsonl").exists():
                    kept = next((r for r in read_jsonl(folder / "records.jsonl") if r["id"] == row["duplicate_of"]), None)
                typer.echo(explain_dropped(row, kept))
                return
    where = ", ".join(str(f / "dropped.jsonl") for f in folders) or f"no corpus under {synthetic_dir}"
    typer.echo(f"{record_id!r} is not a dropped record (searched {where}); kept records are in records.jsonl", err=True)
    raise typer.Exit(code=1)
