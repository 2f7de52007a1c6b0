"""The official FUNIT image transforms, made deterministic.

torchvision's random transforms draw from the global torch RNG, so a batch depends on worker count
and on whatever else consumed random numbers. Here every random choice comes from a
``random.Random`` handed in per image (seeded by the sampler), so the same (image, seed) always gives
the same tensor. Geometry and interpolation follow the torchvision ops the official code used.

Each transform is ``t(img, rng) -> FloatTensor[3, H, W]`` with values in [-1, 1].
"""
from __future__ import annotations

import random

import torch
import torchvision.transforms.functional as TF
from PIL import Image
from torchvision.transforms import InterpolationMode

_MEAN = [0.5, 0.5, 0.5]
_STD = [0.5, 0.5, 0.5]


def _to_unit_range(img: Image.Image) -> torch.Tensor:
    """ToTensor then Normalize(0.5, 0.5): 8-bit RGB to [-1, 1]."""
    if img.mode != "RGB":
        img = img.convert("RGB")
    return TF.normalize(TF.to_tensor(img), _MEAN, _STD)


def _resize_shorter(img: Image.Image, size: int) -> Image.Image:
    """``Resize(size)``: shorter side to ``size``, longer side scaled and truncated, PIL bilinear."""
    return TF.resize(img, size, interpolation=InterpolationMode.BILINEAR)


def _check_positive(**sizes: int) -> None:
    for name, v in sizes.items():
        if not isinstance(v, int) or v <= 0:
            raise ValueError(f"{name} must be a positive integer, got {v!r}")


class TrainTransform:
    """FUNIT training: RandomHorizontalFlip -> Resize(new_size) -> RandomCrop(crop) -> [-1, 1].

    The flip comes before the resize, as in the official ``loader_from_list``; the rng is drawn in
    that order (flip, then crop top, then crop left).
    """

    def __init__(self, new_size: int = 140, crop: int = 128, flip: bool = True) -> None:
        _check_positive(new_size=new_size, crop=crop)
        if crop > new_size:
            raise ValueError(
                f"crop ({crop}) is larger than new_size ({new_size}): images are resized so their shorter "
                f"side is new_size before a crop x crop patch is cut; use crop <= new_size"
            )
        self.new_size, self.crop, self.flip = new_size, crop, flip

    def __call__(self, img: Image.Image, rng: random.Random) -> torch.Tensor:
        if self.flip and rng.random() < 0.5:
            img = img.transpose(Image.Transpose.FLIP_LEFT_RIGHT)
        img = _resize_shorter(img, self.new_size)
        w, h = img.size
        top = rng.randint(0, h - self.crop)
        left = rng.randint(0, w - self.crop)
        img = img.crop((left, top, left + self.crop, top + self.crop))
        return _to_unit_range(img)

    @property
    def output_size(self) -> tuple[int, int]:
        return (self.crop, self.crop)

    def __repr__(self) -> str:
        return f"TrainTransform(new_size={self.new_size}, crop={self.crop}, flip={self.flip})"


class EvalTransform:
    """FUNIT evaluation loaders: Resize(new_size) -> CenterCrop(crop) -> [-1, 1]; no randomness."""

    def __init__(self, new_size: int = 140, crop: int = 128) -> None:
        _check_positive(new_size=new_size, crop=crop)
        if crop > new_size:
            raise ValueError(
                f"crop ({crop}) is larger than new_size ({new_size}): the shorter side is resized to "
                f"new_size before the centre crop; use crop <= new_size"
            )
        self.new_size, self.crop = new_size, crop

    def __call__(self, img: Image.Image, rng: random.Random | None = None) -> torch.Tensor:
        img = TF.center_crop(_resize_shorter(img, self.new_size), [self.crop, self.crop])
        return _to_unit_range(img)

    @property
    def output_size(self) -> tuple[int, int]:
        return (self.crop, self.crop)

    def __repr__(self) -> str:
        return f"EvalTransform(new_size={self.new_size}, crop={self.crop})"


class TestTransform:
    """FUNIT ``test_k_shot.py``: Resize((size, size)) (aspect ratio not kept, no crop) -> [-1, 1]."""

    __test__ = False  # not a pytest test class despite the name

    def __init__(self, size: int = 128) -> None:
        _check_positive(size=size)
        self.size = size

    def __call__(self, img: Image.Image, rng: random.Random | None = None) -> torch.Tensor:
        img = TF.resize(img, [self.size, self.size], interpolation=InterpolationMode.BILINEAR)
        return _to_unit_range(img)

    @property
    def output_size(self) -> tuple[int, int]:
        return (self.size, self.size)

    def __repr__(self) -> str:
        return f"TestTransform(size={self.size})"
