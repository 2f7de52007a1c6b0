"""SPADE's networks under the official names and state-dict keys (``NVlabs/SPADE`` ``models/networks/``).

- :class:`SPADEGenerator` (part ``spade_generator``): ``fc`` (a conv on the label map resized to sh x sw,
  or with ``use_vae`` a linear from z), seven :class:`~i2ikit.nn.spade.SPADEResnetBlock` (eight for
  ``most``) with nearest x2 upsampling between them, LeakyReLU, ``conv_img``, tanh.
- :class:`ConvEncoder` (part ``spade_encoder``): the VAE style encoder; returns ``(mu, logvar)``.
- :class:`SPADEPatchDiscriminator` (part ``spade_patch``): one scale of the official
  ``MultiscaleDiscriminator``, i.e. ``NLayerDiscriminator``; SPADE's discriminator is the core
  ``multiscale`` wrapper around two of them (:func:`multiscale_discriminator`), whose ``scales.<k>.`` is the
  official ``discriminator_<k>.`` (scale 0 sees the full resolution in both).

Every network initialises itself as the official ``create_network`` does (:func:`~i2ikit.nn.spade.spade_init_weights`).
"""
from __future__ import annotations

from typing import Any, Mapping

import torch
import torch.nn.functional as F
from torch import nn

from i2ikit.constraints import OneOf, Range, at_least_one
from i2ikit.errors import ConfigError
from i2ikit.nn.layers import INIT_TYPES
from i2ikit.nn.spade import SN_INITS, SPADEResnetBlock, check_nonspade_norm, check_norm_G, nonspade_norm_layer, spade_init_weights
from i2ikit.parts import DiscriminatorOutput

__all__ = [
    "UPSAMPLING_LAYERS",
    "latent_size",
    "SPADEGenerator",
    "ConvEncoder",
    "reparameterize",
    "SPADEPatchDiscriminator",
    "multiscale_discriminator",
]

UPSAMPLING_LAYERS = {"normal": 5, "more": 6, "most": 7}
"""``num_upsampling_layers`` -> how many x2 upsamplings the generator makes after ``fc``."""

_INIT = {"init_type": OneOf(INIT_TYPES), "init_variance": Range(ge=0), "sn_init": OneOf(SN_INITS)}


def latent_size(crop_size: int, aspect_ratio: float = 1.0, num_upsampling_layers: str = "normal") -> tuple[int, int]:
    """``(sw, sh)``, the width and height ``fc`` produces (``compute_latent_vector_size``):
    ``sw = crop_size // 2**n`` and ``sh = round(sw / aspect_ratio)``, n = 5, 6, 7 for normal, more, most.
    The output is ``sh * 2**n`` x ``sw * 2**n`` whatever the size of the label map fed in."""
    if num_upsampling_layers not in UPSAMPLING_LAYERS:
        raise ConfigError(f"num_upsampling_layers {num_upsampling_layers!r} is not one of "
                          f"{', '.join(map(repr, UPSAMPLING_LAYERS))} (5, 6 or 7 x2 upsamplings)")
    sw = int(crop_size) // 2 ** UPSAMPLING_LAYERS[num_upsampling_layers]
    sh = round(sw / float(aspect_ratio))
    if sw < 1 or sh < 1:
        raise ConfigError(f"crop_size {crop_size} with aspect_ratio {aspect_ratio} and num_upsampling_layers "
                          f"{num_upsampling_layers!r} gives a {sh} x {sw} latent map: crop_size must be at least "
                          f"{2 ** UPSAMPLING_LAYERS[num_upsampling_layers]} (and crop_size / aspect_ratio as large)")
    return sw, sh


