"""Row-wise attention over a per-request KV cache: each row attends over exactly its own real tokens.

Why: with left padding, a row's keys sit at a different offset in a longer key axis than when the
row runs alone, so the attention kernels reduce (softmax sum, ``P @ V``) in a different order and
bf16 logits drift by up to ~0.4 (measured on SmolLM2-135M; float32 drifts ~3e-5). That is enough
to change sampled text. Here every request owns its key/value buffers (:class:`RowCache`): its
keys sit at ``[0, n)`` of a ``[1, Hkv, capacity, D]`` tensor whose capacity (prompt length +
``max_new_tokens``) depends on the request alone, so the attention call sees the very values,
shapes and strides it would see alone. The linear layers, norms and RoPE are row-wise, and in bf16
the CPU GEMMs gave bit-identical rows for any number of rows >= 2 (not so in float32, where MKL's
blocking depends on the row count). The cost is one small SDPA call per row and layer; appending a
token writes one key/value slot per row (no growing ``torch.cat``, no per-step copy of the cache)
and dropping a finished row frees its buffers without touching the others.

Registered with transformers as attention implementation ``clinsynth_rowwise`` together with a
mask "builder" that returns no mask (the cache knows each row's length).
"""

from __future__ import annotations

import dataclasses
from collections.abc import Sequence

import torch
import torch.nn.functional as F
from transformers import DynamicCache

ATTENTION_NAME = "clinsynth_rowwise"


@dataclasses.dataclass(frozen=True)
class RowViews:
    """What :meth:`RowCache.update` hands the attention function for one layer.

    ``keys[b]`` / ``values[b]``: batch row ``b``'s keys so far ``[1, Hkv, n, D]`` (views into its
    buffers), None for a ghost row; ``q_real[b]``: how many of the step's query positions are real
    (the last ones: prefill = prompt length, decode = 1, ghost = 0).
    """

    keys: list[torch.Tensor | None]
    values: list[torch.Tensor | None]
    q_real: list[int]


class RowCache(DynamicCache):
    """A KV cache with one preallocated buffer pair per request (a "slot") and per layer.

    Before each forward, :meth:`plan` says which slot each batch row feeds (None: a ghost row, which
    stores nothing) and how many real tokens it brings; after it, :meth:`advance` moves the slots'
    lengths on. Rows may be dropped or reordered between steps at no cost.
    """

    def __init__(self, config, capacities: Sequence[int]) -> None:
        super().__init__(config=config)
        self.capacities = list(capacities)
        self.lengths = [0] * len(self.capacities)
        self.slot_keys: list[list[torch.Tensor]] = []  # [layer][slot] -> [1, Hkv, capacity, D]
        self.slot_values: list[list[torch.Tensor]] = []
        self.slots: list[int | None] = []
        self.q_real: list[int] = []
        self.seen = 0  # query offset reported to transformers (positions are passed explicitly)

    def plan(self, slots: Sequence[int | None], q_real: Sequence[int]) -> None:
        for slot, n in zip(slots, q_real):
            if slot is not None and self.lengths[slot] + n > self.capacities[slot]:
                raise ValueError(f"RowCache: slot {slot} holds {self.lengths[slot]} of {self.capacities[slot]} "
                                 f"positions and cannot take {n} more")
        self.slots, self.q_real = list(slots), list(q_real)

    def advance(self) -> None:
        for slot, n in zip(self.slots, self.q_real):
            if slot is not None:
                self.lengths[slot] += n
        self.seen += 1

    def update(self, key_states: torch.Tensor, value_states: torch.Tensor, layer_idx: int, *args, **kwargs):
        """Store the step's real keys/values ``[B, Hkv, Q, D]`` of each row; return :class:`RowViews` (twice)."""
        if layer_idx == len(self.slot_keys):
            _, heads, _, dim = key_states.shape
            new = lambda cap: key_states.new_empty(1, heads, cap, dim)  # noqa: E731
            self.slot_keys.append([new(c) for c in self.capacities])
            self.slot_values.append([new(c) for c in self.capacities])
        layer_keys, layer_values = self.slot_keys[layer_idx], self.slot_values[layer_idx]
        q_len = key_states.shape[2]
        keys: list[torch.Tensor | None] = []
        values: list[torch.Tensor | None] = []
        for row, (slot, n) in enumerate(zip(self.slots, self.q_real)):
            if slot is None:
                keys.append(None)
                values.append(None)
                continue
            start, end = self.lengths[slot], self.lengths[slot] + n
            layer_keys[slot][:, :, start:end] = key_states[row:row + 1, :, q_len - n:]
            layer_values[slot][:, :, start:end] = value_states[row:row + 1, :, q_len - n:]
            keys.append(layer_keys[slot][:, :, :end])
            values.append(layer_values[slot][:, :, :end])
        views = RowViews(keys, values, self.q_real)
        return views, views

    def get_seq_length(self, layer_idx: int = 0) -> int:
        return self.seen

    def get_mask_sizes(self, query_length: int, layer_idx: int = 0) -> tuple[int, int]:
        return self.seen + query_length, 0


def no_mask(batch_size: int, q_length: int, kv_length: int, q_offset: int = 0, kv_offset: int = 0,
            mask_function=None, attention_mask: torch.Tensor | None = None, **kwargs) -> None:
    """Mask builder: row-wise attention needs no mask (each row's keys are exactly its real tokens)."""
    return None


def rowwise_attention(module: torch.nn.Module, query: torch.Tensor, key: RowViews, value: RowViews,
                      attention_mask: None, scaling: float | None = None, dropout: float = 0.0,
                      **kwargs) -> tuple[torch.Tensor, None]:
    """Causal attention per row over its own keys from a :class:`RowCache`.

    Shapes: query ``[B, H, Q, D]`` (a row's real queries are its last ``q_real`` ones); returns
    ``[B, Q, H, D]`` with zeros for pad queries and ghost rows (no real token attends to them).
    Supported: prefill into an empty slot (``q_real == n``) and one-token decode (``q_real == 1``).
    """
    if not isinstance(key, RowViews):
        raise TypeError(f"{ATTENTION_NAME} attention needs the clinsynth RowCache (sampling.decode); got {type(key)}")
    batch, heads, q_len, dim = query.shape
    out = query.new_zeros(batch, q_len, heads, dim)
    for i, (k, v, q_real) in enumerate(zip(key.keys, key.values, key.q_real)):
        if k is None or q_real == 0:
            continue
        n = k.shape[2]
        if q_real not in (1, n):
            raise ValueError(f"rowwise attention: {q_real} queries over {n} keys; supports prefill or one-token decode")
        q = query[i:i + 1, :, q_len - q_real:, :].contiguous()  # [1, H, q_real, D]
        o = F.scaled_dot_product_attention(q, k, v, is_causal=q_real > 1, scale=scaling,
                                           enable_gqa=k.shape[1] != heads)
        out[i, q_len - q_real:] = o[0].transpose(0, 1)
    return out, None


def register() -> str:
    """Register the attention function and its mask builder with transformers (idempotent)."""
    from transformers import AttentionInterface
    from transformers.masking_utils import AttentionMaskInterface

    AttentionInterface.register(ATTENTION_NAME, rowwise_attention)
    AttentionMaskInterface.register(ATTENTION_NAME, no_mask)
    return ATTENTION_NAME
