"""The openai backend against scripted HTTP servers (fast) and a real llama.cpp server (slow)."""

from __future__ import annotations

import dataclasses
import importlib.util
import json
import random
import threading
import time
from collections.abc import Iterator
from email.utils import formatdate
from pathlib import Path

import pytest

from clinsynth.generation.openai_backend import (
    OpenAIBackend,
    OpenAIBackendError,
    OpenAIConfig,
    backoff_seconds,
    contract_retry_seed,
    retry_after_seconds,
)
from clinsynth.generation.reply_check import contract_violation
from clinsynth.generation.cache import GenerationCache
from clinsynth.generation.engine import run_requests
from clinsynth.generation.types import (
    Backend,
    Completion,
    Contract,
    Failure,
    Message,
    Request,
    SamplingParams,
    request_seed,
)
from clinsynth.params import ConfigError

from .openai_servers import LlamaServer, Reply, ScriptedServer, chat_reply, free_port, models_reply


def make_requests(n: int, max_new_tokens: int = 8, temperature: float = 0.7, base_seed: int = 13) -> list[Request]:
    topics = ["asthma", "type 2 diabetes", "hypertension", "migraine", "otitis media", "gout", "anemia", "eczema"]
    return [
        Request(
            id=f"p{i}",
            messages=(
                Message("system", "You are a clinician writing short notes."),
                Message("user", f"Write one sentence about a patient with {topics[i % len(topics)]}."),
            ),
            seed=request_seed(base_seed, f"p{i}"),
            sampling=SamplingParams(temperature=temperature, top_p=0.95, max_new_tokens=max_new_tokens),
        )
        for i in range(n)
    ]


def fast_config(*urls: str, **overrides: object) -> OpenAIConfig:
    settings = dict(model="test-model", max_concurrency=2, timeout_s=5.0, max_retries=3,
                    backoff_initial_s=0.01, backoff_max_s=0.05)  # fmt: skip
    return OpenAIConfig(base_urls=list(urls), **{**settings, **overrides})


def run(config: OpenAIConfig, requests: list[Request]) -> list[Completion | Failure]:
    with OpenAIBackend(config) as backend:
        return list(backend.generate(requests))


def always(reply: Reply):
    return lambda seen, n: reply


def script(*replies: Reply):
    """The n-th chat request gets replies[n]; later ones get the last."""
    return lambda seen, n: replies[min(n, len(replies) - 1)]


# ---------------------------------------------------------------- scripted server: happy path


def test_request_body_and_completion_fields() -> None:
    with ScriptedServer(always(chat_reply("Hello.", "length", 11, 3))) as server:
        request = make_requests(1)[0]
        penalised = Request("p9", request.messages, 99, SamplingParams(0.0, 1.0, 5, repetition_penalty=1.3))
        with OpenAIBackend(fast_config(server.url, extra_body={"top_k": 20})) as backend:
            assert isinstance(backend, Backend)
            results = sorted(backend.generate([request, penalised]), key=lambda r: r.request_id)
    assert results[0] == Completion("p0", "Hello.", "length", 11, 3)
    bodies = {s.body["seed"]: s.body for s in server.chat_requests}
    assert bodies[request.seed] == {
        "model": "test-model",
        "messages": [{"role": m.role, "content": m.content} for m in request.messages],
        "temperature": 0.7, "top_p": 0.95, "max_tokens": 8, "seed": request.seed, "top_k": 20,
    }  # fmt: skip
    assert bodies[99]["repetition_penalty"] == 1.3 and bodies[99]["temperature"] == 0.0
    assert all(s.path == "/v1/chat/completions" for s in server.chat_requests)


def test_base_url_may_end_in_v1() -> None:
    with ScriptedServer(always(chat_reply())) as server:
        assert isinstance(run(fast_config(server.url + "/v1/"), make_requests(1))[0], Completion)
    assert server.chat_requests[0].path == "/v1/chat/completions"


def test_replies_are_yielded_in_completion_order() -> None:
    def slow_first(seen, n):
        is_slow = "asthma" in seen.body["messages"][1]["content"]
        return dataclasses_replace(chat_reply(seen.body["messages"][1]["content"]), 0.4 if is_slow else 0.0)

    with ScriptedServer(slow_first) as server:
        results = run(fast_config(server.url, max_concurrency=2), make_requests(2))
    assert [r.request_id for r in results] == ["p1", "p0"]


