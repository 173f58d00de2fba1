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


# ---- batch_masks and the sentence-transformers loss module -------------------------------------------------------

from clinsynth.retrieval.losses import MaskedContrastiveLoss, batch_masks, chunk_keys  # noqa: E402
from clinsynth.retrieval.pairs import Pair, TrainChunk  # noqa: E402

CHUNKS = {"c1": TrainChunk("c1", "P", "essential hypertension", ["A"]),
          "c2": TrainChunk("c2", "P", "cough and fever", ["B"]),
          "c3": TrainChunk("c3", "P", "hypertension", ["A", "H"]),
          "c4": TrainChunk("c4", "P", "the patient reports a cough at night", ["Z"])}
PAIRS = [Pair("1", "c1", "P", "HTN", "llm", ["A"]), Pair("2", "c2", "P", "cough", "label", ["B"]),
         Pair("3", "c1", "P", "high blood pressure", "synonym", ["A"]), Pair("4", "c3", "P", "x", "llm", []),
         Pair("5", "c4", "P", "wheeze", "llm", ["W"])]


def test_batch_masks_mark_copies_positive_and_false_negatives_ignored():
    pos, neg = batch_masks(PAIRS, CHUNKS, chunk_keys(CHUNKS))
    assert pos.tolist()[0] == [True, False, True, False, False]
    assert neg.tolist()[0] == [False, True, False, False, True]  # c3 is about concept A: neither
    assert neg.tolist()[1] == [True, False, True, True, False]  # c4's text contains "cough": neither
    assert neg.tolist()[4] == [True, True, True, True, False]


class TableModel(torch.nn.Module):
    """Stands in for a SentenceTransformer's forward: features {"rows": [B]} -> fixed unit vectors (a real
    embedding table, with gradients), so the similarity matrix is chosen by hand."""

    def __init__(self, vectors: torch.Tensor) -> None:
        super().__init__()
        self.vectors = torch.nn.Parameter(vectors)

    def forward(self, features):
        return {"sentence_embedding": self.vectors[features["rows"]]}


def test_masked_loss_module_leaves_false_negatives_out():
    # chunk embeddings from a fixed table (tune: query); the queries' embeddings are parameters
    angle = torch.tensor([0.0, 0.3, 1.2, 0.1, 2.0])
    model = TableModel(torch.stack([angle.cos(), angle.sin()], dim=1))
    table = torch.tensor([[1.0, 0.0], [0.0, 1.0], [0.6, 0.8], [0.8, 0.6]])  # c1, c2, c3, c4
    rows = {"c1": 0, "c2": 1, "c3": 2, "c4": 3}
    cfg = LossConfig(name="info_nce", temperature=1.0)
    loss = MaskedContrastiveLoss(model, PAIRS, CHUNKS, cfg, table, rows)
    labels = torch.tensor([0, 1, 3])  # pairs HTN->c1, cough->c2, x->c3 (c3 is about A, like c1)
    value = loss([{"rows": labels}], labels)
    sim = torch.nn.functional.normalize(model.vectors[labels], dim=-1) @ table[[0, 1, 2]].T
    pos, neg = batch_masks([PAIRS[i] for i in labels], CHUNKS, chunk_keys(CHUNKS))
    assert not neg[0, 2] and neg[2, 0]  # HTN (node A) vs c3 (about A): neither; "x" (no node) vs c1: a negative
    assert value.item() == pytest.approx(info_nce_loss(sim, pos, neg, 1.0).item(), abs=1e-6)
    unmasked = info_nce_loss(sim, pos, ~pos, 1.0).item()
    assert value.item() < unmasked - 1e-3  # counting c3 as a negative of HTN would raise the loss
    value.backward()
    assert model.vectors.grad[labels].abs().sum() > 0 and loss.chunk_table.grad is None


def test_masked_loss_module_shared_tower_embeds_both_columns():
    model = TableModel(torch.nn.functional.normalize(torch.randn(5, 3, generator=torch.Generator().manual_seed(0)),
                                                     dim=-1))
    loss = MaskedContrastiveLoss(model, PAIRS, CHUNKS, LossConfig())
    labels = torch.tensor([0, 1])
    value = loss([{"rows": labels}, {"rows": torch.tensor([3, 4])}], labels)
    q, c = model.vectors[labels], model.vectors[torch.tensor([3, 4])]
    pos, neg = batch_masks([PAIRS[0], PAIRS[1]], CHUNKS, chunk_keys(CHUNKS))
    assert value.item() == pytest.approx(multi_similarity_loss(q @ c.T, pos, neg).item(), abs=1e-6)
    assert loss.get_config_dict()["chunk_tower"] == "same (siamese)"
