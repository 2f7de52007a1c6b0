"""Discriminator parts the core ships: the multi-scale wrapper (pix2pixHD, SPADE, MUNIT) and the MUNIT/UNIT
patch discriminator run at each of its scales.

``multiscale`` runs copies of any registered discriminator on the image and on 2x, 4x, ... average-pooled
versions of it (pix2pixHD's ``MultiscaleDiscriminator``), so a recipe writes::

    discriminator: {name: multiscale, num_scales: 3, discriminator: {name: funit_patch, nf: 32, n_res_blks: 4}}
"""
from __future__ import annotations

from typing import Any, Mapping

import torch
import torch.nn.functional as F
from torch import nn

from .constraints import OneOf, at_least_one
from .nn.blocks import NORMS_2D, PAD_TYPES, Conv2dBlock
from .parts import DiscriminatorOutput, PartSlot, build_part, check_part_spec

_INNER = PartSlot("discriminator", "", "the discriminator run at every scale", labels=True)


class MultiScaleDiscriminator(nn.Module):
    """``num_scales`` copies of one discriminator part (``scales.0`` sees the image, ``scales.k`` the image
    average-pooled k times with a 3x3 window, stride 2, padding excluded, as pix2pixHD).

    ``forward(x, y=None)`` returns :class:`~i2ikit.parts.DiscriminatorOutput`: ``logits`` are every scale's
    logits flattened and concatenated (B x sum of N_k), so any GAN loss averages over all patches of all
    scales; :meth:`split` gives them back per scale for a method that weighs scales as pix2pixHD does (sum
    of per-scale means). ``features`` are every scale's features, finest scale first.

    ``discriminator``: the spec of the part at each scale (a name or ``{name: ..., <kwargs>}``);
    ``num_scales``: how many; ``num_classes``: handed to a class-conditional part; ``img_size``: handed
    to a part that sizes itself from it (halved at each scale). Labels ``y`` are passed through.
    """

    labels = "optional"
    constraints = {"num_scales": at_least_one, "num_classes": at_least_one}

    def __init__(self, discriminator: str | Mapping[str, Any], num_scales: int = 3, num_classes: int = 1,
                 img_size: int | None = None) -> None:
        super().__init__()
        self.num_scales = int(num_scales)
        scales = []
        for k in range(self.num_scales):
            supplied: dict[str, Any] = {"num_classes": num_classes}
            if img_size is not None:
                supplied["img_size"] = max(1, int(img_size) // 2 ** k)
            scales.append(build_part(_INNER, discriminator, f"discriminator 'multiscale': discriminator (scale {k})",
                                     supplied=supplied))
        self.scales = nn.ModuleList(scales)
        self._sizes: list[tuple[int, ...]] = []

    @classmethod
    def check_spec(cls, kwargs: Mapping[str, Any], where: str) -> None:
        """Check the nested part's spec with the recipe, before anything is built."""
        if isinstance(kwargs.get("discriminator"), (str, Mapping)):
            check_part_spec(_INNER, kwargs["discriminator"], f"{where}.discriminator", supplied={"num_classes": 1})

    def forward(self, x: torch.Tensor, y: torch.Tensor | None = None) -> DiscriminatorOutput:
        logits, features, sizes = [], [], []
        for k, dis in enumerate(self.scales):
            if k:
                x = F.avg_pool2d(x, 3, stride=2, padding=1, count_include_pad=False)
            out = dis(x, y)
            sizes.append(tuple(out.logits.shape[1:]))
            logits.append(out.logits.reshape(x.shape[0], -1))
            features.extend(out.features)
        self._sizes = sizes
        return DiscriminatorOutput(torch.cat(logits, dim=1), features)

    def split(self, logits: torch.Tensor) -> list[torch.Tensor]:
        """Per-scale logits (each in its scale's own shape) of the last forward's concatenated ``logits``."""
        counts = [int(torch.tensor(s).prod()) if s else 1 for s in self._sizes]
        return [part.reshape(logits.shape[0], *s) for part, s in zip(logits.split(counts, dim=1), self._sizes)]


class PatchDiscriminator(nn.Sequential):
    """One scale of MUNIT's and UNIT's ``MsImageDis``: a 4x4 stride-2 conv of ``dim`` channels with LeakyReLU
    0.2 and no norm, ``n_layer - 1`` more that double the width (norm ``norm``), then a bare 1x1 conv to one
    logit map; reflect padding, a bias on every conv. ``forward(x, y=None)`` ignores labels.

    As a plain ``Sequential`` its keys are those of one official scale (``0.conv.weight`` ... ``4.bias``), so
    ``{name: multiscale, discriminator: munit_patch}`` holds ``scales.<s>.*`` where the official file holds
    ``cnns.<s>.*``. ``dim`` 64, ``n_layer`` 4, ``norm`` ``none`` and ``activ`` ``lrelu`` are the official
    configs' values.
    """

    labels = "unused"
    constraints = {"dim": at_least_one, "n_layer": at_least_one, "norm": OneOf(NORMS_2D),
                   "activ": OneOf(("relu", "lrelu", "tanh", "none")), "pad_type": OneOf(PAD_TYPES)}

    def __init__(self, dim: int = 64, n_layer: int = 4, norm: str = "none", activ: str = "lrelu",
                 pad_type: str = "reflect", input_dim: int = 3) -> None:
        layers: list[nn.Module] = [Conv2dBlock(input_dim, dim, 4, 2, 1, norm="none", activation=activ, pad_type=pad_type,
                                               inplace=True)]
        for _ in range(n_layer - 1):
            layers.append(Conv2dBlock(dim, dim * 2, 4, 2, 1, norm=norm, activation=activ, pad_type=pad_type, inplace=True))
            dim *= 2
        layers.append(nn.Conv2d(dim, 1, 1, 1, 0))
        super().__init__(*layers)

    def forward(self, x: torch.Tensor, y: torch.Tensor | None = None) -> DiscriminatorOutput:  # type: ignore[override]
        layers = list(self)
        for layer in layers[:-1]:
            x = layer(x)
        return DiscriminatorOutput(layers[-1](x), [x])
