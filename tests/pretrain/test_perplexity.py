import math
from types import SimpleNamespace

import pytest
import torch

from clinsynth.evaluation.perplexity import causal_perplexity, loss_curves, rephrase_table
from clinsynth.training.lm import MaskingConfig, mask_batch


class BigramTable(torch.nn.Module):
    """Logits depend only on the current token: row ``t`` of a fixed table (what we control)."""

    def __init__(self, table):
        super().__init__()
        self.table = torch.tensor(table, dtype=torch.float)

    def forward(self, input_ids):
        return SimpleNamespace(logits=self.table[input_ids])


def test_uniform_model_has_perplexity_vocab_size():
    model = BigramTable([[0.0] * 5] * 5)
    result = causal_perplexity(model, [[0, 1, 2], [3, 4, 0, 1]])
    assert result.tokens == 5 and result.perplexity == pytest.approx(5.0)


def test_perplexity_matches_hand_computation_on_two_sequences():
    # vocab 2; after token 0: p(next=1) = e^2 / (1 + e^2); after token 1: p(next=0) = 1/2
    model = BigramTable([[0.0, 2.0], [0.0, 0.0]])
    p01 = math.exp(2) / (1 + math.exp(2))
    # seq A 0 1 0: 0->1 (p01), 1->0 (1/2); seq B 0 0: 0->0 (1 - p01)
    nll = -(math.log(p01) + math.log(0.5) + math.log(1 - p01))
    result = causal_perplexity(model, [[0, 1, 0], [0, 0]], batch_size=1)
    assert result.tokens == 3
    assert result.nll == pytest.approx(nll, rel=1e-6)
    assert result.perplexity == pytest.approx(math.exp(nll / 3), rel=1e-6)


def test_eval_masks_only_maskable_positions_with_mask_id():
    batch = torch.tensor([[5, 6, 7, 1, 8, 9, 1, 5]] * 4)
    gen = torch.Generator().manual_seed(0)
    inputs, labels = mask_batch(batch, (1,), 2, 10, MaskingConfig(0.5), gen, replace=False)
    masked = labels != -100
    assert masked.any() and not masked[batch == 1].any()
    assert (inputs[masked] == 2).all() and (labels[masked] == batch[masked]).all()
    assert (inputs[~masked] == batch[~masked]).all()
    again = mask_batch(batch, (1,), 2, 10, MaskingConfig(0.5), torch.Generator().manual_seed(0), replace=False)
    assert torch.equal(again[1], labels)


def test_table_and_curves():
    m = {"decoder": {"perplexity": 3.0, "test_mean_nll": 1.1, "train_tokens": 8, "corpus_oov_rate": 0.0,
                     "sources": [{"epochs": 2.0}, {"epochs": 0.5}]},
         "encoder": {"mlm_loss": 2.0, "mlm_perplexity": 7.389, "train_tokens": 8}}
    none = {"decoder": {"perplexity": 9.0, "test_mean_nll": 2.2}, "encoder": {"mlm_loss": 4.0, "mlm_perplexity": 54.6}}
    table = rephrase_table({"real": m, "none": none})
    assert table["real"]["max_epochs"] == 2.0 and table["none"]["train_tokens"] == 0
    curves = loss_curves({"real": [[1, 3.0], [2, 2.5]], "none": []}, {"real": 1.1, "none": 2.2})
    assert curves == [{"step": 1, "real": 3.0, "none": 2.2}, {"step": 2, "real": 2.5, "none": 2.2}]
