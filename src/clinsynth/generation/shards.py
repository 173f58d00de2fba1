"""Sharded generation: split a recipe's prompts into N shards, merge the shard outputs back.

A prompt's shard is ``sha256(prompt id) mod N`` (:func:`shard_of`): it depends on nothing but the
id and N, so adding or removing prompts never moves the others between shards, and a worker that
reruns its shard after a prompt edit finds the rest of its replies in its cache.

Each shard is an ordinary :func:`clinsynth.generation.engine.generate` run over its prompts; it is
resumable exactly as an unsharded run (the content-addressed cache holds every committed reply).
:func:`merge_shards` checks that the shards partition the prompts (each prompt id answered exactly
once, by the shard it belongs to, with one model and one sampling) and returns the records and
metrics an unsharded run gives: generations sorted by prompt id, rejections by (prompt id, reason),
counts summed. Written with :func:`clinsynth.records.write_jsonl`, the merged files are
byte-identical whatever N. Shard layout on disk: ``<shard_dir>/<recipe>/<i>-of-<N>/`` holding
``generations.jsonl``, ``rejections.jsonl`` and ``metrics.json`` (:func:`shard_dir_for`);
:func:`merge_recipe_shards` reads and merges them.
"""

from __future__ import annotations

import dataclasses
import hashlib
import logging
import re
from collections import Counter
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Any

from clinsynth.records import read_json, read_jsonl

log = logging.getLogger(__name__)

GENERATIONS, REJECTIONS, METRICS = "generations.jsonl", "rejections.jsonl", "metrics.json"


class ShardError(ValueError):
    """Shard outputs that do not partition the prompts, or a malformed shard spec."""


@dataclasses.dataclass(frozen=True)
class ShardSpec:
    """Shard ``index`` (0-based) of ``count``; written ``I/N`` on the command line."""

    index: int
    count: int

    def __post_init__(self) -> None:
        if self.count < 1 or not 0 <= self.index < self.count:
            raise ShardError(f"shard {self.index}/{self.count}: expected 0 <= index < count, count >= 1")

    @classmethod
    def parse(cls, text: str) -> ShardSpec:
        match = re.fullmatch(r"\s*(\d+)\s*/\s*(\d+)\s*", text)
        if match is None:
            raise ShardError(f"--shard {text!r}: expected INDEX/COUNT with a 0-based index, e.g. '0/3'")
        return cls(int(match[1]), int(match[2]))

    @property
    def name(self) -> str:
        return f"{self.index}-of-{self.count}"

    def __str__(self) -> str:
        return f"{self.index}/{self.count}"


@dataclasses.dataclass(frozen=True)
class ShardOutput:
    """One shard's records (as read from its JSONL files) and deterministic metrics."""

    spec: ShardSpec
    generations: list[dict[str, Any]]
    rejections: list[dict[str, Any]]
    metrics: dict[str, Any]


@dataclasses.dataclass(frozen=True)
class MergedOutput:
    generations: list[dict[str, Any]]
    rejections: list[dict[str, Any]]
    metrics: dict[str, Any]


def shard_of(prompt_id: str, count: int) -> int:
    """The shard (0..count-1) that owns ``prompt_id``: sha256 of the id, mod count."""
    return int.from_bytes(hashlib.sha256(prompt_id.encode("utf-8")).digest()[:8], "big") % count


def select_shard(prompts: Sequence[Mapping[str, Any]], spec: ShardSpec) -> list[Mapping[str, Any]]:
    """The prompts of shard ``spec``, in their input order."""
    return [p for p in prompts if shard_of(p["id"], spec.count) == spec.index]


def shard_dir_for(shard_root: Path | str, recipe: str, spec: ShardSpec) -> Path:
    return Path(shard_root) / recipe / spec.name


def merge_metrics(parts: Sequence[Mapping[str, Any]], where: str = "shards") -> dict[str, Any]:
    """Sum shard metrics key by key: ints add, {name: int} counters add (keys sorted), strings must agree."""
    if not parts:
        raise ShardError(f"{where}: no shard metrics to merge")
    keys = set(parts[0])
    merged: dict[str, Any] = {}
    for i, part in enumerate(parts):
        if set(part) != keys:
            raise ShardError(f"{where}: shard {i} has metrics keys {sorted(part)}, shard 0 has {sorted(keys)}; "
                             "regenerate the shards with one version of clinsynth")
    for key in sorted(keys):
        values = [part[key] for part in parts]
        if all(isinstance(v, int) and not isinstance(v, bool) for v in values):
            merged[key] = sum(values)
        elif all(isinstance(v, dict) for v in values):
            total: Counter[str] = Counter()
            for value in values:
                total.update(value)
            merged[key] = dict(sorted(total.items()))
        elif all(isinstance(v, str) for v in values):
            if len(set(values)) > 1:
                raise ShardError(f"{where}: shards disagree on {key!r}: {sorted(set(values))}; every shard must run "
                                 "with the same model and sampling params (rerun the stale shards)")
            merged[key] = values[0]
        else:
            raise ShardError(f"{where}: cannot merge metrics key {key!r} with values {values!r}")
    return merged


