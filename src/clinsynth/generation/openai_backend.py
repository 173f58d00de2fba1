"""The ``openai`` backend: any OpenAI-compatible chat-completions server (see docs/generation_openai.md).

vLLM, TGI, the llama.cpp server or a hospital gateway: one ``POST
{base_url}/v1/chat/completions`` per :class:`Request`, carrying the request's own
``seed``. At most ``max_concurrency`` requests are in flight (threads sharing one
``httpx2.Client``), spread over ``base_urls`` by least-in-flight; a URL that just
failed is tried after the others for a backoff that doubles per consecutive failure.

Retried (exponential backoff, seeded jitter, or the server's ``Retry-After``):
HTTP 408/425/429/5xx, timeouts, connection errors, malformed JSON, an empty
``choices``. Not retried: a context-length 400/413/422 (``prompt_too_long``), other
4xx (``bad_request``); 401/403/404 raise :class:`OpenAIBackendError` (the whole run is
misconfigured). After ``max_retries``: ``Failure`` named after the last problem
(``server_error`` | ``malformed_response`` | ``empty_choice``), detail with URL,
status and body snippet. The API key comes only from the environment, and is redacted (with any
``Authorization:``/``api_key=``/``token=`` shaped text) from every detail, reply and error
(generation/redact.py). A ``usage`` that is not a token count is read as 0 tokens and counted
(``usage_not_numeric`` in ``stats``).

Reply contracts (docs/generation_openai.md): a ``json_schema`` contract is sent as ``response_format``
(``schema_format``: OpenAI/vLLM ``json_schema``, llama-cpp-python ``json_object`` + ``schema``, ``auto``
= the first, falling back to the second for good when a server refuses it); regex and Lark
contracts are not sent. Every reply is checked on this side (generation/reply_check.py); one that breaks
its contract is asked again with a fresh seed derived from the request's seed and the attempt, at most
``contract_attempts`` times in all, then fails as ``contract_violated``. Only a valid reply is returned.
"""

from __future__ import annotations

import dataclasses
import email.utils
import logging
import hashlib
import json
import math
import os
import random
import re
import threading
import time
from collections import Counter
from collections.abc import Iterator, Sequence
from concurrent.futures import FIRST_COMPLETED, Future, ThreadPoolExecutor, wait
from typing import Any

import httpx2  # the maintained httpx fork huggingface_hub already requires: one HTTP client for the project

from clinsynth.generation.redact import REDACTED, redact_secrets
from clinsynth.generation.reply_check import contract_violation
from clinsynth.generation.types import Completion, ContractError, Failure, Request, request_seed
from clinsynth.params import ConfigError

log = logging.getLogger(__name__)

SNIPPET_CHARS = 300
MAX_RETRY_AFTER_S = 600.0  # a server asking for more is treated as asking for this
_CONTEXT_EXCEEDED = re.compile(
    r"context[ _]length|context window|maximum context|context_length_exceeded"
    r"|prompt is too long|input is too long|must be <= \d+|too many (input )?tokens",
    re.IGNORECASE,
)
SCHEMA_FORMATS = ("auto", "json_schema", "json_object", "none")
# a server refusing {"type": "json_schema"}: llama-cpp-python 0.3.36 answers HTTP 500 "Input should be 'text' or 'json_object'"
_SCHEMA_REFUSED = re.compile(r"json_object|json_schema|response_format", re.IGNORECASE)
_RETRY_STATUSES = frozenset({408, 425, 429})
_FATAL_STATUSES = {
    401: "the API key was refused; check the variable named by api_key_env",
    403: "the API key is not allowed to use this model or endpoint",
    404: "no such endpoint or model; check base_urls (without the /chat/completions part) and model",
}


def contract_retry_seed(seed: int, attempt: int) -> int:
    """The seed of a contract retry: a 31-bit value from the request's seed and the attempt (1, 2, ...)."""
    return request_seed(seed, f"contract-retry-{attempt}")


