"""bfloat16 autocast for the CPU trainings, only where the CPU computes bfloat16 natively.

``bf16: true`` in a training's params asks for bfloat16 autocast. On a CPU with AVX512-BF16 or AMX that
is faster for the larger matmuls; on one without (AVX2 only), torch emulates bfloat16 and the same
training runs many times slower (measured on an AMD EPYC with AVX2 only, 1 thread: the FHIR answer LoRA
took 230-335 s/step with bf16 autocast against ~8 s/step on a CPU with AVX512-BF16; a SmolLM2 greedy
``generate`` ran 9.2 tok/s in bfloat16 against 28.7 in float32). There the trainings run in float32 and
say so once: the params value stays what it is, the precision used is logged and returned.
"""

from __future__ import annotations

import contextlib
import functools
import logging

import torch

log = logging.getLogger(__name__)


@functools.cache
def native_bf16() -> bool:
    """Whether this CPU has bfloat16 arithmetic in hardware (AVX512-BF16 or AMX tiles)."""
    checks = (getattr(torch.cpu, "_is_avx512_bf16_supported", None), getattr(torch.cpu, "_is_amx_tile_supported", None))
    return any(check() for check in checks if check is not None)


@functools.cache
def use_bf16(requested: bool) -> bool:
    """``requested`` where the CPU has native bfloat16; False (with one warning) where it would be emulated."""
    if requested and not native_bf16():
        log.warning("bf16: true asked for bfloat16 autocast, but this CPU has no AVX512-BF16 or AMX: torch would "
                    "emulate it many times slower; training in float32 instead")
        return False
    return requested


def autocast(requested: bool):
    """``torch.autocast`` to bfloat16 on the CPU when :func:`use_bf16`, else a no-op context."""
    if use_bf16(requested):
        return torch.autocast("cpu", dtype=torch.bfloat16)
    return contextlib.nullcontext()
