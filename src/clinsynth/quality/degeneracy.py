"""Per-record degeneracy: chatter addressed to the user, code fences, repetition loops, another language.

:func:`screen_degenerate` takes one reply (and the text it was made from, when known) and returns a
:class:`Screened`: the text with what is safe to strip removed (a leading preamble line such as "Here is the
rewritten note:", a trailing sign-off such as "I hope this helps!", markdown code fences), the names of the
strips made (counted in the metrics), per-record figures, and a drop reason when the text cannot be saved:

- ``repetitive``: the share of repeated word n-grams, the longest repeated word span or the zlib
  compression ratio is above its limit (a model looping "Juan pedro pedro, Juan pedro pedro, ...");
- ``wrong_language``: the share of English function words is far below the source's (a cheap check that
  sees only languages that drop English function words; see docs/quality.md);
- ``chatter_only``: nothing is left once the preamble and sign-off are stripped.

Tokens are lower-cased word runs (``\\w+``); every figure is deterministic.
"""

from __future__ import annotations

import dataclasses
import re
import zlib

from clinsynth.params import Fraction, NonNegativeInt, PositiveFloat, PositiveInt

# A first line that talks to the user about the text rather than being the text.
PREAMBLE = re.compile(
    r"^\s*(?:(?:sure|certainly|of course|absolutely)\b[^\n]*|"
    r"(?:(?:here(?:'s| is| are)|below is|below are|the following is)\b[^\n]*[:!]|"
    r"i(?:'ve| have) (?:rewritten|rephrased|written|revised|created|generated)\b[^\n]*[:.!])|"
    # a line that only names the task: "Rephrasing:", "Rewritten note:", "Paraphrased version:"
    r"(?:rephras(?:ing|ed)|rewrit(?:ing|ten|e)|paraphras(?:ing|ed|e)|revised)"
    r"(?: (?:clinical )?(?:version|note|text|excerpt|note excerpt))?[ \t]*:)[ \t]*(?:\n|$)",
    re.IGNORECASE)
# A last paragraph addressed to the user.
SIGN_OFF = re.compile(
    r"(?:\n|^)\s*[^\n]*\b(?:i hope this helps|hope this helps|let me know|feel free to|is there anything else|"
    r"if you (?:need|have|would like|want)|happy to help)\b[^\n]*\s*$", re.IGNORECASE)
FENCE = re.compile(r"^\s*```[\w+-]*\s*$", re.MULTILINE)
WORD = re.compile(r"\w+")
# English function words: frequent in any English prose, clinical notes included.
ENGLISH_STOPWORDS = frozenset(
    "a an and are as at be been but by for from had has have he her his in is it its no not of on or she "
    "that the their there they this to was were which with without".split())


@dataclasses.dataclass(frozen=True)
class DegeneracyConfig:
    strip: bool = True  # strip a leading preamble line, a trailing sign-off and code fences (False: drop instead)
    ngram: PositiveInt = 3  # word n-gram size of the repeated-n-gram share
    max_repeated_ngram_share: Fraction | None = 0.5  # drop above: share of n-grams that repeat an earlier one
    max_repeated_span: NonNegativeInt | None = 40  # drop above: longest word span occurring twice
    max_compression_ratio: PositiveFloat | None = 4.0  # drop above: raw bytes / zlib bytes (texts of 200+ bytes)
    min_stopword_ratio: Fraction | None = 0.25  # drop below: output's English stopword share / the source's
    min_language_tokens: PositiveInt = 20  # texts (output and source) shorter than this are not language-checked


@dataclasses.dataclass(frozen=True)
class Screened:
    text: str  # the reply with the safe strips made
    strips: list[str]  # preamble | sign_off | code_fence, in the order made
    figures: dict[str, float]
    reason: str | None = None  # repetitive | wrong_language | chatter_only | preamble | sign_off | code_fence
    detail: str = ""


def tokens(text: str) -> list[str]:
    return WORD.findall(text.casefold())


def repeated_ngram_share(words: list[str], n: int) -> float:
    """Share of the text's word n-grams equal to an earlier one (0.0 for fewer than n words)."""
    grams = [tuple(words[i:i + n]) for i in range(len(words) - n + 1)]
    return 1 - len(set(grams)) / len(grams) if grams else 0.0


