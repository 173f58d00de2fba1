"""A batched decode loop whose every row samples with its own seeded generator.

``transformers``' ``generate`` draws all rows of a batch from one global RNG, so a request's
text would depend on its batch neighbours. Here one forward pass per step serves the whole
batch (KV cache, left padding), and then each row picks its token alone: its own logits row,
its own ``torch.Generator``, the same 1-D operations whether the batch holds 1 row or 16.

Left padding: ``position_ids`` are computed from the attention mask (``cumsum - 1``), so a row's
first real token sits at position 0 whatever padding precedes it; pads are masked out of
attention. Rows that finish (EOS) are yielded at once and dropped from the batch and its KV
cache, so the remaining rows stop paying for them.

Exactness caveat (measured, see docs/generation.md): the model's logits are bit-identical across
batch compositions only as far as the CPU kernels reduce in the same order for every batch
size; sampling and the mask/position handling here add no batch dependence of their own.
"""

from __future__ import annotations

import dataclasses
from collections.abc import Iterator, Sequence
from typing import Any

import torch

from clinsynth.generation.types import SamplingParams


@dataclasses.dataclass(frozen=True)
class RowResult:
    """One finished row: its index in the input batch, the sampled token ids and why it stopped."""

    index: int
    token_ids: tuple[int, ...]
    finish_reason: str  # "stop" (an EOS token, not included in token_ids) | "length"


TOP_P_PROBE = 64  # candidates examined first for top-p; widened x4 until the nucleus provably fits


def sample_token(
    logits: torch.Tensor, sampling: SamplingParams, generator: torch.Generator, seen: torch.Tensor | None = None
) -> int:
    """Pick one token id from a float32 logits row ``[V]``.

    Order: repetition penalty (HF convention: divide positive logits, multiply negative ones, over
    ``seen`` token ids ``[S]``), then greedy when temperature is 0 (ties: lowest id), else
    temperature, nucleus (top-p, at least one token kept) and a draw from ``generator``.
    Candidates are ordered by (logit desc, token id asc), so ties never depend on a sort's whims;
    the result depends on nothing but this row, its params and its generator.
    """
    if sampling.repetition_penalty != 1.0 and seen is not None and seen.numel():
        picked = logits[seen]
        logits = logits.clone()
        logits[seen] = torch.where(picked > 0, picked / sampling.repetition_penalty, picked * sampling.repetition_penalty)
    if sampling.temperature <= 0.0:
        return int(torch.argmax(logits))
    scaled = logits / sampling.temperature
    log_z = torch.logsumexp(scaled, dim=-1)
    if sampling.top_p >= 1.0:
        return int(torch.multinomial(torch.exp(scaled - log_z), 1, generator=generator))
    values, ids = nucleus(scaled, log_z, sampling.top_p)
    probs = torch.exp(values - log_z)
    return int(ids[torch.multinomial(probs / probs.sum(), 1, generator=generator)])


def nucleus(scaled: torch.Tensor, log_z: torch.Tensor, top_p: float) -> tuple[torch.Tensor, torch.Tensor]:
    """The top-p set of a row ``[V]`` as (scaled logits, ids), in (logit desc, id asc) order.

    A full stable sort of 49k logits costs ~25 ms per row; instead look at the top 64 candidates
    and widen until the kept tokens are all strictly above the smallest candidate, which proves
    no token outside the candidates precedes or ties with a kept one (so the set is exact).
    """
    size = scaled.numel()
    k = min(TOP_P_PROBE, size)
    while True:
        values, ids = torch.topk(scaled, k)
        by_id = torch.argsort(ids)
        values, ids = values[by_id], ids[by_id]
        order = torch.sort(values, descending=True, stable=True).indices  # k elements: cheap
        values, ids = values[order], ids[order]
        probs = torch.exp(values - log_z)
        keep = (torch.cumsum(probs, dim=-1) - probs) < top_p  # mass strictly before each candidate
        keep[0] = True
        n = int(keep.sum())
        if k == size or (n < k and values[n - 1] > values[k - 1]):
            return values[:n], ids[:n]
        k = min(4 * k, size)


def left_pad(rows: Sequence[Sequence[int]], pad_id: int) -> tuple[torch.Tensor, torch.Tensor]:
    """Token id lists -> (input_ids ``[B, T]``, attention_mask ``[B, T]``), padded on the left to the longest."""
    width = max(len(r) for r in rows)
    input_ids = torch.full((len(rows), width), pad_id, dtype=torch.long)
    mask = torch.zeros((len(rows), width), dtype=torch.long)
    for i, row in enumerate(rows):
        if row:
            input_ids[i, width - len(row):] = torch.tensor(row, dtype=torch.long)
            mask[i, width - len(row):] = 1
    return input_ids, mask


