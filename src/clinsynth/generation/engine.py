"""The engine: prompts -> cached or fresh completions -> parsed Generations and Rejections.

:func:`run_requests` is the cache discipline: look every request up by :func:`cache_key`, send
only the misses to the backend (each distinct key once), and commit each completion to the cache
the moment the backend yields it. A run killed at any point therefore resumes with exactly the
requests that have no committed reply; none is generated twice.

:func:`generate` adds the recipe side: each completion goes through the recipe's parser, and the
outputs are sorted by prompt id. Its ``metrics`` hold only what is the same for a fresh and a
cached run (counts, tokens, and the backend's ``info``: dtype and torch version for the
transformers backend); ``timing`` holds the run facts (cache hits, wall time, tokens/s)
and belongs in the git-ignored ``metrics/timing/``.
"""

from __future__ import annotations

import dataclasses
import hashlib
import json
import logging
import time
from collections import Counter
from collections.abc import Callable, Iterator, Mapping, Sequence
from typing import Any

from clinsynth.generation.cache import GenerationCache, cache_key
from clinsynth.generation.redact import redact_secrets
from clinsynth.generation.types import Backend, Completion, Contract, Failure, Message, Request, SamplingParams
from clinsynth.records import Generation, Rejection

log = logging.getLogger(__name__)

Parser = Callable[[str, Mapping[str, Any]], "dict[str, Any] | Rejection"]


class BackendContractError(RuntimeError):
    """A backend yielded a result for an unknown request or none for a request it was given."""


@dataclasses.dataclass(frozen=True)
class Outcome:
    """The result for one request: a Completion (from the cache or fresh) or a backend Failure."""

    request: Request
    key: str
    result: Completion | Failure
    cached: bool


@dataclasses.dataclass(frozen=True)
class GenerateResult:
    generations: list[Generation]
    rejections: list[Rejection]
    metrics: dict[str, Any]  # deterministic: commit it (metrics/generate_<R>.json)
    timing: dict[str, Any]  # run facts: metrics/timing/generate_<R>.json, git-ignored


def params_sha(sampling: SamplingParams) -> str:
    blob = json.dumps(dataclasses.asdict(sampling), sort_keys=True)
    return hashlib.sha256(blob.encode()).hexdigest()[:16]


def run_requests(requests: Sequence[Request], backend: Backend, cache: GenerationCache,
                 on_outcome: Callable[[Outcome], None] | None = None) -> Iterator[Outcome]:
    """Yield one Outcome per request: cache hits first, then fresh replies as the backend yields them."""
    identity = backend.identity
    keyed = [(cache_key(identity, r), r) for r in requests]
    hits = cache.get_many([k for k, _ in keyed])
    waiting: dict[str, list[Request]] = {}  # key -> requests sharing it (the first one is sent)
    for key, request in keyed:
        if key in hits:
            outcome = Outcome(request, key, dataclasses.replace(hits[key], request_id=request.id), True)
            _emit(outcome, on_outcome)
            yield outcome
        else:
            waiting.setdefault(key, []).append(request)
    sent = {reqs[0].id: key for key, reqs in waiting.items()}
    n_waiting = sum(map(len, waiting.values()))
    log.info("cache: %d of %d requests hit, %d to generate (%d distinct) with %s",
             len(requests) - n_waiting, len(requests), n_waiting, len(sent), identity)
    if not sent:
        return
    cache.claim(list(waiting))  # another live run generating these same requests: CacheError, not duplicates
    try:
        for result in backend.generate([reqs[0] for reqs in waiting.values()]):
            key = sent.pop(result.request_id, None)
            if key is None:
                raise BackendContractError(f"backend {identity}: unexpected or repeated result for {result.request_id!r}")
            if isinstance(result, Completion):
                cache.put(key, identity, result)
            else:
                log.debug("request %s failed: %s", result.request_id, result.reason)
            for i, request in enumerate(waiting[key]):
                outcome = Outcome(request, key, dataclasses.replace(result, request_id=request.id), i > 0)
                _emit(outcome, on_outcome)
                yield outcome
    finally:
        cache.release_claims()
    if sent:
        raise BackendContractError(f"backend {identity}: no result for {len(sent)} requests, e.g. {next(iter(sent))!r}")


