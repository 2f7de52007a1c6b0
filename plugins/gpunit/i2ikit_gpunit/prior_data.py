"""Stage-I data: images with shape masks, single (ImageNet291) or cross-class pairs (synImageNet291).

Follows the official ``dataset.py`` ``ImageMaskLabelDataset`` (``williamyang1991/GP-UNIT`` at ``d59695e``;
behaviour re-implemented, nothing copied):

- one folder per class; classes in **natural** order (``7_bird`` before ``10_bird``) and a class's label
  is its index in that order; in each class the first ``per_class`` files in natural order are used;
- every image ``<root>/<class>/<name>.<ext>`` has a mask ``<mask_root>/<class>/<name>.jpg`` (the HTC
  instance maps ``synImageNet291_mask`` / ``ImageNet291_mask``), read as RGB and augmented with exactly
  the image's resize, crop and flip;
- ``paired=True``: item ``i`` is image A plus an image B of another (or the same) class **with the same
  file name**, i.e. rendered from the same BigGAN latent code; B gets A's crop and flip.

The tensor of an item stacks the channels ``[image, mask]`` (6) or, paired, ``[image A, mask A,
image B, mask B]`` (12); without masks (``masks="none"``) only the images. The label of a paired item
is ``(label A, label B)``.

Masks are the official downloads; nothing here can make HTC masks offline. ``masks="image"`` derives
the mask from the image itself (foreground = pixels far from the border colour), which is right for
line drawings such as the built-in glyphs and wrong for photographs.
"""
from __future__ import annotations

import random
import re
from pathlib import Path
from typing import Any, Callable, Literal, Sequence

import numpy as np
import torch
from PIL import Image

from i2ikit.data import DataSourceError, ImageFolder, open_image

__all__ = ["PriorImages", "natural_key", "mask_from_image"]

MaskMode = Literal["folder", "image", "none"]


def natural_key(text: str) -> list[Any]:
    """Sort key that orders digit runs by value (official ``natural_keys``)."""
    return [int(part) if part.isdigit() else part for part in re.split(r"(\d+)", text)]


def mask_from_image(img: Image.Image) -> Image.Image:
    """A binary RGB shape mask of a line drawing: white where the luminance is more than half the image's
    largest difference away from the border's median luminance, black elsewhere."""
    lum = np.asarray(img.convert("L"), dtype=np.float32)
    border = np.concatenate([lum[0], lum[-1], lum[:, 0], lum[:, -1]])
    diff = np.abs(lum - np.median(border))
    fg = diff > 0.5 * max(float(diff.max()), 1e-6)
    return Image.fromarray(np.where(fg, 255, 0).astype(np.uint8)).convert("RGB")


