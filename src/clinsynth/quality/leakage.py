"""Verbatim leakage of source notes into synthetic text, measured with a hashed n-gram index.

Tokens are lower-cased words and single punctuation marks. The index holds the 64-bit rolling
hashes of every token n-gram of the source notes (a sorted ``uint64`` array, so membership is one
``np.searchsorted`` over all n-grams of a synthetic text at once). Building it over 50k notes takes
seconds and it is queried without touching the notes again.

For a synthetic text:
  * ``overlap``      share of its n-grams found in the index;
  * ``longest_span`` the longest run of consecutive tokens whose overlapping n-grams are all in the
    index, in tokens. When the n-grams chain within one source note this is exactly the longest verbatim
    span shared with it; if a run stitches n-grams of different notes it is an upper bound, which errs on
    the side of privacy. Spans shorter than ``n`` tokens are not seen (reported as 0).
"""

from __future__ import annotations

import dataclasses
import re
from collections.abc import Iterable

import numpy as np

TOKEN = re.compile(r"\w+|[^\w\s]")
_MULT = np.uint64(0x9E3779B97F4A7C15)  # odd 64-bit multiplier (golden ratio)


def tokenize(text: str) -> list[str]:
    return TOKEN.findall(text.lower())


class _Vocabulary:
    """Token -> stable integer id (insertion order), shared by index and queries."""

    def __init__(self) -> None:
        self.ids: dict[str, int] = {}

    def encode(self, tokens: list[str], grow: bool) -> np.ndarray:
        ids = self.ids
        if grow:
            return np.fromiter((ids.setdefault(t, len(ids) + 1) for t in tokens), dtype=np.uint64, count=len(tokens))
        return np.fromiter((ids.get(t, 0) for t in tokens), dtype=np.uint64, count=len(tokens))


def ngram_hashes(ids: np.ndarray, n: int) -> np.ndarray:
    """Polynomial hash of each length-n window of ``ids``: shape (len(ids) - n + 1,), uint64 wrap-around."""
    if len(ids) < n:
        return np.empty(0, dtype=np.uint64)
    h = np.zeros(len(ids) - n + 1, dtype=np.uint64)
    with np.errstate(over="ignore"):
        for k in range(n):
            h = h * _MULT + ids[k : len(ids) - n + 1 + k]
    return h


@dataclasses.dataclass(frozen=True)
class Leakage:
    longest_span: int  # tokens
    overlap: float  # share of the text's n-grams found in the sources
    n_tokens: int


class NgramIndex:
    """Hashed n-gram index of source texts. ``n`` is the shortest span that counts as verbatim."""

    def __init__(self, n: int = 8) -> None:
        if n < 2:
            raise ValueError(f"n-gram size must be >= 2, got {n}")
        self.n = n
        self._vocab = _Vocabulary()
        self._hashes = np.empty(0, dtype=np.uint64)
        self.n_sources = 0

    def add(self, texts: Iterable[str]) -> "NgramIndex":
        parts = [self._hashes]
        for text in texts:
            parts.append(ngram_hashes(self._vocab.encode(tokenize(text), grow=True), self.n))
            self.n_sources += 1
        self._hashes = np.unique(np.concatenate(parts))
        return self

    def __len__(self) -> int:
        return len(self._hashes)

    def _present(self, hashes: np.ndarray) -> np.ndarray:
        if len(self._hashes) == 0 or len(hashes) == 0:
            return np.zeros(len(hashes), dtype=bool)
        pos = np.searchsorted(self._hashes, hashes)
        pos[pos == len(self._hashes)] = 0
        return self._hashes[pos] == hashes

    def measure(self, text: str) -> Leakage:
        tokens = tokenize(text)
        present = self._present(ngram_hashes(self._vocab.encode(tokens, grow=False), self.n))
        if not present.any():
            return Leakage(0, 0.0, len(tokens))
        # Longest run of consecutive present n-grams; a run of r n-grams covers r + n - 1 tokens.
        padded = np.concatenate(([0], present.astype(np.int8), [0]))
        edges = np.flatnonzero(np.diff(padded))
        longest_run = int((edges[1::2] - edges[::2]).max())
        return Leakage(longest_run + self.n - 1, float(present.mean()), len(tokens))
