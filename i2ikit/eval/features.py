"""Feature extractors for the metrics, built only from local weight files.

A :data:`FeatureExtractor` is any callable ``images -> features`` where images are ``N x 3 x H x W``
floats in [-1, 1] (the generators' range) and features are ``N x D`` (FID/KID) or, for DIPD,
``N x C x h x w`` maps. Tests and the offline glyph benchmark pass small local extractors; the
standard ones here reproduce the published preprocessing exactly so numbers stay comparable:

* :func:`inception_features`: the FID Inception-v3 (TF graph of 2015-12-05) through torch-fidelity's
  ``FeatureExtractorInceptionV3``, pool3 2048-d. [-1, 1] is mapped to uint8 [0, 255] by rounding
  (what saving to PNG and reading back gives), then torch-fidelity resizes to 299 x 299 with its
  TF1-compatible bilinear interpolation, exactly as torch-fidelity and torchmetrics do.
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

from .weights import resolve_weights

__all__ = [
    "CachedFeatures",
    "FeatureExtractor",
    "InceptionFeatures",
    "VGGConv5Features",
    "batched",
    "default_extractor",
    "inception_features",
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
        self.net = FeatureExtractorInceptionV3(
            "inception-v3-compat", ["2048"], feature_extractor_weights_path=str(path)
        ).to(device)
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
    sd = torch.load(path, map_location="cpu", weights_only=True)
    if isinstance(sd, dict) and "state_dict" in sd and isinstance(sd["state_dict"], dict):
        sd = sd["state_dict"]
    if not isinstance(sd, dict):
        raise ValueError(f"{path}: expected a state dict, got {type(sd).__name__}")
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
        raise ValueError(f"{path} is not a torchvision {arch} state dict: {exc}") from None


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
            raise ValueError(f"layer must be one of {sorted(self.LAYERS)}, got {layer!r}")
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


@functools.lru_cache(maxsize=8)
def _default(kind: str, path: str, device: str) -> FeatureExtractor:
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        if kind == "inception":
            return CachedFeatures(inception_features(path, device))
        # DIPD maps are large (N x 512 x h x w) and are used batch by batch: not cached.
        return vgg_conv5_features(path, device)


def default_extractor(kind: Literal["inception", "vgg16"], device: str | torch.device = "cpu") -> FeatureExtractor:
    """The standard extractor, built once per (weights file, device) and shared by all metrics.

    The Inception one is a :class:`CachedFeatures`, so FID, mFID, KID and mKID fed the same group
    extract each image set once.
    """
    path = resolve_weights(kind)  # raises MissingWeightsError with the download instructions
    return _default(kind, str(path), str(torch.device(device)))
