"""Generic convolutional building blocks shared by the methods (FUNIT first, others later).

The submodule names (``pad``, ``norm``, ``activation``, ``conv``, ``fc``, ``model``, ``conv_0``,
``conv_1``, ``conv_s``) and their registration order follow the MUNIT/FUNIT family of official code,
so that a network built from these blocks has the same ``state_dict`` keys, in the same order, as
the official checkpoints. Only torch is imported here.
"""
from __future__ import annotations

import torch
import torch.nn.functional as F
from torch import nn

__all__ = [
    "Conv2dBlock",
    "LinearBlock",
    "ResBlock",
    "ResBlocks",
    "ActFirstResBlock",
    "AdaptiveInstanceNorm2d",
    "LayerNorm",
    "assign_adain_params",
    "clear_adain_params",
    "num_adain_params",
    "make_activation",
]

PAD_TYPES = ("reflect", "zero", "replicate")
NORMS_2D = ("in", "bn", "adain", "ln", "none")
ACTIVATIONS = ("relu", "lrelu", "tanh", "none")


def make_activation(name: str, *, inplace: bool = False) -> nn.Module | None:
    """``relu``, ``lrelu`` (slope 0.2), ``tanh`` or ``none`` (returns None, as the official code does).

    ``inplace`` only concerns ReLU/LeakyReLU. The official FUNIT code uses ``inplace=True`` everywhere;
    that is safe after a conv or norm, but on a block's *input* it overwrites the caller's tensor
    (see :class:`ActFirstResBlock`), so the default here is ``False``.
    """
    if name == "relu":
        return nn.ReLU(inplace=inplace)
    if name == "lrelu":
        return nn.LeakyReLU(0.2, inplace=inplace)
    if name == "tanh":
        return nn.Tanh()
    if name == "none":
        return None
    raise ValueError(f"unknown activation {name!r}; choose one of {', '.join(ACTIVATIONS)}")


def _make_pad(pad_type: str, padding: int) -> nn.Module:
    if pad_type == "reflect":
        return nn.ReflectionPad2d(padding)
    if pad_type == "zero":
        return nn.ZeroPad2d(padding)
    if pad_type == "replicate":
        return nn.ReplicationPad2d(padding)
    raise ValueError(f"unknown pad_type {pad_type!r}; choose one of {', '.join(PAD_TYPES)}")


def _make_norm_2d(norm: str, dim: int) -> nn.Module | None:
    if norm == "in":
        return nn.InstanceNorm2d(dim)  # affine=False, no running stats: no state_dict entries
    if norm == "bn":
        return nn.BatchNorm2d(dim)
    if norm == "adain":
        return AdaptiveInstanceNorm2d(dim)
    if norm == "ln":
        return LayerNorm(dim)
    if norm == "none":
        return None
    raise ValueError(f"unknown norm {norm!r}; choose one of {', '.join(NORMS_2D)}")


class AdaptiveInstanceNorm2d(nn.Module):
    """Instance norm whose affine ``weight`` (gamma) and ``bias`` (beta) come from outside (an MLP).

    ``weight`` and ``bias`` are plain attributes of shape ``(B*C,)`` (or ``(B, C)``), set by
    :func:`assign_adain_params` before each forward; they are not parameters and are not saved.
    The ``running_mean``/``running_var`` buffers never change and are unused, but they are part of the
    official checkpoints' state_dicts, so they are registered to keep the keys identical.

    Forward: per-sample, per-channel normalisation with the biased variance and ``eps``, then
    ``gamma * x_hat + beta`` with gamma taken raw (no ``1 + gamma``). It runs batch norm in training
    mode on a ``(1, B*C, H, W)`` view, exactly as the official code, so train() and eval() agree.
    """

    def __init__(self, num_features: int, eps: float = 1e-5, momentum: float = 0.1) -> None:
        super().__init__()
        self.num_features = num_features
        self.eps = eps
        self.momentum = momentum
        self.weight: torch.Tensor | None = None
        self.bias: torch.Tensor | None = None
        self.register_buffer("running_mean", torch.zeros(num_features))
        self.register_buffer("running_var", torch.ones(num_features))

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        if self.weight is None or self.bias is None:
            raise RuntimeError("AdaptiveInstanceNorm2d: assign weight and bias (assign_adain_params) before calling it")
        b, c = x.shape[:2]
        weight, bias = self.weight.reshape(-1), self.bias.reshape(-1)
        if weight.numel() != b * c or bias.numel() != b * c:
            raise ValueError(
                f"AdaptiveInstanceNorm2d: input has {b}x{c} (batch x channels) but weight/bias hold "
                f"{weight.numel()}/{bias.numel()} values; the AdaIN parameters must be assigned per sample"
            )
        out = F.batch_norm(
            x.contiguous().view(1, b * c, *x.shape[2:]), None, None, weight, bias, True, self.momentum, self.eps
        )
        return out.view_as(x)

    def extra_repr(self) -> str:
        return f"{self.num_features}, eps={self.eps}"


