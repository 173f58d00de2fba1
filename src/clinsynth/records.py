"""JSONL / JSON record I/O shared by all stages (UTF-8, sorted keys, one record per line)."""

from __future__ import annotations

import dataclasses
import json
import os
from collections.abc import Iterable, Iterator
from pathlib import Path
from typing import Any

from clinsynth.errors import InputError


class RecordFormatError(InputError):
    """A JSON/JSONL file that does not read: the message says ``file:line`` and what was found."""


def to_jsonable(record: Any) -> Any:
    if dataclasses.is_dataclass(record) and not isinstance(record, type):
        return dataclasses.asdict(record)
    return record


def dumps(record: Any) -> str:
    return json.dumps(to_jsonable(record), sort_keys=True, ensure_ascii=False)


def write_jsonl(path: Path | str, records: Iterable[Any]) -> int:
    """Write records atomically (temp file + rename) so a killed stage never leaves half a file."""
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.with_name(path.name + ".tmp")
    n = 0
    try:
        with tmp.open("w", encoding="utf-8", newline="\n") as fh:
            for record in records:
                fh.write(dumps(record) + "\n")
                n += 1
        os.replace(tmp, path)
    except BaseException:  # a record that cannot be written (or ^C): no half-written .tmp left behind
        tmp.unlink(missing_ok=True)
        raise
    return n


def read_jsonl(path: Path | str) -> Iterator[dict[str, Any]]:
    path = Path(path)
    with path.open("rb") as fh:
        for line_no, raw in enumerate(fh, start=1):
            try:
                line = raw.decode("utf-8")
            except UnicodeDecodeError as exc:
                raise RecordFormatError(f"{path}:{line_no}: byte {exc.start} of the line (0x{raw[exc.start]:02x}) is not "
                                        "UTF-8; expected a UTF-8 JSONL file") from None
            if not line.strip():
                continue
            try:
                yield json.loads(line)
            except json.JSONDecodeError as exc:
                raise RecordFormatError(f"{path}:{line_no}: invalid JSON ({exc.msg}); expected one record per line") from exc


def write_json(path: Path | str, obj: Any) -> None:
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.with_name(path.name + ".tmp")
    try:
        tmp.write_text(json.dumps(to_jsonable(obj), sort_keys=True, indent=2, ensure_ascii=False) + "\n",
                       encoding="utf-8")
        os.replace(tmp, path)
    except BaseException:
        tmp.unlink(missing_ok=True)
        raise


def read_json(path: Path | str) -> Any:
    path = Path(path)
    raw = path.read_bytes()
    try:
        return json.loads(raw.decode("utf-8"))
    except UnicodeDecodeError as exc:
        line = raw.count(b"\n", 0, exc.start) + 1
        raise RecordFormatError(f"{path}:{line}: byte {exc.start} is not UTF-8; expected a UTF-8 JSON file") from None
    except json.JSONDecodeError as exc:
        raise RecordFormatError(f"{path}:{exc.lineno}: invalid JSON ({exc.msg})") from exc
