import random

import pytest

from clinsynth.quality.leakage import NgramIndex, tokenize

SOURCE = ("The patient is a 54 year old man with long standing type 2 diabetes on metformin "
          "who presents with three days of productive cough and fever to 38.9 degrees.")


def test_tokenize_splits_words_and_punctuation():
    assert tokenize("Fever 38.9, cough!") == ["fever", "38", ".", "9", ",", "cough", "!"]


def test_exact_copy_is_fully_leaked():
    index = NgramIndex(n=5).add([SOURCE])
    leak = index.measure(SOURCE)
    assert leak.longest_span == len(tokenize(SOURCE)) and leak.overlap == 1.0


def test_longest_span_counts_tokens_of_the_copied_run():
    index = NgramIndex(n=4).add([SOURCE])
    copied = "type 2 diabetes on metformin who presents"  # 7 tokens, verbatim
    leak = index.measure(f"Completely new words here then {copied} and something else entirely")
    assert leak.longest_span == 7
    assert 0 < leak.overlap < 1


def test_spans_shorter_than_n_are_not_counted():
    index = NgramIndex(n=8).add([SOURCE])
    assert index.measure("a 54 year old man with a rash").longest_span == 0


def test_unrelated_text_has_no_leak():
    index = NgramIndex(n=5).add([SOURCE, "Another note about knee pain after a fall."])
    leak = index.measure("Shortness of breath on exertion relieved by rest, no chest pain reported today.")
    assert (leak.longest_span, leak.overlap) == (0, 0.0)


@pytest.mark.parametrize("seed", range(5))
def test_planted_30_token_copies_from_any_source_are_caught(seed):
    rng = random.Random(seed)
    words = [f"w{i}" for i in range(500)]
    sources = [" ".join(rng.choice(words) for _ in range(120)) for _ in range(50)]
    index = NgramIndex(n=8).add(sources)
    for _ in range(20):
        src = tokenize(rng.choice(sources))
        start = rng.randrange(0, len(src) - 30)
        planted = " ".join(src[start : start + 30])
        filler = " ".join(f"z{rng.randrange(10**6)}" for _ in range(40))
        assert index.measure(f"{filler} {planted} {filler}").longest_span >= 30


def test_index_needs_a_sensible_n():
    with pytest.raises(ValueError, match="n-gram size must be >= 2, got 1"):
        NgramIndex(n=1)