class LayerNorm(nn.Module):
    """MUNIT's and UNIT's layer norm (not ``nn.LayerNorm``): per sample over C x H x W, dividing by the
    **unbiased** standard deviation plus ``eps`` (outside the root), then a per-channel affine whose
    ``gamma`` starts Uniform(0, 1) and ``beta`` at 0 (keys ``gamma``/``beta``, as the official checkpoints)."""

    def __init__(self, num_features: int, eps: float = 1e-5, affine: bool = True) -> None:
        super().__init__()
        self.num_features, self.eps, self.affine = num_features, eps, affine
        if affine:
            self.gamma = nn.Parameter(torch.empty(num_features).uniform_())
            self.beta = nn.Parameter(torch.zeros(num_features))

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        flat = x.reshape(x.shape[0], -1)
        shape = (-1,) + (1,) * (x.dim() - 1)
        x = (x - flat.mean(1).view(shape)) / (flat.std(1).view(shape) + self.eps)
        if self.affine:
            x = x * self.gamma.view(1, -1, *([1] * (x.dim() - 2))) + self.beta.view(1, -1, *([1] * (x.dim() - 2)))
        return x

    def extra_repr(self) -> str:
        return f"{self.num_features}, eps={self.eps}, affine={self.affine}"


def num_adain_params(model: nn.Module) -> int:
    """Width of the vector that :func:`assign_adain_params` consumes: 2*C per AdaIN layer."""
    return sum(2 * m.num_features for m in model.modules() if isinstance(m, AdaptiveInstanceNorm2d))


def assign_adain_params(adain_params: torch.Tensor, model: nn.Module) -> None:
    """Distribute a ``B x num_adain_params(model)`` matrix over the AdaIN layers of ``model``.

    Layers are visited in ``model.modules()`` (registration) order; each takes the next ``2*C``
    columns, the **first C as bias (beta), the next C as weight (gamma)**. This order decides whether
    official checkpoints load with the right meaning, so it must not change.
    """
    expected = num_adain_params(model)
    if adain_params.dim() != 2 or adain_params.shape[1] != expected:
        raise ValueError(f"expected AdaIN parameters of shape (B, {expected}), got {tuple(adain_params.shape)}")
    for m in model.modules():
        if isinstance(m, AdaptiveInstanceNorm2d):
            c = m.num_features
            m.bias = adain_params[:, :c].contiguous().view(-1)
            m.weight = adain_params[:, c : 2 * c].contiguous().view(-1)
            adain_params = adain_params[:, 2 * c :]


def clear_adain_params(model: nn.Module) -> None:
    """Drop assigned AdaIN tensors so the module holds no autograd graph (keeps deepcopy/pickle safe)."""
    for m in model.modules():
        if isinstance(m, AdaptiveInstanceNorm2d):
            m.weight = None
            m.bias = None


class Conv2dBlock(nn.Module):
    """``pad -> conv(padding=0) -> norm -> act``, or ``act -> pad -> conv -> norm`` with ``activation_first``.

    Padding is a separate module so that reflect/replicate padding is possible; the conv itself never
    pads. Submodules are registered as ``pad``, ``norm``, ``activation``, ``conv`` (only ``conv`` and an
    AdaIN ``norm`` hold state), giving the official key names such as ``model.0.conv.weight`` and AdaIN
    buffers ahead of the conv weights.
    """

    def __init__(
        self,
        in_dim: int,
        out_dim: int,
        kernel_size: int,
        stride: int,
        padding: int = 0,
        norm: str = "none",
        activation: str = "relu",
        pad_type: str = "zero",
        use_bias: bool = True,
        activation_first: bool = False,
        inplace: bool = False,
    ) -> None:
        super().__init__()
        self.activation_first = activation_first
        self.pad = _make_pad(pad_type, padding)
        self.norm = _make_norm_2d(norm, out_dim)
        self.activation = make_activation(activation, inplace=inplace)
        self.conv = nn.Conv2d(in_dim, out_dim, kernel_size, stride, bias=use_bias)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        if self.activation_first:
            if self.activation is not None:
                x = self.activation(x)
            return self.forward_after_activation(x)
        x = self.conv(self.pad(x))
        if self.norm is not None:
            x = self.norm(x)
        if self.activation is not None:
            x = self.activation(x)
        return x

    def forward_after_activation(self, x: torch.Tensor) -> torch.Tensor:
        """``pad -> conv -> norm`` on an input whose activation the caller already applied.

        Used by activation-first blocks that share the activated tensor with a shortcut, which is how
        the official in-place aliasing is reproduced without in-place ops.
        """
        if not self.activation_first:
            raise RuntimeError("forward_after_activation is only meaningful for activation_first blocks")
        x = self.conv(self.pad(x))
        if self.norm is not None:
            x = self.norm(x)
        return x


