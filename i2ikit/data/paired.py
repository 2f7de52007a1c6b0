"""Paired data: a label map (and an instance map) with the image it describes, for pix2pixHD and SPADE.

One source, :class:`PairedImages` (dataset type ``paired``), reads the layouts the official repos read:

- ``folders`` (also ``coco``, ``facades``): ``ROOT/<phase>_label``, ``<phase>_img`` and optionally
  ``<phase>_inst``, as pix2pixHD's ``AlignedDataset`` (phases ``train``/``test``) and SPADE's coco and
  facades modes (``train``/``val``); a custom dataset laid out so is read the same way;
- ``cityscapes``: ``ROOT/gtFine/<phase>/**/*_labelIds.png`` (+ ``*_instanceIds.png``) and
  ``ROOT/leftImg8bit/<phase>/**/*_leftImg8bit.png``, paired by the city_sequence_frame fields;
- ``ade20k``: every file under ROOT whose path has ``_<phase>_`` in it (``ADE_train_00000001.jpg`` is an
  image, ``.png`` its label map), as SPADE's ade20k mode;
- ``custom``: ``label_dir``, ``image_dir`` and optionally ``instance_dir``, as SPADE's custom mode.

Files are paired by name (the stem; Cityscapes by its first three fields), never by sorted position,
and a file without its partner is an error naming it. The resize, crop and flip of an item are drawn
once and applied to all its members: bicubic for the image, nearest-neighbour for the label and
instance maps, so ids stay ids. An item is one tensor, ``[image (3) | label ids (1) | instance ids
(1, when there are instance maps)]`` (:func:`split_paired`), as the streams mechanism carries it.
"""
from __future__ import annotations

import os
import random
import re
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Callable, Sequence

import numpy as np
import torch
from PIL import Image

from .images import ImageReadError, open_image
from .sources import IMAGE_EXTENSIONS, DataSourceError, LabeledImages
from .transforms import _to_unit_range

LAYOUTS = ("folders", "coco", "facades", "cityscapes", "ade20k", "custom")
PREPROCESS = ("resize_and_crop", "crop", "scale_width", "scale_width_and_crop", "scale_shortside",
              "scale_shortside_and_crop", "fixed", "none")
DONTCARE_ID = 255


@dataclass(frozen=True)
class PairedFiles:
    """One item's files: the label map, the image and the instance map (None when there is none)."""

    key: str
    label: Path
    image: Path
    instance: Path | None


def _scan(folder: Path, exts: Sequence[str] = IMAGE_EXTENSIONS, suffix: str = "") -> list[Path]:
    return sorted(p for p in folder.rglob("*") if p.is_file() and p.suffix.lower() in exts and p.stem.endswith(suffix))


def _cityscapes_key(p: Path) -> str:
    return "_".join(p.name.split("_")[:3])


def _need_folder(folder: Path, what: str, layout: str) -> Path:
    if not folder.is_dir():
        raise DataSourceError(f"paired data ({layout} layout): the {what} folder {str(folder)!r} does not exist; "
                              "docs/datasets.md, \"Paired data\", shows each layout")
    return folder


def _by_key(files: list[Path], key: Callable[[Path], str], what: str) -> dict[str, Path]:
    out: dict[str, Path] = {}
    for f in files:
        k = key(f)
        if k in out:
            raise DataSourceError(f"paired data: two {what} files have the name {k!r}: {out[k]} and {f}; pairs are "
                                  "matched by name, so names must be unique")
        out[k] = f
    return out


