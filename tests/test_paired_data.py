"""Paired data (dataset type ``paired``): the official layouts, pairing by name, one geometry per item."""
from __future__ import annotations

import random
from pathlib import Path

import numpy as np
import pytest
import torch
from PIL import Image

from i2ikit.data import DataSourceError, ImageReadError, PairedImages, load_item, split_paired
from i2ikit.data.sources import build_dataset


def _label(rng: np.random.Generator, w: int, h: int, nc: int) -> np.ndarray:
    return rng.integers(0, nc, size=(h, w)).astype(np.uint8)


def _write_pair(label_path: Path, image_path: Path, ids: np.ndarray, inst_path: Path | None = None) -> None:
    """The image shows each pixel's id as a grey level (id * 20), so a shared geometry can be checked exactly."""
    for p in (label_path, image_path, inst_path):
        if p is not None:
            p.parent.mkdir(parents=True, exist_ok=True)
    Image.fromarray(ids, mode="L").save(label_path)
    grey = (ids.astype(np.uint8) * 20)
    Image.fromarray(np.stack([grey] * 3, -1), mode="RGB").save(image_path)
    if inst_path is not None:
        inst = (ids.astype(np.int32) * 1000 + 7).astype(np.uint16)  # Cityscapes-like 16-bit ids
        Image.fromarray(inst).save(inst_path)


def _folders(root: Path, n: int = 3, *, phase: str = "train", inst: bool = True, w: int = 24, h: int = 16) -> Path:
    rng = np.random.default_rng(0)
    for i in range(n):
        _write_pair(root / f"{phase}_label" / f"s{i}.png", root / f"{phase}_img" / f"s{i}.png", _label(rng, w, h, 5),
                    root / f"{phase}_inst" / f"s{i}.png" if inst else None)
    return root


def test_folders_layout_pairs_by_name_and_stacks_image_label_instance(tmp_path: Path) -> None:
    ds = PairedImages(_folders(tmp_path), preprocess="none", label_nc=5, flip=False)
    assert len(ds) == 3 and ds.has_instance and ds.channels == 5
    x, y = ds.sample_item(0, None)
    assert y == 0 and x.shape == (5, 32, 32)  # 'none' rounds each side to a multiple of 32
    image, label, inst = split_paired(x[None])
    assert image.shape == (1, 3, 32, 32) and image.min() >= -1 and image.max() <= 1
    assert torch.equal(label, label.round()) and set(label.unique().tolist()) <= set(range(5))
    assert torch.equal(inst, label * 1000 + 7)  # 16-bit instance ids kept exactly, same geometry
    # The registered type, as a recipe names it.
    built = build_dataset({"type": "paired", "root": str(tmp_path), "instance": False}, "data.train")
    assert isinstance(built, PairedImages) and not built.has_instance and built.channels == 4


def test_one_crop_and_flip_for_every_member(tmp_path: Path) -> None:
    ds = PairedImages(_folders(tmp_path, w=40, h=30), preprocess="crop", crop_size=16, flip=True)
    for seed in range(8):
        x, _ = ds.sample_item(1, random.Random(seed))
        image, label, inst = split_paired(x[None])
        assert image.shape[-2:] == (16, 16)
        # Grey level = id * 20 wherever the image was not resampled (crop and flip only): exactly equal.
        assert torch.equal(((image[0, 0] + 1) * 127.5).round(), label[0, 0] * 20)
        assert torch.equal(inst, label * 1000 + 7)
    again = [ds.sample_item(1, random.Random(s))[0] for s in (3, 3)]
    assert torch.equal(*again)  # the same seed, the same geometry


def test_resizing_keeps_label_ids_ids(tmp_path: Path) -> None:
    ds = PairedImages(_folders(tmp_path, w=40, h=30), preprocess="resize_and_crop", load_size=50, crop_size=32)
    x, _ = ds.sample_item(0, random.Random(0))
    _, label, _ = split_paired(x[None])
    assert x.shape[-2:] == (32, 32) and set(label.unique().tolist()) <= set(range(5))
    x_eval, _ = ds.sample_item(0, None)  # evaluation: straight to crop_size, no flip, as the official test options
    assert x_eval.shape[-2:] == (32, 32) and torch.equal(x_eval, ds.sample_item(0, None)[0])
    fixed = PairedImages(tmp_path, preprocess="fixed", crop_size=32, aspect_ratio=2.0)
    assert fixed.sample_item(0, random.Random(0))[0].shape[-2:] == (16, 32)  # Cityscapes' 512 x 256, scaled
    width = PairedImages(tmp_path, preprocess="scale_width", load_size=20)
    assert width.sample_item(0, None)[0].shape[-2:] == (15, 20)


