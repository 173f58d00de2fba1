"""bf16 autocast only where the CPU has native bfloat16."""

import torch

from clinsynth.training import precision


def test_bf16_follows_the_hardware(caplog):
    native = precision.native_bf16()
    assert precision.use_bf16(False) is False
    assert precision.use_bf16(True) is native
    x = torch.ones(4, 4)
    with precision.autocast(True):
        y = x @ x
    assert y.dtype == (torch.bfloat16 if native else torch.float32)
    with precision.autocast(False):
        assert (x @ x).dtype == torch.float32
