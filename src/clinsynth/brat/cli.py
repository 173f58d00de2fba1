"""``clinsynth brat ...``: validate a BRAT corpus, encode its segments for rewriting, decode the rewrites."""

from __future__ import annotations

from collections import Counter
from pathlib import Path
from typing import Optional

import typer

from clinsynth.brat.corpus import read_corpus, write_document
from clinsynth.brat.decode import decode_corpus
from clinsynth.brat.inline import EncodedSegment, encode_segments, split_sentences
from clinsynth.brat.standoff import BratFormatError
from clinsynth.records import read_jsonl, write_jsonl

app = typer.Typer(help="BRAT standoff corpora: validate, encode for LLM rewriting, decode rewrites.",
                  no_args_is_help=True)


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


def _fail(message: str) -> None:
    typer.echo(message, err=True)
    raise typer.Exit(2)


def _read_segments(path: Path) -> list[EncodedSegment]:
    if not path.is_file():
        _fail(f"{path}: no such file; expected the JSONL `clinsynth brat encode` writes")
    segments = []
    for number, record in enumerate(read_jsonl(path), start=1):
        try:
            segments.append(EncodedSegment.from_dict(record))
        except (KeyError, TypeError, AttributeError) as exc:
            _fail(f"{path}:{number}: not an encoded segment ({type(exc).__name__}: {exc}); "
                  "expected a line of `clinsynth brat encode`'s output")
    return segments


def _read_replies(path: Path) -> dict[str, str]:
    if not path.is_file():
        _fail(f"{path}: no such file; expected JSONL lines {{\"segment_id\": ..., \"text\": ...}}")
    replies = {}
    for number, record in enumerate(read_jsonl(path), start=1):
        if not isinstance(record, dict) or not isinstance(record.get("segment_id"), str) \
                or not isinstance(record.get("text"), str):
            _fail(f"{path}:{number}: expected {{\"segment_id\": str, \"text\": str}}, got {str(record)[:120]!r}")
        replies[record["segment_id"]] = record["text"]
    return replies


def _same_bytes(a: Path, b: Path) -> bool:
    read = lambda p: p.read_bytes() if p.exists() else b""  # noqa: E731  (a .txt without .ann = empty .ann)
    return read(a) == read(b)


@app.command()
def decode(
    directory: Path = typer.Argument(..., help="the corpus the segments were encoded from"),
    segments_file: Path = typer.Argument(..., metavar="SEGMENTS", help="JSONL written by `clinsynth brat encode`"),
    output: Path = typer.Argument(..., help="folder for the decoded corpus (not inside DIRECTORY)"),
    replies: Optional[Path] = typer.Option(None, help="JSONL of {segment_id, text} rewrites; default: each "
                                                      "segment's own encoding (a round-trip check)"),
    check: bool = typer.Option(False, help="exit 1 unless every document is byte-identical to the corpus"),
) -> None:
    """Decode segments (or rewrites of them) back into a BRAT corpus, and compare it with the source byte for byte.

    Without --replies this is the round trip: decoding an unmodified encoding must reproduce the corpus.
    """
    if not directory.is_dir():
        _fail(f"{directory}: not a directory; expected a folder of .txt/.ann pairs")
    if output.resolve() == directory.resolve() or output.resolve().is_relative_to(directory.resolve()):
        _fail(f"{output}: inside the corpus {directory}; decode into another folder (the corpus is never overwritten)")
    try:
        documents = read_corpus(directory, on_invalid="fail").documents
    except BratFormatError as exc:
        _fail(f"{exc}; run `clinsynth brat validate {directory}`")
    segments = _read_segments(segments_file)
    try:
        result = decode_corpus(documents, segments, _read_replies(replies) if replies else None)
    except ValueError as exc:
        _fail(f"{segments_file}: {exc}")
    differ = []
    for document in result.documents:
        txt = write_document(document, output)
        source = directory / f"{document.id}.txt"
        if not (_same_bytes(source, txt) and _same_bytes(source.with_suffix(".ann"), txt.with_suffix(".ann"))):
            differ.append(document.id)
    reasons = Counter(r.reason for r in result.rejections)
    typer.echo(f"{len(result.documents)} documents written to {output}: {len(result.documents) - len(differ)} "
               f"byte-identical to {directory}, {len(differ)} differ" + (f" (first: {differ[0]})" if differ else "")
               + f"; {len(segments)} segments: {result.decoded} decoded, {len(result.rejections)} rejected "
               f"{dict(sorted(reasons.items()))}, wrapping stripped {result.stripped}")
    for rejection in result.rejections[:20]:
        typer.echo(f"  {rejection.segment_id}: {rejection.reason}: {rejection.detail}")
    if check and (differ or result.rejections):
        raise typer.Exit(1)
