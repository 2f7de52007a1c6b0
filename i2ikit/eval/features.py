"""Feature extractors for the metrics, built only from local weight files.

A :data:`FeatureExtractor` is any callable ``images -> features`` where images are ``N x 3 x H x W``
floats in [-1, 1] (the generators' range) and features are ``N x D`` (FID/KID) or, for DIPD,
``N x C x h x w`` maps. Tests and the offline glyph benchmark pass small local extractors; the
standard ones here reproduce the published preprocessing exactly so numbers stay comparable:

* :func:`inception_features`: the FID Inception-v3 (TF graph of 2015-12-05) through torch-fidelity's
  ``FeatureExtractorInceptionV3``, pool3 2048-d. [-1, 1] is mapped to uint8 [0, 255] by rounding
  (what saving to PNG and reading back gives), then torch-fidelity resizes to 299 x 299 with its
  TF1-compatible bilinear interpolation, exactly as torch-fidelity and torchmetrics do.
* :func:`stargan_v2_inception_features` (``features="stargan_v2"``): StarGAN v2's FID network
  (``metrics/fid.py``), which GP-UNIT's evaluation notebook uses: torchvision's ImageNet Inception-v3
  run block by block up to ``Mixed_7c`` and a global average pool, 2048-d, with no ``transform_input``.
  Preprocessing as StarGAN v2's ``get_eval_loader`` after its ``save_image``: [-1, 1] -> uint8 as
  torchvision's ``save_image`` rounds (``floor(255 * (x + 1) / 2 + 0.5)``), PIL bilinear resize to
  ``image_size`` (if given) and then to 299 x 299 (uint8 results), ``ToTensor`` and ImageNet mean/std.
* :func:`vgg_conv5_features`: torchvision VGG16's ``relu5_3`` maps (FUNIT's "VGG conv5 features" for
  DIPD; the layer MUNIT's domain-invariant perceptual loss uses), ImageNet normalisation, native
  resolution (no resize: the network is fully convolutional up to conv5).
"""
from __future__ import annotations

import functools
import os
import warnings
import weakref
from collections import OrderedDict
from pathlib import Path
from typing import Callable, Literal

import torch
from torch import Tensor, nn

from ..errors import CheckpointError, ConfigError
from .weights import resolve_weights

__all__ = [
    "CachedFeatures",
    "FeatureExtractor",
    "InceptionFeatures",
    "StarGANv2InceptionFeatures",
    "VGGConv5Features",
    "batched",
    "default_extractor",
    "inception_features",
    "save_image_uint8",
    "stargan_v2_inception_features",
    "to_uint8",
    "vgg_conv5_features",
]

FeatureExtractor = Callable[[Tensor], Tensor]

IMAGENET_MEAN = (0.485, 0.456, 0.406)
IMAGENET_STD = (0.229, 0.224, 0.225)


def _check_images(images: Tensor) -> Tensor:
    if images.ndim != 4 or images.shape[1] not in (1, 3):
        raise ValueError(f"expected images N x 3 x H x W in [-1, 1], got shape {tuple(images.shape)}")
    if images.shape[1] == 1:  # grayscale (e.g. glyphs): the networks are RGB
        images = images.expand(-1, 3, -1, -1)
    return images


def to_uint8(images: Tensor) -> Tensor:
    """[-1, 1] floats -> uint8 [0, 255], rounded (as saving a PNG would), clamped."""
    return ((images.float().clamp(-1, 1) + 1) * 127.5).round().to(torch.uint8)


class InceptionFeatures(nn.Module):
    """The FID Inception-v3 pool3 features (2048-d) via torch-fidelity, from a local weight file."""

    def __init__(self, weights: str | os.PathLike[str] | None = None, device: str | torch.device = "cpu") -> None:
        super().__init__()
        path = resolve_weights("inception", weights)
        from torch_fidelity.feature_extractor_inceptionv3 import FeatureExtractorInceptionV3

        # With a weights path torch-fidelity loads that file (strict) and never downloads.
        try:
            net = FeatureExtractorInceptionV3("inception-v3-compat", ["2048"], feature_extractor_weights_path=str(path))
        except (OSError, ImportError):
            raise
        except Exception as exc:  # a truncated or foreign file: torch-fidelity's torch.load / load_state_dict
            raise CheckpointError(f"{path} cannot be loaded as the FID Inception weights ({type(exc).__name__}: {exc}); "
                                  "the file is damaged or another network's: download it again (docs/metrics.md)") from None
        self.net = net.to(device)
        self.weights_path = path
        self.device = torch.device(device)

    @torch.no_grad()
    def forward(self, images: Tensor) -> Tensor:
        x = to_uint8(_check_images(images)).to(self.device)
        (feats,) = self.net(x)
        return feats