def dataclasses_replace(reply: Reply, delay_s: float) -> Reply:
    return Reply(reply.status, reply.body, reply.headers, delay_s)


def test_closing_early_stops_retries() -> None:
    def one_good(seen, n):
        if "asthma" in seen.body["messages"][1]["content"]:
            return dataclasses_replace(chat_reply(), 0.3)  # p1 fails meanwhile and starts its wait
        return Reply(503, "busy", (("Retry-After", "30"),))

    with ScriptedServer(one_good) as server, OpenAIBackend(fast_config(server.url, max_concurrency=2)) as backend:
        replies = backend.generate(make_requests(2))
        assert next(replies).request_id == "p0"
        replies.close()  # p1 is waiting out a 30 s Retry-After: its worker must give up now
        deadline = time.monotonic() + 2.0
        while time.monotonic() < deadline and any(t.name.startswith("openai-backend") for t in threading.enumerate()):
            time.sleep(0.02)
    assert not [t.name for t in threading.enumerate() if t.name.startswith("openai-backend")]
    assert len(server.chat_requests) <= 2  # p1 was not retried


def test_concurrency_is_bounded() -> None:
    with ScriptedServer(always(dataclasses_replace(chat_reply(), 0.1))) as server:
        results = run(fast_config(server.url, max_concurrency=3), make_requests(12))
    assert len(results) == 12 and all(isinstance(r, Completion) for r in results)
    assert server.max_in_flight == 3


def test_two_base_urls_are_both_used() -> None:
    reply = dataclasses_replace(chat_reply(), 0.05)
    with ScriptedServer(always(reply)) as a, ScriptedServer(always(reply)) as b:
        results = run(fast_config(a.url, b.url, max_concurrency=2), make_requests(10))
    assert len(results) == 10 and all(isinstance(r, Completion) for r in results)
    assert len(a.chat_requests) + len(b.chat_requests) == 10
    assert len(a.chat_requests) >= 3 and len(b.chat_requests) >= 3


def test_a_failing_url_is_tried_after_the_others() -> None:
    with ScriptedServer(always(Reply(503, "down"))) as bad, ScriptedServer(always(chat_reply())) as good:
        # bad is demoted for 2 s after its failure; the retry waits 0.5-1 s, then everything goes to good
        config = fast_config(bad.url, good.url, max_concurrency=1, backoff_initial_s=1.0, backoff_max_s=4.0)
        started = time.monotonic()
        results = run(config, make_requests(6))
    assert all(isinstance(r, Completion) for r in results)
    assert len(bad.chat_requests) == 1 and len(good.chat_requests) == 6
    assert time.monotonic() - started < 5.0


# ---------------------------------------------------------------- retries


def test_429_retry_after_is_honoured() -> None:
    with ScriptedServer(script(Reply(429, "slow down", (("Retry-After", "0.3"),)), chat_reply())) as server:
        (result,) = run(fast_config(server.url), make_requests(1))
    assert isinstance(result, Completion)
    first, second = server.chat_requests
    assert second.at - first.at >= 0.3


@pytest.mark.parametrize(
    ("header", "expected"),
    [("2", 2.0), ("0.25", 0.25), ("-3", 0.0), (formatdate(1_000_010, usegmt=True), 10.0),
     ("soon", None), (None, None), ("nan", None), ("99999", 600.0)],
)  # fmt: skip
def test_retry_after_parsing(header: str | None, expected: float | None) -> None:
    assert retry_after_seconds(header, now=1_000_000) == expected


def test_backoff_grows_is_capped_and_jitter_is_seeded() -> None:
    delays = [backoff_seconds(a, 1.0, 30.0, random.Random(7)) for a in range(8)]
    assert all(min(30.0, 2**a) / 2 <= d <= min(30.0, 2**a) for a, d in enumerate(delays))
    assert delays == [backoff_seconds(a, 1.0, 30.0, random.Random(7)) for a in range(8)]


def test_500s_then_success() -> None:
    with ScriptedServer(script(Reply(500, "boom"), Reply(502, "bad gateway"), chat_reply("fine"))) as server:
        (result,) = run(fast_config(server.url), make_requests(1))
    assert result == Completion("p0", "fine", "stop", 7, 2)
    assert len(server.chat_requests) == 3


