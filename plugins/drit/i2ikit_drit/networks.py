"""DRIT / DRIT++ networks, re-implemented from the facts of the official code (``HsinYingLee/DRIT`` at
``f19f50a``, ``src/networks.py``; docs/methods/drit.md). Nothing is copied; module and attribute names are
the official ones so that every state-dict key matches an official ``.pth`` file exactly.

Blocks, as officially (the quirks are deliberate):

- :class:`LeakyReLUConv2d`: reflect pad, conv, LeakyReLU with PyTorch's default slope **0.01**. The official
  norm test compares the literal ``'norm'`` with ``'Instance'``, so InstanceNorm is **never** inserted;
  ``instance_norm_fix=True`` inserts it where ``norm='Instance'`` was asked for (PR #31), off by default.
- :class:`ReLUINSConv2d`, :class:`INSResBlock`, :class:`MisINSResBlock` (concat=0, not AdaIN),
  :class:`ReLUINSConvTranspose2d` (named "INS" but normalised by DRIT's own :class:`LayerNorm`).
- :class:`GaussianNoiseLayer`: N(0, 1) noise on the content code in training mode only.
- :func:`gaussian_weights_init`: N(0, 0.02) on Conv2d / ConvTranspose2d weights only.

Networks: :class:`E_content` (``enc_c``), :class:`E_attr_concat` / :class:`E_attr` (``enc_a``),
:class:`G_concat` / :class:`G` (``gen``), and the discriminator parts :class:`DritPatchDiscriminator` (one
scale of ``MultiScaleDis``, run inside the core ``multiscale`` wrapper), :class:`DritDiscriminator` (the
single-scale ``Dis``) and :class:`DritContentDiscriminator` (``Dis_content``).

``dim`` (official 64) scales every encoder/generator width: the content code has ``4 * dim`` channels.
"""
from __future__ import annotations

from typing import Callable

import torch
import torch.nn.functional as F
from torch import nn

from i2ikit.constraints import OneOf, at_least_one, non_negative
from i2ikit.errors import ConfigError
from i2ikit.parts import DiscriminatorOutput

__all__ = [
    "gaussian_weights_init",
    "LayerNorm",
    "LeakyReLUConv2d",
    "ReLUINSConv2d",
    "INSResBlock",
    "MisINSResBlock",
    "BasicBlock",
    "GaussianNoiseLayer",
    "ReLUINSConvTranspose2d",
    "E_content",
    "E_attr_concat",
    "E_attr",
    "G_concat",
    "G",
    "DritPatchDiscriminator",
    "DritDiscriminator",
    "DritContentDiscriminator",
]

Noise = torch.Tensor | Callable[[torch.Tensor], torch.Tensor] | None


def gaussian_weights_init(module: nn.Module) -> None:
    """The official init: N(0, 0.02) on the weight of every Conv2d / ConvTranspose2d (the class names that
    start with ``Conv``); biases, Linear layers and the LayerNorm affine keep their defaults."""
    for m in module.modules():
        if isinstance(m, (nn.Conv2d, nn.ConvTranspose2d)) and not m.weight.is_meta:
            with torch.no_grad():
                m.weight.normal_(0.0, 0.02)


# ---- blocks -----------------------------------------------------------------------------------------
class LayerNorm(nn.Module):
    """DRIT's LayerNorm: ``F.layer_norm`` over (C, H, W) per sample (biased variance, eps 1e-5 inside the
    root) with a per-channel affine ``weight`` = ones(C, 1, 1), ``bias`` = zeros(C, 1, 1). Not MUNIT's
    (unbiased std, eps outside the root, uniform gamma)."""

    def __init__(self, n_out: int, eps: float = 1e-5) -> None:
        super().__init__()
        self.eps = eps
        self.weight = nn.Parameter(torch.ones(n_out, 1, 1))
        self.bias = nn.Parameter(torch.zeros(n_out, 1, 1))

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        shape = x.shape[1:]
        return F.layer_norm(x, shape, self.weight.expand(shape), self.bias.expand(shape), self.eps)


