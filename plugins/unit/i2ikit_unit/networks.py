"""UNIT's generator ``VAEGen`` (master branch), assembled from the MUNIT family's parts in the core.

``enc`` is the content encoder (IN) whose output is the shared latent's mean, ``dec`` the decoder with plain
IN residual blocks and layer-norm upsampling convs; 48 state-dict keys, as ``docs/methods/unit.md`` lists.
The "reduced VAE": the posterior is N(mean, I), so encoding draws unit noise and the decoder reads mean + noise.
"""
from __future__ import annotations

import torch
from torch import nn

from i2ikit.constraints import OneOf, Range, at_least_one
from i2ikit.nn.blocks import PAD_TYPES
from i2ikit.nn.munit_family import ContentEncoder, Decoder


class VAEGen(nn.Module):
    """One domain's encoder and decoder: ``encode(x) -> (mean, noise)``, ``decode(h) -> image``.

    ``dim``: first conv width (64); ``n_downsample``: downsamplings (2; the latent is at H/4); ``n_res``:
    residual blocks of encoder and decoder (4); ``activ`` (relu), ``pad_type`` (reflect); ``input_dim`` (3).
    """

    constraints = {"dim": at_least_one, "n_downsample": Range(ge=0), "n_res": Range(ge=0),
                   "activ": OneOf(("relu", "lrelu", "tanh", "none")), "pad_type": OneOf(PAD_TYPES),
                   "input_dim": at_least_one}

    def __init__(self, dim: int = 64, n_downsample: int = 2, n_res: int = 4, activ: str = "relu",
                 pad_type: str = "reflect", input_dim: int = 3) -> None:
        super().__init__()
        self.n_res = n_res
        self.enc = ContentEncoder(n_downsample, n_res, input_dim, dim, "in", activ, pad_type=pad_type)
        self.dec = Decoder(n_downsample, n_res, self.enc.output_dim, input_dim, res_norm="in", activation=activ,
                           pad_type=pad_type, up_norm="ln")

    def encode(self, x: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        """The latent mean and a fresh N(0, I) sample of its shape (drawn in eval mode too, as officially)."""
        h = self.enc(x)
        return h, torch.randn_like(h)

    def decode(self, h: torch.Tensor) -> torch.Tensor:
        return self.dec(h)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        """Reconstruction: mean + noise in training, the mean alone in eval mode (official ``forward``)."""
        h, noise = self.encode(x)
        return self.decode(h + noise if self.training else h)

    def shared_blocks(self, k: int) -> list[tuple[nn.Module, nn.Module]]:
        """The encoder's last ``k`` and the decoder's first ``k`` residual blocks (the highest-level layers that
        the paper's UNIT shares between the two domains), as (encoder block, decoder block) lists' modules."""
        enc_blocks = list(self.enc.model[-1].model)
        dec_blocks = list(self.dec.model[0].model)
        return [(e, d) for e, d in zip(enc_blocks[len(enc_blocks) - k:], dec_blocks[:k])]
