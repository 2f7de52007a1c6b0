"""pix2pixHD's networks (``models/networks.py`` of NVIDIA/pix2pixHD), written anew with the official layout.

Every module keeps the official attribute names and ``nn.Sequential`` positions, so the state dicts have the
official keys, shapes and order and official ``latest_net_{G,E}.pth`` files load without renaming:

- :class:`GlobalGenerator` (``--netG global``, part ``pix2pixhd_global``): ``model.0`` ... ``model.39``;
- :class:`LocalEnhancer` (``--netG local``, part ``pix2pixhd_local``): ``model.*`` (the global generator
  without its last three layers), ``model1_1.*``, ``model1_2.*``;
- :class:`Encoder` (``netE``, part ``pix2pixhd_encoder``): ``model.*``, then instance-wise average pooling;
- :class:`NLayerDiscriminator` (part ``pix2pixhd_patch``): one scale of the official
  ``MultiscaleDiscriminator``, keys ``model0.*`` ... ``model4.*`` (``getIntermFeat``) or ``model.*``. The
  scales run inside the core ``multiscale`` wrapper (:func:`multiscale_discriminator`), whose keys
  ``scales.<k>.*`` :mod:`i2ikit_pix2pixhd.official` maps to the official ``scale{num_D-1-k}_layer{j}.*``.

The generators take ``input_nc`` channels: the label-map encoding of :func:`i2ikit.nn.label_maps.encode_label_map`
(one-hot of ``label_nc`` ids, then the instance-boundary channel), then the ``feat_num`` encoder features when
they are used, i.e. ``input_nc = input_channels(label_nc, instance=True) + feat_num`` (Cityscapes: 35 + 1 = 36,
39 with ``--instance_feat``). The discriminator sees that label encoding concatenated with the 3-channel image
(Cityscapes: 39).
"""
from __future__ import annotations

from typing import Any, Mapping

import torch
from torch import nn

from i2ikit.constraints import OneOf, at_least_one, non_negative
from i2ikit.errors import ConfigError
from i2ikit.parts import DiscriminatorOutput

__all__ = [
    "NORMS",
    "norm_layer",
    "weights_init",
    "ResnetBlock",
    "GlobalGenerator",
    "LocalEnhancer",
    "Encoder",
    "instance_average",
    "NLayerDiscriminator",
    "discriminator_spec",
    "multiscale_discriminator",
]

NORMS = ("instance", "batch")


def norm_layer(norm: str, channels: int) -> nn.Module:
    """``get_norm_layer``: ``instance`` is ``InstanceNorm2d(affine=False)`` (no parameters, no state-dict
    entries), ``batch`` an affine ``BatchNorm2d``."""
    if norm == "instance":
        return nn.InstanceNorm2d(channels, affine=False)
    if norm == "batch":
        return nn.BatchNorm2d(channels, affine=True)
    raise ConfigError(f"pix2pixHD norm {norm!r} is not one of {', '.join(map(repr, NORMS))} (the official --norm)")


@torch.no_grad()
def weights_init(module: nn.Module) -> None:
    """The official ``weights_init``, applied to every submodule: the weight of each ``*Conv*`` class
    (ConvTranspose too) ~ N(0, 0.02), **its bias kept at PyTorch's default** (uniform in +-1/sqrt(fan_in));
    ``BatchNorm2d`` weight ~ N(1, 0.02), bias 0.

    Not :func:`i2ikit.nn.layers.init_weights`: that one (SPADE's ``BaseNetwork.init_weights``) sets every
    conv bias to 0, which pix2pixHD does not.
    """
    for m in module.modules():
        name = type(m).__name__
        if "Conv" in name:
            nn.init.normal_(m.weight, 0.0, 0.02)
        elif "BatchNorm2d" in name:
            nn.init.normal_(m.weight, 1.0, 0.02)
            nn.init.constant_(m.bias, 0.0)


