"""Where GP-UNIT's loss networks are found. The VGG19 perceptual loss of both stages (official
``model/vgg.py``) and :class:`LazyLoss` are the core's (``i2ikit.losses``), shared with other methods."""
from __future__ import annotations

import os
from pathlib import Path

from i2ikit.losses import LazyLoss, VGGPerceptualLoss, resolve_vgg19

__all__ = ["LazyLoss", "VGGPerceptualLoss", "resolve_ir_se50", "resolve_vgg19"]


def _resolve(name: str, weights: str | os.PathLike) -> Path:
    from i2ikit.eval.weights import resolve_weights

    return resolve_weights(name, None if str(weights) == "auto" else weights)


def resolve_ir_se50(weights: str | os.PathLike) -> Path:
    """The local ArcFace IR-SE50 file ``model_ir_se50.pth`` of the identity loss, found as
    :func:`i2ikit.losses.resolve_vgg19` finds VGG19."""
    return _resolve("ir_se50", weights)