def longest_repeated_span(words: list[str]) -> int:
    """Length in words of the longest word sequence that occurs at least twice (occurrences may overlap)."""
    def repeats(length: int) -> bool:
        seen: set[tuple[str, ...]] = set()
        for i in range(len(words) - length + 1):
            gram = tuple(words[i:i + length])
            if gram in seen:
                return True
            seen.add(gram)
        return False

    low, high = 0, max(0, len(words) - 1)  # repeats() is monotone in length: binary search
    while low < high:
        mid = (low + high + 1) // 2
        low, high = (mid, high) if repeats(mid) else (low, mid - 1)
    return low


def compression_ratio(text: str) -> float:
    raw = text.encode("utf-8")
    return len(raw) / len(zlib.compress(raw, 9)) if raw else 1.0


def stopword_share(words: list[str]) -> float:
    return sum(w in ENGLISH_STOPWORDS for w in words) / len(words) if words else 0.0


def strip_chatter(text: str) -> tuple[str, list[str]]:
    """The text without code fences, a leading preamble line and a trailing sign-off; the strips made."""
    strips: list[str] = []
    if FENCE.search(text):
        text, strips = FENCE.sub("", text), ["code_fence"]
    if m := PREAMBLE.match(text):
        text, strips = text[m.end():], [*strips, "preamble"]
    if m := SIGN_OFF.search(text):
        text, strips = text[:m.start()], [*strips, "sign_off"]
    return text.strip(), strips


def screen_degenerate(text: str, source: str | None, cfg: DegeneracyConfig) -> Screened:
    """Strip what is safe to strip, measure the rest, and name the reason the record must go (if any)."""
    cleaned, strips = strip_chatter(text)
    if strips and not cfg.strip:
        return Screened(text, [], {}, strips[0], f"the reply holds a {strips[0].replace('_', ' ')} addressed to "
                                                 f"the user and postprocess.degeneracy.strip is false")
    if strips and not cleaned:
        return Screened(text, strips, {}, "chatter_only", f"nothing is left after stripping {', '.join(strips)}")
    words = tokens(cleaned)
    figures = {"repeated_ngram_share": repeated_ngram_share(words, cfg.ngram),
               "longest_repeated_span": float(longest_repeated_span(words)),
               "compression_ratio": compression_ratio(cleaned)}
    if cfg.max_repeated_ngram_share is not None and figures["repeated_ngram_share"] > cfg.max_repeated_ngram_share:
        return Screened(cleaned, strips, figures, "repetitive",
                        f"{figures['repeated_ngram_share']:.3f} of its {cfg.ngram}-grams repeat an earlier one "
                        f"> max_repeated_ngram_share {cfg.max_repeated_ngram_share}")
    if cfg.max_repeated_span is not None and figures["longest_repeated_span"] > cfg.max_repeated_span:
        return Screened(cleaned, strips, figures, "repetitive",
                        f"a {int(figures['longest_repeated_span'])}-word span occurs twice "
                        f"> max_repeated_span {cfg.max_repeated_span}")
    if (cfg.max_compression_ratio is not None and len(cleaned.encode()) >= 200
            and figures["compression_ratio"] > cfg.max_compression_ratio):
        return Screened(cleaned, strips, figures, "repetitive",
                        f"zlib compresses it {figures['compression_ratio']:.2f}x "
                        f"> max_compression_ratio {cfg.max_compression_ratio}")
    source_words = tokens(source or "")
    if (cfg.min_stopword_ratio is not None and len(words) >= cfg.min_language_tokens
            and len(source_words) >= cfg.min_language_tokens and stopword_share(source_words) > 0):
        ratio = stopword_share(words) / stopword_share(source_words)
        figures["stopword_ratio"] = ratio
        if ratio < cfg.min_stopword_ratio:
            return Screened(cleaned, strips, figures, "wrong_language",
                            f"English function words are {stopword_share(words):.3f} of its words vs "
                            f"{stopword_share(source_words):.3f} of the source's: ratio {ratio:.2f} "
                            f"< min_stopword_ratio {cfg.min_stopword_ratio}")
    return Screened(cleaned, strips, figures)