class OpenAIBackendError(RuntimeError):
    """The server refuses the whole run (wrong key, model or URL): no request can succeed."""


@dataclasses.dataclass(frozen=True)
class OpenAIConfig:
    """Settings of the ``openai`` backend (the ``generate.openai`` params section).

    ``base_urls`` are server roots such as ``http://gpu1:8000`` or ``.../v1``;
    ``model`` is the name the server serves (vLLM ``--served-model-name``, llama.cpp
    ``--model_alias``). ``extra_body`` is merged into every request body (e.g.
    ``{"top_k": 20}``) and enters the identity. ``repetition_penalty_field`` names
    the body field for a non-default repetition penalty (vLLM and TGI:
    ``repetition_penalty``; llama.cpp server: ``repeat_penalty``).
    ``identity_tag`` is appended to the identity: set it to a weights sha or
    revision when the served name does not pin the weights. ``context_tokens`` is
    the model's context window for recipes that budget prompts; when None it is
    taken from the server where it tells (vLLM's ``max_model_len``).
    ``schema_format`` says how a JSON-schema contract is sent (one of :data:`SCHEMA_FORMATS`);
    ``contract_attempts`` bounds the requests per prompt whose replies break their contract.
    """

    base_urls: list[str]
    model: str
    api_key_env: str | None = None
    max_concurrency: int = 4
    timeout_s: float = 120.0
    max_retries: int = 5
    backoff_initial_s: float = 1.0
    backoff_max_s: float = 30.0
    context_tokens: int | None = None
    extra_body: dict[str, Any] = dataclasses.field(default_factory=dict)
    repetition_penalty_field: str = "repetition_penalty"
    identity_tag: str | None = None
    schema_format: str = "auto"
    contract_attempts: int = 3

    def __post_init__(self) -> None:
        if not self.base_urls:
            raise ConfigError("openai backend: base_urls is empty; give one or more, e.g. ['http://127.0.0.1:8000']")
        for url in self.base_urls:
            if not re.match(r"^https?://[^/\s]+", url):
                raise ConfigError(f"openai backend: base_urls entry {url!r} is not an http(s) URL like 'http://h:8000'")
        if not self.model:
            raise ConfigError("openai backend: model is empty; give the name the server serves (see GET /v1/models)")
        for name in ("max_concurrency", "timeout_s", "backoff_initial_s", "backoff_max_s"):
            if getattr(self, name) <= 0:
                raise ConfigError(f"openai backend: {name} must be > 0, got {getattr(self, name)!r}")
        if self.schema_format not in SCHEMA_FORMATS:
            raise ConfigError(
                f"openai backend: schema_format {self.schema_format!r}: expected one of {' | '.join(SCHEMA_FORMATS)}"
            )
        if self.contract_attempts < 1:
            raise ConfigError(f"openai backend: contract_attempts must be >= 1, got {self.contract_attempts!r}")
        if self.max_retries < 0:
            raise ConfigError(f"openai backend: max_retries must be >= 0, got {self.max_retries!r}")


def api_root(base_url: str) -> str:
    """``http://h:8000``, ``http://h:8000/`` and ``http://h:8000/v1`` all give ``http://h:8000/v1``."""
    url = base_url.rstrip("/")
    return url if url.endswith("/v1") else url + "/v1"


def retry_after_seconds(value: str | None, now: float | None = None) -> float | None:
    """A ``Retry-After`` header (delta seconds or an HTTP date) as seconds in [0, 600]; None if absent or unreadable."""
    if not value:
        return None
    value = value.strip()
    try:
        seconds = float(value)
    except ValueError:
        try:
            when = email.utils.parsedate_to_datetime(value)
        except (TypeError, ValueError):
            return None
        seconds = when.timestamp() - (time.time() if now is None else now)
    if math.isnan(seconds):
        return None
    return min(max(seconds, 0.0), MAX_RETRY_AFTER_S)


