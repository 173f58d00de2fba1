"""A gated corpus as one Arrow table (``<corpus>/parquet/records.parquet``): the rows of ``records.jsonl``.

Arrow wants one schema for every row, and a SyntheticRecord's dicts (``parsed``, ``vars``, ``contract``,
``leakage``, ``checks``, ``fidelity``) hold different keys from record to record and from recipe to recipe.
So the columns follow the record's fields in order, typed from its annotations:

* ``str`` fields -> ``string``; ``list[str]`` fields -> ``list<string>``;
* dict fields (free-form) -> ``string`` holding the dict as JSON (keys sorted, as in ``records.jsonl``;
  ``null`` for a ``None`` contract): ``json.loads(row["vars"])`` gives the dict back.

The schema is fixed by the record type, not by the rows, so an empty corpus writes the same columns.
"""

from __future__ import annotations

import dataclasses
import json
import types
import typing
from collections.abc import Sequence
from pathlib import Path
from typing import Any

from clinsynth.records import SyntheticRecord

PARQUET_PATH = "parquet/records.parquet"  # inside the corpus folder


def corpus_configs(parquet: bool) -> dict[str, str]:
    """The card's configs, config name -> file in the corpus folder: JSONL always, Parquet when written."""
    return {"default": "records.jsonl", **({"parquet": PARQUET_PATH} if parquet else {})}


def _kind(tp: Any) -> str:
    """``string`` | ``list`` | ``json`` for a field annotation (``X | None`` taken as ``X``)."""
    args = [a for a in typing.get_args(tp) if a is not type(None)]
    if typing.get_origin(tp) in (typing.Union, types.UnionType) and len(args) == 1:
        tp = args[0]
    origin = typing.get_origin(tp) or tp
    if origin is str:
        return "string"
    if origin is list and typing.get_args(tp) == (str,):
        return "list"
    if origin is dict:
        return "json"
    raise TypeError(f"SyntheticRecord field of type {tp!r}; expected str, list[str] or a dict (see {__name__})")


def column_kinds() -> dict[str, str]:
    """Field -> ``string`` | ``list`` | ``json``, in the record's field order."""
    hints = typing.get_type_hints(SyntheticRecord)
    return {f.name: _kind(hints[f.name]) for f in dataclasses.fields(SyntheticRecord)}


def json_columns() -> list[str]:
    return [name for name, kind in column_kinds().items() if kind == "json"]


def records_table(records: Sequence[SyntheticRecord]):
    """The records as a ``pyarrow.Table`` with the fixed schema above (one row per record, in order)."""
    import pyarrow as pa

    types = {"string": pa.string(), "list": pa.list_(pa.string()), "json": pa.string()}
    kinds = column_kinds()
    schema = pa.schema([pa.field(name, types[kind]) for name, kind in kinds.items()])
    columns: dict[str, list[Any]] = {name: [] for name in kinds}
    for record in records:
        for name, kind in kinds.items():
            value = getattr(record, name)
            if kind == "json" and value is not None:
                value = json.dumps(value, sort_keys=True, ensure_ascii=False)
            columns[name].append(value)
    return pa.Table.from_pydict(columns, schema=schema)


def write_parquet(path: Path | str, records: Sequence[SyntheticRecord]) -> None:
    """Write ``records`` atomically (temp file + rename); the same bytes for the same records."""
    import pyarrow.parquet as pq

    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.with_name(path.name + ".tmp")
    try:
        pq.write_table(records_table(records), tmp)
        tmp.replace(path)
    except BaseException:
        tmp.unlink(missing_ok=True)
        raise


def write_corpus_parquet(corpus_dir: Path | str, records: Sequence[SyntheticRecord], enabled: bool) -> None:
    """``corpus_dir/parquet/`` always (a DVC out: outs cannot follow a param), ``records.parquet`` in it only
    when ``enabled``; a copy left by an earlier run with it on is removed, so the folder never goes stale."""
    path = Path(corpus_dir) / PARQUET_PATH
    path.parent.mkdir(parents=True, exist_ok=True)
    path.unlink(missing_ok=True)
    if enabled:
        write_parquet(path, records)
