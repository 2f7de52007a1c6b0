"""Generic network layers shared by the method plugins (imports torch only)."""
from __future__ import annotations

from .blocks import (
    ActFirstResBlock,
    AdaptiveInstanceNorm2d,
    Conv2dBlock,
    LinearBlock,
    ResBlock,
    ResBlocks,
    assign_adain_params,
    clear_adain_params,
    make_activation,
    num_adain_params,
)

__all__ = [
    "ActFirstResBlock",
    "AdaptiveInstanceNorm2d",
    "Conv2dBlock",
    "LinearBlock",
    "ResBlock",
    "ResBlocks",
    "assign_adain_params",
    "clear_adain_params",
    "make_activation",
    "num_adain_params",
]
