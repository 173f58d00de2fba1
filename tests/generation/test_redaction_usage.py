"""Secrets never reach what is stored; odd ``usage`` fields do not abort a run (issue 17)."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from clinsynth.generation.cache import GenerationCache
from clinsynth.generation.engine import generate
from clinsynth.generation.openai_backend import OpenAIBackend, OpenAIBackendError, OpenAIConfig, token_count
from clinsynth.generation.redact import redact_secrets
from clinsynth.generation.types import SamplingParams
from clinsynth.records import Rejection, write_jsonl
from clinsynth.generation.engine import to_request

from .openai_servers import Reply, ScriptedServer, chat_reply

KEY = "sk-test-7f3a9c2e41b8d6"
PROMPTS = [{"id": f"p{i}", "seed": i, "messages": [{"role": "user", "content": f"note {i}"}]} for i in range(3)]


def config(url: str) -> OpenAIConfig:
    return OpenAIConfig(base_urls=[url], model="test-model", api_key_env="CLINSYNTH_TEST_KEY", max_concurrency=2,
                        timeout_s=5.0, max_retries=1, backoff_initial_s=0.01, backoff_max_s=0.02)


def echo_headers(status: int, extra: str = "") -> callable:
    """A server whose error body echoes the request headers, as some gateways do."""
    def responder(seen, n):
        # sorted, so Authorization sits early in the 300-character snippet whatever the client's User-Agent length
        headers = dict(sorted(seen.headers.items()))
        return Reply(status, extra + json.dumps({"error": "upstream failed", "request_headers": headers}))
    return responder


def keep_text(text, record):
    return {"text": text} if "reject" not in text else Rejection(record["id"], "refused", f"reply {text!r}")


def run_and_store(tmp_path: Path, responder, routes=None) -> tuple[str, object]:
    """Generate through a scripted server; return every byte stored (rejections, generations, cache)."""
    cache_path = tmp_path / "cache.sqlite"
    with ScriptedServer(responder, routes) as server, OpenAIBackend(config(server.url)) as backend, \
            GenerationCache(cache_path) as cache:
        result = generate(PROMPTS, SamplingParams(max_new_tokens=4), backend, cache, keep_text)
        assert server.chat_requests[0].headers["Authorization"] == f"Bearer {KEY}"  # it was really sent
    write_jsonl(tmp_path / "r.rejections.jsonl", result.rejections)
    write_jsonl(tmp_path / "r.jsonl", result.generations)
    stored = "".join(p.read_bytes().decode("utf-8", "replace") for p in sorted(tmp_path.iterdir()) if p.is_file())
    return stored, result


@pytest.fixture(autouse=True)
def api_key(monkeypatch):
    monkeypatch.setenv("CLINSYNTH_TEST_KEY", KEY)


def test_server_error_echoing_the_authorization_header_is_redacted(tmp_path):
    stored, result = run_and_store(tmp_path, echo_headers(500, "GET /x?token=abc123&api_key=" + KEY[::-1] + " "))
    assert [r.reason for r in result.rejections] == ["server_error"] * 3
    detail = result.rejections[0].detail  # the 300-character snippet of the redacted body
    assert "?token=<redacted>&api_key=<redacted> " in detail and '"Authorization": "Bearer <r' in detail
    assert KEY not in stored and KEY[::-1] not in stored and "abc123" not in stored


def test_bad_request_echo_and_a_reply_quoting_the_key_are_redacted(tmp_path):
    def responder(seen, n):
        if n == 0:
            return echo_headers(400)(seen, n)
        return chat_reply(f"the key is {KEY}" if n == 1 else f"reject {KEY}")
    stored, result = run_and_store(tmp_path, responder)
    assert sorted(r.reason for r in result.rejections) == ["bad_request", "refused"]
    assert [g.text for g in result.generations] == ["the key is <redacted>"]
    assert KEY not in stored


def test_fatal_error_message_is_redacted(tmp_path):
    with ScriptedServer(echo_headers(401)) as server, OpenAIBackend(config(server.url)) as backend:
        with pytest.raises(OpenAIBackendError) as err:
            list(backend.generate([to_request(PROMPTS[0], SamplingParams(max_new_tokens=4))]))
    assert KEY not in str(err.value) and "Bearer <redacted>" in str(err.value)


@pytest.mark.parametrize("text, expected", [
    ("Authorization: Bearer abc.def-123", "Authorization: Bearer <redacted>"),
    ("{'authorization': 'Basic dXNlcjpwYXNz'}", "{'authorization': 'Basic <redacted>'}"),
    ("POST http://h/v1/chat/completions?api_key=s3cr3t&x=1", "POST http://h/v1/chat/completions?api_key=<redacted>&x=1"),
    ('{"access_token": "eyJhbGciOi"}', '{"access_token": "<redacted>"}'),
    ("x-api-key: k-123456", "x-api-key: <redacted>"),
    ("too many tokens: max_tokens=8, prompt_tokens: 7", "too many tokens: max_tokens=8, prompt_tokens: 7"),
])
def test_redact_secrets_patterns(text, expected):
    assert redact_secrets(text) == expected


@pytest.mark.parametrize("value, expected", [
    (7, 7), (7.0, 7), ("12", 12), (None, None), ("n/a", None), (-1, None), (1.5, None), ({}, None), (True, None),
])
def test_token_count(value, expected):
    assert token_count(value) == expected


def test_non_numeric_usage_keeps_the_reply_and_is_counted(tmp_path, monkeypatch):
    monkeypatch.delenv("CLINSYNTH_TEST_KEY")
    odd = json.loads(chat_reply("fine").body)
    odd["usage"] = {"prompt_tokens": "n/a", "completion_tokens": {"total": 3}}
    plain = OpenAIConfig(base_urls=["http://127.0.0.1:1"], model="test-model")
    with ScriptedServer(lambda seen, n: Reply(200, json.dumps(odd))) as server, \
            OpenAIBackend(OpenAIConfig(**{**plain.__dict__, "base_urls": [server.url]})) as backend, \
            GenerationCache(tmp_path / "c.sqlite") as cache:
        result = generate(PROMPTS, SamplingParams(max_new_tokens=4), backend, cache, keep_text)
    assert [g.text for g in result.generations] == ["fine"] * 3 and not result.rejections
    assert result.metrics["completion_tokens"] == 0
    assert result.timing["backend"]["usage_not_numeric"] == 3
