import math

import pytest
import torch

from clinsynth.retrieval.losses import LossConfig, contrastive_loss, info_nce_loss, multi_similarity_loss

EYE = torch.eye(2, dtype=torch.bool)


def softplus(x: float) -> float:
    return math.log1p(math.exp(x))


def test_multi_similarity_without_mining():
    sim = torch.tensor([[0.9, 0.3], [0.2, 0.8]])
    # row i: 1/2 log(1 + e^{-2 (S_ii - .5)}) + 1/50 log(1 + e^{50 (S_ij - .5)})
    row0 = softplus(-2 * 0.4) / 2 + softplus(50 * -0.2) / 50
    row1 = softplus(-2 * 0.3) / 2 + softplus(50 * -0.3) / 50
    loss = multi_similarity_loss(sim, EYE, ~EYE, alpha=2.0, beta=50.0, base=0.5, margin=None)
    assert loss.item() == pytest.approx((row0 + row1) / 2, abs=1e-6)


def test_multi_similarity_mining_keeps_only_hard_pairs():
    sim = torch.tensor([[0.4, 0.45], [0.1, 0.7]])
    # row 0: negative .45 + .1 > min positive .4 (kept), positive .4 - .1 < max negative .45 (kept)
    # row 1: both pairs easy -> mined away -> 0, still counted in the mean
    row0 = softplus(-2 * (0.4 - 0.5)) / 2 + softplus(50 * (0.45 - 0.5)) / 50
    loss = multi_similarity_loss(sim, EYE, ~EYE, margin=0.1)
    assert loss.item() == pytest.approx(row0 / 2, abs=1e-6)


def test_info_nce_by_hand():
    sim = torch.tensor([[0.9, 0.3], [0.2, 0.8]])
    expected = (math.log(1 + math.exp(0.3 - 0.9)) + math.log(1 + math.exp(0.2 - 0.8))) / 2  # tau = 1
    assert info_nce_loss(sim, EYE, ~EYE, temperature=1.0).item() == pytest.approx(expected, abs=1e-6)
    expected_cold = math.log(1 + math.exp((0.3 - 0.9) / 0.1)) / 2 + math.log(1 + math.exp((0.2 - 0.8) / 0.1)) / 2
    assert info_nce_loss(sim, EYE, ~EYE, temperature=0.1).item() == pytest.approx(expected_cold, abs=1e-6)


def test_false_negatives_are_ignored_and_duplicates_are_positives():
    sim = torch.tensor([[0.9, 0.3, 0.5], [0.2, 0.8, 0.1], [0.4, 0.6, 0.7]])
    pos = torch.tensor([[1, 0, 1], [0, 1, 0], [1, 0, 1]], dtype=torch.bool)  # chunks 0 and 2 are the same chunk
    neg = torch.tensor([[0, 0, 0], [1, 0, 0], [0, 1, 0]], dtype=torch.bool)  # row 0: chunk 1 is a false negative
    row0 = 0.0  # no negative: log(sum pos / sum pos)
    row1 = math.log(1 + math.exp(0.2 - 0.8))
    row2 = -math.log((math.exp(0.4) + math.exp(0.7)) / (math.exp(0.4) + math.exp(0.7) + math.exp(0.6)))
    assert info_nce_loss(sim, pos, neg, 1.0).item() == pytest.approx((row0 + row1 + row2) / 3, abs=1e-6)


def test_rows_without_positive_contribute_nothing_and_grad_flows():
    sim = torch.tensor([[0.9, 0.3], [0.2, 0.8]], requires_grad=True)
    pos = torch.tensor([[True, False], [False, False]])
    neg = torch.tensor([[False, True], [True, True]])
    loss = contrastive_loss(sim, pos, neg, LossConfig(name="info_nce", temperature=1.0))
    assert loss.item() == pytest.approx(math.log(1 + math.exp(0.3 - 0.9)), abs=1e-6)
    loss.backward()
    assert sim.grad[1].abs().sum().item() == 0.0 and sim.grad[0].abs().sum().item() > 0


def test_unknown_loss_name():
    with pytest.raises(ValueError, match=r"loss 'triplet': expected 'multi_similarity' or 'info_nce'"):
        contrastive_loss(torch.zeros(1, 1), EYE[:1, :1], ~EYE[:1, :1], LossConfig(name="triplet"))
