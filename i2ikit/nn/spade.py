"""SPADE: spatially-adaptive normalisation (Park et al., CVPR 2019), as a layer any method can use.

Faithful to ``NVlabs/SPADE`` (``models/networks/normalization.py`` and ``architecture.py``):

- :class:`SPADE`: a parameter-free norm (instance, batch, or sync-batch, which is plain batch norm in one
  process), then ``out = norm(x) * (1 + gamma) + beta``, with ``gamma`` and ``beta`` computed by convs from
  the label map resized (nearest) to ``x``: ``mlp_shared`` (conv to ``nhidden`` = 128 + ReLU), then
  ``mlp_gamma`` and ``mlp_beta``. The config string is the official one, ``spade<norm><k>x<k>``.
- :class:`SPADEResnetBlock`: SPADE, LeakyReLU 0.2, conv, twice, plus a shortcut that is learnt
  (SPADE + 1x1 conv without bias, no activation) only when ``fin != fout``. ``norm_G`` containing
  ``spectral`` wraps its three convs in ``torch.nn.utils.spectral_norm``; the SPADE convs never are.
- :func:`nonspade_norm_layer`: the official ``get_nonspade_norm_layer`` (used by SPADE's discriminator and
  image encoder): ``spectral<sub>`` wraps a layer in spectral norm and, for a ``<sub>`` norm, drops the
  layer's bias and appends the norm.
- :func:`spade_init_weights`: the official ``init_weights`` (xavier, gain 0.02), with the choice of what
  the spectral-norm layers get (see there: on the GPU the official code leaves them at PyTorch's default).

Spectral norm is the legacy hook API (``torch.nn.utils.spectral_norm``), so the state-dict keys are the
official ``weight_orig`` / ``weight_u`` / ``weight_v``. In eval mode it runs no power iteration and uses the
stored ``u``/``v``, so a loaded network in eval gives the official output; each training-mode forward runs
one power iteration and updates them in place, as officially.
"""
from __future__ import annotations

import math
import re

import torch
import torch.nn.functional as F
from torch import nn
from torch.nn.utils import spectral_norm

from ..errors import ConfigError
from .layers import INIT_TYPES, init_weights

__all__ = [
    "SPADE",
    "SPADEResnetBlock",
    "SPADE_PARAM_FREE_NORMS",
    "NONSPADE_SUBNORMS",
    "SN_INITS",
    "parse_spade_config",
    "check_norm_G",
    "check_nonspade_norm",
    "nonspade_norm_layer",
    "spade_init_weights",
]

SPADE_PARAM_FREE_NORMS = ("instance", "batch", "syncbatch")
"""The parameter-free norms a SPADE config may name (``syncbatch`` is ``BatchNorm2d`` in one process)."""

NONSPADE_SUBNORMS = ("", "none", "instance", "batch", "sync_batch")
"""What may follow ``spectral`` in a non-SPADE norm string (``spectralinstance``, ``spectralbatch``, ...)."""

SN_INITS = ("pytorch", "init_type")
"""What :func:`spade_init_weights` gives spectral-norm layers: see there."""

_SPADE_CONFIG = re.compile(r"spade([a-z]+)(\d+)x(\d+)")


def parse_spade_config(config: str) -> tuple[str, int]:
    """``"spadesyncbatch3x3"`` -> ``("syncbatch", 3)``: the parameter-free norm and the kernel size.

    The official regex also reads ``spectralspade...`` strings after removing ``spectral``, and so does
    this; unlike it, the two kernel digits must agree and be odd (an even kernel with padding ``k // 2``
    changes the feature size and fails later inside the block).
    """
    text = str(config).replace("spectral", "")
    m = _SPADE_CONFIG.fullmatch(text)
    if not m or m.group(1) not in SPADE_PARAM_FREE_NORMS or m.group(2) != m.group(3) or int(m.group(2)) % 2 == 0:
        raise ConfigError(
            f"SPADE norm config {config!r} is not of the form [spectral]spade<norm><k>x<k> with <norm> one of "
            f"{', '.join(SPADE_PARAM_FREE_NORMS)} and an odd kernel k; the official default is "
            "'spectralspadesyncbatch3x3' (e.g. also 'spadeinstance3x3', 'spectralspadebatch5x5')")
    return m.group(1), int(m.group(2))


def check_norm_G(norm_G: str) -> None:
    """A ConfigError unless ``norm_G`` is a SPADE block's norm string (e.g. ``spectralspadesyncbatch3x3``)."""
    parse_spade_config(norm_G)


