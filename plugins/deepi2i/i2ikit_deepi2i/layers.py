"""BigGAN layers with the state-dict layout of ajbrock/BigGAN-PyTorch (used by DeepI2I; reusable by others).

Everything here is a re-implementation from the published behaviour, not a copy of the original code.
Attribute and buffer names are chosen so that a network built from these layers has exactly the
``state_dict`` keys of BigGAN-PyTorch checkpoints:

- spectral norm is BigGAN-PyTorch's own, not ``torch.nn.utils.spectral_norm``: the stored tensor is the
  raw ``weight``; each layer has buffers ``u0`` (shape ``(1, out)``) and ``sv0`` (shape ``(1,)``), one pair
  per tracked singular value (``u1``/``sv1``, ... when ``num_svs > 1``); one power iteration per forward
  updates ``u`` in training mode only; the weight is divided by the estimated sigma on the fly;
- class-conditional batch norm keeps its statistics in ``stored_mean``/``stored_var`` (no
  ``num_batches_tracked``) and its conditional gain/bias in two bias-free SN linears ``gain``/``bias``;
- the plain output batch norm has parameters ``gain``/``bias`` and the same ``stored_*`` buffers;
- self-attention (SAGAN, as released) has SN 1x1 convs ``theta``/``phi``/``g``/``o`` and a scalar ``gamma``.

All layers are device-agnostic (buffers follow ``.to()``; nothing calls ``.cuda()``). Only torch is imported.
"""
from __future__ import annotations

from dataclasses import dataclass
from typing import Sequence

import torch
import torch.nn.functional as F
from torch import nn

__all__ = [
    "SNSettings",
    "SpectralNormMixin",
    "sn_power_iteration",
    "SNConv2d",
    "SNLinear",
    "SNEmbedding",
    "ConditionalBatchNorm2d",
    "StoredBatchNorm2d",
    "SelfAttention",
    "GBlock",
    "DBlock",
    "init_biggan_weights",
    "INIT_STYLES",
]


@dataclass(frozen=True)
class SNSettings:
    """Spectral-norm hyper-parameters: tracked singular values, power iterations per forward, eps.

    BigGAN-PyTorch defaults to ``eps=1e-12``; its 128 px ImageNet run and DeepI2I use ``--SN_eps 1e-6``.
    """

    num_svs: int = 1
    num_itrs: int = 1
    eps: float = 1e-12

    def __post_init__(self) -> None:
        if self.num_svs < 1 or self.num_itrs < 1:
            raise ValueError(f"SNSettings: num_svs and num_itrs must be >= 1, got {self.num_svs}, {self.num_itrs}")


def _remove_projections(x: torch.Tensor, basis: Sequence[torch.Tensor]) -> torch.Tensor:
    """Gram-Schmidt: subtract from the row vector ``x`` its projection on every row vector in ``basis``."""
    for b in basis:
        x = x - (x @ b.t()) / (b @ b.t()) * b
    return x


def sn_power_iteration(
    weight_mat: torch.Tensor, us: Sequence[torch.Tensor], *, update: bool, eps: float
) -> tuple[list[torch.Tensor], list[torch.Tensor], list[torch.Tensor]]:
    """One power-iteration step for each tracked singular value of ``weight_mat`` (out x in).

    For every stored left vector ``u_i`` (1 x out): ``v = normalize(u_i W)``, ``u = normalize(v W^T)``
    (each orthogonalised against the vectors already found), and ``sigma_i = v W^T u^T``. The vectors are
    computed without gradient; sigma keeps the gradient with respect to ``W``. With ``update`` the buffers
    ``u_i`` are overwritten in place with the new ``u``. Returns ``(sigmas, us, vs)``.
    """
    sigmas: list[torch.Tensor] = []
    new_us: list[torch.Tensor] = []
    vs: list[torch.Tensor] = []
    for u_buf in us:
        with torch.no_grad():
            v = F.normalize(_remove_projections(u_buf @ weight_mat, vs), eps=eps)
            vs.append(v)
            u = F.normalize(_remove_projections(v @ weight_mat.t(), new_us), eps=eps)
            new_us.append(u)
            if update:
                u_buf.copy_(u)
        sigmas.append(((v @ weight_mat.t()) @ u.t()).squeeze())
    return sigmas, new_us, vs


