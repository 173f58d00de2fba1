"""Verbatim spans shared by a synthetic text and its source, marked for the report.

Tokens are those of the leakage gate (:func:`clinsynth.quality.leakage.tokenize`: lower-cased words and
single punctuation marks), found with their character offsets in the original text. A token of ``text`` is
*shared* when it belongs to at least one run of ``n`` consecutive tokens that also occurs, token for token,
in ``other`` — the same spans the leakage gate sees (spans shorter than ``n`` tokens are not marked).
Consecutive shared tokens form one span, whitespace between them included.
"""

from __future__ import annotations

import html

from clinsynth.quality.leakage import TOKEN


def token_spans(text: str) -> list[tuple[str, int, int]]:
    """``(token, start, end)`` per token; ``[t for t, _, _ in token_spans(x)] == tokenize(x)`` for ordinary text.

    Matched on the original text (then lower-cased) so offsets index ``text``; the token pattern does not
    depend on case, so this differs from ``tokenize`` only where lower-casing changes a character's class.
    """
    return [(m.group().lower(), m.start(), m.end()) for m in TOKEN.finditer(text)]


def shared_token_mask(text: str, other: str, n: int) -> list[bool]:
    """One flag per token of ``text``: does it lie in an ``n``-gram that also occurs in ``other``?"""
    if n < 1:
        raise ValueError(f"n-gram size must be >= 1, got {n}")
    tokens = [t for t, _, _ in token_spans(text)]
    other_tokens = [t for t, _, _ in token_spans(other)]
    seen = {tuple(other_tokens[i : i + n]) for i in range(len(other_tokens) - n + 1)}
    mask = [False] * len(tokens)
    for i in range(len(tokens) - n + 1):
        if tuple(tokens[i : i + n]) in seen:
            mask[i : i + n] = [True] * n
    return mask


def shared_spans(text: str, other: str, n: int) -> list[tuple[int, int]]:
    """Character spans ``[start, end)`` of ``text`` made of consecutive shared tokens (see the module doc)."""
    spans: list[tuple[int, int]] = []
    previous = False
    for (_, start, end), is_shared in zip(token_spans(text), shared_token_mask(text, other, n)):
        if is_shared and previous:
            spans[-1] = (spans[-1][0], end)
        elif is_shared:
            spans.append((start, end))
        previous = is_shared
    return spans


def highlight_html(text: str, other: str, n: int, tag: str = "mark", limit: int | None = None) -> str:
    """``text`` HTML-escaped, with each span shared with ``other`` wrapped in ``<tag>...</tag>``.

    With ``limit``, only the first ``limit`` characters are shown (spans computed on the whole text, then cut)
    and a note says how many were left out.
    """
    shown = text if limit is None else text[:limit]
    out, cursor = [], 0
    for start, end in shared_spans(text, other, n):
        if start >= len(shown):
            break
        end = min(end, len(shown))
        out.append(html.escape(shown[cursor:start]))
        out.append(f"<{tag}>{html.escape(shown[start:end])}</{tag}>")
        cursor = end
    out.append(html.escape(shown[cursor:]))
    if len(shown) < len(text):
        out.append(f'<span class="note"> … ({len(text) - len(shown)} more characters)</span>')
    return "".join(out)
