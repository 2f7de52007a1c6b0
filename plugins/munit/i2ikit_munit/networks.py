"""MUNIT's generator ``AdaINGen``, assembled from the MUNIT family's parts in the core.

``enc_style`` (:class:`~i2ikit.nn.munit_family.StyleEncoder`, no norm), ``enc_content``
(:class:`~i2ikit.nn.munit_family.ContentEncoder`, IN), ``dec`` (:class:`~i2ikit.nn.munit_family.Decoder`:
AdaIN residual blocks, layer-norm upsampling convs) and ``mlp`` (style code -> AdaIN parameters), registered in
that order so the ``state_dict`` has the official 82 keys (``docs/methods/munit.md``). The discriminator is the
core's ``multiscale`` wrapper around ``munit_patch``, MUNIT's ``MsImageDis``.
"""
from __future__ import annotations

import torch
from torch import nn

from i2ikit.constraints import OneOf, Range, at_least_one
from i2ikit.nn import assign_adain_params, clear_adain_params, num_adain_params
from i2ikit.nn.blocks import PAD_TYPES
from i2ikit.nn.munit_family import MLP, ContentEncoder, Decoder, StyleEncoder

ACTIVATIONS = ("relu", "lrelu", "tanh", "none")


class AdaINGen(nn.Module):
    """One domain's auto-encoder: ``encode(x) -> (content, style)``, ``decode(content, style) -> image``.

    ``dim``: first conv width (64); ``style_dim``: style code size (8); ``mlp_dim``: MLP width (256);
    ``n_downsample``: downsamplings of both encoders (2; the style encoder adds two more at its width);
    ``n_res``: residual blocks of the content encoder and decoder (4); ``activ`` (relu) and ``pad_type``
    (reflect) as the official ``gen:`` section; ``input_dim``: image channels (3).
    """

    constraints = {"dim": at_least_one, "style_dim": at_least_one, "mlp_dim": at_least_one, "n_downsample": Range(ge=0),
                   "n_res": Range(ge=0), "activ": OneOf(ACTIVATIONS), "pad_type": OneOf(PAD_TYPES), "input_dim": at_least_one}

    def __init__(self, dim: int = 64, style_dim: int = 8, mlp_dim: int = 256, n_downsample: int = 2, n_res: int = 4,
                 activ: str = "relu", pad_type: str = "reflect", input_dim: int = 3) -> None:
        super().__init__()
        self.style_dim = style_dim
        # The style encoder always downsamples 4 times (official: StyleEncoder(4, ...), whatever n_downsample).
        self.enc_style = StyleEncoder(4, input_dim, dim, style_dim, norm="none", activation=activ, pad_type=pad_type)
        self.enc_content = ContentEncoder(n_downsample, n_res, input_dim, dim, "in", activ, pad_type=pad_type)
        self.dec = Decoder(n_downsample, n_res, self.enc_content.output_dim, input_dim, res_norm="adain",
                           activation=activ, pad_type=pad_type, up_norm="ln")
        self.mlp = MLP(style_dim, num_adain_params(self.dec), mlp_dim, 3, norm="none", activation=activ)

    def encode(self, x: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        """``(content B x 4dim x H/4 x W/4, style B x style_dim x 1 x 1)``."""
        return self.enc_content(x), self.enc_style(x)

    def decode(self, content: torch.Tensor, style: torch.Tensor) -> torch.Tensor:
        """The image of a content code in a style (one style per content code). The AdaIN parameters are
        assigned for this call only, so the module holds no graph afterwards."""
        assign_adain_params(self.mlp(style), self.dec)
        try:
            return self.dec(content)
        finally:
            clear_adain_params(self.dec)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        """Reconstruction with the image's own style (official ``forward``)."""
        content, style = self.encode(x)
        return self.decode(content, style)
