"""Command-line data specs: one short string names a labelled-image source.

- ``path/to/folder``: ``image_folder`` (``root/<class>/*``)
- ``glyphs:train`` / ``glyphs:test``: the built-in glyph data (seen / held-out faces)
- ``hf:path``: a local Hugging Face dataset (``save_to_disk`` folder or ``imagefolder`` layout)
- ``list:root:list_file``: an official FUNIT list file
"""
from __future__ import annotations

from pathlib import Path

from ..errors import ConfigError, MissingFileError
from .sources import FileList, HFImages, ImageFolder, LabeledImages


def parse_data_spec(spec: str) -> LabeledImages:
    if spec.startswith("glyphs:"):
        from .glyph_dataset import glyphs

        return glyphs(split=spec.split(":", 1)[1] or "train")
    if spec.startswith("hf:"):
        return HFImages(spec[3:])
    if spec.startswith("list:"):
        parts = spec.split(":", 2)
        if len(parts) != 3:
            raise ConfigError(f"data spec {spec!r}: write list:<image root>:<list file>")
        return FileList(parts[1], parts[2])
    if not Path(spec).exists():
        raise MissingFileError(
            f"data spec {spec!r}: no such folder. Use a folder of class sub-folders, glyphs:train|test, hf:<path> or list:<root>:<file>"
        )
    return ImageFolder(spec)
