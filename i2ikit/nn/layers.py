"""Small generic layers and helpers that more than one method family uses (imports torch only).

- :class:`StyleAdaIN2d`: adaptive instance norm whose scale/shift come from a *learnt* linear map of a
  style vector held inside the layer (StyleGAN / StarGAN-v2 / GP-UNIT style), as opposed to
  :class:`i2ikit.nn.AdaptiveInstanceNorm2d`, whose parameters are assigned from outside (MUNIT/FUNIT).
- :func:`grad_reverse` / :class:`GradientReversal`: the gradient-reversal layer of Ganin & Lempitsky.
- :func:`init_weights`: the SPADE / pix2pixHD ``BaseNetwork.init_weights`` scheme (also used by GP-UNIT).
- :func:`legacy_spectral_norm_weight` and :func:`spectral_norm_keys_to_legacy`: reading
  ``torch.nn.utils.spectral_norm`` (legacy hook API) state dicts.
"""
from __future__ import annotations

import math
from typing import Mapping

import torch
from torch import nn

__all__ = [
    "StyleAdaIN2d",
    "grad_reverse",
    "GradientReversal",
    "init_weights",
    "INIT_TYPES",
    "legacy_spectral_norm_weight",
    "spectral_norm_keys_to_legacy",
]


class StyleAdaIN2d(nn.Module):
    """``gamma * IN(x) + beta`` with ``(gamma, beta) = style(s).chunk(2)``, ``style = Linear(style_dim, 2C)``.

    - IN is ``nn.InstanceNorm2d(C)``: no affine parameters, no running statistics, biased variance,
      ``eps``; it therefore has no state-dict entries and behaves the same in train and eval mode.
    - gamma is used raw (not ``1 + gamma``); the first C outputs of ``style`` are gamma, the next C beta.
      ``gamma_bias`` initialises the gamma half of the bias (1 gives an identity modulation at start);
      the beta half starts at 0. The only state-dict entries are ``style.weight`` (2C x style_dim) and
      ``style.bias`` (2C).
    - ``s`` is ``B x style_dim``; a batch of 1 on either side broadcasts against the other.
    """

    def __init__(self, style_dim: int, num_features: int, *, gamma_bias: float = 1.0, eps: float = 1e-5) -> None:
        super().__init__()
        self.style_dim, self.num_features = style_dim, num_features
        self.norm = nn.InstanceNorm2d(num_features, eps=eps)
        self.style = nn.Linear(style_dim, 2 * num_features)
        with torch.no_grad():
            self.style.bias[:num_features].fill_(gamma_bias)
            self.style.bias[num_features:].zero_()

    def forward(self, x: torch.Tensor, s: torch.Tensor) -> torch.Tensor:
        gamma, beta = self.style(s)[:, :, None, None].chunk(2, dim=1)
        return gamma * self.norm(x) + beta

    def extra_repr(self) -> str:
        return f"style_dim={self.style_dim}, num_features={self.num_features}"


class _GradReverse(torch.autograd.Function):
    @staticmethod
    def forward(ctx, x: torch.Tensor, lambd: float) -> torch.Tensor:  # type: ignore[override]
        ctx.lambd = lambd
        return x.view_as(x)

    @staticmethod
    def backward(ctx, grad: torch.Tensor) -> tuple[torch.Tensor, None]:  # type: ignore[override]
        return -ctx.lambd * grad, None


def grad_reverse(x: torch.Tensor, lambd: float = 1.0) -> torch.Tensor:
    """Identity in the forward pass; multiplies the incoming gradient by ``-lambd`` in the backward pass."""
    return _GradReverse.apply(x, lambd)


class GradientReversal(nn.Module):
    """Module form of :func:`grad_reverse` (no parameters)."""

    def __init__(self, lambd: float = 1.0) -> None:
        super().__init__()
        self.lambd = lambd

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return grad_reverse(x, self.lambd)

    def extra_repr(self) -> str:
        return f"lambd={self.lambd}"


INIT_TYPES = ("normal", "xavier", "xavier_uniform", "kaiming", "orthogonal", "none", "keep")