class LinearBlock(nn.Module):
    """``fc -> norm -> act``; submodules ``fc``, ``norm``, ``activation``."""

    def __init__(
        self,
        in_dim: int,
        out_dim: int,
        norm: str = "none",
        activation: str = "relu",
        use_bias: bool = True,
        inplace: bool = False,
    ) -> None:
        super().__init__()
        self.fc = nn.Linear(in_dim, out_dim, bias=use_bias)
        if norm == "bn":
            self.norm: nn.Module | None = nn.BatchNorm1d(out_dim)
        elif norm == "in":
            self.norm = nn.InstanceNorm1d(out_dim)
        elif norm == "none":
            self.norm = None
        else:
            raise ValueError(f"unknown norm {norm!r} for LinearBlock; choose one of bn, in, none")
        self.activation = make_activation(activation, inplace=inplace)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        x = self.fc(x)
        if self.norm is not None:
            x = self.norm(x)
        if self.activation is not None:
            x = self.activation(x)
        return x


class ResBlock(nn.Module):
    """``x + conv(norm, act) -> conv(norm)``, both 3x3; no activation after the sum."""

    def __init__(
        self, dim: int, norm: str = "in", activation: str = "relu", pad_type: str = "zero", inplace: bool = False
    ) -> None:
        super().__init__()
        self.model = nn.Sequential(
            Conv2dBlock(dim, dim, 3, 1, 1, norm=norm, activation=activation, pad_type=pad_type, inplace=inplace),
            Conv2dBlock(dim, dim, 3, 1, 1, norm=norm, activation="none", pad_type=pad_type, inplace=inplace),
        )

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.model(x) + x


class ResBlocks(nn.Module):
    """``num_blocks`` :class:`ResBlock` in a ``model`` Sequential."""

    def __init__(
        self,
        num_blocks: int,
        dim: int,
        norm: str = "in",
        activation: str = "relu",
        pad_type: str = "zero",
        inplace: bool = False,
    ) -> None:
        super().__init__()
        self.model = nn.Sequential(
            *[ResBlock(dim, norm=norm, activation=activation, pad_type=pad_type, inplace=inplace) for _ in range(num_blocks)]
        )

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.model(x)


class ActFirstResBlock(nn.Module):
    """Pre-activation residual block: ``shortcut(x) + conv_1(conv_0(x))``, both convs 3x3 reflect,
    activation first. ``conv_s`` (1x1, no bias) exists only when ``fin != fout``.

    ``inplace_quirk=True`` reproduces what the official code computes: there, ``conv_0``'s in-place
    activation overwrites ``x`` before the sum, so an **identity** block returns ``act(x) + F(x)``;
    a **learned-shortcut** block computes ``conv_s`` before the overwrite and returns ``conv_s(x) + F(x)``.
    Here the same values are computed without in-place ops, so double backward (R1) is safe.
    ``inplace_quirk=False`` gives the textbook ``x + F(x)``.
    """

    def __init__(
        self,
        fin: int,
        fout: int,
        fhid: int | None = None,
        activation: str = "lrelu",
        norm: str = "none",
        inplace_quirk: bool = False,
    ) -> None:
        super().__init__()
        self.learned_shortcut = fin != fout
        self.inplace_quirk = inplace_quirk
        fhid = min(fin, fout) if fhid is None else fhid
        self.fin, self.fout, self.fhid = fin, fout, fhid
        self.conv_0 = Conv2dBlock(fin, fhid, 3, 1, 1, norm=norm, activation=activation, pad_type="reflect", activation_first=True)
        self.conv_1 = Conv2dBlock(fhid, fout, 3, 1, 1, norm=norm, activation=activation, pad_type="reflect", activation_first=True)
        if self.learned_shortcut:
            self.conv_s = Conv2dBlock(fin, fout, 1, 1, activation="none", use_bias=False)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        if self.learned_shortcut:
            return self.conv_s(x) + self.conv_1(self.conv_0(x))
        if not self.inplace_quirk or self.conv_0.activation is None:
            return x + self.conv_1(self.conv_0(x))
        a = self.conv_0.activation(x)  # the tensor the official in-place op leaves in x
        return a + self.conv_1(self.conv_0.forward_after_activation(a))

    def extra_repr(self) -> str:
        return f"fin={self.fin}, fout={self.fout}, fhid={self.fhid}, inplace_quirk={self.inplace_quirk}"
