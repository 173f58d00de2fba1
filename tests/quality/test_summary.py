import pytest

from clinsynth.quality.summary import round_floats, summarize


def test_summarize_gives_percentiles_and_histogram_buckets():
    s = summarize([0, 0, 8, 10, 40], edges=[0, 8, 16, 32])
    assert (s["n"], s["mean"], s["max"], s["p50"]) == (5, 11.6, 40.0, 8.0)
    assert s["histogram"] == {"[0,8)": 2, "[8,16)": 2, "[16,32)": 0, "[32,inf)": 1}


def test_summarize_without_edges_has_no_histogram_and_empty_input_is_zeros():
    assert "histogram" not in summarize([1.0, 2.0])
    assert summarize([], edges=[0, 1]) == {"n": 0, "mean": 0.0, "max": 0.0, "p50": 0.0, "p90": 0.0, "p95": 0.0,
                                           "p99": 0.0, "histogram": {"[0,1)": 0, "[1,inf)": 0}}


def test_summarize_rejects_unsorted_edges():
    with pytest.raises(ValueError, match=r"strictly increasing and non-empty, got \[8, 0\]"):
        summarize([1], edges=[8, 0])


def test_round_floats_is_recursive_and_leaves_ints():
    assert round_floats({"a": [0.123456, 3], "b": {"c": 2 / 3}}) == {"a": [0.1235, 3], "b": {"c": 0.6667}}
