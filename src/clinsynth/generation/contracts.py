"""Reply contracts enforced while decoding: one llguidance matcher per constrained row.

A :class:`~clinsynth.generation.types.Contract` (regex, Lark grammar or JSON schema) compiles to an
llguidance grammar; a :class:`RowMatcher` holds that row's parser state. Before the row samples,
:meth:`RowMatcher.mask` sets every logit the grammar does not allow next to ``-inf``; after it
samples, :meth:`RowMatcher.advance` feeds the token in. The mask depends on this row's grammar and
its own tokens only, so a request's text stays independent of its batch. Rows without a contract
have no matcher and pay nothing.

llguidance: one matcher reads all three contract kinds (regex, Lark, JSON schema), and its masks are
computed lazily per token over SmolLM2's 49k vocabulary (cost measured in ``bench/contract_cost.py``,
figures in docs/generation.md). xgrammar and outlines-core were not measured against it. It is
imported lazily: a run without contracts never loads it.
"""

from __future__ import annotations

from collections.abc import Iterable
from typing import Any

import numpy as np
import torch

from clinsynth.generation.types import Contract, ContractError


def grammar_of(contract: Contract) -> str:
    """The llguidance grammar string of ``contract`` (not yet checked: :func:`matcher_factory` does)."""
    from llguidance import LLMatcher

    if contract.kind == "regex":
        return LLMatcher.grammar_from_regex(contract.source)
    if contract.kind == "lark":
        return LLMatcher.grammar_from_lark(contract.source)
    return LLMatcher.grammar_from_json_schema(contract.source)


class RowMatcher:
    """One row's grammar state: the allowed-token mask before each step, the sampled token after it."""

    def __init__(self, matcher: Any, n_vocab: int) -> None:
        self.matcher = matcher
        self.n_vocab = n_vocab

    def mask(self, logits: torch.Tensor) -> torch.Tensor:
        """``logits`` ``[V]`` (float32) with every token the grammar forbids next set to ``-inf`` (a copy)."""
        bits = np.frombuffer(self.matcher.compute_bitmask(), dtype=np.uint8)  # [ceil(V/32)*4], bit i = token i
        allowed = torch.from_numpy(np.unpackbits(bits, bitorder="little")[:logits.numel()].astype(np.bool_))
        if not bool(allowed.any()):
            raise ContractError(f"reply contract allows no token: {self.matcher.get_error() or 'empty mask'}")
        return logits.masked_fill(~allowed, float("-inf"))

    def advance(self, token: int) -> bool:
        """Feed the sampled ``token``; True when the grammar is complete (nothing but EOS may follow)."""
        if not self.matcher.consume_token(token):
            raise ContractError(f"token {token} refused by the reply contract: {self.matcher.get_error()}")
        return bool(self.matcher.is_stopped())


class MatcherFactory:
    """Builds a :class:`RowMatcher` per contract over one tokenizer (the llguidance tokenizer costs ~0.3 s: once)."""

    def __init__(self, hf_tokenizer: Any, n_vocab: int, eos_ids: Iterable[int]) -> None:
        import llguidance.hf

        self.n_vocab = n_vocab
        self.tokenizer = llguidance.hf.from_tokenizer(hf_tokenizer, n_vocab=n_vocab, eos_token=sorted(eos_ids))

    def __call__(self, contract: Contract) -> RowMatcher:
        """A fresh matcher for ``contract``; ContractError with the engine's message when it does not compile."""
        from llguidance import LLMatcher

        try:
            matcher = LLMatcher(self.tokenizer, grammar_of(contract), log_level=0)
        except ValueError as exc:  # grammar_from_json_schema on a source that is not JSON
            raise ContractError(f"{contract.kind} contract does not compile: {exc}") from exc
        if matcher.is_error():
            raise ContractError(f"{contract.kind} contract does not compile: {matcher.get_error()}")
        return RowMatcher(matcher, self.n_vocab)