class LeakyReLUConv2d(nn.Module):
    """``model`` = [ReflectionPad2d(padding), Conv2d (bias), LeakyReLU(0.01)]: the official block with its
    norm typo, so no InstanceNorm whatever ``norm`` says. ``instance_norm_fix`` inserts InstanceNorm2d
    (affine off) after the conv when ``norm == 'Instance'`` (it has no parameters: the keys are unchanged)."""

    def __init__(self, n_in: int, n_out: int, kernel_size: int, stride: int, padding: int = 0, norm: str = "None",
                 instance_norm_fix: bool = False) -> None:
        super().__init__()
        layers: list[nn.Module] = [nn.ReflectionPad2d(padding), nn.Conv2d(n_in, n_out, kernel_size, stride, 0, bias=True)]
        if instance_norm_fix and norm == "Instance":
            layers.append(nn.InstanceNorm2d(n_out, affine=False))
        layers.append(nn.LeakyReLU(inplace=True))  # PyTorch's default slope, 0.01
        self.model = nn.Sequential(*layers)
        gaussian_weights_init(self)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.model(x)


class ReLUINSConv2d(nn.Module):
    """``model`` = [ReflectionPad2d, Conv2d (bias), InstanceNorm2d (affine off), ReLU]."""

    def __init__(self, n_in: int, n_out: int, kernel_size: int, stride: int, padding: int = 0) -> None:
        super().__init__()
        self.model = nn.Sequential(nn.ReflectionPad2d(padding), nn.Conv2d(n_in, n_out, kernel_size, stride, 0, bias=True),
                                   nn.InstanceNorm2d(n_out, affine=False), nn.ReLU(inplace=True))
        gaussian_weights_init(self)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.model(x)


class INSResBlock(nn.Module):
    """``x + IN(conv3(relu(IN(conv3(x)))))`` with reflect padding; no activation after the sum. The convs
    are ``model.1`` and ``model.5``."""

    def __init__(self, channels: int) -> None:
        super().__init__()
        self.model = nn.Sequential(nn.ReflectionPad2d(1), nn.Conv2d(channels, channels, 3), nn.InstanceNorm2d(channels),
                                   nn.ReLU(inplace=True),
                                   nn.ReflectionPad2d(1), nn.Conv2d(channels, channels, 3), nn.InstanceNorm2d(channels))
        gaussian_weights_init(self)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return x + self.model(x)


def _broadcast(z: torch.Tensor, like: torch.Tensor) -> torch.Tensor:
    """An attribute vector (B x C) as a B x C x H x W map the size of ``like``."""
    return z.view(z.shape[0], z.shape[1], 1, 1).expand(z.shape[0], z.shape[1], like.shape[2], like.shape[3])


class MisINSResBlock(nn.Module):
    """The concat=0 generator's residual block (not AdaIN): the attribute chunk ``z`` is broadcast and
    concatenated twice. ``o1 = IN(conv3(x))``; ``o2 = blk1([o1, z])``; ``o3 = IN(conv3(o2))``;
    ``out = blk2([o3, z]) + x``; each blk is 1x1 conv, ReLU, 1x1 conv, ReLU (so the branch is non-negative).
    State-dict order: conv1, conv2, blk1, blk2 (and an empty ``model``, the official dropout slot)."""

    def __init__(self, dim: int, dim_extra: int) -> None:
        super().__init__()
        self.conv1 = nn.Sequential(nn.Sequential(nn.ReflectionPad2d(1), nn.Conv2d(dim, dim, 3)), nn.InstanceNorm2d(dim))
        self.conv2 = nn.Sequential(nn.Sequential(nn.ReflectionPad2d(1), nn.Conv2d(dim, dim, 3)), nn.InstanceNorm2d(dim))
        self.blk1 = self._blk(dim, dim_extra)
        self.blk2 = self._blk(dim, dim_extra)
        self.model = nn.Sequential()
        gaussian_weights_init(self)

    @staticmethod
    def _blk(dim: int, dim_extra: int) -> nn.Sequential:
        return nn.Sequential(nn.Conv2d(dim + dim_extra, dim + dim_extra, 1), nn.ReLU(),
                             nn.Conv2d(dim + dim_extra, dim, 1), nn.ReLU())

    def forward(self, x: torch.Tensor, z: torch.Tensor) -> torch.Tensor:
        z_map = _broadcast(z, x)
        o1 = self.conv1(x)
        o2 = self.blk1(torch.cat([o1, z_map], dim=1))
        o3 = self.conv2(o2)
        return self.blk2(torch.cat([o3, z_map], dim=1)) + x