def find_pairs(root: Path, *, layout: str, phase: str, label_dir: str | None = None, image_dir: str | None = None,
               instance_dir: str | None = None, instance: bool | None = None) -> list[PairedFiles]:
    """The items of one split, paired by name; an error names any file without its partner."""
    stem: Callable[[Path], str] = lambda p: p.stem  # noqa: E731
    key = stem
    if layout in ("folders", "coco", "facades"):
        labels = _scan(_need_folder(root / f"{phase}_label", "label", layout))
        images = _scan(_need_folder(root / f"{phase}_img", "image", layout))
        inst_folder = root / f"{phase}_inst"
        insts = _scan(inst_folder) if (instance is not False and inst_folder.is_dir()) else None
        if instance and insts is None:
            _need_folder(inst_folder, "instance", layout)
    elif layout == "cityscapes":
        gt = _need_folder(root / "gtFine" / phase, "label", layout)
        labels = _scan(gt, suffix="_labelIds")
        images = _scan(_need_folder(root / "leftImg8bit" / phase, "image", layout), suffix="_leftImg8bit")
        insts = _scan(gt, suffix="_instanceIds") if instance is not False else None
        key = _cityscapes_key
    elif layout == "ade20k":
        _need_folder(root, "dataset", layout)
        tag = re.compile(f"_{re.escape(phase)}_")
        files = [p for p in _scan(root) if tag.search(str(p.relative_to(root)))]
        labels = [p for p in files if p.suffix.lower() == ".png"]
        images = [p for p in files if p.suffix.lower() in (".jpg", ".jpeg")]
        insts = None
    elif layout == "custom":
        if not label_dir or not image_dir:
            raise DataSourceError("paired data (custom layout): give label_dir and image_dir (and instance_dir if "
                                  "there are instance maps), relative to root or absolute")
        labels = _scan(_need_folder(root / label_dir, "label", layout))
        images = _scan(_need_folder(root / image_dir, "image", layout))
        insts = _scan(_need_folder(root / instance_dir, "instance", layout)) if instance_dir else None
        if instance and insts is None:
            raise DataSourceError("paired data (custom layout): instance: true needs instance_dir")
    else:
        raise DataSourceError(f"paired data: layout {layout!r} is not one of {', '.join(LAYOUTS)}")
    if not labels:
        raise DataSourceError(f"paired data ({layout} layout, phase {phase!r}) under {str(root)!r}: no label maps "
                              "found; docs/datasets.md, \"Paired data\", shows each layout")
    by_label = _by_key(labels, key, "label")
    by_image = _by_key(images, key, "image")
    by_inst = _by_key(insts, key, "instance") if insts is not None else None
    for what, missing_in, have in (("image", by_image, by_label), ("label map", by_label, by_image)):
        lonely = sorted(set(have) - set(missing_in))
        if lonely:
            first = have[lonely[0]]
            raise DataSourceError(
                f"paired data: {first} has no {what} partner of the same name ({len(lonely)} such file(s)); pairs are "
                f"matched by name ({'city_sequence_frame' if layout == 'cityscapes' else 'the file name without its extension'}). "
                f"Add the missing {what}s or remove the unpaired files")
    if by_inst is not None:
        lonely = sorted(set(by_label) - set(by_inst))
        if lonely:
            raise DataSourceError(f"paired data: label map {by_label[lonely[0]]} has no instance map of the same name "
                                  f"({len(lonely)} such file(s)); add them, or set instance: false to train without "
                                  "instance maps")
    return [PairedFiles(k, by_label[k], by_image[k], by_inst[k] if by_inst is not None else None)
            for k in sorted(by_label)]


def read_label_ids(path: Path, what: str) -> np.ndarray:
    """A label or instance map as an integer array (PNG modes L, P, I;16, I; never colours)."""
    try:
        with Image.open(path) as img:
            img.load()
            mode = img.mode
            if mode in ("RGB", "RGBA"):
                raise ImageReadError(
                    f"{what} {path} is an {mode} colour image; label maps must hold one class id per pixel (PNG "
                    "mode L, P or 16-bit). Convert colours to ids first (each dataset's tools do, e.g. Cityscapes' "
                    "*_labelIds.png, not *_color.png)", path=str(path))
            return np.asarray(img, dtype=np.int64 if mode.startswith("I") else np.uint8).astype(np.int64)
    except ImageReadError:
        raise
    except Exception as exc:  # noqa: BLE001 - any decoding failure names the file
        raise ImageReadError(f"cannot read {what} {path}: {exc}", path=str(path)) from None


