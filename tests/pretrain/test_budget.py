import pytest

from clinsynth.pretraining.corpora import BudgetError, budget_shares, pack_blocks, sample_token_budget

SEP = 0
DOCS = {"real": [[1, 2, 3], [4, 5], [6, 7, 8, 9]], "syn": [[10, 11], [12]]}


@pytest.mark.parametrize("budget", [1, 7, 8, 64, 129])
def test_budget_is_exact_and_shared_equally(budget):
    sample = sample_token_budget(DOCS, budget, seed=3, sep_id=SEP)
    assert len(sample.tokens) == budget
    taken = {s.source: s.tokens_taken for s in sample.sources}
    assert sum(taken.values()) == budget and abs(taken["real"] - taken["syn"]) <= 1


def test_shares_give_the_remainder_to_the_first_sources():
    assert budget_shares(["b", "a", "c"], 11) == {"a": 4, "b": 4, "c": 3}


def test_seeded_and_independent_of_the_mix_partner():
    a = sample_token_budget(DOCS, 40, seed=3, sep_id=SEP)
    assert a == sample_token_budget(DOCS, 40, seed=3, sep_id=SEP)
    assert a.tokens != sample_token_budget(DOCS, 40, seed=4, sep_id=SEP).tokens
    alone = sample_token_budget({"real": DOCS["real"]}, 20, seed=3, sep_id=SEP)
    assert a.tokens[:20] == alone.tokens  # a source's draw depends only on (seed, source)


def test_small_source_repeats_in_epochs_and_reports_them():
    sample = sample_token_budget({"syn": DOCS["syn"]}, 10, seed=1, sep_id=SEP)
    (stat,) = sample.sources
    assert (stat.tokens_available, stat.tokens_taken, stat.epochs) == (5, 10, 2.0)  # 3 tokens + 2 separators
    assert sorted(sample.tokens[:5]) == sorted(sample.tokens[5:]) == [0, 0, 10, 11, 12]
    for doc in ([10, 11, SEP], [12, SEP]):  # whole documents, each followed by the separator
        assert any(sample.tokens[i:i + len(doc)] == doc for i in range(10))


def test_small_source_fails_when_asked():
    with pytest.raises(BudgetError, match=r"source 'syn': 5 tokens < share of 6 tokens; lower token_budget"):
        sample_token_budget({"syn": DOCS["syn"]}, 6, seed=1, sep_id=SEP, on_small="fail")


def test_empty_source_fails():
    with pytest.raises(BudgetError, match="no documents"):
        sample_token_budget({"syn": []}, 6, seed=1, sep_id=SEP)


def test_pack_blocks_full_blocks_seeded_shuffle():
    tokens = list(range(10))
    assert pack_blocks(tokens, 4) == [[0, 1, 2, 3], [4, 5, 6, 7]]
    shuffled = pack_blocks(list(range(40)), 4, seed=2)
    assert sorted(shuffled) == pack_blocks(list(range(40)), 4) and shuffled == pack_blocks(list(range(40)), 4, seed=2)
