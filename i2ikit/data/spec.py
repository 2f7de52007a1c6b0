"""Command-line data specs: one short string names a labelled-image source.

- ``path/to/folder``: ``image_folder`` (``root/<class>/*``)
- ``hf:path``: a local Hugging Face dataset (``save_to_disk`` folder or ``imagefolder`` layout)
- ``list:root:list_file``: an official FUNIT list file
- ``TYPE:VALUE``: a dataset type that a plugin registers, with VALUE as its first argument:
  ``glyphs:test`` is ``{type: glyphs, split: test}``, ``hdf5:ILSVRC128.hdf5`` is ``{type: hdf5, path:
  ILSVRC128.hdf5}``; ``TYPE:`` takes the type's defaults
"""
from __future__ import annotations

import re
from pathlib import Path
from typing import Any

from ..errors import ConfigError, MissingFileError
from .sources import SOURCE_TYPES, FileList, HFImages, ImageFolder, LabeledImages

_TYPE_SPEC = re.compile(r"([A-Za-z_][A-Za-z0-9_]*):(.*)", re.DOTALL)


def registered_spec(spec: str) -> tuple[str, dict[str, Any]] | None:
    """``(type, options)`` when ``spec`` is ``TYPE:VALUE`` naming a dataset type a plugin registers (VALUE is
    its first argument), else None."""
    m = _TYPE_SPEC.fullmatch(spec)
    if m is None or m.group(1) in ("hf", "list") or m.group(1) in SOURCE_TYPES or len(m.group(1)) < 2:
        return None  # one letter: a Windows drive (C:\data)
    from ..plugins import get_registry  # lazy: the registry loads plugins, which import this package

    registry = get_registry()
    if ("dataset", m.group(1)) not in registry:
        return None
    if not m.group(2):
        return m.group(1), {}
    import inspect

    params = [p for p in inspect.signature(registry.get("dataset", m.group(1)).obj).parameters.values()
              if p.kind in (p.POSITIONAL_OR_KEYWORD, p.KEYWORD_ONLY)]
    if not params:
        raise ConfigError(f"data spec {spec!r}: dataset type {m.group(1)!r} takes no arguments; write {m.group(1)}:")
    return m.group(1), {params[0].name: m.group(2)}


def parse_data_spec(spec: str) -> LabeledImages:
    if spec.startswith("hf:"):
        return HFImages(spec[3:])
    if spec.startswith("list:"):
        parts = spec.split(":", 2)
        if len(parts) != 3:
            raise ConfigError(f"data spec {spec!r}: write list:<image root>:<list file>")
        return FileList(parts[1], parts[2])
    registered = registered_spec(spec)
    if registered is not None:
        from .sources import build_source

        return build_source(registered[0], **registered[1])
    if not Path(spec).exists():
        raise MissingFileError(
            f"data spec {spec!r}: no such folder. Use a folder of class sub-folders, hf:<path>, list:<root>:<file> "
            "or TYPE:VALUE for a registered dataset type (e.g. glyphs:train|test, hdf5:<file>; `i2ikit models --kind dataset` lists them)"
        )
    return ImageFolder(spec)
