"""self-BLEU is the standard one (Zhu et al. 2018, Texygen): the mean of nltk's sentence BLEU-4 of each text
against all the others, smoothing method 1 (epsilon 0.1), on the project's tokens."""

import pytest
from nltk.translate.bleu_score import SmoothingFunction, sentence_bleu

from clinsynth.quality.diversity import self_bleu
from clinsynth.quality.leakage import tokenize

TEXTS = [
    "The patient has a mild cough today and no fever.",
    "The patient has a severe cough today, no fever.",
    "No fever reported; the cough is mild.",
    "Zebra quartz.",  # no unigram shared with the others: 0 in both
    "Cough today.",  # shorter than 4 tokens: the missing orders are smoothed
    "The patient has a mild cough today and no fever.",  # a copy: clipped against the most frequent reference
]


def nltk_self_bleu(texts, max_order=4, epsilon=0.1):
    toks = [tokenize(t) for t in texts]
    smoothing = SmoothingFunction(epsilon=epsilon).method1
    weights = (1 / max_order,) * max_order
    scores = [sentence_bleu(toks[:i] + toks[i + 1:], hyp, weights=weights, smoothing_function=smoothing)
              for i, hyp in enumerate(toks)]
    return sum(scores) / len(scores)


@pytest.mark.parametrize("texts", [TEXTS, TEXTS[:3], TEXTS[:2]])
@pytest.mark.parametrize("max_order", [2, 4])
def test_self_bleu_equals_nltk_sentence_bleu_with_method1(texts, max_order):
    assert self_bleu(texts, max_order=max_order) == pytest.approx(nltk_self_bleu(texts, max_order), abs=1e-12)
