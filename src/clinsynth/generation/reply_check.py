"""Checking a finished reply against its :class:`~clinsynth.generation.types.Contract` (client side).

The openai backend cannot mask a remote server's logits, so it checks what comes back: a server may
ignore ``response_format`` or decode under a looser grammar. :func:`contract_violation` returns None for
a valid reply, else one line saying what is wrong.

- ``json_schema``: the reply parses as JSON (surrounding whitespace allowed) and validates against the
  schema (``jsonschema``, the schema's own ``$schema`` draft, Draft 2020-12 by default).
- ``regex`` / ``lark``: the reply's UTF-8 bytes, fed one byte at a time to an llguidance matcher over a
  256-byte tokenizer, leave it accepting. Same engine and syntax as decoding (generation/contracts.py),
  so a reply the transformers backend could write is exactly a reply that passes here.
"""

from __future__ import annotations

import functools
import json
from typing import Any

from clinsynth.generation.types import Contract, ContractError

_SNIPPET = 120


class _ByteVocab:
    """Token i < 256 is byte i; token 256 is EOS (what llguidance's TokenizerWrapper reads)."""

    eos_token_id = 256
    bos_token_id = None
    tokens = [bytes([i]) for i in range(256)] + [b"</s>"]
    special_token_ids = [256]

    def __call__(self, text: bytes | str) -> list[int]:
        return list(text if isinstance(text, bytes) else text.encode("utf-8"))


@functools.cache
def _byte_tokenizer() -> Any:
    from llguidance import LLTokenizer, TokenizerWrapper

    return LLTokenizer(TokenizerWrapper(_ByteVocab()), slices=[])


@functools.lru_cache(maxsize=256)
def _grammar(contract: Contract) -> str:
    from clinsynth.generation.contracts import grammar_of

    return grammar_of(contract)


@functools.lru_cache(maxsize=256)
def _schema_validator(source: str) -> Any:
    import jsonschema

    try:
        schema = json.loads(source)
    except ValueError as exc:
        raise ContractError(f"json_schema contract: source is not JSON ({exc})") from exc
    cls = jsonschema.validators.validator_for(schema, default=jsonschema.Draft202012Validator)
    try:
        cls.check_schema(schema)
    except jsonschema.SchemaError as exc:
        raise ContractError(f"json_schema contract: not a valid schema ({exc.message})") from exc
    return cls(schema)


def _first_line(text: str) -> str:
    return text.strip().splitlines()[0] if text.strip() else "rejected"


def _grammar_violation(contract: Contract, text: str) -> str | None:
    from llguidance import LLMatcher

    matcher = LLMatcher(_byte_tokenizer(), _grammar(contract), log_level=0)
    if matcher.is_error():
        raise ContractError(f"{contract.kind} contract does not compile: {_first_line(matcher.get_error())}")
    data = text.encode("utf-8")
    for offset, byte in enumerate(data):
        if not matcher.consume_token(byte):
            where = data[max(0, offset - 20):offset + 1].decode("utf-8", "replace")
            return f"{contract.kind}: byte {offset} ({bytes([byte])!r}) not allowed after ...{where!r}"
    if not matcher.is_accepting():
        return f"{contract.kind}: reply ends before the contract is complete (after {len(data)} bytes)"
    return None


def _schema_violation(contract: Contract, text: str) -> str | None:
    validator = _schema_validator(contract.source)
    try:
        value = json.loads(text)
    except ValueError as exc:
        return f"json_schema: reply is not JSON ({exc}): {text[:_SNIPPET]!r}"
    error = next(iter(validator.iter_errors(value)), None)
    if error is None:
        return None
    path = "/".join(str(p) for p in error.absolute_path) or "(root)"
    return f"json_schema: at {path}: {error.message[:_SNIPPET * 2]}"


def contract_violation(contract: Contract, text: str) -> str | None:
    """None when ``text`` satisfies ``contract``; else what is wrong, one line.

    Raises ContractError when the contract itself is unusable (bad schema, grammar that does not compile).
    """
    if contract.kind == "json_schema":
        return _schema_violation(contract, text)
    return _grammar_violation(contract, text)
