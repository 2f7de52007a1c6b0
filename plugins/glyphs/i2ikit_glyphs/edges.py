"""The glyph data as paired data, for pix2pixHD and SPADE: glyph outlines (label maps) -> glyphs.

As edges2shoes was built from shoe photos, each glyph gives a pair: its label map marks the glyph's
outline (id 1: ink pixels that touch the paper; 0: everything else), its instance map numbers the
connected ink strokes (0: paper; "i" has two), and the image is the glyph itself. A method must learn
to fill outlines with ink in the right face. Built once from a glyph split into
``<glyph root>/edges-v<N>/`` in the paired ``folders`` layout (``<split>_label``, ``<split>_img``,
``<split>_inst``; file ``<face>__<stem>.png``) and read back with the core ``paired`` dataset type.
"""
from __future__ import annotations

import os
import shutil
import uuid
from pathlib import Path

import numpy as np
from PIL import Image

from i2ikit.data.paired import PairedImages

from .dataset import glyphs

EDGES_VERSION = 1
"""Bumped whenever the pairs are made differently, so old builds are not reused."""
LABEL_NC = 2
"""Label ids: 0 paper (and the inside of strokes), 1 outline."""


def glyph_pair(image: Image.Image) -> tuple[np.ndarray, np.ndarray]:
    """(label map, instance map) of one glyph image (dark ink on light paper), as uint8 and uint16 arrays."""
    from scipy import ndimage

    ink = np.asarray(image.convert("L")) < 128
    inner = ndimage.binary_erosion(ink, structure=np.ones((3, 3), bool), border_value=0)
    label = (ink & ~inner).astype(np.uint8)
    instance, _ = ndimage.label(ink, structure=np.ones((3, 3), int))
    return label, instance.astype(np.uint16)


def _build(split_dir: Path, out: Path, split: str) -> None:
    tmp = out.parent / f".{out.name}.tmp-{os.getpid()}-{uuid.uuid4().hex[:8]}"
    try:
        for sub in ("label", "img", "inst"):
            (tmp / f"{split}_{sub}").mkdir(parents=True)
        for face in sorted(d for d in split_dir.iterdir() if d.is_dir() and not d.name.startswith(".")):
            for file in sorted(face.glob("*.png")):
                name = f"{face.name}__{file.stem}.png"
                with Image.open(file) as img:
                    img.load()
                    label, instance = glyph_pair(img)
                    shutil.copyfile(file, tmp / f"{split}_img" / name)
                Image.fromarray(label, mode="L").save(tmp / f"{split}_label" / name)
                Image.fromarray(instance).save(tmp / f"{split}_inst" / name)
        (tmp / "complete").write_text(f"{EDGES_VERSION}\n")
        out.mkdir(parents=True, exist_ok=True)
        for sub in ("label", "img", "inst"):
            target = out / f"{split}_{sub}"
            if target.exists():
                shutil.rmtree(target)
            os.replace(tmp / f"{split}_{sub}", target)
        os.replace(tmp / "complete", out / f".{split}-complete")
    finally:
        shutil.rmtree(tmp, ignore_errors=True)


def glyph_edges(
    split: str = "train",
    root: str | None = None,
    size: int = 64,
    holdout: float = 0.2,
    seed: int = 0,
    include_system: bool = False,
    instance: bool = True,
) -> PairedImages:
    """Glyph outlines paired with the glyphs (label_nc 2, instance maps of the ink strokes), one face per
    glyph class of the ``glyphs`` data; ``split: test`` holds the unseen faces. Built on first use.

    ``instance: false`` leaves the instance maps out (pix2pixHD's and SPADE's ``no_instance``).
    """
    source = glyphs(split=split, root=root, size=size, holdout=holdout, seed=seed, include_system=include_system)
    split_dir = Path(source.root)
    out = split_dir.parent / f"edges-v{EDGES_VERSION}"
    marker = out / f".{split}-complete"
    if not (marker.is_file() and marker.read_text().strip() == str(EDGES_VERSION)):
        _build(split_dir, out, split)
    return PairedImages(out, layout="folders", phase=split, instance=instance, label_nc=LABEL_NC,
                        preprocess="crop", crop_size=size, flip=False)