def inception_features(weights: str | os.PathLike[str] | None = None, device: str | torch.device = "cpu") -> InceptionFeatures:
    """The standard FID/KID extractor; ``weights`` as in :func:`~i2ikit.eval.weights.resolve_weights`."""
    return InceptionFeatures(weights, device)


def _load_state_dict(path: Path) -> dict[str, Tensor]:
    """``torch.load(weights_only=True)`` of a local weight file (a damaged or pickled file is a
    :class:`~i2ikit.errors.CheckpointError` naming it), unwrapping ``{"state_dict": ...}``."""
    from ..checkpoint_files import load_checkpoint_file

    sd = load_checkpoint_file(path)
    if isinstance(sd, dict) and "state_dict" in sd and isinstance(sd["state_dict"], dict):
        sd = sd["state_dict"]
    if not isinstance(sd, dict):
        raise CheckpointError(f"{path}: expected a state dict, got {type(sd).__name__}")
    return sd


def load_features_state(features: nn.Sequential, path: Path, arch: str) -> None:
    """Load the ``features.*`` part of a torchvision classifier file (or a features-only state dict)
    into ``features`` (a prefix of the torchvision ``features`` Sequential, original indices kept).
    The classifier head is not needed, so a trimmed file works too."""
    sd = _load_state_dict(path)
    wanted = set(features.state_dict().keys())
    sub = {k[len("features."):]: v for k, v in sd.items() if k.startswith("features.")}
    if not sub:  # features-only file
        sub = dict(sd)
    sub = {k: v for k, v in sub.items() if k in wanted}
    try:
        features.load_state_dict(sub, strict=True)
    except RuntimeError as exc:
        raise CheckpointError(f"{path} is not a torchvision {arch} state dict: {exc}") from None


class VGGConv5Features(nn.Module):
    """VGG16 ``relu5_3`` (or ``conv5_3``) feature maps, N x 512 x H/16 x W/16, ImageNet-normalised input."""

    LAYERS = {"relu5_3": 30, "conv5_3": 29}

    def __init__(
        self,
        weights: str | os.PathLike[str] | None = None,
        device: str | torch.device = "cpu",
        layer: Literal["relu5_3", "conv5_3"] = "relu5_3",
    ) -> None:
        super().__init__()
        if layer not in self.LAYERS:
            raise ConfigError(f"layer must be one of {sorted(self.LAYERS)}, got {layer!r}")
        path = resolve_weights("vgg16", weights)
        from torchvision.models.vgg import cfgs, make_layers

        features = make_layers(cfgs["D"], batch_norm=False)[: self.LAYERS[layer]]
        load_features_state(features, path, "vgg16")
        self.features = features.eval().requires_grad_(False).to(device)
        self.layer = layer
        self.weights_path = path
        self.device = torch.device(device)
        self.register_buffer("mean", torch.tensor(IMAGENET_MEAN, device=self.device).view(1, 3, 1, 1), persistent=False)
        self.register_buffer("std", torch.tensor(IMAGENET_STD, device=self.device).view(1, 3, 1, 1), persistent=False)

    @torch.no_grad()
    def forward(self, images: Tensor) -> Tensor:
        x = _check_images(images).to(self.device, torch.float32).clamp(-1, 1)
        x = ((x + 1) / 2 - self.mean) / self.std
        return self.features(x)


def vgg_conv5_features(
    weights: str | os.PathLike[str] | None = None,
    device: str | torch.device = "cpu",
    layer: Literal["relu5_3", "conv5_3"] = "relu5_3",
) -> VGGConv5Features:
    """The DIPD extractor: VGG16 (torchvision architecture, local ImageNet weights) ``relu5_3`` maps."""
    return VGGConv5Features(weights, device, layer)


def save_image_uint8(images: Tensor) -> Tensor:
    """[-1, 1] floats -> uint8 as StarGAN v2 saves its fakes: ``(x + 1) / 2`` clamped to [0, 1], then
    torchvision ``save_image``'s ``mul(255).add_(0.5).clamp_(0, 255)`` and a cast (round half up)."""
    return ((images.float() + 1) / 2).clamp(0, 1).mul(255).add(0.5).clamp(0, 255).to(torch.uint8)


def _pil_bilinear(images: Tensor, size: int) -> Tensor:
    """Resize uint8 N x 3 x H x W to size x size with PIL's bilinear filter (what torchvision's
    ``Resize`` does to a PIL image: antialiased when shrinking, uint8 results); same size: unchanged."""
    if tuple(images.shape[-2:]) == (size, size):
        return images
    import numpy as np
    from PIL import Image

    arrays = images.permute(0, 2, 3, 1).cpu().numpy()
    out = [np.asarray(Image.fromarray(a).resize((size, size), Image.Resampling.BILINEAR)) for a in arrays]
    return torch.from_numpy(np.stack(out)).permute(0, 3, 1, 2)


