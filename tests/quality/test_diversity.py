import math
import random

import pytest

from clinsynth.quality.diversity import distinct_n, measure_diversity, self_bleu, vocabulary_overlap
from tests.quality.conftest import prose


def test_distinct_n_hand_computed():
    corpus = [["a", "b", "a"], ["a", "b"]]
    assert distinct_n(corpus, 1) == pytest.approx(2 / 5)
    assert distinct_n(corpus, 2) == pytest.approx(2 / 3)  # (a b), (b a), (a b)
    assert distinct_n([["x"]], 2) == 0.0


def test_self_bleu_of_copies_is_one_and_of_disjoint_texts_is_zero():
    text = "the patient was seen today for a cough and fever"
    assert self_bleu([text, text, text]) == pytest.approx(1.0)
    assert self_bleu(["alpha beta gamma delta", "one two three four"]) == 0.0
    assert self_bleu([text]) == 0.0


def test_self_bleu_hand_computed_with_smoothing_and_brevity_penalty():
    # hyp "a b c d" vs ref "a b c e": p1 = 3/4, p2 = 2/3, p3 = 1/2, p4 = 0 -> 0.1 (method 1); lengths equal.
    expected = math.exp((math.log(3 / 4) + math.log(2 / 3) + math.log(1 / 2) + math.log(0.1 / 1)) / 4)
    assert self_bleu(["a b c d", "a b c e"]) == pytest.approx(expected)
    # hyp "a b" vs ref "a b c d": p = 1, 1, 0.1/1 (no trigram: 0/0 counts as 0.1/1), 0.1/1; BP = exp(1 - 4/2)
    short = math.exp(1 - 2) * math.exp((0 + 0 + math.log(0.1) + math.log(0.1)) / 4)
    long = math.exp((math.log(2 / 4) + math.log(1 / 3) + math.log(0.1 / 2) + math.log(0.1 / 1)) / 4)
    assert self_bleu(["a b", "a b c d"]) == pytest.approx((short + long) / 2)


def test_repetitive_corpus_scores_worse_than_a_varied_one():
    rng = random.Random(0)
    varied = [prose(rng, 60) for _ in range(40)]
    template = prose(rng, 60)
    repetitive = [template.replace("w1 ", f"w{i} ", 1) for i in range(40)]
    a = measure_diversity(varied, [], sample=20, seed=1)
    b = measure_diversity(repetitive, [], sample=20, seed=1)
    assert a["distinct_2"] > b["distinct_2"] and a["self_bleu"] < b["self_bleu"] and b["self_bleu"] > 0.8
    assert a["self_bleu_sample"] == 20
    assert measure_diversity(varied, [], sample=20, seed=1) == a  # seeded sample


def test_vocabulary_overlap_counts_words_not_punctuation():
    v = vocabulary_overlap([["fever", ",", "cough", "xyzzy"]], [["fever", "cough", "rash", "."]])
    assert v == {"synthetic_vocab": 3, "real_vocab": 3, "vocab_overlap": pytest.approx(2 / 3),
                 "real_vocab_coverage": pytest.approx(2 / 3)}


def test_real_baseline_is_token_matched_and_relative_figures_compare_to_it():
    rng = random.Random(3)
    texts = [prose(rng, 50) for _ in range(30)]
    same = measure_diversity(texts, texts, sample=30, seed=2)
    assert same["distinct_2_ratio"] == pytest.approx(1.0) and same["self_bleu_gap"] == pytest.approx(0.0)
    assert same["real"]["tokens"] == same["tokens"]
    repetitive = [texts[0]] * 30
    worse = measure_diversity(repetitive, texts, sample=30, seed=2)
    assert worse["distinct_2_ratio"] < 0.1 and worse["self_bleu_gap"] > 0.9
