"""Degeneracy screen: hand-written replies and the exact strips, figures and reasons they get."""

import pytest

from clinsynth.quality.degeneracy import (DegeneracyConfig, compression_ratio, longest_repeated_span,
                                          repeated_ngram_share, screen_degenerate, strip_chatter, tokens)

CFG = DegeneracyConfig()
SOURCE = ("Patient is a 72 year old non hispanic white male with a history of hypertriglyceridemia and "
          "gingivitis. He was seen in the clinic for a routine visit and his blood pressure was stable. "
          "The plan is to continue the current medication and to return in six months for follow up.")


def test_a_repeated_name_loop_is_dropped_as_repetitive():
    text = "Heteropelizia pedro is a non hispanic white male, 72 years old. " + "Juan pedro pedro, " * 30
    s = screen_degenerate(text, SOURCE, CFG)
    assert s.reason == "repetitive"
    assert s.figures["repeated_ngram_share"] == pytest.approx(85 / 99)
    assert s.figures["longest_repeated_span"] == 87
    assert s.detail == "0.859 of its 3-grams repeat an earlier one > max_repeated_ngram_share 0.5"


def test_a_short_loop_is_caught_by_the_longest_repeated_span():
    block = " ".join(f"w{i}" for i in range(45))
    s = screen_degenerate(f"{block} {block}", None, CFG)
    assert s.figures["longest_repeated_span"] == 45
    assert s.reason == "repetitive" and "45-word span occurs twice > max_repeated_span 40" in s.detail


def test_the_preamble_line_is_stripped_and_counted():
    text = ("Here is the rewritten clinical note excerpt with the requested edits and corrections:\n"
            + SOURCE)
    s = screen_degenerate(text, SOURCE, CFG)
    assert s.reason is None and s.strips == ["preamble"] and s.text == SOURCE


@pytest.mark.parametrize("label", ["Rephrasing:", "Rewritten note:", "Paraphrased version:", "Rewrite:"])
def test_a_line_that_only_names_the_task_is_a_preamble(label: str) -> None:
    # the demo's kept rephrase record 9aed0c21cbd5 (2026-12-03) opened with "Rephrasing:"
    assert strip_chatter(f"{label}\n{SOURCE}") == (SOURCE, ["preamble"])


def test_a_label_with_text_after_it_is_not_a_preamble() -> None:
    text = "Revised: 2018-01-29 medication review.\nHe denies fever."
    assert strip_chatter(text) == (text, [])


def test_fences_and_a_sign_off_are_stripped():
    text = f"Sure! Here you go.\n```text\n{SOURCE}\n```\n\nI hope this helps! Let me know if you need anything else."
    assert strip_chatter(text) == (SOURCE, ["code_fence", "preamble", "sign_off"])


def test_a_clinical_first_line_is_not_a_preamble():
    text = "Here is a 72 year old man with chest pain\nHe denies fever."
    assert strip_chatter(text) == (text, [])


def test_with_strip_off_the_chatter_is_a_drop_reason():
    s = screen_degenerate("Sure, here is the note:\n" + SOURCE, SOURCE, DegeneracyConfig(strip=False))
    assert s.reason == "preamble" and s.text.startswith("Sure")


def test_nothing_but_chatter_is_dropped():
    assert screen_degenerate("Sure! I hope this helps.", None, CFG).reason == "chatter_only"


def test_another_language_is_dropped_against_an_english_source():
    text = ("El paciente es un varón de 72 años con antecedentes de hipertrigliceridemia y gingivitis. "
            "Fue visto en la clínica para una visita de rutina y su presión arterial estaba estable.")
    s = screen_degenerate(text, SOURCE, CFG)
    assert s.reason == "wrong_language"
    assert s.figures["stopword_ratio"] < CFG.min_stopword_ratio


def test_an_english_rewrite_passes_with_its_figures():
    s = screen_degenerate(SOURCE.replace("routine visit", "check up"), SOURCE, CFG)
    assert s.reason is None and s.strips == []
    assert s.figures["repeated_ngram_share"] == 0.0 and 0.8 < s.figures["stopword_ratio"] < 1.2


@pytest.mark.parametrize("words, n, share", [([], 3, 0.0), (["a", "b", "a", "b", "a"], 2, 0.5),
                                             (["a", "b", "c"], 3, 0.0)])
def test_repeated_ngram_share_by_hand(words, n, share):
    assert repeated_ngram_share(words, n) == pytest.approx(share)


def test_longest_repeated_span_and_compression_by_hand():
    assert longest_repeated_span(tokens("a b c x a b c y")) == 3
    assert longest_repeated_span(tokens("a b c")) == 0
    assert compression_ratio("ab" * 500) > 20 > compression_ratio(SOURCE)
