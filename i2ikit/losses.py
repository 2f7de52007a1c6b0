"""Losses shared by methods: GAN losses (registered as kind ``gan_loss`` by the core plugin), the R1
penalty, feature matching and the VGG19 perceptual loss.

A GAN loss is an object with three methods on discriminator logits (any shape, averaged):
``d_real`` and ``d_fake`` for the discriminator, ``g`` for the generator. Third-party plugins
register their own under new names and recipes select them by name.
"""
from __future__ import annotations

import os
import warnings
from pathlib import Path
from typing import Any, Callable, Sequence

import torch
import torch.nn.functional as F
from torch import nn


class GANLoss:
    def d_real(self, logits: torch.Tensor) -> torch.Tensor:
        raise NotImplementedError

    def d_fake(self, logits: torch.Tensor) -> torch.Tensor:
        raise NotImplementedError

    def g(self, logits: torch.Tensor) -> torch.Tensor:
        raise NotImplementedError


class HingeLoss(GANLoss):
    """Hinge loss (Lim & Ye; Miyato et al.), as FUNIT and BigGAN use: D on relu(1 -/+ x), G on -x."""

    def d_real(self, logits: torch.Tensor) -> torch.Tensor:
        return F.relu(1.0 - logits).mean()

    def d_fake(self, logits: torch.Tensor) -> torch.Tensor:
        return F.relu(1.0 + logits).mean()

    def g(self, logits: torch.Tensor) -> torch.Tensor:
        return -logits.mean()


class NonSaturatingLoss(GANLoss):
    """The original non-saturating logistic GAN loss (softplus form), as StyleGAN2/StarGAN v2 use."""

    def d_real(self, logits: torch.Tensor) -> torch.Tensor:
        return F.softplus(-logits).mean()

    def d_fake(self, logits: torch.Tensor) -> torch.Tensor:
        return F.softplus(logits).mean()

    def g(self, logits: torch.Tensor) -> torch.Tensor:
        return F.softplus(-logits).mean()


class LSGANLoss(GANLoss):
    """Least-squares GAN loss (Mao et al. 2017), as MUNIT, UNIT and CycleGAN use: real -> 1, fake -> 0."""

    def d_real(self, logits: torch.Tensor) -> torch.Tensor:
        return (logits - 1).pow(2).mean()

    def d_fake(self, logits: torch.Tensor) -> torch.Tensor:
        return logits.pow(2).mean()

    def g(self, logits: torch.Tensor) -> torch.Tensor:
        return (logits - 1).pow(2).mean()


def per_scale(loss: Callable[[torch.Tensor], torch.Tensor], dis: nn.Module, logits: torch.Tensor) -> torch.Tensor:
    """``loss`` of a discriminator's last output, summed over its scales when it has several (the multi-scale
    wrapper's :meth:`~i2ikit.discriminators.MultiScaleDiscriminator.split`), as MUNIT, UNIT, DRIT and pix2pixHD
    weigh them: each scale's mean counts once, whatever its number of patches. A single-scale part: ``loss(logits)``."""
    split = getattr(getattr(dis, "module", dis), "split", None)
    if split is None:
        return loss(logits)
    return sum(loss(part) for part in split(logits))


def r1_penalty(real_logits: torch.Tensor, real_images: torch.Tensor) -> torch.Tensor:
    """R1 gradient penalty on real images (Mescheder et al. 2018) in FUNIT's exact form.

    The gradient is that of ``real_logits.mean()`` (the batch-and-patch mean) with respect to the
    images; its squared sum is divided by the batch size. This equals
    ``mean_i ||d sum_p D_ip / d x_i||^2 / (P^2 B^2)`` for P logits per image, so its scale depends on
    the per-process batch size, as it does in the official code. ``real_images`` must require grad
    and ``real_logits`` must come from them; the graph is kept so the penalty can be back-propagated
    together with the rest of the discriminator loss (one backward pass, safe under DDP).
    """
    (grad,) = torch.autograd.grad(real_logits.float().mean(), real_images, create_graph=True)
    return grad.pow(2).sum() / real_images.shape[0]