def test_the_trainer_loads_an_item_through_sample_item(tmp_path: Path) -> None:
    ds = PairedImages(_folders(tmp_path), preprocess="crop", crop_size=16)
    x, y = load_item(ds, 2, transform=lambda img, rng: pytest.fail("the image transform is not used"),
                     rng=random.Random(1))
    assert x.shape == (5, 16, 16) and y == 0


def test_cityscapes_ade20k_and_custom_layouts(tmp_path: Path) -> None:
    rng = np.random.default_rng(1)
    city = tmp_path / "cityscapes"
    for frame in ("000000_000019", "000001_000019"):
        stem = f"aachen_{frame}"
        _write_pair(city / "gtFine" / "train" / "aachen" / f"{stem}_gtFine_labelIds.png",
                    city / "leftImg8bit" / "train" / "aachen" / f"{stem}_leftImg8bit.png", _label(rng, 32, 16, 35),
                    city / "gtFine" / "train" / "aachen" / f"{stem}_gtFine_instanceIds.png")
    ds = PairedImages(city, layout="cityscapes", label_nc=35, preprocess="fixed", crop_size=32, aspect_ratio=2.0)
    assert len(ds) == 2 and ds.has_instance and [p.key for p in ds.pairs] == ["aachen_000000_000019", "aachen_000001_000019"]
    ade = tmp_path / "ADEChallengeData2016"
    for split in ("train", "val"):
        _write_pair(ade / "annotations" / ("training" if split == "train" else "validation") / f"ADE_{split}_00000001.png",
                    ade / "images" / ("training" if split == "train" else "validation") / f"ADE_{split}_00000001.jpg",
                    _label(rng, 20, 20, 151))
    val = PairedImages(ade, layout="ade20k", phase="val", label_nc=151)
    assert len(val) == 1 and not val.has_instance and "ADE_val" in val.path(0)
    custom = tmp_path / "mine"
    _write_pair(custom / "labels" / "a.png", custom / "photos" / "a.png", _label(rng, 20, 20, 3))
    assert len(PairedImages(custom, layout="custom", label_dir="labels", image_dir="photos")) == 1


def test_a_file_without_its_partner_is_named(tmp_path: Path) -> None:
    root = _folders(tmp_path)
    (root / "train_img" / "s1.png").unlink()
    with pytest.raises(DataSourceError, match=r"train_label/s1\.png has no image partner of the same name"):
        PairedImages(root)
    (root / "train_label" / "s1.png").unlink()
    (root / "train_inst" / "s2.png").unlink()
    with pytest.raises(DataSourceError, match=r"s2\.png has no instance map .*instance: false"):
        PairedImages(root)
    assert len(PairedImages(root, instance=False)) == 2
    with pytest.raises(DataSourceError, match=r"the label folder .*val_label.* does not exist.*Paired data"):
        PairedImages(root, phase="val")


def test_a_label_outside_label_nc_or_a_colour_label_map_is_named(tmp_path: Path) -> None:
    root = _folders(tmp_path, inst=False)
    ids = np.zeros((16, 24), np.uint8)
    ids[3, 4] = 255
    Image.fromarray(ids, mode="L").save(root / "train_label" / "s0.png")
    with pytest.raises(ImageReadError, match=r"s0\.png holds id 255, outside 0\.\.4 .*contain_dontcare_label"):
        PairedImages(root, label_nc=5).sample_item(0, None)
    x, _ = PairedImages(root, label_nc=5, contain_dontcare_label=True, preprocess="crop", crop_size=16).sample_item(0, None)
    assert 255 in x[3].unique().tolist()  # the method's encoding sends 255 to channel label_nc
    Image.fromarray(np.zeros((16, 24, 3), np.uint8), mode="RGB").save(root / "train_label" / "s1.png")
    with pytest.raises(ImageReadError, match=r"s1\.png is an RGB colour image; label maps must hold one class id"):
        PairedImages(root).sample_item(1, None)


def test_data_check_reads_every_label_map(tmp_path: Path) -> None:
    """`i2ikit data check` draws each item once, so a bad label map is reported with its file, not a traceback."""
    from i2ikit.data.check import check_source

    root = _folders(tmp_path, inst=False)
    Image.fromarray(np.zeros((16, 24, 3), np.uint8), mode="RGB").save(root / "train_label" / "s1.png")
    report = check_source(PairedImages(root), crop=16, progress=False)
    assert "1 unreadable" in report.summary()
    (finding,) = report.findings
    assert finding.path.endswith("s1.png") and "colour image" in finding.detail