class PriorImages(ImageFolder):
    """GP-UNIT Stage-I images with shape masks, single or cross-class pairs (synImageNet291 / ImageNet291).

    Registered as dataset ``gpunit_prior_images``. ``root`` is a folder of class folders (or ``dataset``: a
    registered image-folder dataset spec such as ``{type: glyphs, split: train}``)."""

    def __init__(
        self,
        root: str | None = None,
        mask_root: str | None = None,
        *,
        masks: MaskMode = "folder",
        paired: bool = False,
        classes: list[str] | None = None,
        per_class: int | None = None,
        dataset: dict[str, Any] | None = None,
    ) -> None:
        if (root is None) == (dataset is None):
            raise DataSourceError("gpunit_prior_images: give exactly one of `root` (a folder of class folders) or "
                                  "`dataset` (a registered image-folder dataset spec, e.g. {type: glyphs})")
        if dataset is not None:
            from i2ikit.data import build_dataset

            spec = dict(dataset)
            ignored = sorted(set(spec) & {"per_class", "exclude", "classes"})
            if ignored:
                raise DataSourceError(f"gpunit_prior_images: give {ignored} to gpunit_prior_images itself, not inside "
                                      f"`dataset` (only the folder of {spec.get('type')!r} is used)")
            inner = build_dataset(spec, "gpunit_prior_images: dataset")
            if not isinstance(inner, ImageFolder):
                raise DataSourceError(f"gpunit_prior_images: dataset {dataset!r} is not an image folder")
            root = str(inner.root)
        if masks not in ("folder", "image", "none"):
            raise DataSourceError(f"gpunit_prior_images: masks={masks!r}; use 'folder', 'image' or 'none'")
        if classes is None:
            rootp = Path(root)
            if rootp.is_dir():
                classes = sorted((d.name for d in rootp.iterdir() if d.is_dir() and not d.name.startswith(".")),
                                 key=natural_key) or None
        super().__init__(root, classes=classes)
        # Natural order inside each class, then the first per_class files (official dataset_sizes).
        files, labels = [], []
        for label, cls in enumerate(self.classes):
            own = sorted((f for f, lab in zip(self.files, self.labels) if lab == label), key=natural_key)
            if per_class is not None:
                own = own[: int(per_class)]
            files += own
            labels += [label] * len(own)
        self.files, self.labels = files, labels
        self.masks, self.paired = masks, bool(paired)
        self.mask_root = Path(mask_root) if mask_root is not None else None
        self.name = f"gpunit_prior_images:{self.root}"
        if masks == "folder":
            if self.mask_root is None:
                raise DataSourceError(
                    f"gpunit_prior_images {str(self.root)!r}: masks='folder' needs mask_root (the official "
                    "synImageNet291_mask / ImageNet291_mask folders, same layout, .jpg). They are a download; "
                    "see docs/datasets.md (GP-UNIT). masks='none' trains without the shape losses (not faithful)")
            missing = [f for f in self.files if not self.mask_path(f).is_file()]
            if missing:
                raise DataSourceError(
                    f"gpunit_prior_images: {len(missing)} of {len(self.files)} images have no mask under "
                    f"{str(self.mask_root)!r}, e.g. {[str(self.mask_path(f)) for f in missing[:3]]}; the mask of "
                    "<root>/<class>/<name>.<ext> is <mask_root>/<class>/<name>.jpg")
        if self.paired:
            by_name: dict[str, list[int]] = {}
            for i, f in enumerate(self.files):
                by_name.setdefault(Path(f).name, []).append(i)
            self._partners = [by_name[Path(f).name] for f in self.files]
            if all(len(p) == 1 for p in self._partners):
                raise DataSourceError(
                    f"gpunit_prior_images {str(self.root)!r}: paired=true but no file name occurs in two class "
                    "folders; pairs are images with the same name in different class folders (same latent code)")

    def mask_path(self, rel: str) -> Path:
        assert self.mask_root is not None
        return (self.mask_root / rel).with_suffix(".jpg")

    def _mask(self, i: int) -> Image.Image:
        if self.masks == "image":
            return mask_from_image(self.load(i))
        return open_image(self.mask_path(self.files[i]), description=f"mask of {self.path(i)}")

    def partner(self, i: int, rng: random.Random | None) -> int:
        """Item B for item A = ``i``: a uniformly drawn item with the same file name (possibly ``i``);
        without ``rng`` (sample grids) the next one in class order."""
        options = self._partners[i]
        if rng is None:
            return options[(options.index(i) + 1) % len(options)]
        return options[rng.randrange(len(options))]

    def sample_item(self, index: int, rng: random.Random | None, transform: Callable[..., torch.Tensor]
                    ) -> tuple[torch.Tensor, Any]:
        index = self._check_index(index)
        items = [index]
        if self.paired:
            items.append(self.partner(index, rng))
        state = rng.getstate() if rng is not None else None

        def same_params(img: Image.Image) -> torch.Tensor:
            if rng is not None:
                rng.setstate(state)  # every image and mask of the item gets the same resize, crop and flip
            return transform(img, rng)

        parts = []
        for i in items:
            parts.append(same_params(self.load(i)))
            if self.masks != "none":
                parts.append(same_params(self._mask(i)))
        label: Any = self.labels[index] if not self.paired else torch.tensor([self.labels[i] for i in items])
        return torch.cat(parts, dim=0), label

    @property
    def channels(self) -> int:
        return 3 * (2 if self.masks != "none" else 1) * (2 if self.paired else 1)


def split_item(x: torch.Tensor, *, paired: bool) -> Sequence[torch.Tensor | None]:
    """Undo :meth:`PriorImages.sample_item`'s stacking: ``(image, mask)`` or ``(A, mask A, B, mask B)``;
    masks are ``None`` when the data has none."""
    per_image = x.shape[1] // (2 if paired else 1)
    if per_image not in (3, 6):
        raise DataSourceError(f"GP-UNIT Stage I expects 3 or 6 channels per image (image [+ mask]), got {per_image}; "
                              "use the gpunit_prior_images dataset")
    out: list[torch.Tensor | None] = []
    for k in range(2 if paired else 1):
        chunk = x[:, k * per_image:(k + 1) * per_image]
        out += [chunk[:, :3], chunk[:, 3:] if per_image == 6 else None]
    return out