class SpectralNormMixin:
    """Spectral normalisation in the BigGAN-PyTorch style, mixed into a module that owns ``self.weight``.

    Buffers ``u{i}`` (1 x num_outputs, random normal at construction) and ``sv{i}`` (1,) for
    ``i < num_svs``. :meth:`sn_weight` runs ``num_itrs`` power iterations (the stored ``u`` vectors and
    ``sv`` values change only in training mode; in eval mode every iteration restarts from the stored
    ``u``) and returns ``weight / sigma_0``. ``sv`` buffers are for logging only.
    """

    sn: SNSettings

    def _init_spectral_norm(self, num_outputs: int, sn: SNSettings, transpose: bool = False) -> None:
        self.sn = sn
        self.sn_transpose = transpose
        for i in range(sn.num_svs):
            self.register_buffer(f"u{i}", torch.randn(1, num_outputs))  # type: ignore[attr-defined]
            self.register_buffer(f"sv{i}", torch.ones(1))  # type: ignore[attr-defined]

    @property
    def sn_u(self) -> list[torch.Tensor]:
        return [getattr(self, f"u{i}") for i in range(self.sn.num_svs)]

    @property
    def sn_sv(self) -> list[torch.Tensor]:
        return [getattr(self, f"sv{i}") for i in range(self.sn.num_svs)]

    def sn_weight(self) -> torch.Tensor:
        weight: torch.Tensor = self.weight  # type: ignore[attr-defined]
        training: bool = self.training  # type: ignore[attr-defined]
        mat = weight.view(weight.shape[0], -1)
        if self.sn_transpose:
            mat = mat.t()
        sigmas: list[torch.Tensor] = []
        for _ in range(self.sn.num_itrs):
            sigmas, _, _ = sn_power_iteration(mat, self.sn_u, update=training, eps=self.sn.eps)
        if training:
            with torch.no_grad():
                for buf, sigma in zip(self.sn_sv, sigmas):
                    buf.copy_(sigma.detach().reshape(1))
        return weight / sigmas[0]

    def _sn_repr(self) -> str:
        return f"sn(num_svs={self.sn.num_svs}, num_itrs={self.sn.num_itrs}, eps={self.sn.eps})"


class SNConv2d(nn.Conv2d, SpectralNormMixin):
    """``nn.Conv2d`` whose weight is spectrally normalised; keys ``weight``, ``bias``, ``u0``, ``sv0``."""

    def __init__(
        self,
        in_channels: int,
        out_channels: int,
        kernel_size: int = 3,
        stride: int = 1,
        padding: int = 1,
        dilation: int = 1,
        groups: int = 1,
        bias: bool = True,
        *,
        sn: SNSettings = SNSettings(),
    ) -> None:
        nn.Conv2d.__init__(self, in_channels, out_channels, kernel_size, stride, padding, dilation, groups, bias)
        self._init_spectral_norm(out_channels, sn)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self._conv_forward(x, self.sn_weight(), self.bias)

    def extra_repr(self) -> str:
        return f"{super().extra_repr()}, {self._sn_repr()}"


class SNLinear(nn.Linear, SpectralNormMixin):
    """``nn.Linear`` whose weight is spectrally normalised; keys ``weight``, ``bias``, ``u0``, ``sv0``."""

    def __init__(self, in_features: int, out_features: int, bias: bool = True, *, sn: SNSettings = SNSettings()) -> None:
        nn.Linear.__init__(self, in_features, out_features, bias)
        self._init_spectral_norm(out_features, sn)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return F.linear(x, self.sn_weight(), self.bias)

    def extra_repr(self) -> str:
        return f"{super().extra_repr()}, {self._sn_repr()}"


