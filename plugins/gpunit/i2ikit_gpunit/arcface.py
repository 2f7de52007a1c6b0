"""The ArcFace IR-SE50 face-recognition network and GP-UNIT's identity loss (re-implemented, nothing copied).

GP-UNIT's optional ``--use_idloss`` (official ``model/arcface/id_loss.py`` and ``model/arcface/model_irse.py``,
``williamyang1991/GP-UNIT``) compares the face embeddings of the translation ``yhat`` and of the target
(style) image ``y`` with a frozen IR-SE50 from TreB1eN's InsightFace_Pytorch. :class:`IRSE50` builds that
network with the exact module names of the published ``model_ir_se50.pth``, so the file loads strictly:

- ``input_layer``: 3x3 conv 3->64 (no bias), BatchNorm2d, PReLU;
- ``body.0`` .. ``body.23``: 24 IR-SE units in four stages of 3, 4, 14 and 3 units with widths 64, 128,
  256 and 512; the first unit of each stage has stride 2 (112 -> 56 -> 28 -> 14 -> 7). A unit is
  ``res_layer`` = BN(in), 3x3 conv in->out, PReLU(out), 3x3 conv out->out (the stride), BN(out),
  squeeze-excitation (``fc1``/``fc2``, 1x1 convs without bias, reduction 16), plus a ``shortcut_layer``:
  a stride-only subsampling when in == out (officially ``MaxPool2d(1, stride)``), else a 1x1 conv
  (stride, no bias) and BN;
- ``output_layer``: BatchNorm2d(512), Dropout, Flatten, ``Linear(512*7*7, 512)``, BatchNorm1d(512)
  (affine: the official ``IDLoss`` builds ``Backbone(112, 50, drop_ratio=0.6, mode='ir_se')`` with the
  default ``affine=True``); the output embedding is L2-normalised.
"""
from __future__ import annotations

import os
from typing import Iterator

import torch
import torch.nn.functional as F
from torch import nn

__all__ = ["IRSE50", "IDLoss", "IRSE50_STAGES", "load_ir_se50"]

# (input width, output width, number of units) per stage of the 50-layer network; the first unit of a
# stage downsamples by 2.
IRSE50_STAGES: tuple[tuple[int, int, int], ...] = ((64, 64, 3), (64, 128, 4), (128, 256, 14), (256, 512, 3))


def _unit_specs(stages: tuple[tuple[int, int, int], ...] = IRSE50_STAGES) -> Iterator[tuple[int, int, int]]:
    for c_in, c_out, n in stages:
        yield c_in, c_out, 2
        for _ in range(n - 1):
            yield c_out, c_out, 1


class _Subsample(nn.Module):
    """Keep every ``stride``-th pixel: the identity shortcut of a unit whose width does not change
    (equal to ``MaxPool2d(kernel_size=1, stride)``, parameter-free)."""

    def __init__(self, stride: int) -> None:
        super().__init__()
        self.stride = stride

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return x if self.stride == 1 else x[:, :, :: self.stride, :: self.stride]


