"""Share the generation cache through DVC: a sorted JSONL artefact, merged into a local cache safely.

Why: the text a request gets depends on the CPU's kernels (docs/generation.md: what is reproducible across
CPUs). A colleague who regenerates on other hardware may get other replies, so other outputs and another
dvc.lock. With the replies shared, their ``dvc repro`` answers every request from the cache and writes the
byte-identical outputs.

The artefact (``base.paths.shared_cache``, default ``shared_cache/generations.jsonl``) holds one cache row
per line, sorted by key, keys sorted, UTF-8: ``{"finish_reason", "key", "model", "n_completion_tokens",
"n_prompt_tokens", "request_id", "text"}``. No timestamps or counters, so the same rows always give the same
bytes, and a new batch of replies is a diff of added lines. The cache holds replies and prompt ids, never
the prompts' messages (the key is their hash) nor credentials: a reply whose text looks like it holds one
(:func:`~clinsynth.generation.redact.redact_secrets` would change it) is withheld from the export and
counted; the colleague regenerates it.

Import inserts the rows whose key the local cache lacks. A key present locally with another row is a
*conflict*: counted and reported, the local row kept, never overwritten. The whole file is checked before
anything is written: a malformed line is a :class:`CacheShareError` naming ``file:line``.
"""

from __future__ import annotations

import dataclasses
import json
import re
from pathlib import Path
from typing import Any

from clinsynth.errors import InputError, SetupError
from clinsynth.generation.cache import GenerationCache
from clinsynth.generation.redact import redact_secrets
from clinsynth.records import write_jsonl

MAX_LISTED = 5  # conflicts / errors shown in a message
_KEY = re.compile(r"[0-9a-f]{64}")


class CacheShareError(InputError):
    """A shared-cache artefact line is malformed, or the artefact to pull or import is missing."""


@dataclasses.dataclass(frozen=True)
class CacheRow:
    """One cache entry as shared: what a cache hit returns, plus the key and the model identity."""

    key: str
    model: str
    request_id: str
    text: str
    finish_reason: str
    n_prompt_tokens: int
    n_completion_tokens: int

    def as_tuple(self) -> tuple[str, str, str, str, str, int, int]:
        return dataclasses.astuple(self)


FIELDS = tuple(f.name for f in dataclasses.fields(CacheRow))


@dataclasses.dataclass(frozen=True)
class ExportReport:
    path: str
    rows: int
    withheld: list[str]  # keys whose reply looks like it holds a credential


@dataclasses.dataclass(frozen=True)
class Conflict:
    key: str
    local: CacheRow
    shared: CacheRow

    def describe(self) -> str:
        what = [name for name in FIELDS if getattr(self.local, name) != getattr(self.shared, name)]
        return (f"key {self.key[:16]}... ({self.local.model}): {', '.join(what)} differ; local "
                f"{self.local.text[:40]!r} vs shared {self.shared.text[:40]!r}")


@dataclasses.dataclass(frozen=True)
class ImportReport:
    path: str
    rows: int  # distinct rows in the artefact
    added: int
    present: int  # already in the local cache, identical
    conflicts: list[Conflict]  # present with another row: local kept

    def summary(self) -> str:
        line = (f"{self.path}: {self.rows} rows: {self.added} added, {self.present} already present, "
                f"{len(self.conflicts)} conflicts (local kept)")
        shown = [f"  conflict: {c.describe()}" for c in self.conflicts[:MAX_LISTED]]
        if len(self.conflicts) > MAX_LISTED:
            shown.append(f"  ... and {len(self.conflicts) - MAX_LISTED} more")
        return "\n".join([line, *shown])


def export_cache(cache: GenerationCache, path: Path | str) -> ExportReport:
    """Write every shareable row of ``cache`` to ``path`` (sorted JSONL, atomic); withhold secret-like replies."""
    rows, withheld = [], []
    for values in cache.rows():
        row = CacheRow(*values)
        if redact_secrets(row.text) != row.text:  # a redacted reply would differ from the local one: withhold it
            withheld.append(row.key)
            continue
        rows.append(row)
    write_jsonl(path, rows)
    return ExportReport(str(path), len(rows), withheld)


def parse_row(line: str, where: str) -> CacheRow:
    """One artefact line as a CacheRow; CacheShareError ``where: problem; expected ...`` otherwise."""
    if line.startswith(("<<<<<<<", "=======", ">>>>>>>")):
        raise CacheShareError(f"{where}: a git merge conflict marker {line[:20]!r}; resolve the .dvc file's conflict "
                              "instead (docs/sharing.md: sharing the generation cache) and pull the artefact again")
    try:
        data = json.loads(line)
    except json.JSONDecodeError as exc:
        raise CacheShareError(f"{where}: not JSON ({exc.msg} at column {exc.colno}): {line[:80]!r}; expected one "
                              "cache row per line, as `clinsynth cache export` writes") from None
    if not isinstance(data, dict):
        raise CacheShareError(f"{where}: expected a JSON object with keys {', '.join(FIELDS)}, got "
                              f"{type(data).__name__} {line[:80]!r}")
    if set(data) != set(FIELDS):
        missing, unknown = sorted(set(FIELDS) - set(data)), sorted(set(data) - set(FIELDS))
        raise CacheShareError(f"{where}: missing keys {missing}, unknown keys {unknown}; expected exactly "
                              f"{', '.join(FIELDS)}")
    for name in FIELDS:
        _check_field(name, data[name], where)
    return CacheRow(**data)