class SNEmbedding(nn.Embedding, SpectralNormMixin):
    """``nn.Embedding`` normalised over its (num_embeddings x dim) table; ``u0`` has shape (1, num_embeddings).

    As in BigGAN-PyTorch the lookup uses only the normalised table (no padding_idx / max_norm).
    """

    def __init__(self, num_embeddings: int, embedding_dim: int, *, sn: SNSettings = SNSettings()) -> None:
        nn.Embedding.__init__(self, num_embeddings, embedding_dim)
        self._init_spectral_norm(num_embeddings, sn)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return F.embedding(x, self.sn_weight())

    def extra_repr(self) -> str:
        return f"{super().extra_repr()}, {self._sn_repr()}"


class ConditionalBatchNorm2d(nn.Module):
    """Class-conditional batch norm (BigGAN ``ccbn``): ``BN(x) * (1 + gain(y)) + bias(y)``.

    ``BN`` has no affine parameters: batch statistics in training mode (updating ``stored_mean`` and
    ``stored_var`` with ``momentum``), stored statistics in eval mode. ``gain`` and ``bias`` are bias-free
    linears (spectrally normalised by default) from the conditioning vector ``y`` (B x cond_dim) to the
    channels.
    """

    def __init__(
        self,
        num_features: int,
        cond_dim: int,
        *,
        eps: float = 1e-5,
        momentum: float = 0.1,
        spectral_norm: bool = True,
        sn: SNSettings = SNSettings(),
    ) -> None:
        super().__init__()
        self.num_features, self.cond_dim = num_features, cond_dim
        self.eps, self.momentum = eps, momentum
        if spectral_norm:
            self.gain: nn.Module = SNLinear(cond_dim, num_features, bias=False, sn=sn)
            self.bias: nn.Module = SNLinear(cond_dim, num_features, bias=False, sn=sn)
        else:
            self.gain = nn.Linear(cond_dim, num_features, bias=False)
            self.bias = nn.Linear(cond_dim, num_features, bias=False)
        self.register_buffer("stored_mean", torch.zeros(num_features))
        self.register_buffer("stored_var", torch.ones(num_features))

    def forward(self, x: torch.Tensor, y: torch.Tensor) -> torch.Tensor:
        scale = (1 + self.gain(y)).view(y.shape[0], -1, 1, 1)
        shift = self.bias(y).view(y.shape[0], -1, 1, 1)
        out = F.batch_norm(x, self.stored_mean, self.stored_var, None, None, self.training, self.momentum, self.eps)
        return out * scale + shift

    def extra_repr(self) -> str:
        return f"{self.num_features}, cond_dim={self.cond_dim}, eps={self.eps}, momentum={self.momentum}"


class StoredBatchNorm2d(nn.Module):
    """Unconditional batch norm with parameters ``gain``/``bias`` and buffers ``stored_mean``/``stored_var``.

    Numerically ``nn.BatchNorm2d`` (batch statistics in training mode, stored ones in eval); only the
    names differ (BigGAN's ``bn``, used before G's output conv) and there is no ``num_batches_tracked``.
    """

    def __init__(self, num_features: int, *, eps: float = 1e-5, momentum: float = 0.1) -> None:
        super().__init__()
        self.num_features, self.eps, self.momentum = num_features, eps, momentum
        self.gain = nn.Parameter(torch.ones(num_features))
        self.bias = nn.Parameter(torch.zeros(num_features))
        self.register_buffer("stored_mean", torch.zeros(num_features))
        self.register_buffer("stored_var", torch.ones(num_features))

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return F.batch_norm(x, self.stored_mean, self.stored_var, self.gain, self.bias, self.training, self.momentum, self.eps)

    def extra_repr(self) -> str:
        return f"{self.num_features}, eps={self.eps}, momentum={self.momentum}"