def to_request(prompt: Mapping[str, Any], sampling: SamplingParams) -> Request:
    """A prompt record (as read from JSONL) -> the engine's Request (with its ``contract`` when it has one)."""
    messages = tuple(Message(m["role"], m["content"]) for m in prompt["messages"])
    return Request(prompt["id"], messages, int(prompt["seed"]), sampling, Contract.from_dict(prompt.get("contract")))


def _emit(outcome: Outcome, on_outcome: Callable[[Outcome], None] | None) -> None:
    if on_outcome is not None:
        on_outcome(outcome)


def generate(prompts: Sequence[Mapping[str, Any]], sampling: SamplingParams, backend: Backend,
             cache: GenerationCache, parse: Parser,
             on_outcome: Callable[[Outcome], None] | None = None) -> GenerateResult:
    """Run every prompt record through the cache/backend and the recipe's parser."""
    started = time.perf_counter()
    by_id = {p["id"]: p for p in prompts}
    requests = [to_request(p, sampling) for p in prompts]
    sha = params_sha(sampling)
    generations, rejections = [], []
    finish, prompt_tokens, completion_tokens = Counter(), 0, 0
    hits = fresh_tokens = 0
    for outcome in run_requests(requests, backend, cache, on_outcome):
        result, pid = outcome.result, outcome.request.id
        if isinstance(result, Failure):  # details are stored and pushed: no credentials in them
            rejections.append(Rejection(pid, result.reason, redact_secrets(result.detail)))
            continue
        hits += outcome.cached
        fresh_tokens += 0 if outcome.cached else result.n_completion_tokens
        finish[result.finish_reason] += 1
        prompt_tokens += result.n_prompt_tokens
        completion_tokens += result.n_completion_tokens
        parsed = parse(result.text, by_id[pid])
        if isinstance(parsed, Rejection):
            rejections.append(dataclasses.replace(parsed, generation_id=outcome.key, detail=redact_secrets(parsed.detail)))
            continue
        generations.append(Generation(outcome.key, pid, backend.identity, sha, result.text, result.finish_reason,
                                      result.n_prompt_tokens, result.n_completion_tokens, parsed))
    generations.sort(key=lambda g: g.prompt_id)
    rejections.sort(key=lambda r: (r.prompt_id, r.reason))
    wall = time.perf_counter() - started
    metrics = {
        "requests": len(requests),
        "completions": sum(finish.values()),
        "generations": len(generations),
        "rejected": dict(sorted(Counter(r.reason for r in rejections).items())),
        "rejected_total": len(rejections),
        "finish_reason": dict(sorted(finish.items())),
        "prompt_tokens": prompt_tokens,
        "completion_tokens": completion_tokens,
        "model": backend.identity,
        "params_sha": sha,
    }
    info = getattr(backend, "info", None)  # the transformers backend: dtype and torch version that ran
    if isinstance(info, dict):
        metrics.update({k: str(v) for k, v in sorted(info.items())})
    timing = {
        "cache_hits": hits,
        "generated": sum(finish.values()) - hits,
        "generated_completion_tokens": fresh_tokens,
        "wall_s": round(wall, 3),
        "tokens_per_s": round(fresh_tokens / wall, 2) if wall > 0 else 0.0,
    }
    stats = getattr(backend, "stats", None)  # the openai backend's attempts, retries, usage_not_numeric
    if isinstance(stats, dict) and stats:
        timing["backend"] = stats
    return GenerateResult(generations, rejections, metrics, timing)


class ProgressBar:
    """tqdm over requests, showing freshly generated tokens/s and cache hits (for ``on_outcome``)."""

    def __init__(self, total: int, desc: str) -> None:
        from tqdm import tqdm

        self.bar = tqdm(total=total, desc=desc, unit="req", smoothing=0.1)
        self.started = time.perf_counter()
        self.tokens = self.hits = 0

    def __call__(self, outcome: Outcome) -> None:
        if outcome.cached:
            self.hits += 1
        elif isinstance(outcome.result, Completion):
            self.tokens += outcome.result.n_completion_tokens
        rate = self.tokens / max(time.perf_counter() - self.started, 1e-9)
        self.bar.set_postfix(tok_s=f"{rate:.1f}", cached=self.hits, refresh=False)
        self.bar.update(1)

    def close(self) -> None:
        self.bar.close()