class DecodeError(RuntimeError):
    """The model produced logits no token can be sampled from (NaN/inf), e.g. a float16 overflow."""


DECODE_VERSION = 1  # bump when a change to decode/sample_token/row-wise attention can change a request's text
GHOST = -1  # a batch row that only keeps a GEMM at two rows or more (see decode)


@torch.inference_mode()
def decode(
    model: torch.nn.Module,
    prompts: Sequence[Sequence[int]],
    seeds: Sequence[int],
    sampling: SamplingParams,
    eos_ids: set[int],
    pad_id: int,
    matchers: Sequence[Any | None] | None = None,
) -> Iterator[RowResult]:
    """Generate for each prompt (token ids, chat template already applied); yield rows as they finish.

    ``seeds[i]`` seeds row ``i``'s generator. Every row is yielded exactly once, in finishing order.
    ``matchers[i]`` (a :class:`~clinsynth.generation.contracts.RowMatcher`, or None) constrains row ``i``
    to its reply contract: its logits are masked before it samples, and it stops ("stop") as soon as
    its grammar is complete. Rows without one (and calls without ``matchers``) run exactly as before.
    The model must use the ``clinsynth_rowwise`` attention: keys and values live in a
    :class:`~clinsynth.generation.attention.RowCache`, one buffer per prompt, so finished rows
    leave the batch without copying the others' cache.

    No forward runs a GEMM on a single row: CPU GEMMs take a separate matrix-vector path for one
    row, whose sums round differently (measured on SmolLM2's ``down_proj``, bf16), while any row
    count >= 2 gave bit-identical rows. So when one prompt token or one live row would be alone, a
    ghost row fed a pad token joins it; ghosts store nothing, attend to nothing and sample nothing.
    """
    from clinsynth.generation.attention import RowCache

    generators = [torch.Generator().manual_seed(int(s)) for s in seeds]
    rows = list(range(len(prompts)))  # batch row -> prompt index (= cache slot), or GHOST
    input_ids, mask = left_pad(prompts, pad_id)  # [B, T]
    position_ids = (mask.cumsum(-1) - 1).clamp(min=0)  # [B, T]: 0 at each row's first real token
    q_real = [len(p) for p in prompts]
    if input_ids.numel() == 1:  # a lone one-token prompt
        input_ids, position_ids = input_ids.repeat(2, 1), position_ids.repeat(2, 1)
        rows, q_real = [0, GHOST], [1, 0]
    cache = RowCache(model.config, [len(p) + sampling.max_new_tokens for p in prompts])
    lengths = [len(p) for p in prompts]
    outputs: list[list[int]] = [[] for _ in prompts]
    seen = [torch.tensor(p, dtype=torch.long) for p in prompts] if sampling.repetition_penalty != 1.0 else None
    step_ids, step_pos = input_ids, position_ids
    for step in range(sampling.max_new_tokens):
        cache.plan([None if i == GHOST else i for i in rows], q_real)
        out = model(input_ids=step_ids, position_ids=step_pos, past_key_values=cache, use_cache=True,
                    logits_to_keep=1)
        cache.advance()
        logits = out.logits[:, -1, :].float()  # [B, V]
        if not bool(torch.isfinite(logits).all()):
            raise DecodeError(f"non-finite logits at decode step {step} with {out.logits.dtype}: the model's activations "
                              "overflow this dtype (float16 stops at 65504); set generate.transformers.dtype: bfloat16")
        live, next_ids = [], []
        for row, index in enumerate(rows):
            if index == GHOST:
                continue
            prior = None
            if seen is not None:
                prior = torch.cat([seen[index], torch.tensor(outputs[index], dtype=torch.long)])
            matcher = matchers[index] if matchers is not None else None
            row_logits = logits[row] if matcher is None else matcher.mask(logits[row])
            token = sample_token(row_logits, sampling, generators[index], prior)
            if token in eos_ids:
                yield RowResult(index, tuple(outputs[index]), "stop")
                continue
            outputs[index].append(token)
            if matcher is not None and matcher.advance(token):  # grammar complete: only EOS could follow
                yield RowResult(index, tuple(outputs[index]), "stop")
                continue
            if step + 1 == sampling.max_new_tokens:
                yield RowResult(index, tuple(outputs[index]), "length")
                continue
            live.append(index)
            next_ids.append(token)
        if not live:
            return
        positions = [lengths[i] + step for i in live]  # the new token's position in its own row
        if len(live) == 1:  # keep a second row so no GEMM sees a single row
            live, next_ids, positions = live + [GHOST], next_ids + [pad_id], positions + [0]
        rows, q_real = live, [0 if i == GHOST else 1 for i in live]
        step_ids = torch.tensor(next_ids, dtype=torch.long)[:, None]  # [B, 1]
        step_pos = torch.tensor(positions, dtype=torch.long)[:, None]  # [B, 1]
