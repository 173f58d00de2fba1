"""Row-wise attention: each row of a padded batch attends over exactly its own real tokens.

Why: with left padding, a row's keys sit at a different offset in a longer key axis than when the
row runs alone, so the attention kernels reduce (softmax sum, ``P @ V``) in a different order and
bf16 logits drift by up to ~0.4 (measured on SmolLM2-135M; float32 drifts ~3e-5). That is enough
to change sampled text. Slicing each row down to its real keys gives every row the very tensors,
shapes and memory layout it would have alone; the linear layers, norms and RoPE are row-wise, and
in bf16 the CPU GEMMs gave bit-identical rows for any number of rows (not so in float32, where
MKL's blocking depends on the row count). The cost is one small SDPA call per row and layer.

Registered with transformers as attention implementation ``clinsynth_rowwise`` together with a
mask "builder" that passes the 2-D padding mask through unchanged.
"""

from __future__ import annotations

import torch
import torch.nn.functional as F

ATTENTION_NAME = "clinsynth_rowwise"


def padding_mask_passthrough(batch_size: int, q_length: int, kv_length: int, q_offset: int = 0,
                             kv_offset: int = 0, mask_function=None, attention_mask: torch.Tensor | None = None,
                             **kwargs) -> torch.Tensor | None:
    """Mask builder: hand the attention function the bool padding mask ``[B, K]`` (True = real token)."""
    if attention_mask is None:
        return None
    return attention_mask[:, kv_offset: kv_offset + kv_length].bool()


def rowwise_attention(module: torch.nn.Module, query: torch.Tensor, key: torch.Tensor, value: torch.Tensor,
                      attention_mask: torch.Tensor | None, scaling: float | None = None, dropout: float = 0.0,
                      **kwargs) -> tuple[torch.Tensor, None]:
    """Causal attention per row over its real (unpadded) keys.

    Shapes: query ``[B, H, Q, D]``, key/value ``[B, Hkv, K, D]``, attention_mask bool ``[B, K]``
    (left padding: a row's real keys are its last ``n`` keys). Returns ``[B, Q, H, D]``; pad
    queries get zeros (no real token ever attends to them).
    Supported: prefill (``Q == K``) and one-token decode (``Q == 1``).
    """
    batch, heads, q_len, dim = query.shape
    k_len = key.shape[2]
    n_real = attention_mask.sum(-1).tolist() if attention_mask is not None else [k_len] * batch
    gqa = key.shape[1] != heads
    out = query.new_zeros(batch, q_len, heads, dim)
    for i, n in enumerate(n_real):
        q_real = min(q_len, n)
        if q_real not in (1, n):
            raise ValueError(f"rowwise attention: {q_real} queries over {n} keys; supports prefill or one-token decode")
        q = query[i:i + 1, :, q_len - q_real:, :].contiguous()  # [1, H, q_real, D]
        k = key[i:i + 1, :, k_len - n:, :].contiguous()  # [1, Hkv, n, D]
        v = value[i:i + 1, :, k_len - n:, :].contiguous()
        o = F.scaled_dot_product_attention(q, k, v, is_causal=q_real > 1, scale=scaling, enable_gqa=gqa)
        out[i, q_len - q_real:] = o[0].transpose(0, 1)
    return out, None


def register() -> str:
    """Register the attention function and its mask builder with transformers (idempotent)."""
    from transformers import AttentionInterface
    from transformers.masking_utils import AttentionMaskInterface

    AttentionInterface.register(ATTENTION_NAME, rowwise_attention)
    AttentionMaskInterface.register(ATTENTION_NAME, padding_mask_passthrough)
    return ATTENTION_NAME