def test_timeouts_are_retried() -> None:
    with ScriptedServer(script(dataclasses_replace(chat_reply("late"), 1.0), chat_reply("on time"))) as server:
        with OpenAIBackend(fast_config(server.url, timeout_s=0.3)) as backend:
            (result,) = list(backend.generate(make_requests(1)))
    assert isinstance(result, Completion) and result.text == "on time"
    assert backend.stats["retry:server_error"] == 1 and backend.stats["attempts"] == 2


def test_exhausted_retries_give_server_error_with_last_status() -> None:
    with ScriptedServer(always(Reply(503, "model is overloaded"))) as server:
        (result,) = run(fast_config(server.url, max_retries=2), make_requests(1))
    assert isinstance(result, Failure) and result.reason == "server_error"
    assert "3 attempts" in result.detail and "HTTP 503" in result.detail and "model is overloaded" in result.detail
    assert len(server.chat_requests) == 3


def test_connection_refused_gives_server_error() -> None:
    (result,) = run(fast_config(f"http://127.0.0.1:{free_port()}", max_retries=1), make_requests(1))
    assert isinstance(result, Failure) and result.reason == "server_error" and "ConnectError" in result.detail


SCHEMA = {"type": "object", "properties": {"answer": {"enum": ["yes", "no"]}},
          "required": ["answer"], "additionalProperties": False}


def with_contract(request: Request, kind: str, source: str) -> Request:
    return dataclasses.replace(request, contract=Contract(kind, source))


def test_a_json_schema_contract_is_sent_as_response_format_json_schema() -> None:
    request = with_contract(make_requests(1)[0], "json_schema", json.dumps(SCHEMA))
    with ScriptedServer(always(chat_reply('{"answer": "yes"}'))) as server:
        (result,) = run(fast_config(server.url), [request])
    assert isinstance(result, Completion) and result.text == '{"answer": "yes"}'
    (seen,) = server.chat_requests
    assert seen.body["response_format"] == {
        "type": "json_schema", "json_schema": {"name": "reply", "schema": SCHEMA, "strict": True}}
    assert seen.body["seed"] == request.seed


def test_auto_schema_format_falls_back_to_json_object_when_refused() -> None:
    """llama-cpp-python's server answers 500 to type json_schema; auto resends as json_object + schema, for good."""
    def refuse_json_schema(seen, n):
        if seen.body["response_format"]["type"] == "json_schema":
            return Reply(500, '{"detail": [{"msg": "Input should be \'text\' or \'json_object\'"}]}')
        return chat_reply('{"answer": "no"}')

    requests = [with_contract(r, "json_schema", json.dumps(SCHEMA)) for r in make_requests(3)]
    with ScriptedServer(refuse_json_schema) as server, OpenAIBackend(fast_config(server.url, max_concurrency=1)) as b:
        results = list(b.generate(requests))
        stats = b.stats
    assert all(isinstance(r, Completion) for r in results)
    assert [s.body["response_format"]["type"] for s in server.chat_requests] == ["json_schema"] + ["json_object"] * 3
    assert server.chat_requests[-1].body["response_format"]["schema"] == SCHEMA
    assert stats["schema_format_fallback"] == 1


@pytest.mark.parametrize(("schema_format", "expected"), [
    ("json_object", {"type": "json_object", "schema": SCHEMA}), ("none", None)])
def test_schema_format_is_a_param(schema_format: str, expected: dict | None) -> None:
    request = with_contract(make_requests(1)[0], "json_schema", json.dumps(SCHEMA))
    with ScriptedServer(always(chat_reply('{"answer": "yes"}'))) as server:
        run(fast_config(server.url, schema_format=schema_format), [request])
    assert server.chat_requests[0].body.get("response_format") == expected


def test_regex_and_lark_contracts_are_checked_but_not_sent() -> None:
    requests = [with_contract(make_requests(2)[0], "regex", "(yes|no)"),
                with_contract(make_requests(2)[1], "lark", 'start: "a"+ "b"')]
    replies = {"p0": chat_reply("yes"), "p1": chat_reply("aab")}
    with ScriptedServer(lambda seen, n: replies["p0" if "asthma" in str(seen.body) else "p1"]) as server:
        results = run(fast_config(server.url), requests)
    assert sorted(r.text for r in results) == ["aab", "yes"]
    assert all("response_format" not in s.body and "grammar" not in s.body for s in server.chat_requests)


