"""A content-addressed cache of completions in SQLite (WAL), committed one reply at a time.

Key = sha256 over canonical JSON of: model identity (name + weights sha256, + adapter sha256),
rendered messages, sampling params and the request seed (:func:`cache_key`). The prompt id is
*not* part of the key: two prompts that render the same messages with the same seed share one
completion, and a renamed prompt keeps its reply.

Crash safety: every :meth:`GenerationCache.put` is its own transaction (autocommit) in WAL mode,
so a process killed with SIGKILL loses at most the reply it was writing, and SQLite's journal
keeps the file consistent. ``synchronous=NORMAL`` survives process death; a power cut may lose
the last few commits but never corrupts the database (``synchronous=FULL`` would cost an fsync
per reply for that).

``n_writes`` counts how often a key was written: a value above 1 means the same request was
generated twice (a resume bug). The benchmark and the tests read it.
"""

from __future__ import annotations

import dataclasses
import hashlib
import json
import logging
import os
import socket
import sqlite3
import time
from collections.abc import Iterable, Sequence
from pathlib import Path

from clinsynth.generation.types import Completion, Request

log = logging.getLogger(__name__)

SCHEMA_VERSION = 1
_SCHEMA = """
CREATE TABLE IF NOT EXISTS completions (
    key TEXT PRIMARY KEY,
    model TEXT NOT NULL,
    request_id TEXT NOT NULL,
    text TEXT NOT NULL,
    finish_reason TEXT NOT NULL,
    n_prompt_tokens INTEGER NOT NULL,
    n_completion_tokens INTEGER NOT NULL,
    created_at REAL NOT NULL,
    last_used_at REAL NOT NULL,
    n_writes INTEGER NOT NULL DEFAULT 1
);
CREATE INDEX IF NOT EXISTS completions_last_used ON completions(last_used_at);
"""


class CacheError(RuntimeError):
    """The cache file is not a clinsynth cache, of another schema version, corrupt, or in use by another run."""


# ---- open-time checks and request claims (kept apart from the store's methods) --------------------

_SQLITE_MAGIC = b"SQLite format 3\x00"


def check_cache_file(path: Path) -> bool:
    """Refuse a path that would silently act as an empty cache or give raw sqlite errors; True if it exists."""
    if path.is_dir():
        raise CacheError(f"{path}: is a directory, not a cache file; point base.paths.cache at a file "
                         "such as .clinsynth/cache.sqlite")
    if not path.exists():
        return False
    if path.stat().st_size == 0:
        raise CacheError(f"{path}: empty file (0 bytes), not a clinsynth cache (a cache is never empty on disk); "
                         "restore it from a backup, or delete it to start an empty cache")
    with path.open("rb") as fh:
        if fh.read(len(_SQLITE_MAGIC)) != _SQLITE_MAGIC:
            raise CacheError(f"{path}: not a clinsynth cache (not an SQLite file); move it away or delete it")
    return True


def check_cache_schema(db: sqlite3.Connection, path: Path) -> None:
    """An existing file must be a clinsynth cache of this schema version and pass SQLite's quick_check."""
    try:
        version = db.execute("PRAGMA user_version").fetchone()[0]
        tables = {name for (name,) in db.execute("SELECT name FROM sqlite_master WHERE type='table'")}
    except sqlite3.DatabaseError as exc:
        raise CacheError(f"{path}: corrupt SQLite file ({exc}); restore it from a backup, or move it away to "
                         "start a new cache (its replies are then generated again)") from exc
    if tables and "completions" not in tables:
        raise CacheError(f"{path}: not a clinsynth cache (an SQLite file with tables {sorted(tables)}, "
                         "no 'completions'); move it away or delete it")
    if tables and version != SCHEMA_VERSION:
        raise CacheError(f"{path}: cache schema version {version}, this clinsynth reads version {SCHEMA_VERSION}; "
                         "use the clinsynth that wrote it, or move the file away to start a new cache")
    try:  # quick_check reads every page once: ~0.1 s for a 70 MB cache
        problems = [row for (row,) in db.execute("PRAGMA quick_check(3)")]
    except sqlite3.DatabaseError as exc:  # "database disk image is malformed" when a page header is garbled
        problems = [str(exc)]
    if problems != ["ok"]:
        raise CacheError(f"{path}: corrupt SQLite file ({'; '.join(problems)}); restore it from a backup, or "
                         "move it away to start a new cache (its replies are then generated again)")


