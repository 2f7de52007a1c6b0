"""The glyph data as paired data (dataset type ``glyph_edges``): outlines and strokes -> glyphs."""
from __future__ import annotations

import random
from pathlib import Path

import numpy as np
import pytest
from PIL import Image

from i2ikit.data import PairedImages, split_paired
from i2ikit_glyphs import render
from i2ikit_glyphs.edges import LABEL_NC, glyph_edges, glyph_pair


def test_the_label_map_is_the_outline_and_the_instance_map_the_strokes() -> None:
    paper = np.full((12, 12), 255, np.uint8)
    paper[2:7, 2:7] = 0     # a 5 x 5 stroke
    paper[9:11, 8:11] = 0   # a second, thin one (no inside)
    label, instance = glyph_pair(Image.fromarray(paper).convert("RGB"))
    ring = np.zeros((12, 12), np.uint8)
    ring[2:7, 2:7] = 1
    ring[3:6, 3:6] = 0
    ring[9:11, 8:11] = 1
    assert np.array_equal(label, ring)
    assert set(np.unique(instance[2:7, 2:7])) == {1} and set(np.unique(instance[9:11, 8:11])) == {2}
    assert instance[0, 0] == 0 and instance.dtype == np.uint16


def test_glyph_edges_builds_once_and_reads_as_paired_data(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    real = render.build_glyph_dataset
    monkeypatch.setattr(render, "build_glyph_dataset",
                        lambda *a, **k: real(*a, **{**k, "chars": "Ab", "size": 32, "include_system": False,
                                                    "progress": False}))
    ds = glyph_edges(split="test", root=str(tmp_path / "g"), size=32)
    assert isinstance(ds, PairedImages) and ds.has_instance and ds.label_nc == LABEL_NC and len(ds) >= 2
    x, _ = ds.sample_item(0, random.Random(0))
    image, label, instance = split_paired(x[None])
    assert image.shape == (1, 3, 32, 32) and set(label.unique().tolist()) <= {0.0, 1.0}
    assert bool(((label > 0) <= (instance > 0)).all())  # the outline is ink
    built = sorted(p.name for p in (Path(ds.root)).iterdir())
    stamp = (Path(ds.root) / "test_label").stat().st_mtime_ns
    again = glyph_edges(split="test", root=str(tmp_path / "g"), size=32, instance=False)
    assert (Path(again.root) / "test_label").stat().st_mtime_ns == stamp and not again.has_instance  # reused
    assert {"test_label", "test_img", "test_inst"} <= set(built)
