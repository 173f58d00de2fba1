"""Cache keys, commits, the generated-twice counter and the prune policy."""

from __future__ import annotations

import dataclasses
import sqlite3
from pathlib import Path

import pytest

from clinsynth.generation.cache import CacheError, GenerationCache, cache_key
from clinsynth.generation.types import Completion, Message, Request, SamplingParams

BASE = Request("p1", (Message("system", "s"), Message("user", "rewrite this")), 7, SamplingParams())


@pytest.mark.parametrize("change", [
    ("identity", "other-model@abc"),
    ("identity", "model@123+lora@456"),  # an adapter is part of the identity
    ("messages", (Message("system", "s"), Message("user", "rewrite that"))),
    ("messages", (Message("user", "s"), Message("user", "rewrite this"))),  # role
    ("seed", 8),
    ("temperature", 0.71), ("top_p", 0.9), ("max_new_tokens", 129), ("repetition_penalty", 1.1),
])
def test_each_component_changes_the_key(change: tuple[str, object]) -> None:
    field, value = change
    identity, request = "model@123", BASE
    if field == "identity":
        identity = value
    elif field in ("messages", "seed"):
        request = dataclasses.replace(BASE, **{field: value})
    else:
        request = dataclasses.replace(BASE, sampling=dataclasses.replace(BASE.sampling, **{field: value}))
    assert cache_key(identity, request) != cache_key("model@123", BASE)


def test_prompt_id_is_not_part_of_the_key() -> None:
    assert cache_key("m", BASE) == cache_key("m", dataclasses.replace(BASE, id="renamed"))
    assert len(cache_key("m", BASE)) == 64


def test_put_commits_at_once_and_counts_rewrites(tmp_path: Path) -> None:
    path = tmp_path / "c.sqlite"
    cache = GenerationCache(path)
    cache.put("k1", "m", Completion("p1", "hello", "stop", 3, 1))
    # a second connection (another process) sees it without any close/commit
    other = sqlite3.connect(path)
    assert other.execute("SELECT text FROM completions WHERE key='k1'").fetchone() == ("hello",)
    assert other.execute("PRAGMA journal_mode").fetchone() == ("wal",)
    assert cache.generated_twice() == 0
    cache.put("k1", "m", Completion("p1", "different", "stop", 3, 1))
    assert cache.generated_twice() == 1
    assert cache.get_many(["k1", "nope"])["k1"].text == "hello"  # first reply kept
    cache.close()


def test_prune_keeps_referenced_and_recent(tmp_path: Path) -> None:
    with GenerationCache(tmp_path / "c.sqlite") as cache:
        for key in ("keep", "old", "new"):
            cache.put(key, "m", Completion(key, key, "stop", 1, 1))
        cache._db.execute("UPDATE completions SET last_used_at = last_used_at - 40 * 86400 WHERE key IN ('keep','old')")
        assert cache.prune({"keep"}, older_than_days=30) == 1  # 'old' only: 'new' is recent, 'keep' referenced
        assert cache.keys() == {"keep", "new"}
        assert cache.prune({"keep"}) == 1
        assert cache.keys() == {"keep"}
        stats = cache.stats()
        assert stats.entries == 1 and stats.models == {"m": 1}


def test_not_a_cache(tmp_path: Path) -> None:
    path = tmp_path / "c.sqlite"
    path.write_bytes(b"this is not a database, not at all; " * 100)
    with pytest.raises(CacheError, match="not a clinsynth cache"):
        GenerationCache(path)
