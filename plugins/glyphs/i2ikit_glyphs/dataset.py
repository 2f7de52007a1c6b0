"""The glyph data as a registered dataset type (``type: glyphs`` in a recipe, ``glyphs:train`` on the command line)."""
from __future__ import annotations

from pathlib import Path

from i2ikit.data.sources import ImageFolder

from .domains import domain_faces
from .render import glyph_source


def glyphs(
    split: str = "train",
    root: str | None = None,
    size: int = 64,
    holdout: float = 0.2,
    seed: int = 0,
    include_system: bool = True,
    domain: str | None = None,
) -> ImageFolder:
    """Real font glyphs: each font face is a class, each character an image; ``split: test`` holds the unseen faces.

    Rendered from the fonts installed with i2ikit (and the system's) on first use and cached
    (``$I2IKIT_DATA`` or ``~/.cache/i2ikit``); ``root`` chooses another folder. ``domain`` (``serif`` or
    ``sans``) keeps the faces of one domain of the two-domain split (:mod:`i2ikit_glyphs.domains`).
    """
    folder = glyph_source(split=split, root=Path(root) if root else None, size=size, holdout=holdout, seed=seed,
                          include_system=include_system)
    if domain is None:
        return ImageFolder(folder)
    faces = sorted(d.name for d in folder.iterdir() if d.is_dir() and not d.name.startswith("."))
    return ImageFolder(folder, classes=domain_faces(faces, domain, where=f"glyphs (split {split})"))