class PairedImages(LabeledImages):
    """Label maps (optionally instance maps) paired with images: dataset type ``paired``.

    ``root``: the dataset folder. ``layout``: one of ``LAYOUTS`` (module docstring). ``phase``: the split
    (``train``, ``test``, SPADE's ``val``). ``label_dir``, ``image_dir``, ``instance_dir``: the folders of
    the ``custom`` layout. ``instance``: use instance maps (None: when the layout has them). ``label_nc``:
    the number of label ids; an id at or above it (other than 255 with ``contain_dontcare_label``) is an
    error naming the file. ``preprocess``, ``load_size``, ``crop_size``, ``aspect_ratio``, ``flip``: the
    official resize/crop/flip options (``--preprocess_mode`` / ``--resize_or_crop``, ``--load_size``,
    ``--crop_size``, ``--aspect_ratio``, ``--no_flip``), drawn once per item for all its members.
    Without a random generator (evaluation, samples) there is no flip, crops are centred and
    ``resize_and_crop`` resizes straight to ``crop_size``, as the official test options do.
    """

    def __init__(self, root: str | os.PathLike, *, layout: str = "folders", phase: str = "train",
                 label_dir: str | None = None, image_dir: str | None = None, instance_dir: str | None = None,
                 instance: bool | None = None, label_nc: int | None = None, contain_dontcare_label: bool = False,
                 preprocess: str = "resize_and_crop", load_size: int = 286, crop_size: int = 256,
                 aspect_ratio: float = 1.0, flip: bool = True) -> None:
        if preprocess not in PREPROCESS:
            raise DataSourceError(f"paired data: preprocess {preprocess!r} is not one of {', '.join(PREPROCESS)}")
        for name, value in (("load_size", load_size), ("crop_size", crop_size)):
            if not isinstance(value, int) or value < 1:
                raise DataSourceError(f"paired data: {name} must be a positive integer, got {value!r}")
        if label_nc is not None and int(label_nc) < 1:
            raise DataSourceError(f"paired data: label_nc must be >= 1, got {label_nc}")
        self.root = Path(root)
        self.layout, self.phase = layout, phase
        self.pairs = find_pairs(self.root, layout=layout, phase=phase, label_dir=label_dir, image_dir=image_dir,
                                instance_dir=instance_dir, instance=instance)
        self.has_instance = self.pairs[0].instance is not None
        self.label_nc = None if label_nc is None else int(label_nc)
        self.contain_dontcare_label = bool(contain_dontcare_label)
        self.preprocess, self.load_size, self.crop_size = preprocess, int(load_size), int(crop_size)
        self.aspect_ratio, self.flip = float(aspect_ratio), bool(flip)
        self.classes = ["pairs"]
        self.labels = [0] * len(self.pairs)
        self.files = [str(p.image.relative_to(self.root)) if p.image.is_relative_to(self.root) else str(p.image)
                      for p in self.pairs]
        self.name = f"paired:{self.root}({layout}, {phase})"

    @property
    def channels(self) -> int:
        """Channels of an item: image 3 + label 1 (+ instance 1)."""
        return 5 if self.has_instance else 4

    def path(self, i: int) -> str:
        return str(self.pairs[self._check_index(i)].image)

    def _raw(self, i: int) -> Any:
        return self.pairs[i].image

    # ------------------------------------------------------------------ geometry, drawn once per item

    def _resized(self, w: int, h: int, training: bool) -> tuple[int, int]:
        mode, load = self.preprocess, self.load_size
        if mode == "resize_and_crop":
            side = load if training else self.crop_size
            return side, side
        if mode.startswith("scale_width"):
            return load, int(load * h / w)
        if mode.startswith("scale_shortside"):
            if w <= h:
                return load, int(h * load / w)
            return int(w * load / h), load
        if mode == "fixed":
            return self.crop_size, int(round(self.crop_size / self.aspect_ratio))
        if mode == "none":
            return max(32, int(round(w / 32) * 32)), max(32, int(round(h / 32) * 32))
        return w, h  # crop

    def _geometry(self, size: tuple[int, int], rng: random.Random | None) -> tuple[tuple[int, int], tuple[int, int, int, int] | None, bool]:
        """(resized size, crop box or None, flip) for an item whose label map is ``size``."""
        w, h = self._resized(*size, training=rng is not None)
        box = None
        if self.preprocess.endswith("crop") and not (self.preprocess == "resize_and_crop" and rng is None):
            c = self.crop_size
            if rng is not None:
                x, y = rng.randint(0, max(0, w - c)), rng.randint(0, max(0, h - c))
            else:
                x, y = max(0, w - c) // 2, max(0, h - c) // 2
            box = (x, y, x + c, y + c)
        flip = self.flip and rng is not None and rng.random() > 0.5
        return (w, h), box, flip

    @staticmethod
    def _apply(img: Image.Image, size: tuple[int, int], box: tuple[int, int, int, int] | None, flip: bool,
               resample: Image.Resampling) -> Image.Image:
        if img.size != size:
            img = img.resize(size, resample)
        if box is not None:
            img = img.crop(box)
        if flip:
            img = img.transpose(Image.Transpose.FLIP_LEFT_RIGHT)
        return img

    def _check_ids(self, ids: np.ndarray, path: Path) -> None:
        if self.label_nc is None or not ids.size:
            return
        bad = ids[(ids < 0) | (ids >= self.label_nc)]
        if self.contain_dontcare_label:
            bad = bad[bad != DONTCARE_ID]
        if bad.size:
            value = int(bad.max())
            raise ImageReadError(
                f"label map {path} holds id {value}, outside 0..{self.label_nc - 1} (label_nc {self.label_nc}). Set "
                "label_nc to the number of classes of the data"
                + (", or contain_dontcare_label: true if 255 marks unlabelled pixels" if value == DONTCARE_ID
                   and not self.contain_dontcare_label else ""), path=str(path))

    def sample_item(self, index: int, rng: random.Random | None, transform: Any = None) -> tuple[torch.Tensor, int]:
        """Item ``index`` as ``[image | label | instance]`` (module docstring), one geometry for all members.

        ``transform`` (the trainer's image transform) is not used: paired data resizes and crops by its
        own options, which must treat the maps with nearest-neighbour resampling.
        """
        p = self.pairs[self._check_index(index)]
        label_ids = read_label_ids(p.label, "label map")
        self._check_ids(label_ids, p.label)
        label = Image.fromarray(label_ids.astype(np.int32), mode="I")
        image = open_image(p.image)
        if image.size != label.size:
            raise DataSourceError(f"paired data: image {p.image} is {image.size[0]}x{image.size[1]} but its label map "
                                  f"{p.label} is {label.size[0]}x{label.size[1]}; a pair must have one size")
        size, box, flip = self._geometry(label.size, rng)
        members = [torch.from_numpy(np.asarray(self._apply(label, size, box, flip, Image.Resampling.NEAREST),
                                               dtype=np.float32).copy())[None]]
        if p.instance is not None:
            inst = Image.fromarray(read_label_ids(p.instance, "instance map").astype(np.int32), mode="I")
            members.append(torch.from_numpy(np.asarray(self._apply(inst, size, box, flip, Image.Resampling.NEAREST),
                                                       dtype=np.float32).copy())[None])
        img = self._apply(image, size, box, flip, Image.Resampling.BICUBIC)
        return torch.cat([_to_unit_range(img), *members]), 0


def split_paired(x: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor | None]:
    """Undo :meth:`PairedImages.sample_item`'s stacking of a batch: ``(image, label ids, instance ids or None)``."""
    if x.ndim != 4 or x.shape[1] not in (4, 5):
        raise ValueError(f"a paired batch is B x 4 (image, label) or B x 5 (image, label, instance) x H x W, got "
                         f"shape {tuple(x.shape)}; use a dataset of type `paired`")
    return x[:, :3], x[:, 3:4], (x[:, 4:5] if x.shape[1] == 5 else None)
