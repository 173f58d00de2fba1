"""``clinsynth brat ...``: validate a BRAT corpus, encode its segments for rewriting."""

from __future__ import annotations

from collections import Counter
from pathlib import Path
from typing import Optional

import typer

from clinsynth.brat.corpus import read_corpus
from clinsynth.brat.inline import encode_segments, split_sentences
from clinsynth.records import write_jsonl

app = typer.Typer(help="BRAT standoff corpora: validate, encode for LLM rewriting.", no_args_is_help=True)


@app.command()
def validate(directory: Path = typer.Argument(..., help="folder of .txt/.ann pairs (searched recursively)")) -> None:
    """Print every issue as ``file:line: ...`` and a summary; exit 1 if there is any."""
    if not directory.is_dir():
        typer.echo(f"{directory}: not a directory; expected a folder of .txt/.ann pairs", err=True)
        raise typer.Exit(2)
    result = read_corpus(directory, on_invalid="skip")
    for issue in result.issues:
        typer.echo(issue.message)
    n_invalid = sum(result.skipped.values())
    kinds = Counter(i.kind for i in result.issues)
    by_kind = ", ".join(f"{k}={v}" for k, v in sorted(kinds.items()))
    typer.echo(f"{len(result.documents) + n_invalid} documents: {len(result.documents)} valid, {n_invalid} invalid; "
               f"{len(result.issues)} issues" + (f" ({by_kind})" if by_kind else ""))
    if result.issues:
        raise typer.Exit(1)


@app.command()
def encode(
    directory: Path = typer.Argument(..., help="folder of .txt/.ann pairs"),
    output: Path = typer.Argument(..., help="JSONL of encoded segments"),
    label: Optional[list[str]] = typer.Option(None, help="target entity label (repeat); default all"),
    max_sentences: Optional[int] = typer.Option(None, help="skip longer segments"),
) -> None:
    """Encode every eligible segment of a valid corpus as ``[[Label: text]]`` markup, one JSON line each."""
    documents = read_corpus(directory, on_invalid="fail").documents
    segments, skipped = [], Counter()
    for document in documents:
        result = encode_segments(document, split_sentences(document.text), labels=label or None,
                                 max_sentences=max_sentences)
        segments.extend(s.to_dict() for s in result.segments)
        skipped.update(result.skipped)
    write_jsonl(output, segments)
    typer.echo(f"{len(documents)} documents: {len(segments)} segments written to {output}; "
               f"skipped {dict(sorted(skipped.items()))}")