class StarGANv2InceptionFeatures(nn.Module):
    """StarGAN v2's FID features (``metrics/fid.py`` ``InceptionV3``), N x 2048, from a local
    torchvision ``inception_v3_google-0cc3c7bd.pth``.

    torchvision's Inception-v3 with its ImageNet weights, applied module by module: ``Conv2d_1a`` ..
    ``Conv2d_2b``, max-pool 3/2, ``Conv2d_3b``, ``Conv2d_4a``, max-pool 3/2, ``Mixed_5b`` ..
    ``Mixed_7c``, global average pool (no ``transform_input``: the model's ``forward`` is never
    called; no dropout, no fc). Input: [-1, 1] images, quantised as saving a PNG with torchvision's
    ``save_image`` does, resized with PIL bilinear to ``image_size`` (StarGAN v2's
    ``Resize([img_size, img_size])``; ``None``: keep the size given) and then to 299 x 299
    (``Resize([299, 299])``), scaled to [0, 1] and ImageNet-normalised, as ``get_eval_loader`` does.
    """

    def __init__(self, weights: str | os.PathLike[str] | None = None, device: str | torch.device = "cpu",
                 image_size: int | None = None) -> None:
        super().__init__()
        if image_size is not None and (not isinstance(image_size, int) or image_size < 1):
            raise ConfigError(f"image_size must be a positive integer or None, got {image_size!r}")
        path = resolve_weights("inception_v3_torchvision", weights)
        from torchvision.models import inception_v3

        # weights=None: nothing is downloaded; aux_logits=True so the published file (which holds
        # AuxLogits.*) loads strictly; init_weights=False skips the (slow, useless) random init.
        net = inception_v3(weights=None, aux_logits=True, init_weights=False)
        try:
            net.load_state_dict(_load_state_dict(path), strict=True)
        except RuntimeError as exc:
            raise CheckpointError(f"{path} is not a torchvision inception_v3 state dict: {exc}") from None
        self.blocks = nn.Sequential(
            net.Conv2d_1a_3x3, net.Conv2d_2a_3x3, net.Conv2d_2b_3x3, nn.MaxPool2d(kernel_size=3, stride=2),
            net.Conv2d_3b_1x1, net.Conv2d_4a_3x3, nn.MaxPool2d(kernel_size=3, stride=2),
            net.Mixed_5b, net.Mixed_5c, net.Mixed_5d, net.Mixed_6a, net.Mixed_6b, net.Mixed_6c, net.Mixed_6d,
            net.Mixed_6e, net.Mixed_7a, net.Mixed_7b, net.Mixed_7c, nn.AdaptiveAvgPool2d((1, 1)),
        ).eval().requires_grad_(False).to(device)
        self.image_size = image_size
        self.weights_path = path
        self.device = torch.device(device)
        self.register_buffer("mean", torch.tensor(IMAGENET_MEAN, device=self.device).view(1, 3, 1, 1), persistent=False)
        self.register_buffer("std", torch.tensor(IMAGENET_STD, device=self.device).view(1, 3, 1, 1), persistent=False)

    def preprocess(self, images: Tensor) -> Tensor:
        """[-1, 1] N x 3 x H x W -> the ImageNet-normalised N x 3 x 299 x 299 batch StarGAN v2 feeds."""
        x = save_image_uint8(_check_images(images).detach().cpu())
        if self.image_size is not None:
            x = _pil_bilinear(x, self.image_size)
        x = _pil_bilinear(x, 299).to(self.device, torch.float32) / 255
        return (x - self.mean) / self.std

    def train(self, mode: bool = True) -> StarGANv2InceptionFeatures:
        super().train(mode)
        self.blocks.eval()  # batch norm always uses its running statistics
        return self

    @torch.no_grad()
    def forward(self, images: Tensor) -> Tensor:
        return self.blocks(self.preprocess(images)).flatten(1)


def stargan_v2_inception_features(weights: str | os.PathLike[str] | None = None, device: str | torch.device = "cpu",
                                  image_size: int | None = None) -> StarGANv2InceptionFeatures:
    """StarGAN v2's (and GP-UNIT's notebook's) FID extractor; ``weights`` as in
    :func:`~i2ikit.eval.weights.resolve_weights` for ``"inception_v3_torchvision"``."""
    return StarGANv2InceptionFeatures(weights, device, image_size)


