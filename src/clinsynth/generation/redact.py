"""Redact secrets from text that gets stored (rejection details, cached replies, error messages).

A server's error body may echo the request headers (``Authorization: Bearer sk-...``) and a URL may
carry ``?api_key=...``; ``*.rejections.jsonl`` is a DVC output that gets pushed, so every detail is
passed through :func:`redact_secrets` before it is recorded. Known secret values (the API key read
from the environment) are replaced wherever they appear; the patterns catch the usual shapes of
credentials a backend did not know about.
"""

from __future__ import annotations

import re
from collections.abc import Iterable

REDACTED = "<redacted>"
MIN_SECRET_CHARS = 6  # shorter "secrets" would blank out ordinary words

# "Bearer sk-..." / "Basic dXNlcjpw..." anywhere (header lines, repr'd header dicts, JSON).
_SCHEME = re.compile(r"(?i)\b(bearer|basic)(\s+)[A-Za-z0-9._~+/=:-]{4,}")
# name=value / name: value / "name": "value" for credential-like names (query strings, headers, JSON).
_NAMED = re.compile(
    r"(?i)\b((?:x-)?api[-_]?key|access[-_]?token|refresh[-_]?token|id[-_]?token|token|secret|password|"
    r"client[-_]?secret|(?:proxy-)?authorization)"
    r"""(["']?\s*[:=]\s*["']?)(?!(?:bearer|basic|token)\s)(?!<redacted>)([^\s"'&,;}\]]+)"""
)


def redact_secrets(text: str, secrets: Iterable[str] = ()) -> str:
    """``text`` with each known secret and anything shaped like a credential replaced by ``<redacted>``."""
    for secret in secrets:
        if secret and len(secret) >= MIN_SECRET_CHARS and secret in text:
            text = text.replace(secret, REDACTED)
    text = _SCHEME.sub(lambda m: f"{m.group(1)}{m.group(2)}{REDACTED}", text)
    return _NAMED.sub(lambda m: f"{m.group(1)}{m.group(2)}{REDACTED}", text)