class SPADE(nn.Module):
    """Spatially-adaptive (de)normalisation: ``param_free_norm(x) * (1 + gamma(seg)) + beta(seg)``.

    ``norm_nc``: channels of ``x`` (and of ``gamma``/``beta``).
    ``label_nc``: channels of the label map ``seg`` (SPADE's ``semantic_nc``).
    ``config``: ``spade<norm><k>x<k>``: the parameter-free norm (``instance``, ``batch``, ``syncbatch``;
    all ``affine=False``, batch norms with eps 1e-5, momentum 0.1) and the kernel of the three convs.
    ``nhidden``: width of ``mlp_shared`` (128, hard-coded officially).

    ``forward(x, segmap)``: ``segmap`` (B x label_nc x h x w, any size) is resized to ``x``'s H x W with
    nearest-neighbour interpolation, so every block of a generator gets the full-resolution map.
    State-dict keys: ``param_free_norm.*`` (batch norms only), ``mlp_shared.0.*``, ``mlp_gamma.*``,
    ``mlp_beta.*``, as officially.
    """

    def __init__(self, norm_nc: int, label_nc: int, config: str = "spadesyncbatch3x3", nhidden: int = 128) -> None:
        super().__init__()
        norm, ks = parse_spade_config(config)
        self.norm_type, self.kernel_size = norm, ks
        if norm == "instance":
            self.param_free_norm: nn.Module = nn.InstanceNorm2d(norm_nc, affine=False)
        else:  # batch, and syncbatch: synchronised batch norm is plain batch norm in a single process
            self.param_free_norm = nn.BatchNorm2d(norm_nc, affine=False)
        pw = ks // 2
        self.mlp_shared = nn.Sequential(nn.Conv2d(label_nc, nhidden, kernel_size=ks, padding=pw), nn.ReLU())
        self.mlp_gamma = nn.Conv2d(nhidden, norm_nc, kernel_size=ks, padding=pw)
        self.mlp_beta = nn.Conv2d(nhidden, norm_nc, kernel_size=ks, padding=pw)

    def modulation(self, x: torch.Tensor, segmap: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        """``(gamma, beta)``, each B x norm_nc x H x W, for features ``x`` and the label map ``segmap``."""
        segmap = F.interpolate(segmap, size=x.shape[2:], mode="nearest")
        actv = self.mlp_shared(segmap)
        return self.mlp_gamma(actv), self.mlp_beta(actv)

    def forward(self, x: torch.Tensor, segmap: torch.Tensor) -> torch.Tensor:
        normalized = self.param_free_norm(x)
        gamma, beta = self.modulation(x, segmap)
        return normalized * (1 + gamma) + beta


class SPADEResnetBlock(nn.Module):
    """SPADE's residual block (``architecture.py`` ``SPADEResnetBlock``), norm first, then conv.

    ``fin``, ``fout``: input and output channels; ``fmiddle = min(fin, fout)``.
    ``semantic_nc``: channels of the label map every SPADE of the block reads.
    ``norm_G``: ``[spectral]spade<norm><k>x<k>``; with ``spectral``, ``conv_0``, ``conv_1`` and ``conv_s``
    are spectrally normalised (1 power iteration, eps 1e-12).

    ``conv_0`` (3x3, fin -> fmiddle) and ``conv_1`` (3x3, fmiddle -> fout) have biases; the shortcut exists
    only for ``fin != fout``: ``conv_s(norm_s(x))``, a 1x1 conv without bias and no activation. Forward:
    ``shortcut + conv_1(lrelu(norm_1(conv_0(lrelu(norm_0(x, seg))), seg)))``, LeakyReLU 0.2 not in place,
    nothing after the sum. Children in the official order: conv_0, conv_1, [conv_s], norm_0, norm_1, [norm_s].
    """

    def __init__(self, fin: int, fout: int, semantic_nc: int, norm_G: str = "spectralspadesyncbatch3x3") -> None:
        super().__init__()
        spade_config = str(norm_G).replace("spectral", "")
        parse_spade_config(spade_config)
        self.learned_shortcut = fin != fout
        fmiddle = min(fin, fout)
        self.conv_0: nn.Module = nn.Conv2d(fin, fmiddle, kernel_size=3, padding=1)
        self.conv_1: nn.Module = nn.Conv2d(fmiddle, fout, kernel_size=3, padding=1)
        if self.learned_shortcut:
            self.conv_s: nn.Module = nn.Conv2d(fin, fout, kernel_size=1, bias=False)
        if "spectral" in norm_G:
            self.conv_0 = spectral_norm(self.conv_0)
            self.conv_1 = spectral_norm(self.conv_1)
            if self.learned_shortcut:
                self.conv_s = spectral_norm(self.conv_s)
        self.norm_0 = SPADE(fin, semantic_nc, spade_config)
        self.norm_1 = SPADE(fmiddle, semantic_nc, spade_config)
        if self.learned_shortcut:
            self.norm_s = SPADE(fin, semantic_nc, spade_config)

    def shortcut(self, x: torch.Tensor, seg: torch.Tensor) -> torch.Tensor:
        return self.conv_s(self.norm_s(x, seg)) if self.learned_shortcut else x

    def forward(self, x: torch.Tensor, seg: torch.Tensor) -> torch.Tensor:
        x_s = self.shortcut(x, seg)
        dx = self.conv_0(F.leaky_relu(self.norm_0(x, seg), 0.2))
        dx = self.conv_1(F.leaky_relu(self.norm_1(dx, seg), 0.2))
        return x_s + dx


def _subnorm(norm_type: str) -> tuple[bool, str]:
    text = str(norm_type)
    spectral = text.startswith("spectral")
    sub = text[len("spectral"):] if spectral else text
    return spectral, sub


def check_nonspade_norm(norm_type: str, *, key: str = "norm") -> None:
    """A ConfigError unless ``norm_type`` is ``[spectral]<sub>`` with ``<sub>`` in :data:`NONSPADE_SUBNORMS`."""
    spectral, sub = _subnorm(norm_type)
    if sub not in NONSPADE_SUBNORMS or (not spectral and not sub):
        raise ConfigError(
            f"{key} {norm_type!r} is not a SPADE discriminator/encoder norm: use 'spectral' followed by one of "
            "instance, batch, sync_batch, none or nothing (official default 'spectralinstance'), or one of "
            "instance, batch, sync_batch, none without spectral norm")


def nonspade_norm_layer(layer: nn.Module, norm_type: str = "spectralinstance") -> nn.Module:
    """The official ``get_nonspade_norm_layer(opt, norm_type)(layer)``: wrap ``layer`` (a conv) as
    ``norm_type`` says.

    - ``spectral`` prefix: ``torch.nn.utils.spectral_norm(layer)`` (keys ``weight_orig``/``_u``/``_v``).
    - ``<sub>`` ``instance`` / ``batch`` / ``sync_batch``: the layer's bias is dropped (a norm follows, so it
      would have no effect) and the result is ``Sequential(layer, norm)``: ``InstanceNorm2d(affine=False)``
      or an affine ``BatchNorm2d`` (sync-batch is batch norm in one process). ``none`` or nothing: the
      layer alone, bias kept.

    Officially a string without the ``spectral`` prefix (e.g. ``instance``) raises UnboundLocalError; here it
    means the same norm without spectral norm, which is what that code was written to do.
    """
    check_nonspade_norm(norm_type)
    spectral, sub = _subnorm(norm_type)
    if spectral:
        layer = spectral_norm(layer)
    if sub in ("", "none"):
        return layer
    if getattr(layer, "bias", None) is not None:
        layer.bias = None  # type: ignore[assignment]  # re-registers the parameter as None, as officially
    out_channels = getattr(layer, "out_channels", None) or layer.weight.size(0)
    if sub == "instance":
        norm: nn.Module = nn.InstanceNorm2d(out_channels, affine=False)
    else:
        norm = nn.BatchNorm2d(out_channels, affine=True)
    return nn.Sequential(layer, norm)


@torch.no_grad()
def spade_init_weights(module: nn.Module, init_type: str = "xavier", gain: float = 0.02,
                       sn_init: str = "pytorch") -> None:
    """SPADE's ``init_weights(opt.init_type, opt.init_variance)`` (defaults xavier, 0.02) on ``module``.

    Conv and Linear weights get ``init_type`` (:func:`i2ikit.nn.layers.init_weights`), every bias 0, affine
    batch-norm weights N(1, gain). The official ``create_network`` calls ``net.cuda()`` *before*
    ``init_weights``; after it the legacy spectral-norm ``weight`` attribute no longer shares storage with
    ``weight_orig``, so in every official GPU run (all released models) the initialiser writes into a
    stale copy and the spectral-norm weights keep PyTorch's default init (kaiming-uniform, a = sqrt 5;
    their biases are still zeroed). ``sn_init``: ``"pytorch"`` reproduces that (the default),
    ``"init_type"`` gives them ``init_type`` too, as an official CPU run does.
    """
    if init_type not in INIT_TYPES:
        raise ConfigError(f"init_type {init_type!r} is not one of {', '.join(INIT_TYPES)} (official default 'xavier')")
    if sn_init not in SN_INITS:
        raise ConfigError(f"sn_init {sn_init!r} is not one of {', '.join(SN_INITS)}: 'pytorch' keeps PyTorch's default "
                          "init on spectral-norm layers (official GPU runs), 'init_type' initialises them like the rest "
                          "(official CPU runs)")
    init_weights(module, init_type, gain)
    if sn_init == "pytorch":
        for m in module.modules():
            weight = getattr(m, "weight_orig", None)
            if isinstance(weight, torch.Tensor) and not weight.is_meta:
                nn.init.kaiming_uniform_(weight, a=math.sqrt(5))
