"""Contrastive losses over a query x chunk similarity matrix with in-batch negatives.

Both take ``sim`` ``[B, C]`` (cosine similarities of B queries to C chunks), ``pos`` and ``neg``
boolean masks of the same shape. Row i's positives are its own chunk and any other copy of it in
the batch; its negatives are the other chunks *except* those known to be about the query's concept
(false in-batch negatives are neither: ``pos`` and ``neg`` both False). Rows without a positive
contribute nothing.

Multi-similarity (Wang et al., CVPR 2019; DR.EHR's choice), per query anchor i::

    L_i = 1/alpha * log(1 + sum_{k in P_i} exp(-alpha (S_ik - base)))
        + 1/beta  * log(1 + sum_{k in N_i} exp( beta (S_ik - base)))

with the paper's pair mining when ``margin`` is set: a negative is kept only if
``S_ik + margin > min_{p in P_i} S_ip``, a positive only if ``S_ik - margin < max_{n in N_i} S_in``.

InfoNCE: ``-log( sum_{P_i} exp(S/tau) / sum_{P_i and N_i} exp(S/tau) )``.
"""

from __future__ import annotations

import dataclasses
from typing import Literal

import torch

from clinsynth.params import NonNegativeFloat, PositiveFloat


@dataclasses.dataclass(frozen=True)
class LossConfig:
    name: Literal["multi_similarity", "info_nce"] = "multi_similarity"
    alpha: PositiveFloat = 2.0  # multi-similarity: positive scale
    beta: PositiveFloat = 50.0  # multi-similarity: negative scale
    base: float = 0.5  # multi-similarity: similarity margin lambda
    margin: NonNegativeFloat | None = 0.1  # multi-similarity pair mining epsilon; null: no mining
    temperature: PositiveFloat = 0.05  # info_nce


def _masked_logsumexp1p(x: torch.Tensor, mask: torch.Tensor) -> torch.Tensor:
    """``log(1 + sum_k mask_k exp(x_k))`` per row, stable; a row with an empty mask gives 0."""
    zeros = torch.zeros(x.shape[0], 1, dtype=x.dtype, device=x.device)
    masked = torch.where(mask, x, torch.full_like(x, float("-inf")))
    return torch.logsumexp(torch.cat([zeros, masked], dim=1), dim=1)


def multi_similarity_loss(sim: torch.Tensor, pos: torch.Tensor, neg: torch.Tensor, alpha: float = 2.0,
                          beta: float = 50.0, base: float = 0.5, margin: float | None = 0.1) -> torch.Tensor:
    """Mean multi-similarity loss over rows that have a positive (0 if none has)."""
    rows = pos.any(dim=1)  # before mining: a row whose pairs are all easy still counts, with loss 0
    pos, neg = pos.clone(), neg.clone()
    if margin is not None:
        inf = torch.tensor(float("inf"), dtype=sim.dtype)
        min_pos = torch.where(pos, sim, inf).min(dim=1, keepdim=True).values  # [B, 1]
        max_neg = torch.where(neg, sim, -inf).max(dim=1, keepdim=True).values
        neg &= sim + margin > min_pos
        pos &= sim - margin < max_neg
    pos_term = _masked_logsumexp1p(-alpha * (sim - base), pos) / alpha
    neg_term = _masked_logsumexp1p(beta * (sim - base), neg) / beta
    if not rows.any():
        return sim.sum() * 0.0
    return (pos_term + neg_term)[rows].mean()


def info_nce_loss(sim: torch.Tensor, pos: torch.Tensor, neg: torch.Tensor, temperature: float = 0.05) -> torch.Tensor:
    """Mean InfoNCE over rows with a positive (multi-positive form; 0 if no row has one)."""
    logits = sim / temperature
    ninf = torch.full_like(logits, float("-inf"))
    numerator = torch.logsumexp(torch.where(pos, logits, ninf), dim=1)
    denominator = torch.logsumexp(torch.where(pos | neg, logits, ninf), dim=1)
    rows = pos.any(dim=1)
    if not rows.any():
        return sim.sum() * 0.0
    return (denominator - numerator)[rows].mean()


def contrastive_loss(sim: torch.Tensor, pos: torch.Tensor, neg: torch.Tensor, cfg: LossConfig) -> torch.Tensor:
    if cfg.name == "multi_similarity":
        return multi_similarity_loss(sim, pos, neg, cfg.alpha, cfg.beta, cfg.base, cfg.margin)
    if cfg.name == "info_nce":
        return info_nce_loss(sim, pos, neg, cfg.temperature)
    raise ValueError(f"loss {cfg.name!r}: expected 'multi_similarity' or 'info_nce'")
