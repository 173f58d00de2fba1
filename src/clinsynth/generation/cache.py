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
import sqlite3
import time
from collections.abc import Iterable, Sequence
from pathlib import Path

from clinsynth.generation.types import Completion, Request

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
    """The cache file is not a clinsynth cache, or of another schema version."""


def cache_key(model_identity: str, request: Request) -> str:
    """sha256 hex of (model identity, messages, sampling params, seed) in canonical JSON."""
    payload = {
        "model": model_identity,
        "messages": [[m.role, m.content] for m in request.messages],
        "sampling": dataclasses.asdict(request.sampling),
        "seed": request.seed,
        "v": SCHEMA_VERSION,
    }
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


class GenerationCache:
    """SQLite store of completions keyed by :func:`cache_key`. Safe to share between processes."""

    def __init__(self, path: Path | str) -> None:
        self.path = Path(path)
        self.path.parent.mkdir(parents=True, exist_ok=True)
        # isolation_level=None: autocommit, each statement is its own transaction.
        self._db = sqlite3.connect(self.path, timeout=60.0, isolation_level=None)
        try:
            self._db.execute("PRAGMA journal_mode=WAL")
            self._db.execute("PRAGMA synchronous=NORMAL")
            self._db.executescript(_SCHEMA)
            self._db.execute(f"PRAGMA user_version={SCHEMA_VERSION}")
        except sqlite3.DatabaseError as exc:
            self._db.close()
            raise CacheError(f"{self.path}: not a clinsynth cache ({exc}); move it away or delete it") from exc

    def close(self) -> None:
        self._db.close()

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