class ResnetBlock(nn.Module):
    """The official ``ResnetBlock`` with reflect padding: ``conv_block`` = ReflPad1, Conv3x3, norm, ReLU,
    ReflPad1, Conv3x3, norm (convs at ``conv_block.1`` and ``.5``); ``x + conv_block(x)``, no activation
    after the sum. (``use_dropout`` and ``padding_type`` are never set by the official ``define_G``.)

    ``dim``: channels in and out.
    ``norm``: ``instance`` or ``batch``.
    """

    def __init__(self, dim: int, norm: str = "instance") -> None:
        super().__init__()
        self.conv_block = nn.Sequential(
            nn.ReflectionPad2d(1), nn.Conv2d(dim, dim, 3), norm_layer(norm, dim), nn.ReLU(True),
            nn.ReflectionPad2d(1), nn.Conv2d(dim, dim, 3), norm_layer(norm, dim),
        )

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return x + self.conv_block(x)


def _conv_norm_relu(cin: int, cout: int, norm: str, *, transpose: bool = False) -> list[nn.Module]:
    """A 3x3 stride-2 conv (or transposed conv with output padding 1, exactly doubling the size), norm, ReLU."""
    conv = (nn.ConvTranspose2d(cin, cout, 3, stride=2, padding=1, output_padding=1) if transpose
            else nn.Conv2d(cin, cout, 3, stride=2, padding=1))
    return [conv, norm_layer(norm, cout), nn.ReLU(True)]


