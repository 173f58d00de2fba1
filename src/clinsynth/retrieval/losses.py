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

``MaskedContrastiveLoss`` is the sentence-transformers loss module over these: it takes ``(model, pairs,
chunks, config)``, and its ``forward(sentence_features, labels)`` gets the batch's ``query`` features (and
``chunk`` features with ``tune: shared``) and ``labels`` ``[B]`` = each row's index into ``pairs``, from which
it builds the masks (``batch_masks``): the per-pair mask information travels as that index.
"""

from __future__ import annotations

import dataclasses
from collections.abc import Iterable, Mapping, Sequence
from typing import Any, Literal

import torch
from torch import nn

from clinsynth.params import NonNegativeFloat, PositiveFloat
from clinsynth.retrieval.abbreviations import name_key
from clinsynth.retrieval.pairs import Pair, TrainChunk


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


def chunk_keys(chunks: Mapping[str, TrainChunk]) -> dict[str, str]:
    """``{chunk id: " <name_key(text)> "}``: the padded form ``batch_masks`` searches a query's key in."""
    return {cid: f" {name_key(chunk.text)} " for cid, chunk in chunks.items()}


def batch_masks(batch: Sequence[Pair], chunks: Mapping[str, TrainChunk],
                keys: Mapping[str, str]) -> tuple[torch.Tensor, torch.Tensor]:
    """``pos, neg [B, B]``: same chunk = positive; a chunk about the query's concept = neither.

    A chunk is about the query's concept when its concepts include one of the pair's KG nodes or its
    text (``keys``, from ``chunk_keys``) contains the query's name key.
    """
    size = len(batch)
    pos = torch.zeros(size, size, dtype=torch.bool)
    neg = torch.zeros(size, size, dtype=torch.bool)
    for i, pair in enumerate(batch):
        nodes, key = set(pair.nodes), f" {name_key(pair.query)} "
        for j, other in enumerate(batch):
            if other.chunk_id == pair.chunk_id:
                pos[i, j] = True
            elif not nodes.intersection(chunks[other.chunk_id].concepts) and key not in keys[other.chunk_id]:
                neg[i, j] = True
    return pos, neg


class MaskedContrastiveLoss(nn.Module):
    """In-batch contrastive loss with false-negative masking, as a sentence-transformers loss.

    Dataset columns: ``query`` (text), then ``chunk`` (text; ``tune: shared`` only), then ``label`` (int, the
    row's index into ``pairs``). ``sim [B, B]`` = cosine of each query to each row's chunk.

    ``chunk_table`` (``tune: query``): ``[n_chunks, H]`` embeddings computed once by the untrained model, row
    ``chunk_rows[chunk id]``. The trainer's model then only embeds queries; the chunk tower stays the base
    model. This does not fit the trainer as a second (frozen) tower: a Router with a frozen document route
    would still run the 256-token chunks forward every step, which is the cost ``tune: query`` exists to
    avoid, so the fixed table lives here, as a non-persistent buffer (never an optimizer parameter).
    """

    def __init__(self, model: nn.Module, pairs: Sequence[Pair], chunks: Mapping[str, TrainChunk],
                 config: LossConfig, chunk_table: torch.Tensor | None = None,
                 chunk_rows: Mapping[str, int] | None = None, card_notes: Mapping[str, Any] | None = None) -> None:
        super().__init__()
        self.card_notes = dict(card_notes or {})  # more settings for the model card (tune, freezing, lengths)
        self.model = model
        self.config = config
        self.pairs = list(pairs)
        self.chunks = chunks
        self.keys = chunk_keys({p.chunk_id: chunks[p.chunk_id] for p in self.pairs})
        self.chunk_rows = dict(chunk_rows or {})
        if (chunk_table is None) != (chunk_rows is None):
            raise ValueError("MaskedContrastiveLoss: chunk_table and chunk_rows go together")
        self.register_buffer("chunk_table", chunk_table, persistent=False)

    def forward(self, sentence_features: Iterable[dict[str, torch.Tensor]], labels: torch.Tensor) -> torch.Tensor:
        features = list(sentence_features)
        batch = [self.pairs[i] for i in labels.tolist()]
        pos, neg = batch_masks(batch, self.chunks, self.keys)
        queries = self.model(features[0])["sentence_embedding"]  # [B, H]
        if self.chunk_table is not None:
            docs = self.chunk_table[[self.chunk_rows[p.chunk_id] for p in batch]]  # [B, H], no gradient
        else:
            docs = self.model(features[1])["sentence_embedding"]
        sim = nn.functional.normalize(queries.float(), dim=-1) @ nn.functional.normalize(docs.float(), dim=-1).T
        return contrastive_loss(sim, pos.to(sim.device), neg.to(sim.device), self.config)

    def get_config_dict(self) -> dict[str, Any]:
        """What the model card shows under the loss."""
        return {**dataclasses.asdict(self.config),
                "chunk_tower": "base model (fixed chunk-embedding table)" if self.chunk_table is not None
                else "same (siamese)",
                "false_negatives": "chunks whose concepts include the query's KG nodes or whose text contains "
                                   "the query are not negatives", **self.card_notes}

    @property
    def citation(self) -> str:
        return """
@inproceedings{wang2019multi,
    title={Multi-Similarity Loss With General Pair Weighting for Deep Metric Learning},
    author={Wang, Xun and Han, Xintong and Huang, Weilin and Dong, Dengke and Scott, Matthew R.},
    booktitle={Proceedings of the IEEE/CVF Conference on Computer Vision and Pattern Recognition},
    year={2019},
}
"""