@torch.no_grad()
def init_weights(module: nn.Module, init_type: str = "normal", gain: float = 0.02) -> int:
    """SPADE / pix2pixHD ``BaseNetwork.init_weights``, applied to every submodule of ``module``.

    - Every module whose class name contains ``Conv`` or ``Linear`` and that has a ``weight``: the weight
      gets ``normal(0, gain)``, ``xavier`` (normal, ``gain``), ``xavier_uniform`` (gain 1), ``kaiming``
      (normal, a=0, fan_in), ``orthogonal`` (``gain``), ``none`` (``reset_parameters()``) or ``keep``
      (the weight as it is); then its bias, if any, is set to **0**. That includes the linears inside :class:`StyleAdaIN2d`, whose gamma
      bias therefore ends at 0, not 1, exactly as in the code bases that use this scheme.
    - ``BatchNorm2d``: weight ``normal(1, gain)``, bias 0. ``BatchNorm1d``, embeddings and norms without
      a ``Conv``/``Linear`` class name are left alone.
    - For a layer wrapped by ``torch.nn.utils.spectral_norm`` (legacy API) the raw ``weight_orig`` is
      initialised; that is what the original code does, because the legacy hook's ``weight`` attribute
      shares storage with ``weight_orig`` before the first forward pass.

    Meta tensors are skipped. Returns the number of initialised weight/bias elements.
    """
    if init_type not in INIT_TYPES:
        raise ValueError(f"unknown init_type {init_type!r}; choose one of {', '.join(INIT_TYPES)}")
    count = 0
    for m in module.modules():
        name = type(m).__name__
        if "BatchNorm2d" in name:
            if getattr(m, "weight", None) is not None and not m.weight.is_meta:
                nn.init.normal_(m.weight, 1.0, gain)
            if getattr(m, "bias", None) is not None and not m.bias.is_meta:
                nn.init.constant_(m.bias, 0.0)
            continue
        if not ("Conv" in name or "Linear" in name):
            continue
        weight = getattr(m, "weight_orig", None)
        if weight is None:
            weight = getattr(m, "weight", None)
        if not isinstance(weight, torch.Tensor):
            continue
        bias = getattr(m, "bias", None)
        count += weight.numel() + (bias.numel() if isinstance(bias, torch.Tensor) else 0)
        if weight.is_meta:
            continue
        if init_type == "normal":
            nn.init.normal_(weight, 0.0, gain)
        elif init_type == "xavier":
            nn.init.xavier_normal_(weight, gain=gain)
        elif init_type == "xavier_uniform":
            nn.init.xavier_uniform_(weight, gain=1.0)
        elif init_type == "kaiming":
            nn.init.kaiming_normal_(weight, a=0, mode="fan_in")
        elif init_type == "orthogonal":
            nn.init.orthogonal_(weight, gain=gain)
        elif init_type == "keep":
            pass
        else:  # "none": PyTorch's default initialisation of the layer (raw weight for SN layers)
            if hasattr(m, "weight_orig"):
                nn.init.kaiming_uniform_(weight, a=math.sqrt(5))
            elif hasattr(m, "reset_parameters"):
                m.reset_parameters()
        if isinstance(bias, torch.Tensor):
            nn.init.constant_(bias, 0.0)
    return count


def legacy_spectral_norm_weight(weight_orig: torch.Tensor, u: torch.Tensor, v: torch.Tensor) -> torch.Tensor:
    """The weight that ``torch.nn.utils.spectral_norm`` uses in eval mode (no power iteration):
    ``W_orig / sigma`` with ``sigma = u . (W_orig.reshape(out, -1) @ v)`` (dim 0, convs and linears)."""
    sigma = torch.dot(u, weight_orig.reshape(weight_orig.shape[0], -1) @ v)
    return weight_orig / sigma


_PARAMETRIZED = {
    "parametrizations.weight.original": "weight_orig",
    "parametrizations.weight.0._u": "weight_u",
    "parametrizations.weight.0._v": "weight_v",
}


def spectral_norm_keys_to_legacy(sd: Mapping[str, torch.Tensor]) -> dict[str, torch.Tensor]:
    """Rename ``torch.nn.utils.parametrizations.spectral_norm`` keys (``*.parametrizations.weight.original``,
    ``*.parametrizations.weight.0._u`` / ``._v``) to the legacy ``*.weight_orig`` / ``*.weight_u`` /
    ``*.weight_v``. The tensors mean the same in both formats (``_u``/``_v`` are the power-iteration
    vectors, the original weight is unnormalised). Other keys are kept."""
    out: dict[str, torch.Tensor] = {}
    for key, value in sd.items():
        for new, old in _PARAMETRIZED.items():
            if key == new or key.endswith("." + new):
                key = key[: len(key) - len(new)] + old
                break
        out[key] = value
    return out