def _module_device(obj: object) -> torch.device | None:
    """The device of an ``nn.Module``'s parameters (or buffers), else a ``.device`` attribute, else None."""
    if isinstance(obj, nn.Module):
        for t in obj.parameters():
            return t.device
        for t in obj.buffers():
            return t.device
    dev = getattr(obj, "device", None)
    return dev if isinstance(dev, torch.device) else None


def _on_its_device(fn: FeatureExtractor) -> FeatureExtractor:
    """Feed an ``nn.Module`` inputs on its own device; other callables get the tensors as they are."""
    dev = _module_device(fn)
    if dev is None:
        return fn
    return lambda x: fn(x.to(dev))


def batched(extractor: FeatureExtractor, images: Tensor, batch_size: int = 50) -> Tensor:
    """Run ``extractor`` over ``images`` in chunks (no autograd) and concatenate the results on the CPU.

    A :class:`CachedFeatures` is called on the whole tensor (it chunks and caches by itself). An
    ``nn.Module`` extractor gets each chunk on its own device; other callables get it as it is.
    """
    if isinstance(extractor, CachedFeatures):
        return extractor(images)
    if batch_size < 1:
        raise ValueError(f"batch_size must be >= 1, got {batch_size}")
    if len(images) == 0:
        raise ValueError("no images to extract features from")
    fn = _on_its_device(extractor)
    with torch.no_grad():
        return torch.cat([fn(images[i:i + batch_size]).detach().cpu() for i in range(0, len(images), batch_size)])


class CachedFeatures:
    """Wraps an extractor and remembers the features of image tensors that are still alive.

    Several metrics (FID, mFID, KID, mKID) see the same tensors of the same group, and the runner
    passes one content tensor for every target class; this computes each once. Entries are keyed by
    tensor identity and in-place version and hold only a weak reference to the tensor: an entry
    goes away with its tensor (no image memory is kept alive), and a new tensor at a recycled
    address can never hit an old entry. At most ``max_entries`` feature sets are kept.
    """

    def __init__(self, extractor: FeatureExtractor, batch_size: int = 50, max_entries: int = 8) -> None:
        self.extractor = extractor
        self.batch_size = batch_size
        self.max_entries = max_entries
        self._cache: OrderedDict[int, tuple[weakref.ref[Tensor], int, Tensor]] = OrderedDict()

    def __call__(self, images: Tensor) -> Tensor:
        key = id(images)
        hit = self._cache.get(key)
        if hit is not None and hit[0]() is images and hit[1] == images._version:
            self._cache.move_to_end(key)
            return hit[2]
        feats = batched(self.extractor, images, self.batch_size)
        cache_ref = weakref.ref(self._cache)

        def _drop(ref: weakref.ref[Tensor], key: int = key) -> None:
            cache = cache_ref()
            if cache is not None and key in cache and cache[key][0] is ref:
                del cache[key]

        self._cache[key] = (weakref.ref(images, _drop), images._version, feats)
        self._cache.move_to_end(key)
        while len(self._cache) > self.max_entries:
            self._cache.popitem(last=False)
        return feats

    def clear(self) -> None:
        self._cache.clear()


#: The weight file (a :data:`~i2ikit.eval.weights.KNOWN_WEIGHTS` key) of each standard extractor.
EXTRACTOR_WEIGHTS = {"inception": "inception", "stargan_v2": "inception_v3_torchvision", "vgg16": "vgg16"}


@functools.lru_cache(maxsize=8)
def _default(kind: str, path: str, device: str) -> FeatureExtractor:
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        if kind == "inception":
            return CachedFeatures(inception_features(path, device))
        if kind == "stargan_v2":
            return CachedFeatures(stargan_v2_inception_features(path, device))
        # DIPD maps are large (N x 512 x h x w) and are used batch by batch: not cached.
        return vgg_conv5_features(path, device)


def default_extractor(kind: Literal["inception", "stargan_v2", "vgg16"], device: str | torch.device = "cpu",
                      weights: str | os.PathLike[str] | None = None) -> FeatureExtractor:
    """The standard extractor, built once per (weights file, device) and shared by all metrics.

    ``"inception"``: the TF FID Inception; ``"stargan_v2"``: StarGAN v2's torchvision Inception;
    ``"vgg16"``: DIPD's VGG. ``weights``: an explicit file or folder (else the usual search). The
    Inception ones are :class:`CachedFeatures`, so FID, mFID, KID and mKID fed the same group
    extract each image set once.
    """
    if kind not in EXTRACTOR_WEIGHTS:
        raise ConfigError(f"unknown feature extractor {kind!r}; known: {', '.join(EXTRACTOR_WEIGHTS)}")
    path = resolve_weights(EXTRACTOR_WEIGHTS[kind], weights)  # MissingWeightsError with download instructions
    return _default(kind, str(path), str(torch.device(device)))
