import numpy as np
import pytest

from clinsynth.retrieval.metrics import (average_precision, bm25_scores, query_metrics, rank_by_scores, recall_at_k,
                                         reciprocal_rank, report)

RANKING = ["a", "b", "c", "d", "e", "f", "g", "h", "i", "j", "k"]


@pytest.mark.parametrize("relevant, rr, ap", [
    ({"a"}, 1.0, 1.0),
    ({"b", "d"}, 1 / 2, (1 / 2 + 2 / 4) / 2),
    ({"a", "c", "f"}, 1.0, (1 / 1 + 2 / 3 + 3 / 6) / 3),
    ({"k"}, 1 / 11, 1 / 11),
])
def test_rr_and_ap_by_hand(relevant, rr, ap):
    assert reciprocal_rank(RANKING, relevant) == pytest.approx(rr)
    assert average_precision(RANKING, relevant) == pytest.approx(ap)


@pytest.mark.parametrize("relevant, k, expected", [
    ({"b", "d"}, 1, 0.0), ({"b", "d"}, 2, 0.5), ({"b", "d"}, 5, 1.0), ({"a", "k"}, 10, 0.5), ({"a", "k"}, 1, 0.5)])
def test_recall_at_k(relevant, k, expected):
    assert recall_at_k(RANKING, relevant, k) == pytest.approx(expected)


def test_empty_relevant_set_is_an_error():
    with pytest.raises(ValueError, match="empty relevant set"):
        average_precision(RANKING, set())


def test_report_means_and_groups():
    queries = [{"id": "q1", "relevant": ["a"], "match": "exact", "kind": "condition"},
               {"id": "q2", "relevant": ["b", "d"], "match": "synonym", "kind": "condition"}]
    out = report(queries, {"q1": RANKING, "q2": RANKING})
    assert out["overall"] == {"queries": 2, "mrr": 0.75, "map": 0.75, "recall@1": 0.5, "recall@5": 1.0, "recall@10": 1.0}
    assert out["by_match"]["synonym"]["mrr"] == 0.5 and out["by_kind"]["condition"]["queries"] == 2
    assert query_metrics(RANKING, ["c"])["rr"] == pytest.approx(1 / 3)


def test_ties_are_broken_by_a_seeded_shuffle_not_by_order():
    ids = [f"c{i}" for i in range(20)]
    flat = np.zeros(20)
    first = rank_by_scores(ids, flat, "13:q1")
    assert first == rank_by_scores(ids, flat, "13:q1")  # deterministic
    assert first != ids and sorted(first) == sorted(ids)  # not the input order
    assert rank_by_scores(ids, np.arange(20.0), "x")[:3] == ["c19", "c18", "c17"]


def test_bm25_prefers_the_chunk_with_the_terms():
    chunks = ["essential hypertension on lisinopril", "viral sinusitis with cough", "social history: married"]
    scores = bm25_scores(chunks, ["hypertension", "cough sinusitis", "HTN"])
    assert scores.shape == (3, 3)
    assert scores[0].argmax() == 0 and scores[1].argmax() == 1
    assert not scores[2].any()  # no shared word: all zero (ties, broken at random by rank_by_scores)