def merge_shards(prompt_ids: Sequence[str], shards: Sequence[ShardOutput], where: str = "shards") -> MergedOutput:
    """Check that ``shards`` partition ``prompt_ids`` and merge them as one unsharded run.

    Every prompt id must be answered exactly once (one generation or one rejection), by the shard
    :func:`shard_of` assigns it to; a shard from an older prompts file or another N fails here.
    """
    if not shards:
        raise ShardError(f"{where}: no shards to merge")
    count = shards[0].spec.count
    indexes = sorted(s.spec.index for s in shards)
    if indexes != list(range(count)) or any(s.spec.count != count for s in shards):
        raise ShardError(f"{where}: expected shards 0..{count - 1} of {count}, got "
                         f"{sorted(str(s.spec) for s in shards)}")
    expected = set(prompt_ids)
    seen: dict[str, str] = {}
    for shard in shards:
        for record in [*shard.generations, *shard.rejections]:
            pid = record["prompt_id"]
            if pid not in expected:
                raise ShardError(f"{where}: shard {shard.spec} answers prompt {pid!r}, which is not in the prompts "
                                 "file; the shard is stale: rerun it")
            if shard_of(pid, count) != shard.spec.index:
                raise ShardError(f"{where}: shard {shard.spec} answers prompt {pid!r}, which belongs to shard "
                                 f"{shard_of(pid, count)}/{count}")
            if pid in seen:
                raise ShardError(f"{where}: prompt {pid!r} answered twice (shards {seen[pid]} and {shard.spec})")
            seen[pid] = str(shard.spec)
    missing = sorted(expected - set(seen))
    if missing:
        owners = sorted({f"{shard_of(pid, count)}/{count}" for pid in missing})
        raise ShardError(f"{where}: {len(missing)} prompts have no answer, e.g. {missing[0]!r} (shards {owners}); "
                         "rerun those shards: the cache keeps what they already generated")
    generations = sorted((g for s in shards for g in s.generations), key=lambda g: g["prompt_id"])
    rejections = sorted((r for s in shards for r in s.rejections), key=lambda r: (r["prompt_id"], r["reason"]))
    return MergedOutput(generations, rejections, merge_metrics([s.metrics for s in shards], where))


@dataclasses.dataclass(frozen=True)
class MergedRun:
    output: MergedOutput
    timing: dict[str, Any]  # summed over the shards timed on this machine (git-ignored, like any timing)


def read_shard(shard_root: Path | str, recipe: str, spec: ShardSpec) -> ShardOutput:
    folder = shard_dir_for(shard_root, recipe, spec)
    if not (folder / METRICS).exists():
        raise FileNotFoundError(f"{folder / METRICS}: shard {spec} of generate@{recipe} has not run; run "
                                f"`python stages/generate.py {recipe} --shard {spec}` (or its DVC stage)")
    return ShardOutput(spec, list(read_jsonl(folder / GENERATIONS)), list(read_jsonl(folder / REJECTIONS)),
                       read_json(folder / METRICS))


def merge_timing(timings: Sequence[Mapping[str, Any]], count: int) -> dict[str, Any]:
    """The shard timing files found (shards run elsewhere leave none here), summed; the slowest shard's wall time."""
    return {"shards": count, "shards_timed_here": len(timings),
            **{k: sum(t[k] for t in timings) for k in ("cache_hits", "generated", "generated_completion_tokens")},
            "max_shard_wall_s": max((t["wall_s"] for t in timings), default=0.0)}


def merge_recipe_shards(recipe: str, prompt_ids: Sequence[str], shard_root: Path | str, count: int,
                        timing_dir: Path | str) -> MergedRun:
    """Read the ``count`` shards of ``recipe`` under ``shard_root`` and merge them (:func:`merge_shards`), with
    the timing files ``<timing_dir>/generate_<recipe>.shard-<i>-of-<N>.json`` that exist."""
    specs = [ShardSpec(i, count) for i in range(count)]
    shards = [read_shard(shard_root, recipe, spec) for spec in specs]
    merged = merge_shards(prompt_ids, shards, where=f"{shard_root}/{recipe}")
    timings = [Path(timing_dir) / f"generate_{recipe}.shard-{s.name}.json" for s in specs]
    missing = [p.name for p in timings if not p.exists()]
    if missing:
        log.info("%d of %d shard timing files not here (shards run elsewhere): %s", len(missing), count, missing)
    return MergedRun(merged, merge_timing([read_json(p) for p in timings if p.exists()], count))


@dataclasses.dataclass(frozen=True)
class RunFiles:
    generations: Path
    rejections: Path
    metrics: Path  # deterministic metrics
    timing: Path  # wall time, cache hits, tokens/s (git-ignored)


def run_files(recipe: str, spec: ShardSpec | None, generations_dir: Path | str, metrics_dir: Path | str,
              shard_root: Path | str) -> RunFiles:
    """Where a run of generate@``recipe`` writes: the recipe's own files for an unsharded or merged run
    (``spec`` None), else shard ``spec``'s folder (its timing beside the recipe's, named by the shard)."""
    out, metrics = Path(generations_dir), Path(metrics_dir)
    if spec is None:
        return RunFiles(out / f"{recipe}.jsonl", out / f"{recipe}.rejections.jsonl",
                        metrics / f"generate_{recipe}.json", metrics / "timing" / f"generate_{recipe}.json")
    folder = shard_dir_for(shard_root, recipe, spec)
    return RunFiles(folder / GENERATIONS, folder / REJECTIONS, folder / METRICS,
                    metrics / "timing" / f"generate_{recipe}.shard-{spec.name}.json")