def _check_field(name: str, value: Any, where: str) -> None:
    if name.startswith("n_"):
        if not isinstance(value, int) or isinstance(value, bool) or value < 0:
            raise CacheShareError(f"{where}: {name}: expected an int >= 0, got {value!r}")
    elif not isinstance(value, str):
        raise CacheShareError(f"{where}: {name}: expected a string, got {type(value).__name__} {value!r}")
    elif name == "key" and not _KEY.fullmatch(value):
        raise CacheShareError(f"{where}: key: expected 64 lowercase hex digits (a sha256), got {value[:80]!r}")
    elif name in ("model", "finish_reason") and not value:
        raise CacheShareError(f"{where}: {name}: empty")


def read_artefact(path: Path | str) -> list[CacheRow]:
    """The rows of an artefact, checked line by line (blank lines skipped); the first errors raised together."""
    path = Path(path)
    if not path.is_file():
        raise CacheShareError(f"{path}: no such artefact; write one with `clinsynth cache export` or fetch the "
                              "team's with `clinsynth cache pull`")
    rows: dict[str, tuple[int, CacheRow]] = {}
    errors: list[str] = []
    try:
        text = path.read_bytes().decode("utf-8")
    except UnicodeDecodeError as exc:
        raise CacheShareError(f"{path}: byte {exc.start} is not UTF-8 ({exc.reason}); an artefact is UTF-8 JSONL, "
                              "as `clinsynth cache export` writes it") from None
    for number, line in enumerate(text.splitlines(), 1):
        if not line.strip():
            continue
        where = f"{path}:{number}"
        try:
            row = parse_row(line, where)
        except CacheShareError as exc:
            errors.append(str(exc))
            continue
        first = rows.get(row.key)
        if first is not None and first[1] != row:
            errors.append(f"{where}: key {row.key[:16]}... again with another reply (first at line {first[0]}); "
                          "an artefact holds one reply per key: keep one of the two lines")
        rows.setdefault(row.key, (number, row))
    if errors:
        more = f"\n... and {len(errors) - MAX_LISTED} more malformed lines" if len(errors) > MAX_LISTED else ""
        raise CacheShareError("\n".join(errors[:MAX_LISTED]) + more + "\nnothing was imported")
    return [row for _, row in rows.values()]


def import_artefact(cache: GenerationCache, path: Path | str) -> ImportReport:
    """Merge the artefact at ``path`` into ``cache``: missing keys inserted, conflicts counted, local rows kept."""
    rows = read_artefact(path)  # all checked before anything is written
    by_key = {row.key: row for row in rows}
    added, differing = cache.insert_missing([row.as_tuple() for row in rows])
    conflicts = [Conflict(key, CacheRow(*local), by_key[key]) for key, local in differing]
    return ImportReport(str(path), len(rows), len(added), len(rows) - len(added) - len(conflicts), conflicts)


# ---- DVC: the artefact as a tracked file (dvc add / push / pull) ---------------------------------------------

def dvc_file_for(path: Path | str) -> Path:
    return Path(f"{path}.dvc")


def dvc_push(path: Path | str, remote: str | None = None, root: Path | str = ".") -> None:
    """``dvc add PATH`` then ``dvc push PATH.dvc [-r remote]``, through DVC's Python API."""
    from dvc.exceptions import DvcException
    from dvc.repo import Repo

    target = str(Path(path).resolve())
    try:
        with Repo(str(root)) as repo:
            repo.add(target)
            repo.push(targets=[str(dvc_file_for(target))], remote=remote)
    except DvcException as exc:
        raise SetupError(f"dvc push of {path} failed: {exc}; set a remote with `dvc remote add -d NAME URL` "
                         "(docs/sharing.md) or name one with -r") from exc


def dvc_pull(path: Path | str, remote: str | None = None, root: Path | str = ".") -> None:
    """``dvc pull PATH.dvc [-r remote]``: the artefact version the committed .dvc file names."""
    from dvc.exceptions import DvcException
    from dvc.repo import Repo

    dvcfile = dvc_file_for(path)
    if not dvcfile.is_file():
        raise CacheShareError(f"{dvcfile}: not found; `git pull` the commit that added it (a colleague makes it "
                              "with `clinsynth cache push` and commits it)")
    try:
        with Repo(str(root)) as repo:
            repo.pull(targets=[str(dvcfile.resolve())], remote=remote)
    except DvcException as exc:
        raise SetupError(f"dvc pull of {dvcfile} failed: {exc}; check `dvc remote list` (docs/sharing.md)") from exc


def push_cache(cache: GenerationCache, path: Path | str, remote: str | None = None,
               root: Path | str = ".") -> tuple[ImportReport | None, ExportReport]:
    """Merge the team's artefact in first (when a .dvc file names one), then export the union, add and push it.

    Pulling first means a push never drops rows a colleague pushed that this cache lacks.
    """
    merged = None
    if dvc_file_for(path).is_file():
        dvc_pull(path, remote, root)
        merged = import_artefact(cache, path)
    exported = export_cache(cache, path)
    dvc_push(path, remote, root)
    return merged, exported


def pull_cache(cache: GenerationCache, path: Path | str, remote: str | None = None,
               root: Path | str = ".") -> ImportReport:
    dvc_pull(path, remote, root)
    return import_artefact(cache, path)