def cache_key(model_identity: str, request: Request) -> str:
    """sha256 hex of (model identity, messages, sampling params, seed[, contract]) in canonical JSON.

    The reply contract joins the payload only when the request has one, so every request without a
    contract keeps the key it had before contracts existed (tests/generation/test_contract.py pins one).
    """
    payload = {
        "model": model_identity,
        "messages": [[m.role, m.content] for m in request.messages],
        "sampling": dataclasses.asdict(request.sampling),
        "seed": request.seed,
        "v": SCHEMA_VERSION,
    }
    if request.contract is not None:
        payload["contract"] = request.contract.to_dict()
    blob = json.dumps(payload, sort_keys=True, ensure_ascii=False, separators=(",", ":"))
    return hashlib.sha256(blob.encode("utf-8")).hexdigest()


@dataclasses.dataclass(frozen=True)
class CacheStats:
    path: str
    entries: int
    bytes: int
    models: dict[str, int]
    oldest_used: float | None
    newest_used: float | None
    generated_twice: int


_CLAIMS = """
CREATE TABLE IF NOT EXISTS claims (
    key TEXT PRIMARY KEY,
    pid INTEGER NOT NULL,
    host TEXT NOT NULL,
    claimed_at REAL NOT NULL,
    token TEXT NOT NULL  -- the GenerationCache object that claimed it (one process may open several)
);
"""


def _is_alive(pid: int, host: str) -> bool:
    """Whether a claim's owner may still be running (another host's processes cannot be checked: yes)."""
    if host != socket.gethostname():
        return True
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:  # alive, under another user
        return True
    return True


def claim_requests(db: sqlite3.Connection, path: Path, keys: Sequence[str], token: str) -> None:
    """Claim ``keys`` for this process in one ``BEGIN IMMEDIATE`` transaction, or raise CacheError.

    Two runs on one cache with overlapping requests would each generate what the other has not
    committed yet; the second is refused, naming who holds the claims. Disjoint runs (the shards of
    one recipe) claim disjoint keys and run side by side. Claims of a process that is gone (SIGKILL)
    are taken over; claims are dropped by :func:`release_claims` when the run ends.
    """
    me, host, now = os.getpid(), socket.gethostname(), time.time()
    unique = sorted(set(keys))
    db.execute("BEGIN IMMEDIATE")  # one claimer at a time: no two processes can both see a key free
    try:
        held = []
        for start in range(0, len(unique), 500):
            part = unique[start:start + 500]
            held += db.execute(f"SELECT key, pid, host, claimed_at FROM claims WHERE key IN ({','.join('?' * len(part))})",
                               part).fetchall()
        live = [row for row in held if (row[1], row[2]) != (me, host) and _is_alive(row[1], row[2])]
        stale = {(pid, h) for _, pid, h, _ in held if (pid, h) != (me, host) and not _is_alive(pid, h)}
        if stale and not live:
            log.warning("%s: taking over %d claims of a run that is gone (pid %s); resuming its requests", path,
                        sum((row[1], row[2]) in stale for row in held), ", ".join(f"{p} on {h}" for p, h in sorted(stale)))
        if live:
            _, pid, other_host, since = live[0]
            raise CacheError(
                f"{path}: {len(live)} of this run's {len(unique)} uncached requests are being generated by pid {pid} "
                f"on {other_host} (claimed {time.strftime('%Y-%m-%d %H:%M:%S', time.localtime(since))}); two runs "
                "on one cache would generate them twice. Wait for that run to finish, or give this one its own "
                "cache (base.paths.cache); see docs/generation.md"
            )
        db.executemany("INSERT OR REPLACE INTO claims (key, pid, host, claimed_at, token) VALUES (?,?,?,?,?)",
                       [(key, me, host, now, token) for key in unique])
        db.execute("COMMIT")
    except BaseException:
        db.execute("ROLLBACK")
        raise


