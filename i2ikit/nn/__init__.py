"""Generic network layers shared by the method plugins (imports torch only)."""
from __future__ import annotations

from .modes import eval_mode, train_mode
from .views import NetworkView
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
    "NetworkView",
    "eval_mode",
    "train_mode",
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

# Generic helpers first used by GP-UNIT (style-driven AdaIN, gradient reversal, SPADE-style init,
# legacy torch spectral-norm state dicts).
from .layers import (  # noqa: E402
    INIT_TYPES,
    GradientReversal,
    StyleAdaIN2d,
    grad_reverse,
    init_weights,
    legacy_spectral_norm_weight,
    spectral_norm_keys_to_legacy,
)

__all__ += [
    "INIT_TYPES",
    "GradientReversal",
    "StyleAdaIN2d",
    "grad_reverse",
    "init_weights",
    "legacy_spectral_norm_weight",
    "spectral_norm_keys_to_legacy",
]
