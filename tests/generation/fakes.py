"""A deterministic in-memory backend for engine tests (no model)."""

from __future__ import annotations

from collections.abc import Iterator, Sequence

from clinsynth.generation.types import Completion, Failure, Request


class EchoBackend:
    """Replies with a text derived from the request's last message and seed; logs what it generated."""

    def __init__(self, identity: str = "echo@0", fail_ids: Sequence[str] = (), reply: str | None = None) -> None:
        self._identity = identity
        self.fail_ids = set(fail_ids)
        self.reply = reply
        self.calls: list[str] = []

    @property
    def identity(self) -> str:
        return self._identity

    def generate(self, requests: Sequence[Request]) -> Iterator[Completion | Failure]:
        for request in reversed(list(requests)):  # any order is allowed
            self.calls.append(request.id)
            if request.id in self.fail_ids:
                yield Failure(request.id, "prompt_too_long", "prompt has 9999 tokens")
                continue
            text = self.reply if self.reply is not None else f"{request.messages[-1].content[:20]}|{request.seed}"
            yield Completion(request.id, text, "stop", len(request.messages[-1].content), len(text.split()))
