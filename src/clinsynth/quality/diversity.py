"""Diversity of a synthetic corpus: distinct-n, self-BLEU on a seeded sample, vocabulary overlap with real notes.

All figures use the tokens of :func:`clinsynth.quality.leakage.tokenize` (lower-cased words and single
punctuation marks).

* ``distinct_n`` (Li et al., 2016): distinct n-grams / all n-grams over the whole corpus; 1.0 = no n-gram
  repeats anywhere.
* ``self_bleu`` (Zhu et al., 2018): mean sentence BLEU-4 of each sampled text against all the other
  sampled texts as references; 1.0 = every text is a copy of the others. Uniform weights, clipped counts
  against the most frequent reference, brevity penalty with the closest reference length (ties: shorter),
  and smoothing "method 1" of Chen & Cherry (2014) (a zero n-gram match count becomes ``epsilon``), which
  is what ``nltk``'s ``SmoothingFunction().method1`` does; a text with no unigram match scores 0.
* a baseline: the same figures on the real notes, token-matched (see :func:`measure_diversity`).
* vocabulary: ``vocab_overlap`` is the share of the synthetic vocabulary (word tokens) found in the real
  notes (low: invented words or garbage), ``real_vocab_coverage`` the share of the real vocabulary used.
"""

from __future__ import annotations

import math
import random
from collections import Counter
from collections.abc import Iterable, Sequence
from typing import Any

from clinsynth.quality.leakage import tokenize


def ngrams(tokens: Sequence[str], n: int) -> list[tuple[str, ...]]:
    return [tuple(tokens[i : i + n]) for i in range(len(tokens) - n + 1)]


def distinct_n(token_lists: Iterable[Sequence[str]], n: int) -> float:
    """Distinct n-grams over all n-grams of the corpus; 0.0 for a corpus with no n-gram."""
    seen: set[tuple[str, ...]] = set()
    total = 0
    for tokens in token_lists:
        grams = ngrams(tokens, n)
        total += len(grams)
        seen.update(grams)
    return len(seen) / total if total else 0.0


def _top_two(counts: list[Counter]) -> dict[tuple[str, ...], tuple[tuple[int, int], tuple[int, int]]]:
    """n-gram -> its two largest (count, text index) over texts; lets each text be clipped against all others."""
    top: dict[tuple[str, ...], tuple[tuple[int, int], tuple[int, int]]] = {}
    for j, counter in enumerate(counts):
        for gram, c in counter.items():
            first, second = top.get(gram, ((0, -1), (0, -1)))
            if c > first[0]:
                top[gram] = ((c, j), first)
            elif c > second[0]:
                top[gram] = (first, (c, j))
    return top


def self_bleu(texts: Sequence[str], max_order: int = 4, epsilon: float = 0.1) -> float:
    """Mean BLEU of each text against all the others (see module docstring); 0.0 for fewer than two texts.

    Runs in time linear in the total number of n-grams (each text is clipped against the others through
    the two largest counts of each n-gram), so a sample of thousands is cheap.
    """
    toks = [tokenize(t) for t in texts]
    if len(toks) < 2:
        return 0.0
    per_order = [[Counter(ngrams(t, n)) for t in toks] for n in range(1, max_order + 1)]
    tops = [_top_two(counts) for counts in per_order]
    lengths = [len(t) for t in toks]
    scores = []
    for i, hyp in enumerate(toks):
        log_sum, matched_any = 0.0, False
        for counts, top in zip(per_order, tops):
            matches = 0
            for gram, c in counts[i].items():
                first, second = top[gram]
                ref_max = first[0] if first[1] != i else second[0]
                matches += min(c, ref_max)
            total = max(1, sum(counts[i].values()))
            matched_any = matched_any or (counts is per_order[0] and matches > 0)
            log_sum += math.log((matches if matches else epsilon) / total)
        if not matched_any or not hyp:
            scores.append(0.0)
            continue
        others = lengths[:i] + lengths[i + 1 :]
        ref_len = min(others, key=lambda r: (abs(r - len(hyp)), r))
        brevity = 1.0 if len(hyp) > ref_len else math.exp(1 - ref_len / len(hyp))
        scores.append(brevity * math.exp(log_sum / max_order))
    return sum(scores) / len(scores)


def vocabulary_overlap(synthetic: Iterable[Sequence[str]], real: Iterable[Sequence[str]]) -> dict[str, Any]:
    """Word-token vocabularies (tokens with a letter or digit) of both corpora and their overlap."""
    v_syn = {t for tokens in synthetic for t in tokens if t[0].isalnum() or t[0] == "_"}
    v_real = {t for tokens in real for t in tokens if t[0].isalnum() or t[0] == "_"}
    common = len(v_syn & v_real)
    return {
        "synthetic_vocab": len(v_syn),
        "real_vocab": len(v_real),
        "vocab_overlap": common / len(v_syn) if v_syn else 0.0,
        "real_vocab_coverage": common / len(v_real) if v_real else 0.0,
    }


def token_matched_sample(texts: Sequence[str], n_tokens: int, rng: random.Random) -> list[list[str]]:
    """Token lists of ``texts`` in seeded random order until ``n_tokens`` tokens are reached (or all are used)."""
    order = list(range(len(texts)))
    rng.shuffle(order)
    picked, total = [], 0
    for i in order:
        if total >= n_tokens:
            break
        picked.append(tokenize(texts[i]))
        total += len(picked[-1])
    return picked


def measure_diversity(texts: Sequence[str], real_texts: Sequence[str], sample: int, seed: int,
                      max_order: int = 4) -> dict[str, Any]:
    """distinct-1/2 over all ``texts``, self-BLEU on a seeded sample of at most ``sample`` of them, vocabulary;
    and the same figures for the real notes as a baseline (``real``), on as many real tokens as the corpus has
    (distinct-n falls as a corpus grows, so only equal sizes compare) and a self-BLEU sample of the same size.
    ``distinct_2_ratio`` is synthetic / real (1.0: as diverse as the real notes); ``self_bleu_gap`` is
    synthetic - real (a difference: self-BLEU of diverse texts is near 0, where ratios are noise)."""
    token_lists = [tokenize(t) for t in texts]
    rng = random.Random(seed)
    picked = sorted(rng.sample(range(len(texts)), min(sample, len(texts))))
    synthetic = {"distinct_1": distinct_n(token_lists, 1), "distinct_2": distinct_n(token_lists, 2),
                 "self_bleu": self_bleu([texts[i] for i in picked], max_order=max_order)}
    real_tokens = token_matched_sample(real_texts, sum(len(t) for t in token_lists), rng)
    real_picked = sorted(rng.sample(range(len(real_texts)), min(len(picked), len(real_texts))))
    real = {"distinct_1": distinct_n(real_tokens, 1), "distinct_2": distinct_n(real_tokens, 2),
            "self_bleu": self_bleu([real_texts[i] for i in real_picked], max_order=max_order),
            "tokens": sum(len(t) for t in real_tokens)}
    relative = {"distinct_2_ratio": synthetic["distinct_2"] / real["distinct_2"] if real["distinct_2"] else None,
                "self_bleu_gap": synthetic["self_bleu"] - real["self_bleu"]}
    return {**synthetic, **relative, "self_bleu_sample": len(picked), "tokens": sum(len(t) for t in token_lists),
            "real": real, **vocabulary_overlap(token_lists, (tokenize(t) for t in real_texts))}