def backoff_seconds(attempt: int, initial: float, maximum: float, rng: random.Random) -> float:
    """Exponential backoff with "equal jitter": a delay in [d/2, d], d = min(maximum, initial * 2**attempt)."""
    delay = min(maximum, initial * 2**attempt)
    return delay / 2 + rng.uniform(0, delay / 2)


@dataclasses.dataclass
class _Endpoint:
    root: str  # ".../v1"
    in_flight: int = 0
    consecutive_failures: int = 0
    demoted_until: float = 0.0


class _Balancer:
    """Least-in-flight over endpoints, round-robin tie-break; recently failing ones go last."""

    def __init__(self, roots: Sequence[str], backoff_initial_s: float, backoff_max_s: float) -> None:
        self._endpoints = [_Endpoint(root) for root in roots]
        self._lock = threading.Lock()
        self._turn = 0
        self._initial, self._max = backoff_initial_s, backoff_max_s

    def acquire(self) -> _Endpoint:
        with self._lock:
            now, n = time.monotonic(), len(self._endpoints)
            order = sorted(
                range(n),
                key=lambda i: (
                    self._endpoints[i].demoted_until > now,
                    self._endpoints[i].in_flight,
                    (i - self._turn) % n,
                ),
            )
            self._turn = (order[0] + 1) % n
            endpoint = self._endpoints[order[0]]
            endpoint.in_flight += 1
            return endpoint

    def release(self, endpoint: _Endpoint, is_ok: bool) -> None:
        with self._lock:
            endpoint.in_flight -= 1
            if is_ok:
                endpoint.consecutive_failures, endpoint.demoted_until = 0, 0.0
                return
            endpoint.consecutive_failures += 1
            # twice the retry's own backoff, so the retry goes elsewhere
            demotion = min(self._max, self._initial * 2**endpoint.consecutive_failures)
            endpoint.demoted_until = time.monotonic() + demotion
            log.log(logging.WARNING if endpoint.consecutive_failures == 1 else logging.DEBUG,
                    "%s: failed (%d in a row); tried after the others for %.1f s",
                    endpoint.root, endpoint.consecutive_failures, demotion)


@dataclasses.dataclass(frozen=True)
class _Retry:
    """One failed attempt worth retrying."""

    reason: str  # the Failure reason if it is the last: server_error | malformed_response | empty_choice
    detail: str
    retry_after_s: float | None = None


def _snippet(text: str) -> str:
    return repr(text[:SNIPPET_CHARS] + ("..." if len(text) > SNIPPET_CHARS else ""))


def parse_reply(request_id: str, body: str) -> Completion | _Retry:
    """Read a chat-completions JSON body: a Completion, or a _Retry saying what was wrong with it."""
    try:
        data = json.loads(body)
    except ValueError as exc:
        return _Retry("malformed_response", f"body is not JSON ({exc}): {_snippet(body)}")
    if not isinstance(data, dict) or not isinstance(data.get("choices"), list):
        return _Retry("malformed_response", f"no 'choices' list in {_snippet(body)}")
    if not data["choices"]:
        return _Retry("empty_choice", f"'choices' is empty in {_snippet(body)}")
    choice = data["choices"][0]
    message = choice.get("message") if isinstance(choice, dict) else None
    content = message.get("content") if isinstance(message, dict) else None
    if not isinstance(content, str):
        return _Retry("empty_choice", f"first choice has no message content: {_snippet(body)}")
    usage = data.get("usage") if isinstance(data.get("usage"), dict) else {}
    return Completion(
        request_id=request_id,
        text=content,
        finish_reason=str(choice.get("finish_reason") or "unknown"),
        n_prompt_tokens=token_count(usage.get("prompt_tokens")) or 0,
        n_completion_tokens=token_count(usage.get("completion_tokens")) or 0,
    )