def _encoder_decoder(input_nc: int, output_nc: int, ngf: int, n_downsampling: int, n_blocks: int,
                     norm: str) -> list[nn.Module]:
    """The layer list of the official ``GlobalGenerator`` (and, with ``n_blocks=0``, of ``Encoder``): a
    7x7 conv, ``n_downsampling`` halvings that double the width, ``n_blocks`` residual blocks, as many
    transposed-conv doublings, a 7x7 conv to ``output_nc`` and tanh. List positions are the state-dict
    indices."""
    layers: list[nn.Module] = [nn.ReflectionPad2d(3), nn.Conv2d(input_nc, ngf, 7), norm_layer(norm, ngf), nn.ReLU(True)]
    for i in range(n_downsampling):
        layers += _conv_norm_relu(ngf * 2 ** i, ngf * 2 ** (i + 1), norm)
    layers += [ResnetBlock(ngf * 2 ** n_downsampling, norm) for _ in range(n_blocks)]
    for i in range(n_downsampling, 0, -1):
        layers += _conv_norm_relu(ngf * 2 ** i, ngf * 2 ** i // 2, norm, transpose=True)
    layers += [nn.ReflectionPad2d(3), nn.Conv2d(ngf, output_nc, 7), nn.Tanh()]
    return layers


_GEN_CONSTRAINTS = {"input_nc": at_least_one, "output_nc": at_least_one, "ngf": at_least_one, "norm": OneOf(NORMS)}


class GlobalGenerator(nn.Module):
    """G1, the global generator (``--netG global``; part ``pix2pixhd_global``); label2city_512p: 182,546,755
    parameters. ``model`` is one ``Sequential`` (indices = official keys): 7x7 conv, 4 stride-2 convs
    (64 -> 1024), 9 residual blocks, 4 transposed convs back to 64, 7x7 conv to 3, tanh; reflect padding.

    The output has the input's size when H and W are multiples of :attr:`size_multiple` (2^n_downsampling),
    which the official ``--resize_or_crop none`` rounds them to; otherwise it differs, as officially.

    ``input_nc``: input channels, ``input_channels(label_nc, instance=True) + feat_num`` (Cityscapes 36).
    ``output_nc``: image channels (3).
    ``ngf``: width of the first conv (``--ngf`` 64).
    ``n_downsampling``: stride-2 convs (``--n_downsample_global`` 4; the class's own default 3 is never used).
    ``n_blocks``: residual blocks at the bottleneck (``--n_blocks_global`` 9).
    ``norm``: ``instance`` (``--norm``, default) or ``batch``.
    """

    constraints = {**_GEN_CONSTRAINTS, "n_downsampling": non_negative, "n_blocks": non_negative}

    def __init__(self, input_nc: int = 36, output_nc: int = 3, ngf: int = 64, n_downsampling: int = 4,
                 n_blocks: int = 9, norm: str = "instance") -> None:
        super().__init__()
        self.size_multiple = 2 ** n_downsampling
        self.model = nn.Sequential(*_encoder_decoder(input_nc, output_nc, ngf, n_downsampling, n_blocks, norm))
        weights_init(self)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.model(x)


class LocalEnhancer(nn.Module):
    """G = {G1, G2}, the coarse-to-fine generator (``--netG local --ngf 32``; part ``pix2pixhd_local``);
    label2city_1024p: 182,857,059 parameters.

    - ``model``: a :class:`GlobalGenerator` of width ``ngf * 2^n_local_enhancers`` without its last three
      layers (pad, conv, tanh), so its keys are the global generator's ``model.0`` ... ``model.36`` (the
      official ``--load_pretrain`` seeds it from a 512p global file, :func:`~i2ikit_pix2pixhd.official.load_pretrain`).
    - for each enhancer ``n`` (width ``ngf * 2^(N-n)``): ``model{n}_1`` = 7x7 conv + one stride-2 conv;
      ``model{n}_2`` = ``n_blocks_local`` residual blocks, a transposed conv, and for the last one a 7x7
      conv to ``output_nc`` and tanh.

    ``forward``: an input pyramid by ``AvgPool2d(3, 2, 1, count_include_pad=False)``; the global part runs
    on the coarsest input, and each enhancer on ``model{n}_1(its input) + the coarser output`` (a sum).
    H and W must be multiples of :attr:`size_multiple` (2^(n_downsample_global + n_local_enhancers), 32).

    ``input_nc``: input channels, ``input_channels(label_nc, instance=True) + feat_num`` (Cityscapes 36).
    ``output_nc``: image channels (3).
    ``ngf``: width of the finest enhancer (``--ngf`` 32 for the 1024p model).
    ``n_downsample_global``: stride-2 convs of the global part (``--n_downsample_global`` 4).
    ``n_blocks_global``: residual blocks of the global part (``--n_blocks_global`` 9).
    ``n_local_enhancers``: enhancers (``--n_local_enhancers`` 1).
    ``n_blocks_local``: residual blocks of each enhancer (``--n_blocks_local`` 3).
    ``norm``: ``instance`` (``--norm``, default) or ``batch``.
    """

    constraints = {**_GEN_CONSTRAINTS, "n_downsample_global": non_negative, "n_blocks_global": non_negative,
                   "n_local_enhancers": at_least_one, "n_blocks_local": non_negative}

    def __init__(self, input_nc: int = 36, output_nc: int = 3, ngf: int = 32, n_downsample_global: int = 4,
                 n_blocks_global: int = 9, n_local_enhancers: int = 1, n_blocks_local: int = 3,
                 norm: str = "instance") -> None:
        super().__init__()
        self.n_local_enhancers = n_local_enhancers
        self.size_multiple = 2 ** (n_downsample_global + n_local_enhancers)
        global_layers = _encoder_decoder(input_nc, output_nc, ngf * 2 ** n_local_enhancers, n_downsample_global,
                                         n_blocks_global, norm)
        self.model = nn.Sequential(*global_layers[:-3])
        for n in range(1, n_local_enhancers + 1):
            width = ngf * 2 ** (n_local_enhancers - n)
            down = [nn.ReflectionPad2d(3), nn.Conv2d(input_nc, width, 7), norm_layer(norm, width), nn.ReLU(True),
                    *_conv_norm_relu(width, width * 2, norm)]
            up: list[nn.Module] = [ResnetBlock(width * 2, norm) for _ in range(n_blocks_local)]
            up += _conv_norm_relu(width * 2, width, norm, transpose=True)
            if n == n_local_enhancers:
                up += [nn.ReflectionPad2d(3), nn.Conv2d(ngf, output_nc, 7), nn.Tanh()]
            self.add_module(f"model{n}_1", nn.Sequential(*down))
            self.add_module(f"model{n}_2", nn.Sequential(*up))
        self.downsample = nn.AvgPool2d(3, stride=2, padding=[1, 1], count_include_pad=False)
        weights_init(self)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        pyramid = [x]
        for _ in range(self.n_local_enhancers):
            pyramid.append(self.downsample(pyramid[-1]))
        out = self.model(pyramid[-1])
        for n in range(1, self.n_local_enhancers + 1):
            local = getattr(self, f"model{n}_1")(pyramid[self.n_local_enhancers - n])
            if local.shape != out.shape:  # the official code fails here with a bare size mismatch
                raise ConfigError(f"pix2pixHD LocalEnhancer: input size {tuple(x.shape[2:])} is not a multiple of "
                                  f"{self.size_multiple} in height and width; resize or crop the label maps to a "
                                  f"multiple of {self.size_multiple} (the official --resize_or_crop none rounds to it)")
            out = getattr(self, f"model{n}_2")(local + out)
        return out


def instance_average(features: torch.Tensor, inst: torch.Tensor) -> torch.Tensor:
    """The official ``Encoder`` output rule: in each batch element, every channel of ``features`` is replaced,
    inside each instance (each distinct value of ``inst``), by its mean there.

    As officially, only whole-number ``inst`` values are pooled: the official code collects ids with
    ``astype(int)`` and compares pixels with those ints, so a pixel holding a non-integer value (an instance
    map normalised with the image transform under ``--label_nc 0``) keeps its own feature. Means are taken
    one instance and one channel at a time over the pixels in row-major order, as officially, so the values
    are bit-identical. Gradients flow through the means.

    ``features``: B x C x H x W. ``inst``: B x 1 x H x W instance ids (any dtype).
    """
    if inst.ndim != 4 or inst.shape[1] != 1 or inst.shape[0] != features.shape[0] or inst.shape[2:] != features.shape[2:]:
        raise ConfigError(f"pix2pixHD encoder: the instance map must be B x 1 x H x W with the image's batch and size "
                          f"{(features.shape[0], 1, *features.shape[2:])}, got {tuple(inst.shape)}")
    out = features.clone()
    for b in range(features.shape[0]):
        ids = inst[b, 0]
        whole = ids == ids.trunc() if ids.is_floating_point() else torch.ones_like(ids, dtype=torch.bool)
        for value in torch.unique(ids[whole]).tolist():
            mask = ids == value
            for c in range(features.shape[1]):
                out[b, c][mask] = features[b, c][mask].mean()
    return out


class Encoder(nn.Module):
    """E, the instance-wise feature encoder (``netE``, ``--instance_feat`` / ``--label_feat``; part
    ``pix2pixhd_encoder``); 788,803 parameters. ``model``: the :class:`GlobalGenerator` layout without
    residual blocks (7x7 conv 3 -> 16, 4 stride-2 convs to 256, 4 transposed convs back to 16, 7x7 conv to
    ``feat_num``, tanh). ``forward(image, inst)`` then averages each output channel inside each instance
    (:func:`instance_average`); grouping by the label map instead (``--label_feat``) is ``forward(image, label)``.

    ``input_nc``: image channels (the official ``--output_nc`` 3).
    ``output_nc``: feature channels (``--feat_num`` 3).
    ``ngf``: width of the first conv (``--nef`` 16).
    ``n_downsampling``: stride-2 convs (``--n_downsample_E`` 4).
    ``norm``: ``instance`` (``--norm``, default) or ``batch``.
    """

    constraints = {**_GEN_CONSTRAINTS, "n_downsampling": non_negative}

    def __init__(self, input_nc: int = 3, output_nc: int = 3, ngf: int = 16, n_downsampling: int = 4,
                 norm: str = "instance") -> None:
        super().__init__()
        self.output_nc = output_nc
        self.model = nn.Sequential(*_encoder_decoder(input_nc, output_nc, ngf, n_downsampling, 0, norm))
        weights_init(self)

    def forward(self, image: torch.Tensor, inst: torch.Tensor) -> torch.Tensor:
        return instance_average(self.model(image), inst)


class NLayerDiscriminator(nn.Module):
    """One scale of pix2pixHD's discriminator, the official ``NLayerDiscriminator`` (part ``pix2pixhd_patch``):
    4x4 convs with padding 2, all with a bias; group 0 = stride-2 conv to ``ndf`` + LeakyReLU(0.2);
    ``n_layers - 1`` stride-2 groups (conv, norm, LeakyReLU) doubling the width up to 512; one stride-1
    group; a stride-1 conv to one logit map. Sizes grow by one at each stride-1 conv, as officially.

    ``get_interm_feat=True`` (the default; officially on unless ``--no_ganFeat_loss``): each group is its own
    ``model{j}`` (keys ``model{j}.0.weight``); otherwise one flat ``model`` (keys ``model.{0,2,5,8,11}``).

    ``forward(x, y=None)`` -> :class:`~i2ikit.parts.DiscriminatorOutput`: ``logits`` = the last group's map,
    ``features`` = the ``n_layers + 1`` group outputs before it, shallow to deep (the ones pix2pixHD's feature
    matching compares). Labels ``y`` are unused: the label map is part of ``x`` (``input_nc`` channels).
    The official ``--no_lsgan`` Sigmoid group has no parameters and its forward never runs it, so it is left out.

    ``input_nc``: input channels, label encoding + image (Cityscapes 36 + 3 = 39).
    ``ndf``: width of the first conv (``--ndf`` 64).
    ``n_layers``: stride-2 groups (``--n_layers_D`` 3).
    ``norm``: ``instance`` (``--norm``, default) or ``batch``.
    ``get_interm_feat``: the official ``getIntermFeat`` key layout (per-group ``model{j}``) or the flat one.
    """

    labels = "unused"
    constraints = {"input_nc": at_least_one, "ndf": at_least_one, "n_layers": non_negative, "norm": OneOf(NORMS)}

    def __init__(self, input_nc: int = 39, ndf: int = 64, n_layers: int = 3, norm: str = "instance",
                 get_interm_feat: bool = True) -> None:
        super().__init__()
        self.n_layers = n_layers
        self.get_interm_feat = bool(get_interm_feat)
        groups: list[list[nn.Module]] = [[nn.Conv2d(input_nc, ndf, 4, stride=2, padding=2), nn.LeakyReLU(0.2, True)]]
        nf = ndf
        for n in range(1, n_layers + 1):
            prev, nf = nf, min(nf * 2, 512)
            groups.append([nn.Conv2d(prev, nf, 4, stride=2 if n < n_layers else 1, padding=2), norm_layer(norm, nf),
                           nn.LeakyReLU(0.2, True)])
        groups.append([nn.Conv2d(nf, 1, 4, stride=1, padding=2)])
        if self.get_interm_feat:
            for j, group in enumerate(groups):
                self.add_module(f"model{j}", nn.Sequential(*group))
        else:
            self.model = nn.Sequential(*(layer for group in groups for layer in group))
        self._group_ends = [sum(len(g) for g in groups[:j + 1]) for j in range(len(groups))]
        weights_init(self)

    def forward(self, x: torch.Tensor, y: torch.Tensor | None = None) -> DiscriminatorOutput:
        outputs: list[torch.Tensor] = []
        if self.get_interm_feat:
            for j in range(self.n_layers + 2):
                x = getattr(self, f"model{j}")(x)
                outputs.append(x)
        else:
            for i, layer in enumerate(self.model, start=1):
                x = layer(x)
                if i in self._group_ends:
                    outputs.append(x)
        return DiscriminatorOutput(outputs[-1], outputs[:-1])


def discriminator_spec(input_nc: int = 39, num_D: int = 2, ndf: int = 64, n_layers: int = 3, norm: str = "instance",
                       get_interm_feat: bool = True) -> dict[str, Any]:
    """The part spec of the official ``MultiscaleDiscriminator``: the core ``multiscale`` wrapper with ``num_D``
    scales (``--num_D``: 2 by default, 3 in the 1024p scripts) of ``pix2pixhd_patch``. A method's
    ``PartSlot(..., defaults=...)`` takes it without ``name``."""
    return {"name": "multiscale", "num_scales": int(num_D),
            "discriminator": {"name": "pix2pixhd_patch", "input_nc": int(input_nc), "ndf": int(ndf),
                              "n_layers": int(n_layers), "norm": norm, "get_interm_feat": bool(get_interm_feat)}}


def multiscale_discriminator(input_nc: int = 39, num_D: int = 2, ndf: int = 64, n_layers: int = 3,
                             norm: str = "instance", get_interm_feat: bool = True) -> nn.Module:
    """The official ``MultiscaleDiscriminator`` as the core wrapper (:class:`i2ikit.discriminators.MultiScaleDiscriminator`):
    ``scales.0`` sees the input, ``scales.k`` it average-pooled k times (3x3, stride 2, padding 1, padding
    excluded) -- officially named ``scale{num_D-1-k}``. ``features`` come finest scale first, ``n_layers + 1``
    per scale; ``split(logits)`` gives each scale's logit map."""
    from i2ikit.discriminators import MultiScaleDiscriminator

    spec: Mapping[str, Any] = discriminator_spec(input_nc, num_D, ndf, n_layers, norm, get_interm_feat)
    return MultiScaleDiscriminator(spec["discriminator"], num_scales=spec["num_scales"])