class SelfAttention(nn.Module):
    """SAGAN self-attention as released with BigGAN: ``x + gamma * o(attend(theta(x), phi(x)', g(x)'))``.

    ``theta``/``phi`` map C -> C/8 and ``g`` maps C -> C/2 (bias-free SN 1x1 convs); ``phi`` and ``g`` are
    2x2 max-pooled, so each of the H*W queries attends over H*W/4 keys (softmax over keys); ``o`` maps
    the attended C/2 channels back to C. ``gamma`` is a learnt scalar starting at 0. H and W must be even.
    """

    def __init__(self, channels: int, *, spectral_norm: bool = True, sn: SNSettings = SNSettings()) -> None:
        super().__init__()
        if channels < 8:
            raise ValueError(f"SelfAttention needs at least 8 channels (it uses C/8 query channels), got {channels}")
        self.channels = channels

        def conv(cin: int, cout: int) -> nn.Module:
            if spectral_norm:
                return SNConv2d(cin, cout, kernel_size=1, padding=0, bias=False, sn=sn)
            return nn.Conv2d(cin, cout, kernel_size=1, padding=0, bias=False)

        self.theta = conv(channels, channels // 8)
        self.phi = conv(channels, channels // 8)
        self.g = conv(channels, channels // 2)
        self.o = conv(channels // 2, channels)
        self.gamma = nn.Parameter(torch.tensor(0.0))

    def forward(self, x: torch.Tensor, y: torch.Tensor | None = None) -> torch.Tensor:
        b, _, h, w = x.shape
        c8, c2 = self.channels // 8, self.channels // 2
        query = self.theta(x).reshape(b, c8, h * w)
        key = F.max_pool2d(self.phi(x), 2).reshape(b, c8, (h * w) // 4)
        value = F.max_pool2d(self.g(x), 2).reshape(b, c2, (h * w) // 4)
        attn = F.softmax(query.transpose(1, 2) @ key, dim=-1)  # B x HW x HW/4
        out = (value @ attn.transpose(1, 2)).reshape(b, c2, h, w)
        return self.gamma * self.o(out) + x

    def extra_repr(self) -> str:
        return f"{self.channels}"


class GBlock(nn.Module):
    """BigGAN generator residual block.

    Main path: ``ccbn1 -> ReLU -> [nearest x2] -> conv3x3 -> ccbn2 -> ReLU -> conv3x3``; shortcut:
    ``[nearest x2] -> conv1x1`` (learnt whenever the channels change or the block upsamples).
    Submodules are registered as ``conv1, conv2, conv_sc, bn1, bn2`` (the BigGAN-PyTorch key order).
    """

    def __init__(
        self,
        in_channels: int,
        out_channels: int,
        cond_dim: int,
        *,
        upsample: bool = True,
        bn_eps: float = 1e-5,
        spectral_norm: bool = True,
        sn: SNSettings = SNSettings(),
    ) -> None:
        super().__init__()
        self.in_channels, self.out_channels, self.upsample = in_channels, out_channels, upsample

        def conv(cin: int, cout: int, k: int) -> nn.Module:
            if spectral_norm:
                return SNConv2d(cin, cout, kernel_size=k, padding=k // 2, sn=sn)
            return nn.Conv2d(cin, cout, kernel_size=k, padding=k // 2)

        self.conv1 = conv(in_channels, out_channels, 3)
        self.conv2 = conv(out_channels, out_channels, 3)
        self.learnable_sc = in_channels != out_channels or upsample
        if self.learnable_sc:
            self.conv_sc = conv(in_channels, out_channels, 1)
        self.bn1 = ConditionalBatchNorm2d(in_channels, cond_dim, eps=bn_eps, spectral_norm=spectral_norm, sn=sn)
        self.bn2 = ConditionalBatchNorm2d(out_channels, cond_dim, eps=bn_eps, spectral_norm=spectral_norm, sn=sn)

    def forward(self, x: torch.Tensor, y: torch.Tensor) -> torch.Tensor:
        h = F.relu(self.bn1(x, y))
        if self.upsample:
            h = F.interpolate(h, scale_factor=2, mode="nearest")
            x = F.interpolate(x, scale_factor=2, mode="nearest")
        h = self.conv2(F.relu(self.bn2(self.conv1(h), y)))
        if self.learnable_sc:
            x = self.conv_sc(x)
        return h + x


class DBlock(nn.Module):
    """BigGAN discriminator residual block.

    Main path: ``[ReLU (preactivation)] -> conv3x3 -> ReLU -> conv3x3 -> [avgpool 2]``; the hidden width is
    ``out_channels`` when ``wide`` (BigGAN/SAGAN) else ``in_channels``. Shortcut (learnt 1x1 conv when the
    channels change or the block downsamples): ``conv1x1 -> avgpool`` with preactivation, ``avgpool ->
    conv1x1`` without. The preactivation ReLU is out of place, so the shortcut sees the raw input.
    Submodules ``conv1, conv2, conv_sc``.
    """

    def __init__(
        self,
        in_channels: int,
        out_channels: int,
        *,
        wide: bool = True,
        preactivation: bool = True,
        downsample: bool = True,
        spectral_norm: bool = True,
        sn: SNSettings = SNSettings(),
    ) -> None:
        super().__init__()
        self.in_channels, self.out_channels = in_channels, out_channels
        self.preactivation, self.downsample = preactivation, downsample
        hidden = out_channels if wide else in_channels

        def conv(cin: int, cout: int, k: int) -> nn.Module:
            if spectral_norm:
                return SNConv2d(cin, cout, kernel_size=k, padding=k // 2, sn=sn)
            return nn.Conv2d(cin, cout, kernel_size=k, padding=k // 2)

        self.conv1 = conv(in_channels, hidden, 3)
        self.conv2 = conv(hidden, out_channels, 3)
        self.learnable_sc = in_channels != out_channels or downsample
        if self.learnable_sc:
            self.conv_sc = conv(in_channels, out_channels, 1)

    def _shortcut(self, x: torch.Tensor) -> torch.Tensor:
        if self.preactivation:
            if self.learnable_sc:
                x = self.conv_sc(x)
            if self.downsample:
                x = F.avg_pool2d(x, 2)
        else:
            if self.downsample:
                x = F.avg_pool2d(x, 2)
            if self.learnable_sc:
                x = self.conv_sc(x)
        return x

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        h = F.relu(x) if self.preactivation else x
        h = self.conv2(F.relu(self.conv1(h)))
        if self.downsample:
            h = F.avg_pool2d(h, 2)
        return h + self._shortcut(x)


INIT_STYLES = ("ortho", "N02", "glorot", "xavier", "default")


def init_biggan_weights(module: nn.Module, style: str = "ortho") -> int:
    """BigGAN-PyTorch initialisation: every Conv2d/Linear/Embedding ``weight`` (SN layers included) gets
    ``ortho`` (orthogonal), ``N02`` (normal, std 0.02) or ``glorot``/``xavier`` (uniform) init; biases, BN
    and attention ``gamma`` keep their construction values. ``default`` leaves PyTorch's own init.
    Meta tensors are skipped. Returns the number of parameters of the initialised layers."""
    if style not in INIT_STYLES:
        raise ValueError(f"unknown init style {style!r}; choose one of {', '.join(INIT_STYLES)}")
    count = 0
    for m in module.modules():
        if not isinstance(m, (nn.Conv2d, nn.Linear, nn.Embedding)):
            continue
        count += sum(p.numel() for p in m.parameters(recurse=False))
        if style == "default" or m.weight.is_meta:
            continue
        with torch.no_grad():
            if style == "ortho":
                nn.init.orthogonal_(m.weight)
            elif style == "N02":
                nn.init.normal_(m.weight, 0.0, 0.02)
            else:
                nn.init.xavier_uniform_(m.weight)
    return count
