"""The encoders, decoder and MLP of the MUNIT family (MUNIT, UNIT and FUNIT share them).

MUNIT's official code (NVlabs/MUNIT) introduced these modules, UNIT's master branch is written in the
same code, and FUNIT's generator reuses them with a few settings changed. The submodule names
(``model``) and their order follow that code, so networks built from them have the official
``state_dict`` keys. See ``docs/methods/munit.md`` for the shapes at the official settings.
"""
from __future__ import annotations

import torch
from torch import nn

from ..errors import ConfigError
from .blocks import Conv2dBlock, LinearBlock, ResBlocks

__all__ = ["StyleEncoder", "ContentEncoder", "Decoder", "MLP"]


class StyleEncoder(nn.Module):
    """Style (FUNIT: class) encoder: conv 7x7, two 4x4/2 convs doubling the width, ``downs - 2`` more 4x4/2
    convs at that width, global average pool, then a **bare** 1x1 ``nn.Conv2d`` to the code (key
    ``model.<n>.weight``). Output ``B x latent_dim x 1 x 1``; no normalisation at the official settings.

    ``downs``: downsamplings (>= 2); ``input_dim``: image channels; ``dim``: first width; ``latent_dim``:
    code size; ``norm``/``activation``/``pad_type``: of every conv block."""

    def __init__(self, downs: int, input_dim: int, dim: int, latent_dim: int, norm: str = "none",
                 activation: str = "relu", pad_type: str = "reflect") -> None:
        super().__init__()
        if downs < 2:
            raise ConfigError(f"a style encoder needs at least 2 downsamplings (n_downsample / n_downs_class >= 2), got {downs}")
        kw = dict(norm=norm, activation=activation, pad_type=pad_type, inplace=True)
        layers: list[nn.Module] = [Conv2dBlock(input_dim, dim, 7, 1, 3, **kw)]
        for _ in range(2):
            layers.append(Conv2dBlock(dim, 2 * dim, 4, 2, 1, **kw))
            dim *= 2
        for _ in range(downs - 2):
            layers.append(Conv2dBlock(dim, dim, 4, 2, 1, **kw))
        layers += [nn.AdaptiveAvgPool2d(1), nn.Conv2d(dim, latent_dim, 1, 1, 0)]
        self.model = nn.Sequential(*layers)
        self.output_dim = latent_dim

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.model(x)


class ContentEncoder(nn.Module):
    """Content encoder: conv 7x7, ``downs`` 4x4/2 convs doubling the width, then ``n_res`` residual blocks,
    all with ``norm`` (IN) and ``activation`` (ReLU). The code is ``dim * 2**downs`` wide at H / 2**downs and
    ends in a residual sum (signed values). UNIT calls it its encoder, and its output the shared latent."""

    def __init__(self, downs: int, n_res: int, input_dim: int, dim: int, norm: str = "in",
                 activation: str = "relu", pad_type: str = "reflect") -> None:
        super().__init__()
        kw = dict(norm=norm, activation=activation, pad_type=pad_type, inplace=True)
        layers: list[nn.Module] = [Conv2dBlock(input_dim, dim, 7, 1, 3, **kw)]
        for _ in range(downs):
            layers.append(Conv2dBlock(dim, 2 * dim, 4, 2, 1, **kw))
            dim *= 2
        layers.append(ResBlocks(n_res, dim, **kw))
        self.model = nn.Sequential(*layers)
        self.output_dim = dim

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.model(x)


class Decoder(nn.Module):
    """Decoder: ``n_res`` residual blocks with ``res_norm`` in both convs (MUNIT/FUNIT: AdaIN; UNIT: IN),
    then ``ups`` x (nearest 2x upsample, 5x5 conv halving the width with ``up_norm`` + activation), then a
    7x7 conv to ``output_dim`` channels with tanh. ``up_norm``: ``ln`` (MUNIT's and UNIT's layer norm) or
    ``in`` (FUNIT)."""

    def __init__(self, ups: int, n_res: int, dim: int, output_dim: int, res_norm: str = "adain",
                 activation: str = "relu", pad_type: str = "reflect", up_norm: str = "in") -> None:
        super().__init__()
        layers: list[nn.Module] = [ResBlocks(n_res, dim, res_norm, activation, pad_type=pad_type, inplace=True)]
        for _ in range(ups):
            layers += [
                nn.Upsample(scale_factor=2),
                Conv2dBlock(dim, dim // 2, 5, 1, 2, norm=up_norm, activation=activation, pad_type=pad_type, inplace=True),
            ]
            dim //= 2
        layers.append(Conv2dBlock(dim, output_dim, 7, 1, 3, norm="none", activation="tanh", pad_type=pad_type))
        self.model = nn.Sequential(*layers)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.model(x)


class MLP(nn.Module):
    """Style code -> every AdaIN parameter of a decoder: ``n_blk`` Linear layers, the activation on all but
    the last. The input is flattened, so a ``B x latent x 1 x 1`` code works."""

    def __init__(self, in_dim: int, out_dim: int, dim: int, n_blk: int, norm: str = "none",
                 activation: str = "relu") -> None:
        super().__init__()
        if n_blk < 2:
            raise ConfigError(f"the AdaIN MLP needs at least 2 blocks (n_mlp_blks >= 2), got {n_blk}")
        layers = [LinearBlock(in_dim, dim, norm=norm, activation=activation, inplace=True)]
        layers += [LinearBlock(dim, dim, norm=norm, activation=activation, inplace=True) for _ in range(n_blk - 2)]
        layers.append(LinearBlock(dim, out_dim, norm="none", activation="none"))
        self.model = nn.Sequential(*layers)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.model(x.view(x.size(0), -1))