class _SqueezeExcite(nn.Module):
    """Channel gate: global average, 1x1 conv down by ``reduction``, ReLU, 1x1 conv back up, sigmoid."""

    def __init__(self, channels: int, reduction: int = 16) -> None:
        super().__init__()
        self.fc1 = nn.Conv2d(channels, channels // reduction, kernel_size=1, bias=False)
        self.fc2 = nn.Conv2d(channels // reduction, channels, kernel_size=1, bias=False)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        gate = self.fc2(F.relu(self.fc1(x.mean(dim=(2, 3), keepdim=True))))
        return x * torch.sigmoid(gate)


class _IRSEUnit(nn.Module):
    def __init__(self, c_in: int, c_out: int, stride: int) -> None:
        super().__init__()
        if c_in == c_out:
            self.shortcut_layer: nn.Module = _Subsample(stride)
        else:
            self.shortcut_layer = nn.Sequential(nn.Conv2d(c_in, c_out, 1, stride, bias=False), nn.BatchNorm2d(c_out))
        self.res_layer = nn.Sequential(
            nn.BatchNorm2d(c_in),
            nn.Conv2d(c_in, c_out, 3, 1, 1, bias=False),
            nn.PReLU(c_out),
            nn.Conv2d(c_out, c_out, 3, stride, 1, bias=False),
            nn.BatchNorm2d(c_out),
            _SqueezeExcite(c_out, 16),
        )

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.res_layer(x) + self.shortcut_layer(x)


class IRSE50(nn.Module):
    """TreB1eN's IR-SE50 for 112x112 faces (``Backbone(112, 50, mode='ir_se')``): ``forward(x)`` maps
    N x 3 x 112 x 112 (in [-1, 1]) to N x 512 unit-length embeddings. ``drop_ratio`` only matters in
    training mode (the identity loss never trains it)."""

    input_size = 112

    def __init__(self, drop_ratio: float = 0.6) -> None:
        super().__init__()
        # Registered in the official order (input, output, body), so the state-dict key order matches too.
        self.input_layer = nn.Sequential(nn.Conv2d(3, 64, 3, 1, 1, bias=False), nn.BatchNorm2d(64), nn.PReLU(64))
        side = self.input_size // 16
        self.output_layer = nn.Sequential(
            nn.BatchNorm2d(512),
            nn.Dropout(drop_ratio),
            nn.Flatten(),
            nn.Linear(512 * side * side, 512),
            nn.BatchNorm1d(512, affine=True),
        )
        self.body = nn.Sequential(*(_IRSEUnit(a, b, s) for a, b, s in _unit_specs()))

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return F.normalize(self.output_layer(self.body(self.input_layer(x))), dim=1)


def load_ir_se50(path: str | os.PathLike, drop_ratio: float = 0.6) -> IRSE50:
    """An :class:`IRSE50` holding the weights of ``path`` (TreB1eN's ``model_ir_se50.pth``, a plain state
    dict), loaded with ``weights_only=True`` and strict key/shape checking. A file saved before PyTorch
    0.4.1 has no BatchNorm ``num_batches_tracked`` counters; those (unused in eval mode) are filled with 0."""
    from i2ikit.checkpoint_files import load_checkpoint_file, load_state_dict_checked, strip_module_prefix
    from i2ikit.errors import CheckpointError

    net = IRSE50(drop_ratio)
    obj = load_checkpoint_file(path)
    if not isinstance(obj, dict) or not all(isinstance(v, torch.Tensor) for v in obj.values()):
        raise CheckpointError(f"{path} is not a state dict of tensors (expected TreB1eN's model_ir_se50.pth)")
    sd = strip_module_prefix(obj)
    for key, value in net.state_dict().items():
        if key.endswith("num_batches_tracked") and key not in sd:
            sd[key] = torch.zeros_like(value)
    load_state_dict_checked(net, sd, source=str(path), part="ArcFace IR-SE50 for GP-UNIT's identity loss",
                            hint="It must be TreB1eN's IR-SE50 (model_ir_se50.pth, 112 px input).")
    return net


class IDLoss(nn.Module):
    """GP-UNIT's identity loss (official ``IDLoss``): ``forward(yhat, y)`` =
    ``mean_i (1 - <f(yhat_i), f(y_i).detach()>)`` with ``f`` the unit-length IR-SE50 embedding of the face
    region: images in [-1, 1] are average-pooled to 256 x 256 unless already 256 rows high, cropped to rows
    35:223 and columns 32:220, and average-pooled to 112 x 112 (:meth:`face_region`).

    ``weights``: the path of ``model_ir_se50.pth``, or an :class:`IRSE50` already built. The network is
    frozen (no parameter takes a gradient) and always in eval mode (BatchNorm running statistics, no
    dropout), also when a parent module is put in training mode; gradients reach ``yhat`` only."""

    CROP_ROWS = (35, 223)
    CROP_COLS = (32, 220)

    def __init__(self, weights: str | os.PathLike | IRSE50) -> None:
        super().__init__()
        net = weights if isinstance(weights, IRSE50) else load_ir_se50(weights)
        self.facenet = net.requires_grad_(False).eval()

    def train(self, mode: bool = True) -> "IDLoss":  # the face network never leaves eval mode
        super().train(mode)
        self.facenet.eval()
        return self

    @classmethod
    def face_region(cls, x: torch.Tensor) -> torch.Tensor:
        if x.shape[2] != 256:
            x = F.adaptive_avg_pool2d(x, (256, 256))
        (r0, r1), (c0, c1) = cls.CROP_ROWS, cls.CROP_COLS
        return F.adaptive_avg_pool2d(x[:, :, r0:r1, c0:c1], (IRSE50.input_size, IRSE50.input_size))

    def embed(self, x: torch.Tensor) -> torch.Tensor:
        return self.facenet(self.face_region(x))

    def forward(self, yhat: torch.Tensor, y: torch.Tensor) -> torch.Tensor:
        target = self.embed(y).detach()
        return (1 - (self.embed(yhat) * target).sum(dim=1)).mean()