def token_count(value: Any) -> int | None:
    """A ``usage`` token count as an int >= 0; None when absent or not a count ("n/a", -1, {}, 1.5).

    A server's odd ``usage`` must not abort the run: the reply is kept, its tokens count as 0 and
    the backend counts ``usage_not_numeric`` (in the engine's metrics).
    """
    if isinstance(value, bool) or value is None:
        return None
    if isinstance(value, float) and value.is_integer():
        value = int(value)
    if isinstance(value, str) and value.strip().isdigit():
        value = int(value)
    return value if isinstance(value, int) and value >= 0 else None


def has_odd_usage(body: str) -> bool:
    """Whether a 200 body's ``usage`` holds a token count that :func:`token_count` could not read."""
    try:
        usage = json.loads(body).get("usage")
    except (ValueError, AttributeError):
        return False
    if usage is None:
        return False
    if not isinstance(usage, dict):
        return True
    return any(key in usage and usage[key] is not None and token_count(usage[key]) is None
               for key in ("prompt_tokens", "completion_tokens"))


class OpenAIBackend:
    """A :class:`~clinsynth.generation.types.Backend` over OpenAI-compatible servers.

    Token counts come from the reply's ``usage`` (0 when a server omits it);
    ``finish_reason`` from the first choice. ``stats`` counts attempts and retries
    by cause, for the engine's metrics. Thread-safe; call :meth:`close` (or use it
    as a context manager) to release connections.
    """

    def __init__(self, config: OpenAIConfig) -> None:
        self.config = config
        headers = {"Content-Type": "application/json"}
        if config.api_key_env is not None:
            key = os.environ.get(config.api_key_env)
            if not key:
                raise ConfigError(
                    f"openai backend: environment variable {config.api_key_env!r} (named by api_key_env) is "
                    f"{'empty' if key == '' else 'not set'}; export {config.api_key_env}=<your key> before running "
                    "(the key is read from the environment only, never from params)"
                )
            headers["Authorization"] = f"Bearer {key}"
        self._secrets = (key,) if config.api_key_env is not None else ()
        self._client = httpx2.Client(
            headers=headers,
            timeout=httpx2.Timeout(config.timeout_s, connect=min(config.timeout_s, 10.0)),
            limits=httpx2.Limits(max_connections=None, max_keepalive_connections=config.max_concurrency),
        )
        self._balancer = _Balancer(
            [api_root(u) for u in config.base_urls], config.backoff_initial_s, config.backoff_max_s
        )
        self._stats: Counter[str] = Counter()
        self._stats_lock = threading.Lock()
        self._identity: str | None = None
        self._served_context: int | None = None
        # "auto" starts as json_schema and falls back to json_object once a server refuses it
        self._schema_format = "json_schema" if config.schema_format == "auto" else config.schema_format

    def __enter__(self) -> OpenAIBackend:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    def close(self) -> None:
        self._client.close()

    @property
    def stats(self) -> dict[str, int]:
        with self._stats_lock:
            return dict(sorted(self._stats.items()))

    @property
    def identity(self) -> str:
        """``openai:<model>`` plus what the servers say about the weights, ``extra_body`` and ``identity_tag``.

        The served model *name* is the identity: two servers that serve different
        weights under one name share cache entries unless the server reports a
        weights path/sha (vLLM ``root``, TGI ``model_sha``) or ``identity_tag`` is
        set. Base URLs are left out on purpose, so adding or moving a server keeps
        the cache. The first access asks each server (``GET /v1/models``) and
        raises OpenAIBackendError if one does not serve ``model``.
        """
        if self._identity is None:
            facts: set[str] = set()
            for root in sorted({api_root(u) for u in self.config.base_urls}):
                facts |= self._describe_server(root)
            parts = [f"openai:{self.config.model}", *sorted(facts)]
            if self.config.extra_body:
                canonical = json.dumps(self.config.extra_body, sort_keys=True, separators=(",", ":"))
                parts.append("extra=" + hashlib.sha256(canonical.encode()).hexdigest()[:12])
            if self.config.identity_tag:
                parts.append(f"tag={self.config.identity_tag}")
            self._identity = "|".join(parts)
            log.info("openai backend identity (the cache key's model part): %s", self._identity)
        return self._identity

    @property
    def context_tokens(self) -> int | None:
        """The context window: ``config.context_tokens``, else what a server reported (after ``identity``)."""
        return self.config.context_tokens or self._served_context

    def _describe_server(self, root: str) -> set[str]:
        """Weights facts one server reports for ``model`` (vLLM ``root``, TGI ``model_sha``); checks it serves it."""
        response = self._get_with_retries(root + "/models")
        if response.status_code == 404:
            return set()  # a gateway without a model list: the name is all we know
        try:
            listed = [m for m in response.json().get("data") or [] if isinstance(m, dict)]
        except (ValueError, AttributeError):
            raise self._error(f"{root}/models: not a model list: {_snippet(self._redact(response.text))}") from None
        entry = next((m for m in listed if m.get("id") == self.config.model), None)
        if listed and entry is None:
            served = sorted(str(m.get("id")) for m in listed)
            raise self._error(
                f"{root}: does not serve model {self.config.model!r}; it serves {served}; set model to one of them"
            )
        facts = set()
        if entry and isinstance(entry.get("root"), str) and entry["root"] != self.config.model:
            facts.add(f"root={entry['root']}")
        if entry and isinstance(entry.get("max_model_len"), int):
            self._served_context = entry["max_model_len"]
        try:  # TGI's /info names the weights' sha; other servers answer 404
            sha = self._client.get(root.removesuffix("/v1") + "/info").json().get("model_sha")
        except (httpx2.HTTPError, ValueError, AttributeError):
            sha = None
        if isinstance(sha, str) and sha:
            facts.add(f"sha={sha}")
        return facts

    def _get_with_retries(self, url: str) -> httpx2.Response:
        """GET ``url``, retrying connection errors, 429 and 5xx; 401/403 raise OpenAIBackendError."""
        rng, last = random.Random(url), ""
        for attempt in range(self.config.max_retries + 1):
            if attempt:
                time.sleep(backoff_seconds(attempt - 1, self.config.backoff_initial_s, self.config.backoff_max_s, rng))
            try:
                response = self._client.get(url)
            except httpx2.TransportError as exc:
                last = f"{type(exc).__name__}: {exc}"
                continue
            status = response.status_code
            if status in (401, 403):
                detail = f"HTTP {status} {_snippet(self._redact(response.text))}: {_FATAL_STATUSES[status]}"
                raise self._error(f"GET {url}: {detail}")
            if status < 500 and status not in _RETRY_STATUSES:
                return response
            last = f"HTTP {status} {_snippet(self._redact(response.text))}"
        raise self._error(f"GET {url}: no answer after {self.config.max_retries + 1} attempts; last: {last}")

    def request_body(self, request: Request, seed: int | None = None) -> dict[str, Any]:
        """The chat-completions JSON body for ``request`` (``extra_body`` merged last).

        ``seed`` overrides the request's (a contract retry); a JSON-schema contract adds ``response_format``.
        """
        sampling = request.sampling
        body: dict[str, Any] = {
            "model": self.config.model,
            "messages": [{"role": m.role, "content": m.content} for m in request.messages],
            "temperature": sampling.temperature,
            "top_p": sampling.top_p,
            "max_tokens": sampling.max_new_tokens,
            "seed": request.seed if seed is None else seed,
        }
        if sampling.repetition_penalty != 1.0:
            body[self.config.repetition_penalty_field] = sampling.repetition_penalty
        if request.contract is not None and request.contract.kind == "json_schema":
            body.update(self._schema_fields(request.contract.source))
        return {**body, **self.config.extra_body}

    def _schema_fields(self, source: str) -> dict[str, Any]:
        """``response_format`` for a JSON-schema contract in the current ``schema_format`` ({} for none)."""
        schema = json.loads(source)
        if self._schema_format == "json_schema":  # OpenAI, vLLM, llama.cpp's own server
            return {"response_format": {"type": "json_schema",
                                        "json_schema": {"name": "reply", "schema": schema, "strict": True}}}
        if self._schema_format == "json_object":  # llama-cpp-python's server (and Anyscale's dialect)
            return {"response_format": {"type": "json_object", "schema": schema}}
        return {}

    def generate(self, requests: Sequence[Request]) -> Iterator[Completion | Failure]:
        """Yield one Completion or Failure per request in completion order, ``max_concurrency`` at a time.

        Requests are taken from ``requests`` lazily (at most twice
        ``max_concurrency`` queued). Closing the iterator early stops retries;
        calls already on the wire finish in the background.
        """
        stop = threading.Event()
        pool = ThreadPoolExecutor(max_workers=self.config.max_concurrency, thread_name_prefix="openai-backend")
        pending: set[Future[Completion | Failure]] = set()
        queued = iter(requests)
        try:
            while True:
                while len(pending) < 2 * self.config.max_concurrency:
                    request = next(queued, None)
                    if request is None:
                        break
                    pending.add(pool.submit(self._complete, request, stop))
                if not pending:
                    return
                done, pending = wait(pending, return_when=FIRST_COMPLETED)
                for future in done:
                    yield future.result()
        finally:
            stop.set()
            pool.shutdown(wait=False, cancel_futures=True)

    def _redact(self, text: str) -> str:
        return redact_secrets(text, self._secrets)

    def _error(self, message: str) -> OpenAIBackendError:
        return OpenAIBackendError(self._redact(message))

    def _count(self, key: str) -> None:
        with self._stats_lock:
            self._stats[key] += 1

    def _complete(self, request: Request, stop: threading.Event) -> Completion | Failure:
        """Answer one request; what it returns is stored (cache, rejections), so secrets are redacted."""
        result = self._complete_unredacted(request, stop)
        if isinstance(result, Failure):
            return dataclasses.replace(result, detail=self._redact(result.detail))
        text = result.text
        for secret in self._secrets:  # a reply echoing the key; only the exact value: this is model text
            text = text.replace(secret, REDACTED)
        return result if text == result.text else dataclasses.replace(result, text=text)

    def _complete_unredacted(self, request: Request, stop: threading.Event) -> Completion | Failure:
        """Answer one request; with a contract, ask again with a fresh seed until a reply satisfies it."""
        if request.contract is None:
            return self._complete_once(request, request.seed, stop)
        problems: list[str] = []
        for attempt in range(self.config.contract_attempts):
            if attempt:
                self._count("contract_retries")
            seed = request.seed if attempt == 0 else contract_retry_seed(request.seed, attempt)
            result = self._complete_once(request, seed, stop)
            if isinstance(result, Failure):
                return result
            try:
                problem = contract_violation(request.contract, result.text)
            except ContractError as exc:
                return Failure(request.id, "contract_invalid", str(exc))
            if problem is None:
                return result
            self._count("contract_violations")
            problems.append(f"attempt {attempt + 1} (seed {seed}, finish {result.finish_reason}): {problem}")
        self._count("contract_violated")
        return Failure(request.id, "contract_violated",
                       f"{self.config.contract_attempts} replies broke the {request.contract.kind} contract; "
                       + "; ".join(problems))

    def _complete_once(self, request: Request, seed: int, stop: threading.Event) -> Completion | Failure:
        """One reply for ``request`` under ``seed``, retrying what is worth retrying."""
        result = self._post_with_retries(request, seed, stop)
        if isinstance(result, Failure) and result.reason == "schema_format_refused":
            # llama-cpp-python's server refuses {"type": "json_schema"}: use its json_object + schema from now on
            if self._schema_format == "json_schema":
                self._schema_format = "json_object"
                self._count("schema_format_fallback")
                log.warning("a server refused response_format json_schema; sending json_object + schema from now on")
            result = self._post_with_retries(request, seed, stop)
        return result

    def _post_with_retries(self, request: Request, seed: int, stop: threading.Event) -> Completion | Failure:
        """POST ``request`` under ``seed`` until a reply or a failure not worth retrying."""
        fields = self.request_body(request, seed)
        body = json.dumps(fields)
        is_probe = (self.config.schema_format == "auto"
                    and fields.get("response_format", {}).get("type") == "json_schema")
        rng = random.Random(f"{seed}:{request.id}")  # deterministic jitter per request
        last = _Retry("server_error", "not attempted")
        for attempt in range(self.config.max_retries + 1):
            outcome = self._attempt(request.id, body, is_probe)
            if not isinstance(outcome, _Retry):
                return outcome
            last = outcome
            if attempt == self.config.max_retries:
                break
            self._count(f"retry:{last.reason}")
            delay = last.retry_after_s
            if delay is None:
                delay = backoff_seconds(attempt, self.config.backoff_initial_s, self.config.backoff_max_s, rng)
            log.debug("request %s: %s (%s); retry %d in %.2f s", request.id, last.reason,
                      self._redact(last.detail), attempt + 1, delay)
            if stop.wait(delay):
                return Failure(request.id, "cancelled", "generate() was closed before this request finished")
        attempts = self.config.max_retries + 1
        return Failure(request.id, last.reason, f"gave up after {attempts} attempts; last: {last.detail}")

    def _attempt(self, request_id: str, body: str, is_probe: bool = False) -> Completion | Failure | _Retry:
        """One POST to the least busy endpoint, classified."""
        endpoint = self._balancer.acquire()
        url = endpoint.root + "/chat/completions"
        self._count("attempts")
        is_ok = False
        try:
            response = self._client.post(url, content=body)
        except httpx2.TimeoutException as exc:
            return _Retry("server_error", f"{url}: timed out after {self.config.timeout_s} s ({type(exc).__name__})")
        except httpx2.TransportError as exc:
            return _Retry("server_error", f"{url}: {type(exc).__name__}: {exc}")
        else:
            is_ok = response.status_code < 500 and response.status_code not in _RETRY_STATUSES
            return self._classify(request_id, url, response, is_probe)
        finally:
            self._balancer.release(endpoint, is_ok)

    def _classify(self, request_id: str, url: str, response: httpx2.Response,
                  is_probe: bool = False) -> Completion | Failure | _Retry:
        """A reply, a failure or a retry; ``is_probe``: the body sent ``auto``'s json_schema response_format."""
        status, text = response.status_code, response.text
        if 200 <= status < 300:
            reply = parse_reply(request_id, text)
            if isinstance(reply, Completion) and has_odd_usage(text):
                self._count("usage_not_numeric")
            return reply
        text = self._redact(text)  # before the snippet cuts it: a cut key would escape the patterns
        where = f"{url}: HTTP {status} {_snippet(text)}"
        if is_probe and status in (400, 422, 500) and _SCHEMA_REFUSED.search(text):
            return Failure(request_id, "schema_format_refused", where)
        if status >= 500 or status in _RETRY_STATUSES:
            return _Retry("server_error", where, retry_after_seconds(response.headers.get("Retry-After")))
        if status in (400, 413, 422) and _CONTEXT_EXCEEDED.search(text):
            return Failure(request_id, "prompt_too_long", where)
        if status in _FATAL_STATUSES:
            raise self._error(f"POST {where}: {_FATAL_STATUSES[status]}")
        return Failure(request_id, "bad_request", where)