def release_claims(db: sqlite3.Connection, token: str) -> None:
    """Drop the claims made under ``token`` (a killed run's claims are taken over by the next)."""
    try:
        db.execute("DELETE FROM claims WHERE token=?", (token,))
    except sqlite3.ProgrammingError:  # already closed (a generator finalised after its cache): close() released them
        pass


class GenerationCache:
    """SQLite store of completions keyed by :func:`cache_key`. Shared by processes that generate
    disjoint requests (shards); overlapping runs are refused by :meth:`claim`."""

    def __init__(self, path: Path | str) -> None:
        """Open (or create) the cache.

        Raises CacheError (naming the path and what to do) for a directory, a 0-byte or non-SQLite file,
        another schema version or a corrupt file (check_cache_file, check_cache_schema).
        """
        self.path = Path(path)
        self._token = f"{socket.gethostname()}:{os.getpid()}:{id(self)}:{time.time()}"
        existed = check_cache_file(self.path)
        self.path.parent.mkdir(parents=True, exist_ok=True)
        # isolation_level=None: autocommit, each statement is its own transaction.
        self._db = sqlite3.connect(self.path, timeout=60.0, isolation_level=None)
        try:
            if existed:
                check_cache_schema(self._db, self.path)
            self._db.execute("PRAGMA journal_mode=WAL")
            self._db.execute("PRAGMA synchronous=NORMAL")
            self._db.executescript(_SCHEMA)
            self._db.executescript(_CLAIMS)
            self._db.execute(f"PRAGMA user_version={SCHEMA_VERSION}")
            log.debug("cache %s: %s", self.path, "opened" if existed else "created")
        except (sqlite3.DatabaseError, CacheError) as exc:
            self._db.close()
            if isinstance(exc, CacheError):
                raise
            raise CacheError(f"{self.path}: not a clinsynth cache or corrupt ({exc}); move it away or delete it") from exc

    def close(self) -> None:
        release_claims(self._db, self._token)
        self._db.close()

    def claim(self, keys: Sequence[str]) -> None:
        """Claim the keys this run is about to generate (see :func:`claim_requests`)."""
        claim_requests(self._db, self.path, keys, self._token)

    def release_claims(self) -> None:
        release_claims(self._db, self._token)

    def __enter__(self) -> GenerationCache:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    def get_many(self, keys: Sequence[str]) -> dict[str, Completion]:
        """Completions for the keys present (request_id as stored), and mark them used now."""
        found: dict[str, Completion] = {}
        unique = sorted(set(keys))
        for start in range(0, len(unique), 500):  # stay under SQLite's bound-variable limit
            part = unique[start:start + 500]
            marks = ",".join("?" * len(part))
            rows = self._db.execute(
                "SELECT key, request_id, text, finish_reason, n_prompt_tokens, n_completion_tokens "
                f"FROM completions WHERE key IN ({marks})", part).fetchall()
            for key, rid, text, finish, n_prompt, n_completion in rows:
                found[key] = Completion(rid, text, finish, n_prompt, n_completion)
        if found:
            now = time.time()
            self._db.executemany("UPDATE completions SET last_used_at=? WHERE key=?", [(now, k) for k in found])
        return found

    def put(self, key: str, model: str, completion: Completion) -> None:
        """Commit one completion now (a second write of the same key keeps the first text, counts n_writes)."""
        now = time.time()
        self._db.execute(
            "INSERT INTO completions (key, model, request_id, text, finish_reason, n_prompt_tokens, "
            "n_completion_tokens, created_at, last_used_at) VALUES (?,?,?,?,?,?,?,?,?) "
            "ON CONFLICT(key) DO UPDATE SET n_writes = n_writes + 1, last_used_at = excluded.last_used_at",
            (key, model, completion.request_id, completion.text, completion.finish_reason,
             completion.n_prompt_tokens, completion.n_completion_tokens, now, now),
        )

    def rows(self) -> list[tuple[str, str, str, str, str, int, int]]:
        """Every entry as (key, model, request_id, text, finish_reason, n_prompt_tokens, n_completion_tokens), by key."""
        return self._db.execute(
            "SELECT key, model, request_id, text, finish_reason, n_prompt_tokens, n_completion_tokens "
            "FROM completions ORDER BY key").fetchall()

    def insert_missing(self, rows: Sequence[tuple[str, str, str, str, str, int, int]]
                       ) -> tuple[list[str], list[tuple[str, tuple]]]:
        """Insert the rows (as :meth:`rows` gives them) whose key is absent, in one transaction; never overwrite.

        Returns (keys inserted, [(key, local row) for keys present with another row]); a key present with the same
        row is neither. A key a live run has claimed is refused (CacheError): that run would commit its own reply.
        """
        added: list[str] = []
        differing: list[tuple[str, tuple]] = []
        now = time.time()
        self._db.execute("BEGIN IMMEDIATE")
        try:
            for row in rows:
                local = self._db.execute(
                    "SELECT key, model, request_id, text, finish_reason, n_prompt_tokens, n_completion_tokens "
                    "FROM completions WHERE key=?", (row[0],)).fetchone()
                if local is not None:
                    if tuple(local) != tuple(row):
                        differing.append((row[0], tuple(local)))
                    continue
                claim = self._db.execute("SELECT pid, host FROM claims WHERE key=?", (row[0],)).fetchone()
                if claim is not None and _is_alive(*claim) and claim != (os.getpid(), socket.gethostname()):
                    raise CacheError(f"{self.path}: key {row[0][:16]}... is being generated by pid {claim[0]} on "
                                     f"{claim[1]}; import once that run has finished")
                self._db.execute(
                    "INSERT INTO completions (key, model, request_id, text, finish_reason, n_prompt_tokens, "
                    "n_completion_tokens, created_at, last_used_at) VALUES (?,?,?,?,?,?,?,?,?)", (*row, now, now))
                added.append(row[0])
            self._db.execute("COMMIT")
        except BaseException:
            self._db.execute("ROLLBACK")
            raise
        return added, differing

    def keys(self) -> set[str]:
        return {k for (k,) in self._db.execute("SELECT key FROM completions")}

    def generated_twice(self) -> int:
        return self._db.execute("SELECT COUNT(*) FROM completions WHERE n_writes > 1").fetchone()[0]

    def stats(self) -> CacheStats:
        entries, oldest, newest = self._db.execute(
            "SELECT COUNT(*), MIN(last_used_at), MAX(last_used_at) FROM completions").fetchone()
        models = dict(self._db.execute("SELECT model, COUNT(*) FROM completions GROUP BY model ORDER BY model"))
        size = sum(p.stat().st_size for p in self.path.parent.glob(self.path.name + "*") if p.is_file())
        return CacheStats(str(self.path), entries, size, models, oldest, newest, self.generated_twice())

    def prune(self, keep: Iterable[str], older_than_days: float | None = None, now: float | None = None) -> int:
        """Delete entries not in ``keep``; with ``older_than_days``, only those also unused for that long.

        Returns the number deleted, then checkpoints the WAL and vacuums so the file shrinks.
        """
        keep = set(keep)
        cutoff = (now if now is not None else time.time()) - older_than_days * 86400 if older_than_days else None
        rows = self._db.execute("SELECT key, last_used_at FROM completions").fetchall()
        doomed = [k for k, used in rows if k not in keep and (cutoff is None or used < cutoff)]
        self._db.execute("BEGIN")
        self._db.executemany("DELETE FROM completions WHERE key=?", [(k,) for k in doomed])
        self._db.execute("COMMIT")
        self._db.execute("PRAGMA wal_checkpoint(TRUNCATE)")
        self._db.execute("VACUUM")
        return len(doomed)