def feature_matching(fake: Sequence[torch.Tensor], real: Sequence[torch.Tensor], *, spatial_mean: bool = False,
                     weights: Sequence[float] | None = None) -> torch.Tensor:
    """Feature-matching loss between a discriminator's features of fakes and of reals (targets detached):
    ``sum_i w_i * L1(f_i(fake), f_i(real))``. ``spatial_mean=True`` compares the features' spatial means
    (FUNIT's form, mean over W then H as its official code), else the maps (pix2pixHD's form).
    ``weights``: one per feature (default 1)."""
    if len(fake) != len(real) or not fake:
        raise ValueError(f"feature_matching needs the same, non-zero number of features, got {len(fake)} and {len(real)}")
    total: torch.Tensor | None = None
    for i, (f, r) in enumerate(zip(fake, real)):
        if spatial_mean:
            f, r = f.mean(3).mean(2), r.mean(3).mean(2)
        term = (f - r.detach()).abs().mean()
        if weights is not None:
            term = weights[i] * term
        total = term if total is None else total + term
    return total  # type: ignore[return-value]


def resolve_vgg19(weights: str | os.PathLike) -> Path:
    """The local VGG19 file: ``weights`` is a path (file, or folder holding ``vgg19-dcbb9e9d.pth``) or
    ``"auto"`` (``$I2IKIT_WEIGHTS``, ``~/.cache/i2ikit/weights``, torch hub's cache). Nothing is downloaded;
    a missing file raises ``FileNotFoundError`` naming where it was looked for and where it comes from."""
    from .eval.weights import resolve_weights

    return resolve_weights("vgg19", None if str(weights) == "auto" else weights)



class LazyLoss:
    """A loss network built at its first call, so its weights are read only when training starts (an export
    rebuilds without them), and kept out of the module tree: a plain object, so the network is never
    exported, checkpointed or switched to training mode with the method. ``build=None`` stands for a term
    left out: calling returns ``None`` and warns ``absent`` once."""

    def __init__(self, build: Callable[[], nn.Module] | None, absent: str = "") -> None:
        self.build, self.absent = build, absent
        self.module: nn.Module | None = None
        self._warned = False

    def __call__(self, *tensors: torch.Tensor) -> Any:
        if self.build is None:
            if not self._warned:
                self._warned = True
                warnings.warn(self.absent, stacklevel=3)
            return None
        if self.module is None:
            self.module = self.build()
        self.module.to(tensors[0].device)
        return self.module(*tensors)


class VGGPerceptualLoss(nn.Module):
    """The VGG19 perceptual loss of GP-UNIT, pix2pixHD and SPADE: torchvision VGG19 relu1_1, relu2_1,
    relu3_1, relu4_1, relu5_1, each ``w_k * L1(f(a), f(b).detach())``.

    ``weights``: a local torchvision ``vgg19-dcbb9e9d.pth`` (nothing is downloaded). ``layer_weights``:
    the w_k; GP-UNIT's ``model/vgg.py`` uses 0.3 for each (the default), pix2pixHD's and SPADE's
    ``VGGLoss`` ``PIX2PIXHD_LAYER_WEIGHTS`` (1/32, 1/16, 1/8, 1/4, 1). ``imagenet_normalize``: GP-UNIT
    normalises the [-1, 1] input with ``mean * 2 - 1`` and ``std * 2`` of the ImageNet statistics;
    pix2pixHD and SPADE feed the [-1, 1] images as they are (``False``).
    """

    SLICES = (2, 7, 12, 21, 30)  # features[:2] relu1_1, [2:7] relu2_1, [7:12] relu3_1, [12:21] relu4_1, [21:30] relu5_1
    PIX2PIXHD_LAYER_WEIGHTS = (1.0 / 32, 1.0 / 16, 1.0 / 8, 1.0 / 4, 1.0)

    def __init__(self, weights: str | os.PathLike, *, layer_weights: Sequence[float] = (0.3,) * 5,
                 imagenet_normalize: bool = True) -> None:
        super().__init__()
        from torchvision.models.vgg import cfgs, make_layers

        from .eval.features import IMAGENET_MEAN, IMAGENET_STD, load_features_state

        path = resolve_vgg19(weights)
        features = make_layers(cfgs["E"], batch_norm=False)[: self.SLICES[-1]]
        load_features_state(features, path, "vgg19")
        self.features = features.eval().requires_grad_(False)
        self.register_buffer("mean", torch.tensor(IMAGENET_MEAN).view(1, 3, 1, 1) * 2 - 1, persistent=False)
        self.register_buffer("std", torch.tensor(IMAGENET_STD).view(1, 3, 1, 1) * 2, persistent=False)
        if len(layer_weights) != len(self.SLICES):
            raise ValueError(f"layer_weights needs {len(self.SLICES)} values (relu1_1 ... relu5_1), got {list(layer_weights)}")
        self.layer_weights = [float(w) for w in layer_weights]
        self.imagenet_normalize = bool(imagenet_normalize)

    def feats(self, x: torch.Tensor) -> list[torch.Tensor]:
        if self.imagenet_normalize:
            x = (x - self.mean) / self.std
        out, start = [], 0
        for end in self.SLICES:
            x = self.features[start:end](x)
            out.append(x)
            start = end
        return out

    def forward(self, x: torch.Tensor, y: torch.Tensor) -> torch.Tensor:
        loss = x.new_zeros(())
        for w, fx, fy in zip(self.layer_weights, self.feats(x), self.feats(y)):
            loss = loss + w * F.l1_loss(fx, fy.detach())
        return loss