def test_a_reply_breaking_its_contract_is_asked_again_with_a_fresh_seed() -> None:
    request = with_contract(make_requests(1)[0], "regex", "(yes|no)")
    with ScriptedServer(script(chat_reply("maybe"), chat_reply("no"))) as server, \
            OpenAIBackend(fast_config(server.url)) as backend:
        (result,) = list(backend.generate([request]))
        stats = backend.stats
    assert isinstance(result, Completion) and result.text == "no"
    seeds = [s.body["seed"] for s in server.chat_requests]
    assert seeds == [request.seed, contract_retry_seed(request.seed, 1)] and seeds[0] != seeds[1]
    assert stats["contract_retries"] == 1 and stats["contract_violations"] == 1


def test_contract_retry_seeds_are_deterministic_and_distinct() -> None:
    seeds = [contract_retry_seed(12345, a) for a in range(1, 6)]
    assert seeds == [contract_retry_seed(12345, a) for a in range(1, 6)]
    assert len(set(seeds)) == 5 and all(0 <= s < 2**31 for s in seeds)


def test_a_contract_never_met_fails_as_contract_violated_after_the_bounded_attempts() -> None:
    request = with_contract(make_requests(1)[0], "json_schema", json.dumps(SCHEMA))
    with ScriptedServer(always(chat_reply('{"answer": "perhaps"}'))) as server, \
            OpenAIBackend(fast_config(server.url, contract_attempts=4)) as backend:
        (result,) = list(backend.generate([request]))
        stats = backend.stats
    assert isinstance(result, Failure) and result.reason == "contract_violated"
    assert "4 replies broke the json_schema contract" in result.detail and "attempt 4" in result.detail
    assert "'perhaps' is not one of ['yes', 'no']" in result.detail
    assert len(server.chat_requests) == 4 and len({s.body["seed"] for s in server.chat_requests}) == 4
    assert stats["contract_violated"] == 1 and stats["contract_retries"] == 3


def test_a_schema_that_is_not_a_schema_fails_as_contract_invalid() -> None:
    request = with_contract(make_requests(1)[0], "json_schema", '{"type": 7}')
    with ScriptedServer(always(chat_reply("{}"))) as server:
        (result,) = run(fast_config(server.url, schema_format="none"), [request])
    assert isinstance(result, Failure) and result.reason == "contract_invalid"


@pytest.mark.parametrize(("kind", "source", "text", "problem"), [
    ("regex", "(yes|no)", "yes", None),
    ("regex", "(yes|no)", "ye", "ends before the contract is complete"),
    ("regex", "(yes|no)", "yes!", "byte 3 (b'!') not allowed"),
    ("regex", r"\d{2}-[a-zé]+", "12-café", None),
    ("lark", 'start: "[[" LABEL ": " /[a-z ]+/ "]]"\nLABEL: "Drug" | "Dose"', "[[Drug: aspirin]]", None),
    ("lark", 'start: "[[" LABEL ": " /[a-z ]+/ "]]"\nLABEL: "Drug" | "Dose"', "[[Pill: aspirin]]", "not allowed"),
    ("json_schema", json.dumps(SCHEMA), ' {"answer": "no"}\n', None),
    ("json_schema", json.dumps(SCHEMA), '{"answer": "no", "x": 1}', "Additional properties"),
    ("json_schema", json.dumps(SCHEMA), '{"answer": "no"', "not JSON"),
])
def test_contract_violation(kind: str, source: str, text: str, problem: str | None) -> None:
    found = contract_violation(Contract(kind, source), text)
    assert found is None if problem is None else problem in found


@pytest.mark.parametrize(
    ("body", "reason"),
    [
        ('{"choices": [{"message": {"content": "trunc', "malformed_response"),
        ("<html>502 Bad Gateway</html>", "malformed_response"),
        ('{"object": "chat.completion"}', "malformed_response"),
        ('{"choices": []}', "empty_choice"),
        ('{"choices": [{"message": {"role": "assistant", "content": null}}]}', "empty_choice"),
    ],
)
def test_bad_replies_are_retried_then_failed(body: str, reason: str) -> None:
    with ScriptedServer(always(Reply(200, body))) as server:
        (result,) = run(fast_config(server.url, max_retries=2), make_requests(1))
    assert isinstance(result, Failure) and result.reason == reason and result.request_id == "p0"
    assert len(server.chat_requests) == 3