class BasicBlock(nn.Module):
    """E_attr_concat's residual down block: ``conv`` = [LeakyReLU 0.2, pad + conv3 in->in, LeakyReLU 0.2,
    [pad + conv3 in->out, AvgPool 2]] plus ``shortcut`` = [AvgPool 2, conv1x1 in->out]; no norm."""

    def __init__(self, inplanes: int, outplanes: int) -> None:
        super().__init__()
        self.conv = nn.Sequential(
            nn.LeakyReLU(0.2), nn.ReflectionPad2d(1), nn.Conv2d(inplanes, inplanes, 3), nn.LeakyReLU(0.2),
            nn.Sequential(nn.ReflectionPad2d(1), nn.Conv2d(inplanes, outplanes, 3), nn.AvgPool2d(2, 2)))
        self.shortcut = nn.Sequential(nn.AvgPool2d(2, 2), nn.Conv2d(inplanes, outplanes, 1))

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.conv(x) + self.shortcut(x)


class GaussianNoiseLayer(nn.Module):
    """Adds N(0, 1) noise in training mode, identity in eval mode. ``noise``: the noise to add (a tensor of
    ``x``'s shape, or a function of ``x`` giving it, so a method can replay the same draw); ``None``: fresh."""

    def forward(self, x: torch.Tensor, noise: Noise = None) -> torch.Tensor:
        if not self.training:
            return x
        if callable(noise):
            noise = noise(x)
        return x + (torch.randn_like(x) if noise is None else noise)


class ReLUINSConvTranspose2d(nn.Module):
    """``model`` = [ConvTranspose2d (k3 s2 p1 op1, bias), DRIT LayerNorm, ReLU]: doubles the size."""

    def __init__(self, n_in: int, n_out: int) -> None:
        super().__init__()
        self.model = nn.Sequential(nn.ConvTranspose2d(n_in, n_out, 3, 2, 1, output_padding=1, bias=True),
                                   LayerNorm(n_out), nn.ReLU(inplace=True))
        gaussian_weights_init(self)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.model(x)


