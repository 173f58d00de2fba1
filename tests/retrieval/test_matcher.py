import pytest

from clinsynth.retrieval.matcher import EntityMatcher, MatcherConfig, contains_phrase, tokenize


def test_tokenize_marks_phrase_boundaries():
    assert tokenize("Essential (primary) hypertension") == ("essential", "|", "primary", "|", "hypertension")
    assert tokenize("- gingivitis (disorder)\n- bipolar") == ("gingivitis", "|", "disorder", "|", "bipolar")
    assert tokenize("0.4 ML adalimumab 100 MG/ML") == ("0", "4", "ml", "adalimumab", "100", "mg", "ml")
    assert tokenize("Cough. Fever") == ("cough", "|", "fever")


def test_leftmost_longest_and_overlapping(matcher):
    text = "history of essential hypertension and acute bronchitis"
    names = [m.name for m in matcher.find_mentions(text)]
    assert names == ["essential hypertension", "acute bronchitis"]
    overlapping = [m.name for m in matcher.find_mentions(text, overlapping=True)]
    assert overlapping == ["essential hypertension", "hypertension", "acute bronchitis", "bronchitis"]


def test_labels_win_over_synonyms(matcher):
    # "essential hypertension" is the MeSH label and an ICD-10-CM synonym: only the label holder is returned
    assert matcher.names[tokenize("essential hypertension")] == ("MESH:D000075222",)
    # "high blood pressure" is only a synonym; "HTN" is shorter than min_chars (4) and never indexed
    assert matcher.find_nodes("known high blood pressure") == ["HP:0000822"]
    assert matcher.find_nodes("known HTN") == []


def test_stop_names_short_names_and_boundaries():
    entries = [("A", "Disorder", True), ("B", "flu", True), ("C", "disorder bipolar", True), ("D", "Bipolar", True)]
    m = EntityMatcher.from_entries(entries, MatcherConfig(min_chars=4))
    assert tokenize("disorder") not in m.names and tokenize("flu") not in m.names
    assert m.find_nodes("migraine (disorder)\n- bipolar") == ["D"]  # never across a line break
    assert m.find_nodes("disorder bipolar") == ["C"]


def test_group_nodes_are_not_indexed(matcher):
    assert matcher.find_nodes("hypertensive diseases (i10-i1a)") == []


@pytest.mark.parametrize("tokens, phrase, expected", [
    (("a", "b", "c"), ("b", "c"), True), (("a", "bc"), ("b",), False), (("a",), (), False)])
def test_contains_phrase(tokens, phrase, expected):
    assert contains_phrase(tokens, phrase) is expected