class Vgg16Relu53(nn.Module):
    """MUNIT's and UNIT's ``Vgg16``: the 13 convs of VGG16 named ``conv1_1`` ... ``conv5_3`` (the keys of their
    converted ``vgg16.weight`` file), ReLU after each, max-pools after relu1_2, relu2_2 and relu3_3 (none
    after relu4_3); ``forward`` returns relu5_3 only."""

    BLOCKS = ((1, 2), (2, 2), (3, 3), (4, 3), (5, 3))
    WIDTHS = (64, 128, 256, 512, 512)

    def __init__(self) -> None:
        super().__init__()
        cin = 3
        for (block, n), width in zip(self.BLOCKS, self.WIDTHS):
            for k in range(1, n + 1):
                setattr(self, f"conv{block}_{k}", nn.Conv2d(cin, width, 3, 1, 1))
                cin = width

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        for block, n in self.BLOCKS:
            for k in range(1, n + 1):
                x = F.relu(getattr(self, f"conv{block}_{k}")(x))
            if block <= 3:
                x = F.max_pool2d(x, 2, 2)
        return x


class InstanceNormVGGLoss(nn.Module):
    """MUNIT's and UNIT's domain-invariant perceptual loss: the mean squared difference of the instance-normalised
    (affine off) relu5_3 features of :class:`Vgg16Relu53`, after the Caffe preprocessing (RGB -> BGR, [-1, 1]
    -> [0, 255], minus the BGR means, no division). ``weights``: the official converted ``vgg16.weight`` (a
    state dict with keys ``conv1_1.weight`` ...; read with ``weights_only=True``) or the same keys as
    ``.safetensors``. Nothing is downloaded."""

    BGR_MEAN = (103.939, 116.779, 123.680)

    def __init__(self, weights: str | os.PathLike) -> None:
        super().__init__()
        from .checkpoint_files import load_checkpoint_file, load_state_dict_checked, read_safetensors

        path = Path(weights)
        if not path.is_file():
            from .errors import MissingFileError

            raise MissingFileError(
                f"VGG16 weights {path} not found: the MUNIT/UNIT perceptual loss (vgg_w > 0) needs the official "
                "vgg16.weight (models/vgg16.weight that their train.py converts from vgg16.t7; docs/weights.md), or set "
                "vgg_w: 0 as the official edges2shoes and summer2winter configs do")
        state = read_safetensors(path, "VGG16") if path.suffix == ".safetensors" else load_checkpoint_file(path)
        self.vgg = Vgg16Relu53()
        load_state_dict_checked(self.vgg, state, source=str(path), part="VGG16 (relu5_3)",
                                hint="Give the vgg16.weight that MUNIT's or UNIT's train.py writes.")
        self.vgg.eval().requires_grad_(False)
        self.register_buffer("mean", torch.tensor(self.BGR_MEAN).view(1, 3, 1, 1), persistent=False)

    def preprocess(self, x: torch.Tensor) -> torch.Tensor:
        return (x.flip(1) + 1) * 255 * 0.5 - self.mean

    def forward(self, img: torch.Tensor, target: torch.Tensor) -> torch.Tensor:
        fi = F.instance_norm(self.vgg(self.preprocess(img)), eps=1e-5)
        ft = F.instance_norm(self.vgg(self.preprocess(target)), eps=1e-5)
        return ((fi - ft) ** 2).mean()
