"""Exponential moving averages of generator weights, kept outside DDP and saved with the run state."""
from __future__ import annotations

from typing import Any

import torch
from torch import nn

from ..method import EMASpec, Method


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


class EMAState:
    """Adapter so ``Accelerator.register_for_checkpointing`` saves and restores every EMA copy."""

    def __init__(self, method: Method, specs: list[EMASpec]) -> None:
        self.method = method
        self.specs = specs

    def state_dict(self) -> dict[str, Any]:
        return {s.target: getattr(self.method, s.target).state_dict() for s in self.specs}

    def load_state_dict(self, state: dict[str, Any]) -> None:
        for s in self.specs:
            getattr(self.method, s.target).load_state_dict(state[s.target])
