"""Exponential moving averages of generator weights, kept outside DDP and saved with the run state
(:mod:`.checkpoint` stores each EMA copy as ``ema_<target>``)."""
from __future__ import annotations

import torch
from torch import nn


@torch.no_grad()
def update_ema(target: nn.Module, source: nn.Module, decay: float, *, buffers: bool = False) -> None:
    """``p_t <- decay * p_t + (1 - decay) * p_s`` over parameters (and copies buffers when asked)."""
    src = dict(source.named_parameters())
    for name, p_t in target.named_parameters():
        p_t.lerp_(src[name].detach().to(p_t.dtype), 1.0 - decay)
    if buffers:
        src_b = dict(source.named_buffers())
        for name, b_t in target.named_buffers():
            b_t.copy_(src_b[name])
