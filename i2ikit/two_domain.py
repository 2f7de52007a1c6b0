"""What every two-domain method (UNIT, MUNIT, DRIT, GP-UNIT, CycleGAN) shares: one translate convention.

Domain A is a method's ``source`` data stream and domain B its ``target`` stream. ``translate(content,
style_image=None, z=None, *, num_styles=None, direction="a2b", generator=None)`` maps images of one domain
into the other: ``direction`` ``a2b`` (A -> B) or ``b2a``; the style (attribute) comes from ``style_image``
(exemplar-guided: a target-domain image), ``z`` (latent codes) or ``num_styles`` random draws (with
``generator`` for repeatable draws); with none of them, one random style per content image. Batches pair
element-wise and a batch of one on either side broadcasts.
"""
from __future__ import annotations

import torch

from .errors import ConfigError

DIRECTIONS = ("a2b", "b2a")


def is_a2b(direction: str, method: str) -> bool:
    """True for ``a2b``, False for ``b2a``; anything else is a :class:`ConfigError` naming the value."""
    if direction not in DIRECTIONS:
        raise ConfigError(f"method {method!r}: direction must be 'a2b' (source -> target domain) or 'b2a', got {direction!r}")
    return direction == "a2b"


def pair(content: torch.Tensor, style: torch.Tensor, method: str) -> tuple[torch.Tensor, torch.Tensor]:
    """Broadcast a batch of one against the other side; other unequal batches are an error."""
    b, n = content.shape[0], style.shape[0]
    if b == n:
        return content, style
    if b == 1:
        return content.expand(n, *content.shape[1:]), style
    if n == 1:
        return content, style.expand(b, *style.shape[1:])
    raise ConfigError(f"method {method!r}: {b} content images and {n} styles; the batches must match or one must be 1")


def random_styles(count: int, shape: tuple[int, ...], *, device: torch.device, dtype: torch.dtype = torch.float32,
                  generator: torch.Generator | None = None) -> torch.Tensor:
    """``count`` draws of N(0, I) of ``shape`` each; drawn on the CPU with ``generator`` (so a seed gives the
    same styles on every device), else with the global RNG on ``device``, as the official code does."""
    if generator is not None:
        return torch.randn(count, *shape, generator=generator).to(device=device, dtype=dtype)
    return torch.randn(count, *shape, device=device, dtype=dtype)


def step_decay(iteration: int, step_size: int, gamma: float) -> float:
    """The lr factor of ``StepLR(step_size, gamma)`` stepped once *before* every iteration, as MUNIT's and UNIT's
    ``train.py`` do: ``gamma ** ((iteration + 1) // step_size)`` at the 0-based ``iteration``."""
    return float(gamma) ** ((int(iteration) + 1) // int(step_size))
