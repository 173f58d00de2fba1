"""The contract between the generation engine and its backends.

A recipe turns its inputs into :class:`Request` records (rendered chat messages
plus a per-request seed); a backend turns requests into :class:`Completion` or
:class:`Failure` records, yielding each one as soon as it is ready so the engine
can commit it to the cache at once (a killed run loses at most what was in flight).
"""

from __future__ import annotations

import dataclasses
import hashlib
from collections.abc import Iterator, Sequence
from typing import Any, Protocol, runtime_checkable


@dataclasses.dataclass(frozen=True)
class Message:
    role: str  # "system" | "user" | "assistant"
    content: str


@dataclasses.dataclass(frozen=True)
class SamplingParams:
    """Decoding settings; temperature 0 means greedy."""

    temperature: float = 0.7
    top_p: float = 0.95
    max_new_tokens: int = 128
    repetition_penalty: float = 1.0


CONTRACT_KINDS = ("regex", "lark", "json_schema")


class ContractError(ValueError):
    """A reply contract that is not one of :data:`CONTRACT_KINDS` or that the grammar engine refuses."""


@dataclasses.dataclass(frozen=True)
class Contract:
    """What a valid reply looks like, enforced while decoding (docs/generation.md: reply contracts).

    ``kind``: ``regex`` (the whole reply matches ``source``), ``lark`` (a Lark grammar, start rule
    ``start``, as llguidance reads it) or ``json_schema`` (``source`` is the schema as canonical JSON).
    A contract is part of the cache key (only when set: a request without one keys as before).
    """

    kind: str
    source: str

    def __post_init__(self) -> None:
        if self.kind not in CONTRACT_KINDS:
            raise ContractError(f"contract kind {self.kind!r}: expected one of {' | '.join(CONTRACT_KINDS)}")
        if not isinstance(self.source, str) or not self.source:
            raise ContractError(f"contract ({self.kind}): source must be a non-empty string, got {self.source!r}")

    def to_dict(self) -> dict[str, str]:
        return {"kind": self.kind, "source": self.source}

    @classmethod
    def from_dict(cls, data: dict[str, Any] | None) -> Contract | None:
        """A contract read from a prompt record (``null`` or absent: none)."""
        if data is None:
            return None
        if not isinstance(data, dict) or set(data) != {"kind", "source"}:
            raise ContractError(f"prompt contract {data!r}: expected {{'kind': ..., 'source': ...}} or null")
        return cls(data["kind"], data["source"])


@dataclasses.dataclass(frozen=True)
class Request:
    id: str  # the prompt id; stable across runs
    messages: tuple[Message, ...]
    seed: int  # derived from (base seed, prompt id) by request_seed()
    sampling: SamplingParams
    contract: Contract | None = None  # the reply's regex / grammar / JSON schema, enforced while decoding


@dataclasses.dataclass(frozen=True)
class Completion:
    request_id: str
    text: str
    finish_reason: str  # "stop" | "length"
    n_prompt_tokens: int
    n_completion_tokens: int


@dataclasses.dataclass(frozen=True)
class Failure:
    """A request the backend could not answer; recorded as a Rejection, never cached."""

    request_id: str
    reason: str  # enumerated: "prompt_too_long", "malformed_response", "empty_choice", "server_error", ...
    detail: str


@runtime_checkable
class Backend(Protocol):
    @property
    def identity(self) -> str:
        """Model identity for cache keys: name + weights sha256 (+ adapter sha256)."""
        ...

    def generate(self, requests: Sequence[Request]) -> Iterator[Completion | Failure]:
        """Yield one Completion or Failure per request, in any order, as each finishes."""
        ...


def request_seed(base_seed: int, prompt_id: str) -> int:
    """A 31-bit seed that depends only on the base seed and the prompt id (not on batch or worker)."""
    digest = hashlib.sha256(f"{base_seed}:{prompt_id}".encode()).digest()
    return int.from_bytes(digest[:4], "big") & 0x7FFFFFFF