def test_a_bad_reply_then_a_good_one_completes() -> None:
    with ScriptedServer(script(Reply(200, '{"choices": []}'), chat_reply("second"))) as server:
        (result,) = run(fast_config(server.url), make_requests(1))
    assert isinstance(result, Completion) and result.text == "second"


@pytest.mark.parametrize(
    ("status", "message"),
    [
        (400, "This model's maximum context length is 2048 tokens. However, you requested 4100 tokens"),  # vLLM
        (400, '{"error": {"code": "context_length_exceeded", "message": "too long"}}'),  # OpenAI, llama.cpp
        (422, "Input validation error: `inputs` tokens + `max_new_tokens` must be <= 4096. Given: 4000"),  # TGI
    ],
)
def test_context_exceeded_is_prompt_too_long_without_retry(status: int, message: str) -> None:
    with ScriptedServer(always(Reply(status, message))) as server:
        (result,) = run(fast_config(server.url), make_requests(1))
    assert isinstance(result, Failure) and result.reason == "prompt_too_long"
    assert str(status) in result.detail and len(server.chat_requests) == 1


def test_other_400_is_bad_request_without_retry() -> None:
    with ScriptedServer(always(Reply(400, '{"error": "top_p must be in (0, 1]"}'))) as server:
        (result,) = run(fast_config(server.url), make_requests(1))
    assert isinstance(result, Failure) and result.reason == "bad_request" and "top_p" in result.detail
    assert len(server.chat_requests) == 1


def test_401_stops_the_run() -> None:
    with ScriptedServer(always(Reply(401, "invalid api key"))) as server:
        with pytest.raises(OpenAIBackendError, match=r"HTTP 401 .*invalid api key.*api_key_env"):
            run(fast_config(server.url), make_requests(3))


# ---------------------------------------------------------------- key, config, identity


