"""Shared verbatim spans: the leakage tokenizer's tokens, n-gram runs, character spans, escaping."""

import pytest

from clinsynth.quality.leakage import tokenize
from clinsynth.report.highlight import highlight_html, shared_spans, shared_token_mask, token_spans


@pytest.mark.parametrize("text", ["BP 140/90, HbA1c 8.2% -- fine.", "Él tomó 5 mg; ¿bien?", "a\nb\tc  d", ""])
def test_tokens_are_the_leakage_tokens_with_offsets(text):
    spans = token_spans(text)
    assert [t for t, _, _ in spans] == tokenize(text)
    assert all(text[s:e].lower() == t for t, s, e in spans)


@pytest.mark.parametrize(("text", "other", "n", "mask"), [
    ("a b c d e", "x b c d y", 3, [False, True, True, True, False]),
    ("a b c d e", "x b c d y", 4, [False] * 5),                  # a 3-token run is shorter than n: not seen
    ("a b c x a b c", "a b c", 3, [True, True, True, False, True, True, True]),
    ("A B, C", "a b , c", 4, [True] * 4),                        # case and spacing ignored, punctuation a token
    ("a b", "a b", 3, [False, False]),                           # shorter than n
])
def test_shared_token_mask_marks_tokens_inside_shared_ngrams(text, other, n, mask):
    assert shared_token_mask(text, other, n) == mask


def test_runs_of_shared_tokens_become_one_character_span():
    text = "He was admitted for worsening dyspnea today."
    spans = shared_spans(text, "Admitted for  worsening DYSPNEA on exertion", 3)
    assert [text[s:e] for s, e in spans] == ["admitted for worsening dyspnea"]


def test_highlight_escapes_text_and_marks_and_keeps_original_case():
    source = 'plan: "extended release" <metformin> & diet'
    synthetic = 'Plan: "Extended release" <metformin> & <script>alert(1)</script>'
    out = highlight_html(synthetic, source, 4)
    assert out == ("<mark>Plan: &quot;Extended release&quot; &lt;metformin&gt; &amp;</mark> "
                   "&lt;script&gt;alert(1)&lt;/script&gt;")
    assert "<script>" not in out


def test_highlight_without_shared_spans_is_escaped_text():
    assert highlight_html("a < b & c", "nothing alike here", 2) == "a &lt; b &amp; c"


def test_limit_cuts_text_and_spans_and_says_how_much_is_left_out():
    out = highlight_html("x y z a b c d", "a b c d", 3, limit=9)
    assert out == 'x y z <mark>a b</mark><span class="note"> … (4 more characters)</span>'


def test_bad_n_is_rejected():
    with pytest.raises(ValueError, match="n-gram size must be >= 1, got 0"):
        shared_token_mask("a", "a", 0)
