"""i2ikit plugin: the glyph data, the quick start's offline, real few-shot dataset.

Renders labelled images from real font files (the ``font-*`` pip packages installed with i2ikit,
matplotlib's bundled faces and, optionally, the system's): each font face is a class, each character
a content image, and some faces are held out as unseen classes. Provides the dataset type ``glyphs``
(``{type: glyphs, split: train}`` in a recipe, ``glyphs:train`` / ``glyphs:test`` on the command line;
``domain: serif|sans`` for the two-domain split, :mod:`.domains`), the paired dataset type
``glyph_edges`` (glyph outlines -> glyphs, :mod:`.edges`),
the data command ``i2ikit data glyphs`` (:mod:`.render`) and the offline few-shot benchmark
``i2ikit eval glyphs`` (:mod:`.benchmark`). See ``docs/datasets.md``, "Glyph data".
"""
from __future__ import annotations

from typing import Any, Callable

import i2ikit

__version__ = "0.1.0"

from .dataset import glyphs  # noqa: E402  (the renderer imports only the standard library here)
from .edges import glyph_edges, glyph_pair  # noqa: E402
from .render import (  # noqa: E402
    DEFAULT_CHARS,
    FORMAT_VERSION,
    FontFace,
    build_glyph_dataset,
    default_glyph_root,
    find_font_faces,
    glyph_filename,
    glyph_source,
    render_face,
    split_faces,
)

__all__ = [
    "__version__",
    "DEFAULT_CHARS",
    "FORMAT_VERSION",
    "FontFace",
    "build_glyph_dataset",
    "default_glyph_root",
    "find_font_faces",
    "glyph_filename",
    "glyph_source",
    "glyph_edges",
    "glyph_pair",
    "glyphs",
    "render_face",
    "split_faces",
]


@i2ikit.hookimpl
def i2ikit_register(register: Callable[..., Any]) -> None:
    register("dataset", "glyphs", glyphs)
    register("dataset", "glyph_edges", glyph_edges)


def _glyphs_data_main(argv: list[str]) -> int:
    """build the offline font-glyph few-shot dataset"""
    from .render import main

    return main(argv) or 0


def _glyphs_eval_main(argv: list[str]) -> int:
    """offline few-shot benchmark on the held-out glyph faces (style/content accuracy, mFID, mKID)"""
    from .benchmark import main  # imports torch: only when the command runs

    return main(argv) or 0


@i2ikit.hookimpl
def i2ikit_data_commands() -> dict[str, Callable[[list[str]], int]]:
    return {"glyphs": _glyphs_data_main}


@i2ikit.hookimpl
def i2ikit_eval_commands() -> dict[str, Callable[[list[str]], int]]:
    return {"glyphs": _glyphs_eval_main}