def test_api_key_is_sent_as_bearer_from_the_env(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("CLINSYNTH_TEST_KEY", "s3cret")
    with ScriptedServer(always(chat_reply())) as server:
        run(fast_config(server.url, api_key_env="CLINSYNTH_TEST_KEY"), make_requests(1))
        run(fast_config(server.url), make_requests(1))
    with_key, without_key = server.chat_requests
    assert with_key.headers["Authorization"] == "Bearer s3cret"
    assert "Authorization" not in without_key.headers


def test_missing_key_env_var_is_named(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv("CLINSYNTH_TEST_KEY", raising=False)
    with pytest.raises(ConfigError, match=r"'CLINSYNTH_TEST_KEY' \(named by api_key_env\) is not set; export"):
        OpenAIBackend(fast_config("http://127.0.0.1:1", api_key_env="CLINSYNTH_TEST_KEY"))


@pytest.mark.parametrize(
    ("overrides", "message"),
    [
        ({"base_urls": []}, "base_urls is empty"),
        ({"base_urls": ["gpu1:8000"]}, r"'gpu1:8000' is not an http\(s\) URL"),
        ({"max_concurrency": 0}, "max_concurrency must be > 0"),
        ({"max_retries": -1}, "max_retries must be >= 0"),
        ({"model": ""}, "model is empty"),
        ({"schema_format": "grammar"}, r"schema_format 'grammar': expected one of auto \| json_schema \| json_object"),
        ({"contract_attempts": 0}, "contract_attempts must be >= 1, got 0"),
    ],
)
def test_config_is_validated(overrides: dict, message: str) -> None:
    with pytest.raises(ConfigError, match=message):
        OpenAIConfig(**{"base_urls": ["http://h:1"], "model": "m", **overrides})


def test_identity_uses_the_served_name_and_weights_facts() -> None:
    routes = {"/v1/models": models_reply("test-model", root="/models/Qwen2.5-7B-Instruct", max_model_len=32768)}
    with ScriptedServer(always(chat_reply()), routes) as a, ScriptedServer(always(chat_reply()), routes) as b:
        with (
            OpenAIBackend(fast_config(a.url)) as one,
            OpenAIBackend(fast_config(b.url, a.url)) as two,
            OpenAIBackend(fast_config(a.url, extra_body={"top_k": 5}, identity_tag="rev-a09a354")) as tagged,
        ):
            assert one.identity == two.identity == "openai:test-model|root=/models/Qwen2.5-7B-Instruct"
            assert one.context_tokens == 32768
            assert tagged.identity.startswith(one.identity + "|extra=") and tagged.identity.endswith("|tag=rev-a09a354")


def test_identity_takes_tgi_model_sha_from_info() -> None:
    routes = {"/v1/models": models_reply("tgi"), "/info": Reply(200, '{"model_id": "m", "model_sha": "e985a63c"}')}
    with ScriptedServer(always(chat_reply()), routes) as server:
        with OpenAIBackend(fast_config(server.url, model="tgi")) as backend:
            assert backend.identity == "openai:tgi|sha=e985a63c"


def test_identity_without_a_model_list_is_the_name() -> None:
    with ScriptedServer(always(chat_reply()), routes={}) as server:
        with OpenAIBackend(fast_config(server.url, model="gateway-model")) as backend:
            assert backend.identity == "openai:gateway-model"


def test_identity_needs_a_reachable_server() -> None:
    with OpenAIBackend(fast_config(f"http://127.0.0.1:{free_port()}", max_retries=1)) as backend:
        with pytest.raises(OpenAIBackendError, match=r"/v1/models: no answer after 2 attempts; last: ConnectError"):
            _ = backend.identity


def test_identity_rejects_a_model_the_server_does_not_serve() -> None:
    with ScriptedServer(always(chat_reply()), {"/v1/models": models_reply("llama-3-8b", "qwen-7b")}) as server:
        expected = r"does not serve model 'lama-3-8b'; it serves \['llama-3-8b', 'qwen-7b'\]; set model to one"
        with OpenAIBackend(fast_config(server.url, model="lama-3-8b")) as backend:
            with pytest.raises(OpenAIBackendError, match=expected):
                _ = backend.identity


# ---------------------------------------------------------------- a real llama.cpp server (slow)


def require_llama_cpp() -> None:
    if importlib.util.find_spec("llama_cpp") is None:
        pytest.fail("llama-cpp-python is not installed; run `make install-test` (scripts/install_test_deps.sh)")


@pytest.fixture(scope="module")
def llama_server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[LlamaServer]:
    require_llama_cpp()
    server = LlamaServer(free_port(), tmp_path_factory.mktemp("llama") / "server.log")
    server.start()
    yield server
    server.stop()


def llama_config(url: str, **overrides: object) -> OpenAIConfig:
    settings = dict(model=LlamaServer.alias, max_concurrency=1, timeout_s=60.0, max_retries=30,
                    backoff_initial_s=0.1, backoff_max_s=1.0)  # fmt: skip
    return OpenAIConfig(base_urls=[url], **{**settings, **overrides})


REAL_REQUESTS = make_requests(5, max_new_tokens=12, temperature=0.9)


@pytest.fixture(scope="module")
def reference_texts(llama_server: LlamaServer) -> dict[str, str]:
    """The replies to REAL_REQUESTS one at a time: what every other run must reproduce."""
    results = run(llama_config(llama_server.url), REAL_REQUESTS)
    assert all(isinstance(r, Completion) for r in results), results
    return {r.request_id: r.text for r in results}


@pytest.mark.slow
def test_real_server_seeded_requests_repeat_alone_and_concurrently(
    llama_server: LlamaServer, reference_texts: dict[str, str]
) -> None:
    with OpenAIBackend(llama_config(llama_server.url, max_concurrency=4)) as backend:
        results = list(backend.generate(REAL_REQUESTS))
        assert backend.identity == "openai:smollm2"
    assert {r.request_id: r.text for r in results} == reference_texts
    assert len(set(reference_texts.values())) > 1  # different prompts and seeds differ
    for r in results:
        assert isinstance(r, Completion) and r.finish_reason in {"stop", "length"}
        assert r.n_prompt_tokens > 10 and 0 < r.n_completion_tokens <= 12


@pytest.mark.slow
def test_real_server_context_exceeded_is_prompt_too_long(llama_server: LlamaServer) -> None:
    (long,) = make_requests(1)
    long = Request("long", (Message("user", "fever and cough " * 1500),), 1, long.sampling)
    (result,) = run(llama_config(llama_server.url), [long])
    assert isinstance(result, Failure) and result.reason == "prompt_too_long", result


@pytest.mark.slow
def test_real_server_restart_mid_run_is_survived(
    llama_server: LlamaServer, reference_texts: dict[str, str], tmp_path: Path
) -> None:
    server = LlamaServer(free_port(), tmp_path / "restarted.log")
    server.start()
    restarted = threading.Event()

    def restart() -> None:
        server.stop()
        time.sleep(0.5)
        server.start()
        restarted.set()

    backend = OpenAIBackend(llama_config(server.url, max_concurrency=2))
    results, restarter = [], threading.Thread(target=restart)
    try:  # kill the server after two replies, three still to come
        for result in backend.generate(REAL_REQUESTS):
            results.append(result)
            if len(results) == 2:
                restarter.start()
        restarter.join()
    finally:
        backend.close()
        server.stop()
    assert restarted.is_set()
    assert {r.request_id: r.text for r in results if isinstance(r, Completion)} == reference_texts
    assert sum(n for key, n in backend.stats.items() if key.startswith("retry:")) >= 1


TRIAGE_SCHEMA = {
    "type": "object",
    "properties": {"diagnosis": {"type": "string", "minLength": 2, "maxLength": 24},
                   "urgent": {"type": "boolean"}},
    "required": ["diagnosis", "urgent"], "additionalProperties": False,
}  # fmt: skip


def triage_requests(n: int, schema: dict, max_new_tokens: int) -> list[Request]:
    return [with_contract(r, "json_schema", json.dumps(schema, sort_keys=True, separators=(",", ":")))
            for r in make_requests(n, max_new_tokens=max_new_tokens, temperature=0.9, base_seed=31)]


@pytest.mark.slow
def test_real_server_json_schema_contract_every_reply_validates(llama_server: LlamaServer, tmp_path: Path) -> None:
    """Over 6 seeds, every reply is JSON that validates against the schema; it was decoded under it, not retried."""
    requests = triage_requests(6, TRIAGE_SCHEMA, max_new_tokens=48)
    with OpenAIBackend(llama_config(llama_server.url, max_concurrency=2)) as backend, \
            GenerationCache(tmp_path / "c.sqlite") as cache:
        outcomes = list(run_requests(requests, backend, cache))
        stats = backend.stats
        cached = cache.keys()
    assert all(isinstance(o.result, Completion) for o in outcomes), [o.result for o in outcomes]
    for o in outcomes:
        reply = json.loads(o.result.text)
        assert set(reply) == {"diagnosis", "urgent"} and isinstance(reply["urgent"], bool), o.result.text
    assert cached == {o.key for o in outcomes}
    assert stats.get("schema_format_fallback", 0) >= 1  # llama-cpp-python refuses type json_schema; json_object is it
    assert stats.get("contract_violations", 0) == 0, stats  # the server decoded under the schema


@pytest.mark.slow
def test_real_server_unmeetable_contract_is_contract_violated_and_not_cached(
    llama_server: LlamaServer, tmp_path: Path
) -> None:
    """A regex (not sent: decoded freely) the model won't write in 6 tokens: 3 fresh seeds, then contract_violated."""
    requests = [with_contract(r, "regex", r"ICD-10: [A-Z]\d{2}\.\d; severity [1-5]/5; plan: [a-z ]{40,}")
                for r in make_requests(2, max_new_tokens=6)]
    with OpenAIBackend(llama_config(llama_server.url, contract_attempts=3)) as backend, \
            GenerationCache(tmp_path / "c.sqlite") as cache:
        outcomes = list(run_requests(requests, backend, cache))
        stats = backend.stats
        cached = cache.keys()
    for o in outcomes:
        assert isinstance(o.result, Failure) and o.result.reason == "contract_violated", o.result
        assert "3 replies broke the regex contract" in o.result.detail and "attempt 3 (seed" in o.result.detail
    assert cached == set()
    assert stats["contract_violated"] == 2 and stats["contract_retries"] == 4 and stats["contract_violations"] == 6

