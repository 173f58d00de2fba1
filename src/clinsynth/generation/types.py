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
from typing import Protocol, runtime_checkable

from clinsynth.records import CONTRACT_KINDS, Contract, ContractError, Message  # records a Prompt carries


@dataclasses.dataclass(frozen=True)
class SamplingParams:
    """Decoding settings; temperature 0 means greedy."""

    temperature: float = 0.7
    top_p: float = 0.95
    max_new_tokens: int = 128
    repetition_penalty: float = 1.0


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
