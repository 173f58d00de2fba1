import pytest

from clinsynth.fhir.relevance import Pair, best_threshold, overlap_score, prf, relevance_report


@pytest.mark.parametrize("labels, predicted, expected", [
    ([1, 1, 0, 0], [1, 0, 1, 0], {"precision": 0.5, "recall": 0.5, "f1": 0.5, "tp": 1, "fp": 1, "fn": 1}),
    ([1, 1, 1, 0], [1, 1, 0, 0], {"precision": 1.0, "recall": 0.6667, "f1": 0.8, "tp": 2, "fp": 0, "fn": 1}),
    ([0, 0], [0, 0], {"precision": 0.0, "recall": 0.0, "f1": 0.0, "tp": 0, "fp": 0, "fn": 0}),
])
def test_prf(labels, predicted, expected):
    assert prf(labels, predicted) == expected


def test_best_threshold_prefers_lowest_of_ties():
    assert best_threshold([0.9, 0.8, 0.3, 0.1], [1, 1, 0, 0]) == 0.8
    assert best_threshold([0.9, 0.2], [1, 1]) == 0.2


def test_overlap_score_ignores_stopwords_and_case():
    q = "When was the last Body Weight recorded and what was its value?"
    assert overlap_score(q, "Observation | Body Weight (LOINC 29463-7) | 2019-03-04 | 80.5 kg | final") == pytest.approx(2 / 3)
    assert overlap_score("what was it?", "anything") == 0.0


def _pair(qid, label, text="x"):
    return Pair(qid, f"r-{qid}-{label}-{text}", "q", text, label)


def test_relevance_report_tunes_thresholds_on_dev():
    dev = [_pair("d", 1), _pair("d", 0)]
    test = [_pair("a", 1), _pair("a", 0), _pair("b", 1), _pair("b", 0)]
    report = relevance_report(test, [0.95, 0.7, 0.9, 0.2], dev, [0.97, 0.8], {"a": "t1", "b": "t2"})
    assert report["model"]["threshold"] == 0.97  # the dev positive scored 0.97, the negative 0.8
    assert (report["model"]["tp"], report["model"]["fp"], report["model"]["fn"]) == (0, 0, 2)
    assert report["model_default_threshold"]["f1"] == 0.8  # 0.5: tp 2, fp 1
    assert report["f1_by_template"]["t2"]["model_default_threshold"] == 1.0
    assert set(report) == {"model", "model_default_threshold", "lexical_baseline", "f1_by_template"}