# ---- encoders ----------------------------------------------------------------------------------------
class E_content(nn.Module):
    """Content encoder: per domain ``convA`` / ``convB`` = LeakyReLUConv2d 3->dim k7 (no norm, slope 0.01),
    two ReLUINSConv2d k3 s2 (to 2dim, 4dim), 3 INSResBlocks; then the shared ``conv_share`` = INSResBlock +
    GaussianNoiseLayer. The code is 4dim x ceil(H/4) x ceil(W/4). ``conv_share`` is registered first, as
    officially, so the keys come in the official order."""

    def __init__(self, dim: int = 64, input_dim_a: int = 3, input_dim_b: int = 3) -> None:
        super().__init__()
        self.conv_share = nn.Sequential(INSResBlock(4 * dim), GaussianNoiseLayer())
        self.convA = self._branch(input_dim_a, dim)
        self.convB = self._branch(input_dim_b, dim)

    @staticmethod
    def _branch(input_dim: int, dim: int) -> nn.Sequential:
        return nn.Sequential(LeakyReLUConv2d(input_dim, dim, 7, 1, 3), ReLUINSConv2d(dim, 2 * dim, 3, 2, 1),
                             ReLUINSConv2d(2 * dim, 4 * dim, 3, 2, 1), *(INSResBlock(4 * dim) for _ in range(3)))

    def _share(self, h: torch.Tensor, noise: Noise) -> torch.Tensor:
        return self.conv_share[1](self.conv_share[0](h), noise)

    def forward_a(self, xa: torch.Tensor, noise: Noise = None) -> torch.Tensor:
        return self._share(self.convA(xa), noise)

    def forward_b(self, xb: torch.Tensor, noise: Noise = None) -> torch.Tensor:
        return self._share(self.convB(xb), noise)

    def forward(self, xa: torch.Tensor, xb: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        return self.forward_a(xa), self.forward_b(xb)


class E_attr_concat(nn.Module):
    """Attribute encoder for concat=1 (a VAE encoder): per domain ``conv_A`` = pad 1, conv 3->dim k4 s2,
    BasicBlocks to 2dim, 3dim, 4dim, LeakyReLU 0.2, global average; ``fc_A`` gives mu and ``fcVar_A``
    log sigma^2 (Linear 4dim -> nz each). Keys in the official order fc_A, fcVar_A, conv_A, then B."""

    def __init__(self, dim: int = 64, nz: int = 8, input_dim_a: int = 3, input_dim_b: int = 3) -> None:
        super().__init__()
        self.fc_A = nn.Sequential(nn.Linear(4 * dim, nz))
        self.fcVar_A = nn.Sequential(nn.Linear(4 * dim, nz))
        self.conv_A = self._conv(input_dim_a, dim)
        self.fc_B = nn.Sequential(nn.Linear(4 * dim, nz))
        self.fcVar_B = nn.Sequential(nn.Linear(4 * dim, nz))
        self.conv_B = self._conv(input_dim_b, dim)
        gaussian_weights_init(self)

    @staticmethod
    def _conv(input_dim: int, dim: int) -> nn.Sequential:
        widths = [dim * min(4, n) for n in range(1, 5)]  # 64, 128, 192, 256 at dim 64
        return nn.Sequential(nn.ReflectionPad2d(1), nn.Conv2d(input_dim, dim, 4, 2, 0, bias=True),
                             *(BasicBlock(widths[n], widths[n + 1]) for n in range(3)),
                             nn.LeakyReLU(0.2), nn.AdaptiveAvgPool2d(1))

    def forward_a(self, xa: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        h = self.conv_A(xa).view(xa.shape[0], -1)
        return self.fc_A(h), self.fcVar_A(h)

    def forward_b(self, xb: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        h = self.conv_B(xb).view(xb.shape[0], -1)
        return self.fc_B(h), self.fcVar_B(h)

    def forward(self, xa: torch.Tensor, xb: torch.Tensor) -> tuple[torch.Tensor, ...]:
        return (*self.forward_a(xa), *self.forward_b(xb))


class E_attr(nn.Module):
    """Attribute encoder for concat=0 (deterministic, MUNIT's style-encoder shape): pad 3, conv k7 to dim,
    ReLU, then [pad 1, conv k4 s2, ReLU] to 2dim, 4dim, 4dim, 4dim, global average, conv1x1 to nz."""

    def __init__(self, dim: int = 64, nz: int = 8, input_dim_a: int = 3, input_dim_b: int = 3) -> None:
        super().__init__()
        self.model_a = self._model(input_dim_a, dim, nz)
        self.model_b = self._model(input_dim_b, dim, nz)
        gaussian_weights_init(self)

    @staticmethod
    def _model(input_dim: int, dim: int, nz: int) -> nn.Sequential:
        layers: list[nn.Module] = [nn.ReflectionPad2d(3), nn.Conv2d(input_dim, dim, 7, 1), nn.ReLU(inplace=True)]
        for c_in, c_out in ((dim, 2 * dim), (2 * dim, 4 * dim), (4 * dim, 4 * dim), (4 * dim, 4 * dim)):
            layers += [nn.ReflectionPad2d(1), nn.Conv2d(c_in, c_out, 4, 2), nn.ReLU(inplace=True)]
        layers += [nn.AdaptiveAvgPool2d(1), nn.Conv2d(4 * dim, nz, 1, 1, 0)]
        return nn.Sequential(*layers)

    def forward_a(self, xa: torch.Tensor) -> torch.Tensor:
        return self.model_a(xa).view(xa.shape[0], -1)

    def forward_b(self, xb: torch.Tensor) -> torch.Tensor:
        return self.model_b(xb).view(xb.shape[0], -1)

    def forward(self, xa: torch.Tensor, xb: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        return self.forward_a(xa), self.forward_b(xb)


# ---- generators --------------------------------------------------------------------------------------
class G_concat(nn.Module):
    """Generator for concat=1: the shared ``dec_share`` (INSResBlock 4dim), then per domain the attribute z
    (nz) concatenated before each of ``decA1`` (3 INSResBlocks of 4dim+nz), ``decA2`` / ``decA3``
    (ReLUINSConvTranspose2d, halving the channels) and ``decA4`` (ConvTranspose2d k1 to 3, tanh)."""

    def __init__(self, dim: int = 64, nz: int = 8, output_dim_a: int = 3, output_dim_b: int = 3) -> None:
        super().__init__()
        self.nz = nz
        self.dec_share = nn.Sequential(INSResBlock(4 * dim))
        for side, out_dim in (("A", output_dim_a), ("B", output_dim_b)):
            tch = 4 * dim + nz
            setattr(self, f"dec{side}1", nn.Sequential(*(INSResBlock(tch) for _ in range(3))))
            tch += nz
            setattr(self, f"dec{side}2", nn.Sequential(ReLUINSConvTranspose2d(tch, tch // 2)))
            tch = tch // 2 + nz
            setattr(self, f"dec{side}3", nn.Sequential(ReLUINSConvTranspose2d(tch, tch // 2)))
            tch = tch // 2 + nz
            setattr(self, f"dec{side}4", nn.Sequential(nn.ConvTranspose2d(tch, out_dim, 1, 1, 0), nn.Tanh()))
        gaussian_weights_init(self)

    def _decode(self, side: str, x: torch.Tensor, z: torch.Tensor) -> torch.Tensor:
        out = self.dec_share(x)
        for k in range(1, 5):
            out = getattr(self, f"dec{side}{k}")(torch.cat([out, _broadcast(z, out)], dim=1))
        return out

    def forward_a(self, x: torch.Tensor, z: torch.Tensor) -> torch.Tensor:
        return self._decode("A", x, z)

    def forward_b(self, x: torch.Tensor, z: torch.Tensor) -> torch.Tensor:
        return self._decode("B", x, z)


class G(nn.Module):
    """Generator for concat=0 (the "feature-wise transform" one): ``mlpA`` maps z (nz) through 4dim, 4dim to
    4 x 4dim, split into four chunks for ``decA1``..``decA4`` (MisINSResBlock), then ``decA5`` = two
    ReLUINSConvTranspose2d (to 2dim, dim), ConvTranspose2d k1 to 3, tanh. Nothing is shared between
    domains. Keys in the official order decA1..5, decB1..5, mlpA, mlpB."""

    def __init__(self, dim: int = 64, nz: int = 8, output_dim_a: int = 3, output_dim_b: int = 3) -> None:
        super().__init__()
        self.nz = nz
        self.tch_add = tch = 4 * dim
        for side, out_dim in (("A", output_dim_a), ("B", output_dim_b)):
            for k in range(1, 5):
                setattr(self, f"dec{side}{k}", MisINSResBlock(tch, tch))
            setattr(self, f"dec{side}5", nn.Sequential(
                ReLUINSConvTranspose2d(tch, tch // 2), ReLUINSConvTranspose2d(tch // 2, tch // 4),
                nn.ConvTranspose2d(tch // 4, out_dim, 1, 1, 0), nn.Tanh()))
        for side in ("A", "B"):
            setattr(self, f"mlp{side}", nn.Sequential(nn.Linear(nz, tch), nn.ReLU(inplace=True), nn.Linear(tch, tch),
                                                      nn.ReLU(inplace=True), nn.Linear(tch, 4 * tch)))
        gaussian_weights_init(self)

    def _decode(self, side: str, x: torch.Tensor, z: torch.Tensor) -> torch.Tensor:
        chunks = torch.split(getattr(self, f"mlp{side}")(z), self.tch_add, dim=1)
        out = x
        for k, chunk in enumerate(chunks, start=1):
            out = getattr(self, f"dec{side}{k}")(out, chunk.contiguous())
        return getattr(self, f"dec{side}5")(out)

    def forward_a(self, x: torch.Tensor, z: torch.Tensor) -> torch.Tensor:
        return self._decode("A", x, z)

    def forward_b(self, x: torch.Tensor, z: torch.Tensor) -> torch.Tensor:
        return self._decode("B", x, z)


# ---- discriminator parts -----------------------------------------------------------------------------
class DritPatchDiscriminator(nn.Sequential):
    """One scale of the official ``MultiScaleDis`` (registered as ``drit_patch``): ``n_layer`` LeakyReLUConv2d
    k4 s2 p1 (dim, doubling; reflect pad, slope 0.01, no norm because of the official typo), then a bare
    1x1 conv to one logit map. A plain ``Sequential``, so its keys are one official scale's
    (``0.model.1.weight`` ... ``4.weight``); inside ``{name: multiscale, discriminator: drit_patch}`` they are
    ``scales.<s>.*`` where the official file has ``Diss.<s>.*``. ``norm: instance`` inserts InstanceNorm (what
    ``--dis_norm Instance`` was meant to do; officially it has no effect). ``forward(x, y=None)`` ignores
    labels and returns the logit map and the last feature map."""

    labels = "unused"
    constraints = {"dim": at_least_one, "n_layer": at_least_one, "norm": OneOf(("none", "instance"))}

    def __init__(self, dim: int = 64, n_layer: int = 4, norm: str = "none", input_dim: int = 3) -> None:
        fix = norm == "instance"
        layers: list[nn.Module] = [LeakyReLUConv2d(input_dim, dim, 4, 2, 1, "Instance" if fix else "None", fix)]
        for _ in range(1, n_layer):
            layers.append(LeakyReLUConv2d(dim, dim * 2, 4, 2, 1, "Instance" if fix else "None", fix))
            dim *= 2
        layers.append(nn.Conv2d(dim, 1, 1, 1, 0))
        super().__init__(*layers)
        gaussian_weights_init(self)

    def forward(self, x: torch.Tensor, y: torch.Tensor | None = None) -> DiscriminatorOutput:  # type: ignore[override]
        *body, head = self  # not self[:-1]: slicing a Sequential subclass calls its constructor
        for layer in body:
            x = layer(x)
        return DiscriminatorOutput(head(x), [x])


class DritDiscriminator(nn.Module):
    """The official single-scale ``Dis`` (``--dis_scale`` <= 1; registered as ``drit_dis``): ``model`` = 6
    LeakyReLUConv2d k3 s2 p1 (dim to 32 dim, doubling), a 1x1 conv to one logit map. Logits are flattened
    per sample (B x N), as the official ``view(-1)`` per batch of one."""

    labels = "unused"
    constraints = {"dim": at_least_one, "n_layer": at_least_one}

    def __init__(self, dim: int = 64, n_layer: int = 6, input_dim: int = 3) -> None:
        super().__init__()
        layers: list[nn.Module] = [LeakyReLUConv2d(input_dim, dim, 3, 2, 1)]
        for _ in range(1, n_layer):
            layers.append(LeakyReLUConv2d(dim, dim * 2, 3, 2, 1))
            dim *= 2
        layers.append(nn.Conv2d(dim, 1, 1, 1, 0))
        self.model = nn.Sequential(*layers)
        gaussian_weights_init(self)

    def forward(self, x: torch.Tensor, y: torch.Tensor | None = None) -> DiscriminatorOutput:
        for layer in self.model[:-1]:
            x = layer(x)
        return DiscriminatorOutput(self.model[-1](x).reshape(x.shape[0], -1), [x])


class DritContentDiscriminator(nn.Module):
    """The content discriminator ``Dis_content`` (registered as ``drit_content``): ``n_down`` LeakyReLUConv2d
    k7 s2 p1 (official 3), one LeakyReLUConv2d k``last_kernel`` s1 p0 (official 4), all ``dim`` wide (256),
    then a 1x1 conv to a logit. The official layers ask for InstanceNorm, which the typo drops
    (``instance_norm_fix`` inserts it). It sees the content code (``in_dim`` = 4 x the method's dim channels).

    The official layout gives one logit per sample only for a 54 x 54 content code, i.e. crop 216
    (54 -> 25 -> 11 -> 4 -> 1); larger codes give a logit map (averaged by the loss; officially a crash), and
    a code too small for the layers is a ConfigError naming the ``n_down`` that fits. ``forward(x, y=None)``
    returns logits B x N and the last feature map."""

    labels = "unused"
    constraints = {"dim": at_least_one, "in_dim": at_least_one, "n_down": non_negative, "last_kernel": at_least_one}

    def __init__(self, in_dim: int = 256, dim: int = 256, n_down: int = 3, last_kernel: int = 4,
                 instance_norm_fix: bool = False) -> None:
        super().__init__()
        self.n_down, self.last_kernel = int(n_down), int(last_kernel)
        layers: list[nn.Module] = []
        ch = in_dim
        for _ in range(self.n_down):
            layers.append(LeakyReLUConv2d(ch, dim, 7, 2, 1, "Instance", instance_norm_fix))
            ch = dim
        layers.append(LeakyReLUConv2d(ch, dim, self.last_kernel, 1, 0))
        layers.append(nn.Conv2d(dim, 1, 1, 1, 0))
        self.model = nn.Sequential(*layers)
        gaussian_weights_init(self)

    def output_size(self, size: int) -> int | None:
        """The logit map's side for a ``size`` x ``size`` content code; None when a layer cannot run on it
        (a reflect pad of 1 needs 2 pixels; a kernel must fit)."""
        return _content_out(self.n_down, self.last_kernel, size)

    def _check(self, x: torch.Tensor) -> None:
        h, w = x.shape[2:]
        if self.output_size(min(h, w)) is not None:
            return
        fits = [n for n in range(self.n_down, -1, -1) if _content_out(n, self.last_kernel, min(h, w)) is not None]
        hint = (f"set method.content_discriminator.n_down to {fits[0]} (or lower)" if fits
                else "use larger images")
        raise ConfigError(
            f"discriminator 'drit_content': the content code is {h}x{w} (the crop / 4), too small for n_down="
            f"{self.n_down} k7 s2 layers and a k{self.last_kernel} layer (the official layout needs 54x54, i.e. "
            f"data.crop 216); {hint}.")

    def forward(self, x: torch.Tensor, y: torch.Tensor | None = None) -> DiscriminatorOutput:
        self._check(x)
        for layer in self.model[:-1]:
            x = layer(x)
        return DiscriminatorOutput(self.model[-1](x).reshape(x.shape[0], -1), [x])


def _content_out(n_down: int, last_kernel: int, size: int) -> int | None:
    """:meth:`DritContentDiscriminator.output_size` for another ``n_down``, without building one."""
    for _ in range(n_down):
        if size < 2 or size + 2 < 7:
            return None
        size = (size + 2 - 7) // 2 + 1
    return None if size < last_kernel else size - last_kernel + 1