class SPADEGenerator(nn.Module):
    """The official ``SPADEGenerator``: label map (and z with ``use_vae``) -> image in [-1, 1].

    ``semantic_nc``: channels of the label-map encoding (one-hot labels [+ don't-care] [+ instance edges]:
    Cityscapes 36, ADE20K 151, COCO 184; :func:`i2ikit.nn.label_maps.input_channels`).
    ``ngf``: base width (64); the blocks are 16, 16, 16, 8, 4, 2, 1 (and 1/2 for ``most``) x ngf wide.
    ``z_dim``: length of z (256); only with ``use_vae``.
    ``num_upsampling_layers``: ``normal`` (5 x2 upsamplings), ``more`` (6: one more between G_middle_0 and
    G_middle_1; Cityscapes) or ``most`` (7: also ``up_4``, ngf -> ngf/2, at the end).
    ``crop_size``, ``aspect_ratio``: the training crop's width and width/height, which fix the latent map
    (:func:`latent_size`) and so the output size: 256/1 gives 8x8 -> 256x256, Cityscapes 512/2 with
    ``more`` gives 4x8 -> 256x512.
    ``use_vae``: ``fc`` is Linear(z_dim, 16 ngf sh sw) on z instead of a 3x3 conv on the label map resized
    (nearest) to sh x sw.
    ``norm_G``: the blocks' norm, ``spectralspadesyncbatch3x3`` (spectral norm on the block convs; SPADE
    with batch norm, synchronised across GPUs officially, plain batch norm here).
    ``init_type``, ``init_variance``, ``sn_init``: the initialisation (:func:`~i2ikit.nn.spade.spade_init_weights`).

    ``forward(seg, z=None)``: ``seg`` B x semantic_nc x H x W. With ``use_vae`` and no ``z``, z ~ N(0, I) is
    drawn on ``seg``'s device (officially on CUDA only).
    """

    constraints = {"semantic_nc": at_least_one, "ngf": Range(ge=2), "z_dim": at_least_one,
                   "num_upsampling_layers": OneOf(tuple(UPSAMPLING_LAYERS)), "crop_size": at_least_one,
                   "aspect_ratio": Range(gt=0), **_INIT}

    def __init__(self, semantic_nc: int, ngf: int = 64, z_dim: int = 256, num_upsampling_layers: str = "normal",
                 crop_size: int = 256, aspect_ratio: float = 1.0, use_vae: bool = False,
                 norm_G: str = "spectralspadesyncbatch3x3", init_type: str = "xavier", init_variance: float = 0.02,
                 sn_init: str = "pytorch") -> None:
        super().__init__()
        check_norm_G(norm_G)
        self.semantic_nc, self.ngf, self.z_dim, self.use_vae = int(semantic_nc), int(ngf), int(z_dim), bool(use_vae)
        self.num_upsampling_layers = num_upsampling_layers
        self.sw, self.sh = latent_size(crop_size, aspect_ratio, num_upsampling_layers)
        nf = self.ngf
        if self.use_vae:
            self.fc: nn.Module = nn.Linear(self.z_dim, 16 * nf * self.sw * self.sh)
        else:
            self.fc = nn.Conv2d(self.semantic_nc, 16 * nf, 3, padding=1)

        def block(fin: int, fout: int) -> SPADEResnetBlock:
            return SPADEResnetBlock(fin, fout, self.semantic_nc, norm_G)

        self.head_0 = block(16 * nf, 16 * nf)
        self.G_middle_0 = block(16 * nf, 16 * nf)
        self.G_middle_1 = block(16 * nf, 16 * nf)
        self.up_0 = block(16 * nf, 8 * nf)
        self.up_1 = block(8 * nf, 4 * nf)
        self.up_2 = block(4 * nf, 2 * nf)
        self.up_3 = block(2 * nf, nf)
        final_nc = nf
        if num_upsampling_layers == "most":
            self.up_4 = block(nf, nf // 2)
            final_nc = nf // 2
        self.conv_img = nn.Conv2d(final_nc, 3, 3, padding=1)
        spade_init_weights(self, init_type, init_variance, sn_init)

    @property
    def output_size(self) -> tuple[int, int]:
        """``(H, W)`` of the images this generator makes."""
        scale = 2 ** UPSAMPLING_LAYERS[self.num_upsampling_layers]
        return self.sh * scale, self.sw * scale

    @staticmethod
    def _up(x: torch.Tensor) -> torch.Tensor:
        return F.interpolate(x, scale_factor=2, mode="nearest")  # the official nn.Upsample(scale_factor=2)

    def forward(self, seg: torch.Tensor, z: torch.Tensor | None = None) -> torch.Tensor:
        if seg.ndim != 4 or seg.shape[1] != self.semantic_nc:
            raise ValueError(f"SPADEGenerator expects a B x {self.semantic_nc} x H x W label-map encoding (semantic_nc), "
                             f"got shape {tuple(seg.shape)}")
        if self.use_vae:
            if z is None:
                z = torch.randn(seg.shape[0], self.z_dim, dtype=torch.float32, device=seg.device)
            x = self.fc(z).view(-1, 16 * self.ngf, self.sh, self.sw)
        else:
            x = self.fc(F.interpolate(seg, size=(self.sh, self.sw)))
        x = self.head_0(x, seg)
        x = self.G_middle_0(self._up(x), seg)
        if self.num_upsampling_layers in ("more", "most"):
            x = self._up(x)
        x = self.G_middle_1(x, seg)
        for block in (self.up_0, self.up_1, self.up_2, self.up_3):
            x = block(self._up(x), seg)
        if self.num_upsampling_layers == "most":
            x = self.up_4(self._up(x), seg)
        return torch.tanh(self.conv_img(F.leaky_relu(x, 0.2)))


class ConvEncoder(nn.Module):
    """The official VAE style encoder ``ConvEncoder``: image -> ``(mu, logvar)``, each B x z_dim.

    ``ngf``: base width (the official ``ndf = opt.ngf``, 64; ``--nef`` is unused officially). Six 3x3
    stride-2 convs ``layer1..6`` (ngf, 2, 4, 8, 8, 8 x ngf), each ``norm_E``-wrapped, LeakyReLU 0.2 after
    each, then ``fc_mu`` and ``fc_var`` from the 8 ngf x 4 x 4 map.
    ``z_dim``: the latent length (256, hard-coded officially; the generator's ``z_dim`` must equal it).
    ``norm_E``: ``spectralinstance`` (spectral-norm convs without bias, then InstanceNorm without affine).
    ``init_type``, ``init_variance``, ``sn_init``: the initialisation (:func:`~i2ikit.nn.spade.spade_init_weights`).

    Any input is first resized (bilinear) to 256 x 256, as officially: Cityscapes 512x256 crops are
    squashed. The official code builds ``layer6`` only for ``crop_size >= 256`` and then cannot run for
    smaller crops (an 8x8 map meets a 4x4 linear); here it is always built, the only layout that runs.
    """

    constraints = {"ngf": at_least_one, "z_dim": at_least_one, **_INIT}

    def __init__(self, ngf: int = 64, z_dim: int = 256, norm_E: str = "spectralinstance", init_type: str = "xavier",
                 init_variance: float = 0.02, sn_init: str = "pytorch") -> None:
        super().__init__()
        check_nonspade_norm(norm_E, key="norm_E")
        widths = [3, ngf, ngf * 2, ngf * 4, ngf * 8, ngf * 8, ngf * 8]
        for i in range(6):
            conv = nn.Conv2d(widths[i], widths[i + 1], 3, stride=2, padding=1)
            self.add_module(f"layer{i + 1}", nonspade_norm_layer(conv, norm_E))
        self.so = 4
        self.fc_mu = nn.Linear(ngf * 8 * self.so * self.so, z_dim)
        self.fc_var = nn.Linear(ngf * 8 * self.so * self.so, z_dim)
        spade_init_weights(self, init_type, init_variance, sn_init)

    def forward(self, x: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        if x.shape[2] != 256 or x.shape[3] != 256:
            x = F.interpolate(x, size=(256, 256), mode="bilinear", align_corners=False)
        x = self.layer1(x)
        for layer in (self.layer2, self.layer3, self.layer4, self.layer5, self.layer6):
            x = layer(F.leaky_relu(x, 0.2))
        x = F.leaky_relu(x, 0.2).reshape(x.shape[0], -1)
        return self.fc_mu(x), self.fc_var(x)


def reparameterize(mu: torch.Tensor, logvar: torch.Tensor, generator: torch.Generator | None = None) -> torch.Tensor:
    """``z = mu + eps * exp(logvar / 2)``, eps ~ N(0, I) (the official ``Pix2PixModel.reparameterize``)."""
    std = torch.exp(0.5 * logvar)
    eps = torch.randn(std.shape, generator=generator, dtype=std.dtype, device=std.device)
    return eps.mul(std) + mu


class SPADEPatchDiscriminator(nn.Module):
    """One scale of SPADE's discriminator, the official ``NLayerDiscriminator`` (registered as ``spade_patch``).

    ``input_dim``: input channels: the label-map encoding concatenated with the image (semantic_nc + 3;
    Cityscapes 39). The method concatenates; ``forward`` takes the concatenation as ``x``.
    ``ndf``: first width (64), doubling up to 512.
    ``n_layers_D``: convs before the output conv (4): the first (stride 2, bias, no norm), then
    ``n_layers_D - 1`` ``norm_D``-wrapped ones, stride 2 except the last (stride 1).
    ``norm_D``: ``spectralinstance`` (spectral norm, no bias, InstanceNorm without affine).
    ``no_ganFeat_loss``: officially the discriminator then returns its last output only; here ``features``
    is then only the map the output conv reads (the contract needs one), else all ``n_layers_D`` maps.
    ``init_type``, ``init_variance``, ``sn_init``: the initialisation (:func:`~i2ikit.nn.spade.spade_init_weights`).

    Kernel 4, padding 2, LeakyReLU 0.2 (not in place), the output conv (stride 1, bias) gives one logit map.
    Children ``model0`` ... ``model<n_layers_D>`` as officially, so the keys are one official scale's
    (``model0.0.weight``, ``model1.0.0.weight_orig``, ...). ``forward(x, y=None)`` ignores ``y``;
    ``logits`` is the last output, ``features`` the official intermediate outputs (all but the last), which
    SPADE's feature-matching loss compares.
    """

    labels = "unused"
    constraints = {"input_dim": at_least_one, "ndf": at_least_one, "n_layers_D": at_least_one, **_INIT}

    def __init__(self, input_dim: int = 3, ndf: int = 64, n_layers_D: int = 4, norm_D: str = "spectralinstance",
                 no_ganFeat_loss: bool = False, init_type: str = "xavier", init_variance: float = 0.02,
                 sn_init: str = "pytorch") -> None:
        super().__init__()
        check_nonspade_norm(norm_D, key="norm_D")
        self.no_ganFeat_loss = bool(no_ganFeat_loss)
        kw, padw = 4, 2  # padw = ceil((kw - 1) / 2)
        nf = int(ndf)
        self.add_module("model0", nn.Sequential(nn.Conv2d(input_dim, nf, kw, stride=2, padding=padw), nn.LeakyReLU(0.2)))
        for n in range(1, n_layers_D):
            nf_prev, nf = nf, min(nf * 2, 512)
            stride = 1 if n == n_layers_D - 1 else 2
            conv = nn.Conv2d(nf_prev, nf, kw, stride=stride, padding=padw)
            self.add_module(f"model{n}", nn.Sequential(nonspade_norm_layer(conv, norm_D), nn.LeakyReLU(0.2)))
        self.add_module(f"model{n_layers_D}", nn.Sequential(nn.Conv2d(nf, 1, kw, stride=1, padding=padw)))
        spade_init_weights(self, init_type, init_variance, sn_init)

    def forward(self, x: torch.Tensor, y: torch.Tensor | None = None) -> DiscriminatorOutput:
        *body, head = self.children()
        features = []
        for layer in body:
            x = layer(x)
            features.append(x)
        logits = head(x)
        return DiscriminatorOutput(logits, features[-1:] if self.no_ganFeat_loss else features)


def multiscale_discriminator(num_D: int = 2, **patch: Any) -> nn.Module:
    """SPADE's ``MultiscaleDiscriminator``: the core ``multiscale`` wrapper around ``num_D`` ``spade_patch``
    scales (keyword arguments ``patch`` for each, e.g. ``input_dim``), as a recipe writes
    ``{name: multiscale, num_scales: 2, discriminator: {name: spade_patch, ...}}``."""
    from i2ikit.discriminators import MultiScaleDiscriminator

    spec: Mapping[str, Any] = {"name": "spade_patch", **patch}
    return MultiScaleDiscriminator(discriminator=spec, num_scales=num_D)
