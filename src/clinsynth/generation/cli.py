"""``clinsynth cache stats|prune``: care of the generation cache (``base.paths.cache``).

Prune policy: an entry is *referenced* when its key is the ``id`` of a line in a current
``data/generations/*.jsonl`` (or the ``generation_id`` of a rejection there). ``prune`` deletes
unreferenced entries; with ``--older-than N`` only those also unused for N days, which keeps
recent work for a template you may switch back to. Referenced entries are never pruned.
"""

from __future__ import annotations

import dataclasses
import datetime as dt
import json
from pathlib import Path

import typer

from clinsynth.generation.cache import GenerationCache
from clinsynth.params import load_base
from clinsynth.records import read_jsonl

app = typer.Typer(help="Inspect and prune the generation cache.", no_args_is_help=True)


def referenced_keys(generations_dir: Path) -> set[str]:
    """Cache keys used by the generation files (and rejections) under ``generations_dir``."""
    keys: set[str] = set()
    for path in sorted(Path(generations_dir).glob("*.jsonl")):
        for record in read_jsonl(path):
            key = record.get("generation_id") if path.name.endswith(".rejections.jsonl") else record.get("id")
            if key:
                keys.add(key)
    return keys


def _cache_path(cache: Path | None) -> Path:
    return cache if cache is not None else Path(load_base().paths.cache)


def _when(ts: float | None) -> str | None:
    return dt.datetime.fromtimestamp(ts, dt.timezone.utc).isoformat(timespec="seconds") if ts else None


@app.command()
def stats(cache: Path = typer.Option(None, help="cache file (default: base.paths.cache)")) -> None:
    """Entries per model, size, age, and how many keys were ever generated twice."""
    with GenerationCache(_cache_path(cache)) as store:
        info = dataclasses.asdict(store.stats())
    info["oldest_used"], info["newest_used"] = _when(info["oldest_used"]), _when(info["newest_used"])
    typer.echo(json.dumps(info, indent=2, sort_keys=True))


@app.command()
def prune(
    cache: Path = typer.Option(None, help="cache file (default: base.paths.cache)"),
    generations: Path = typer.Option(None, help="folder of current generations (default: base.paths.generations)"),
    older_than: float = typer.Option(None, help="only prune unreferenced entries unused for this many days"),
    dry_run: bool = typer.Option(False, help="count what would go, delete nothing"),
) -> None:
    """Delete cache entries that no current generations file references."""
    folder = generations if generations is not None else Path(load_base().paths.generations)
    keep = referenced_keys(folder)
    with GenerationCache(_cache_path(cache)) as store:
        if dry_run:
            total = store.stats().entries
            typer.echo(f"would prune up to {total - len(keep & store.keys())} of {total} entries "
                       f"({len(keep)} referenced under {folder})")
            return
        removed = store.prune(keep, older_than)
        typer.echo(f"pruned {removed} entries; {store.stats().entries} left ({len(keep)} referenced under {folder})")
