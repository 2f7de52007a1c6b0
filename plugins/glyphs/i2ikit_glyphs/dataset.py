"""The glyph data as a registered dataset type (``type: glyphs`` in a recipe, ``glyphs:train`` on the command line)."""
from __future__ import annotations

from pathlib import Path

from i2ikit.data.sources import ImageFolder
from i2ikit.errors import ConfigError

from .domains import domain_faces
from .render import glyph_source, split_faces

SPLITS = ("train", "test", "fit", "val")
"""``train``/``test``: the seen and held-out faces. ``fit``/``val``: the training faces split once more,
so settings are chosen on ``val`` faces (unseen by a model trained on ``fit``) and the held-out ``test``
faces are scored once, at the end."""


def validation_faces(train_faces: list[str], holdout: float = 0.2, seed: int = 0) -> set[str]:
    """The training faces held out for validation: ``holdout`` of them, chosen as the test faces are
    (by sha256 of seed and id, so the same on every machine) under a seed of its own."""
    return split_faces(train_faces, holdout, seed=1000 + int(seed))


def glyphs(
    split: str = "train",
    root: str | None = None,
    size: int = 64,
    holdout: float = 0.2,
    seed: int = 0,
    include_system: bool = False,
    domain: str | None = None,
) -> ImageFolder:
    """Real font glyphs: each font face is a class, each character an image; ``split: test`` holds the unseen faces.

    Rendered from the fonts installed with i2ikit (and, with ``include_system``, the system's, which
    differ between machines) on first use and cached (``$I2IKIT_DATA`` or ``~/.cache/i2ikit``); ``root``
    chooses another folder. ``split`` is ``train`` (seen faces), ``test`` (held-out faces), or ``fit`` and
    ``val``, the training faces split again for choosing settings without looking at ``test``.
    ``domain`` (``serif`` or ``sans``) keeps the faces of one domain of the two-domain split
    (:mod:`i2ikit_glyphs.domains`).
    """
    if split not in SPLITS:
        raise ConfigError(f"glyphs: split must be one of {', '.join(SPLITS)}, got {split!r} (on the command line: "
                          "glyphs:train, glyphs:test, glyphs:fit, glyphs:val)")
    folder = glyph_source(split="test" if split == "test" else "train", root=Path(root) if root else None, size=size,
                          holdout=holdout, seed=seed, include_system=include_system)
    faces = sorted(d.name for d in folder.iterdir() if d.is_dir() and not d.name.startswith("."))
    if split in ("fit", "val"):
        val = validation_faces(faces, holdout, seed)
        faces = [f for f in faces if (f in val) == (split == "val")]
    if domain is not None:
        faces = domain_faces(faces, domain, where=f"glyphs (split {split})")
    return ImageFolder(folder, classes=faces)
