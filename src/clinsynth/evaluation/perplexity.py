"""Held-out language-model scores: causal perplexity and masked-LM loss.

Perplexity is ``exp(total NLL / predicted tokens)`` over every block, where a block of T tokens
gives T-1 next-token predictions (blocks are scored independently; no context crosses them).
The masked-LM score masks a fixed, seeded 15% of the positions with [MASK] (no 80/10/10: the same
masks for every model) and reports the mean cross-entropy at those positions and its exponential.
Evaluation runs in float32, under ``torch.no_grad``.
"""

from __future__ import annotations

import dataclasses
import math
from collections.abc import Sequence

import torch
from tqdm import tqdm

from clinsynth.errors import InputError
from clinsynth.training.lm import MaskedVocab, MaskingConfig, batches, mask_batch, masked_lm_loss


@dataclasses.dataclass(frozen=True)
class EvaluateRephraseConfig:
    corpus_metrics_dir: str  # pretrain.metrics_dir
    models_dir: str  # pretrain.models_dir (history.json per corpus)
    table: str
    decoder_plot: str
    encoder_plot: str


@dataclasses.dataclass(frozen=True)
class LMScore:
    nll: float  # total negative log-likelihood (nats)
    tokens: int  # predicted tokens
    mean_nll: float
    perplexity: float


def score(nll: float, tokens: int) -> LMScore:
    if tokens == 0:
        raise InputError("no predicted tokens; expected at least one block of 2+ tokens")
    return LMScore(nll, tokens, nll / tokens, math.exp(nll / tokens))


@torch.no_grad()
def causal_perplexity(model: torch.nn.Module, blocks: Sequence[Sequence[int]], batch_size: int = 32) -> LMScore:
    """Perplexity of ``model`` (returns ``.logits`` [B, T, V] for ``input_ids``) over ``blocks``.

    Blocks may differ in length; they are batched by length so no padding is needed.
    """
    model.eval()
    by_len: dict[int, list[Sequence[int]]] = {}
    for block in blocks:
        by_len.setdefault(len(block), []).append(block)
    groups = [batches(by_len[length], batch_size) for length in sorted(by_len) if length >= 2]
    nll, tokens = 0.0, 0
    # one bar over every length group (total known: rate and ETA), left on screen like the training's
    with tqdm(total=sum(map(len, groups)), desc="perplexity", unit="batch") as bar:
        for batch in (batch for group in groups for batch in group):
            logits = model(input_ids=batch).logits[:, :-1].float()  # [B, T-1, V]
            targets = batch[:, 1:]
            nll += float(torch.nn.functional.cross_entropy(logits.reshape(-1, logits.shape[-1]),
                                                           targets.reshape(-1), reduction="sum"))
            tokens += targets.numel()
            bar.update()
    return score(nll, tokens)


@torch.no_grad()
def masked_lm_score(model: torch.nn.Module, blocks: Sequence[Sequence[int]], vocab: MaskedVocab,
                    masking: MaskingConfig, batch_size: int = 32) -> LMScore:
    """Mean MLM cross-entropy at seeded [MASK] positions (same positions for every model given the seed)."""
    model.eval()
    generator = torch.Generator().manual_seed(masking.seed)
    nll, tokens = 0.0, 0
    for batch in tqdm(batches(blocks, batch_size), desc="mlm eval", unit="batch"):  # a list: total, rate, ETA
        inputs, labels = mask_batch(batch, vocab.special_ids, vocab.mask_id, vocab.size, masking, generator, replace=False)
        nll += float(masked_lm_loss(model, inputs, labels, reduction="sum"))
        tokens += int((labels != -100).sum())
    return score(nll, tokens)


def rephrase_table(per_corpus: dict[str, dict]) -> dict[str, dict]:
    """One row per corpus (keyed by name, in the given order) from the pretrain metrics files."""
    rows = {}
    for name, m in per_corpus.items():
        dec, enc = m["decoder"], m["encoder"]
        rows[name] = {
            "decoder_perplexity": dec["perplexity"], "decoder_test_nll": dec["test_mean_nll"],
            "encoder_mlm_loss": enc["mlm_loss"], "encoder_mlm_perplexity": enc["mlm_perplexity"],
            "train_tokens": dec.get("train_tokens", 0), "encoder_train_tokens": enc.get("train_tokens", 0),
            "max_epochs": max((s["epochs"] for s in dec.get("sources", [])), default=0.0),
            "corpus_oov_rate": dec.get("corpus_oov_rate", 0.0),
        }
    return rows


def loss_curves(histories: dict[str, list], flat: dict[str, float]) -> list[dict]:
    """Wide rows ``{"step": s, <corpus>: loss, ...}`` for ``dvc plots`` (one series per corpus).

    A corpus with no training steps (``none``) gets the constant ``flat[name]`` at every step (a reference level).
    """
    steps = sorted({step for h in histories.values() for step, _ in h})
    by_corpus = {name: dict(map(tuple, h)) for name, h in histories.items()}
    return [{"step": step, **{name: by_corpus[name].get(step, flat.get(name)) if by_corpus[name] else flat[name]
                              for name in histories}} for step in steps]
