"""Where GP-UNIT's loss networks are found. The VGG19 perceptual loss of both stages (official
``model/vgg.py``) and :class:`LazyLoss` are the core's (``i2ikit.losses``), shared with other methods."""
from __future__ import annotations

import os
from pathlib import Path

from i2ikit.eval.weights import WeightFile
from i2ikit.losses import LazyLoss, VGGPerceptualLoss, resolve_vgg19

__all__ = ["IR_SE50", "LazyLoss", "VGGPerceptualLoss", "resolve_ir_se50", "resolve_vgg19"]

# TreB1eN's InsightFace_Pytorch IR-SE50, as GP-UNIT's README links it. Published on Google Drive
# without a checksum: the digest is unknown and nothing can be verified. "" (not None) means unknown
# here only because tests/test_metrics.py checks `entry.sha256 in message` for every entry; both read
# as "unknown" everywhere in i2ikit.eval.weights.
IR_SE50 = WeightFile(
    name="ir_se50",
    filename="model_ir_se50.pth",
    sha256="",
    url="https://drive.google.com/file/d/1KW7bjndL3QG3sxBbZxreGHigcCCpsDgn/view?usp=sharing",
    used_by=("gpunit use_idloss",),
    description="ArcFace IR-SE50 face embeddings (TreB1eN InsightFace_Pytorch, 112 px); GP-UNIT's identity "
                "loss. The URL is a Google-Drive page: download the file in a browser (curl gets the page)",
)


def _resolve(name: str, weights: str | os.PathLike) -> Path:
    from i2ikit.eval.weights import resolve_weights

    return resolve_weights(name, None if str(weights) == "auto" else weights)


def resolve_ir_se50(weights: str | os.PathLike) -> Path:
    """The local ArcFace IR-SE50 file ``model_ir_se50.pth`` of the identity loss, found as
    :func:`i2ikit.losses.resolve_vgg19` finds VGG19."""
    return _resolve("ir_se50", weights)
