"""GP-UNIT's loss networks: the VGG19 perceptual loss of both stages (official ``model/vgg.py``), where
their weight files are found, and :class:`LazyLoss`, which builds a loss network at its first use."""
from __future__ import annotations

import os
import warnings
from pathlib import Path
from typing import Any, Callable

import torch
import torch.nn.functional as F
from torch import nn

__all__ = ["LazyLoss", "VGGPerceptualLoss", "resolve_ir_se50", "resolve_vgg19"]


def _resolve(name: str, weights: str | os.PathLike) -> Path:
    from i2ikit.eval.weights import resolve_weights

    return resolve_weights(name, None if str(weights) == "auto" else weights)


def resolve_vgg19(weights: str | os.PathLike) -> Path:
    """The local VGG19 file: ``weights`` is a path (file, or folder holding ``vgg19-dcbb9e9d.pth``) or
    ``"auto"`` (``$I2IKIT_WEIGHTS``, ``~/.cache/i2ikit/weights``, torch hub's cache). Nothing is downloaded;
    a missing file raises ``FileNotFoundError`` naming where it was looked for and where it comes from."""
    return _resolve("vgg19", weights)


def resolve_ir_se50(weights: str | os.PathLike) -> Path:
    """The local ArcFace IR-SE50 file ``model_ir_se50.pth`` of the identity loss, found as :func:`resolve_vgg19`
    finds VGG19."""
    return _resolve("ir_se50", weights)


class LazyLoss:
    """A loss network built at its first call, so its weights are read only when training starts (an export
    rebuilds without them), and kept out of the module tree: a plain object, so the network is never
    exported, checkpointed or switched to training mode with the method. ``build=None`` stands for a term
    left out: calling returns ``None`` and warns ``absent`` once."""

    def __init__(self, build: Callable[[], nn.Module] | None, absent: str = "") -> None:
        self.build, self.absent = build, absent
        self.module: nn.Module | None = None
        self._warned = False

    def __call__(self, *tensors: torch.Tensor) -> Any:
        if self.build is None:
            if not self._warned:
                self._warned = True
                warnings.warn(self.absent, stacklevel=3)
            return None
        if self.module is None:
            self.module = self.build()
        self.module.to(tensors[0].device)
        return self.module(*tensors)


class VGGPerceptualLoss(nn.Module):
    """The official ``model/vgg.py`` ``VGGLoss``: torchvision VGG19 relu1_1, relu2_1, relu3_1, relu4_1,
    relu5_1, each ``0.3 * L1(f(a), f(b).detach())``; input in [-1, 1] normalised with ``mean * 2 - 1`` and
    ``std * 2`` of the ImageNet statistics. ``weights``: a local torchvision ``vgg19-dcbb9e9d.pth``
    (nothing is downloaded)."""

    SLICES = (2, 7, 12, 21, 30)  # features[:2] relu1_1, [2:7] relu2_1, [7:12] relu3_1, [12:21] relu4_1, [21:30] relu5_1

    def __init__(self, weights: str | os.PathLike) -> None:
        super().__init__()
        from torchvision.models.vgg import cfgs, make_layers

        from i2ikit.eval.features import IMAGENET_MEAN, IMAGENET_STD, load_features_state

        path = resolve_vgg19(weights)
        features = make_layers(cfgs["E"], batch_norm=False)[: self.SLICES[-1]]
        load_features_state(features, path, "vgg19")
        self.features = features.eval().requires_grad_(False)
        self.register_buffer("mean", torch.tensor(IMAGENET_MEAN).view(1, 3, 1, 1) * 2 - 1, persistent=False)
        self.register_buffer("std", torch.tensor(IMAGENET_STD).view(1, 3, 1, 1) * 2, persistent=False)
        self.layer_weights = [0.3] * 5

    def feats(self, x: torch.Tensor) -> list[torch.Tensor]:
        x = (x - self.mean) / self.std
        out, start = [], 0
        for end in self.SLICES:
            x = self.features[start:end](x)
            out.append(x)
            start = end
        return out

    def forward(self, x: torch.Tensor, y: torch.Tensor) -> torch.Tensor:
        loss = x.new_zeros(())
        for w, fx, fy in zip(self.layer_weights, self.feats(x), self.feats(y)):
            loss = loss + w * F.l1_loss(fx, fy.detach())
        return loss
