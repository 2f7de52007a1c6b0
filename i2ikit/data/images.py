"""Decode any image a dataset may contain into one format: 8-bit RGB, upright.

Long runs die on the one odd file among a hundred thousand (a CMYK JPEG, a 16-bit PNG, a file cut
short by a failed copy). Everything here either converts such a file by a fixed rule or raises
:class:`ImageReadError` naming the file and what to do about it.

Conversion rules (also in docs/datasets.md):

* ``RGB`` is kept; ``1``, ``L``, ``P`` (opaque), ``CMYK``, ``YCbCr`` ... go through PIL's ``convert``.
* Anything with transparency (``LA``, ``RGBA``, ``PA``, ``P`` with a transparency entry, premultiplied
  ``La``/``RGBa``) is alpha-composited onto white, so transparent areas do not turn black.
* 16-bit greyscale (``I;16``, ``I;16B``, ``I;16L``, ...) is scaled by its type range: ``v * 255 / 65535``.
* 32-bit ``I`` is scaled like 16-bit when its values lie within 0..65535 (Pillow opens 16-bit PNGs
  this way in some versions); otherwise its own min..max is stretched to 0..255.
* 32-bit float ``F`` is read as 0..1 when its values lie there, as 0..255 when they lie there, and
  otherwise its own min..max is stretched to 0..255.
* EXIF orientation is applied (photos from phones are often stored sideways).
"""
from __future__ import annotations

import io
import os
from pathlib import Path
from typing import Any, Union

import numpy as np
from PIL import Image, ImageOps

from ..errors import UserError

ImageSource = Union[str, os.PathLike, Image.Image, bytes, bytearray, dict]

_HINT = (
    "Re-save it as a normal image (a truncated file opens once `PIL.ImageFile.LOAD_TRUNCATED_IMAGES = True` "
    "is set; the missing part is filled in grey), delete it, or list it in the source's `exclude` option "
    "so it is skipped."
)
_ALPHA_MODES = {"LA", "La", "RGBA", "RGBa", "PA"}
_INT16_MODES = {"I;16", "I;16B", "I;16L", "I;16N", "I;16S", "I;16BS", "I;16LS"}


class ImageReadError(UserError, ValueError):
    """An image file could not be decoded; the message names the file and how to fix it."""

    def __init__(self, message: str, path: str | None = None) -> None:
        super().__init__(message)
        self.path = path


def _describe(src: Any, description: str | None) -> str:
    if description:
        return description
    if isinstance(src, (str, os.PathLike)):
        return os.fspath(src)
    if isinstance(src, dict) and src.get("path"):
        return str(src["path"])
    if isinstance(src, Image.Image) and getattr(src, "filename", None):
        return str(src.filename)
    return f"<in-memory {type(src).__name__} image>"


def _read_error(where: str, reason: str) -> ImageReadError:
    return ImageReadError(f"cannot read image {where!r}: {reason}. {_HINT}", path=where)


def _scale_to_uint8(arr: np.ndarray, lo: float, hi: float) -> np.ndarray:
    arr = arr.astype(np.float64)
    if hi <= lo:  # a constant image: keep it constant (black unless it already sits in 0..255)
        return np.clip(np.full_like(arr, lo if 0 <= lo <= 255 else 0), 0, 255).astype(np.uint8)
    return np.clip(np.rint((arr - lo) * (255.0 / (hi - lo))), 0, 255).astype(np.uint8)


def _high_depth_to_l(img: Image.Image) -> Image.Image:
    """16/32-bit greyscale to 8-bit ``L`` by the rules in the module docstring."""
    arr = np.asarray(img)
    if arr.size == 0:
        return Image.new("L", img.size)
    if img.mode in _INT16_MODES:
        info = np.iinfo(arr.dtype) if arr.dtype.kind in "iu" else None
        lo, hi = (0.0, 65535.0) if info is None or info.min == 0 else (float(info.min), float(info.max))
        return Image.fromarray(_scale_to_uint8(arr, lo, hi))
    vmin, vmax = float(np.nanmin(arr)), float(np.nanmax(arr))
    arr = np.nan_to_num(arr.astype(np.float64), nan=vmin)
    if img.mode == "I":
        lo, hi = (0.0, 65535.0) if vmin >= 0 and vmax <= 65535 else (vmin, vmax)
    else:  # "F"
        if vmin >= 0 and vmax <= 1:
            lo, hi = 0.0, 1.0
        elif vmin >= 0 and vmax <= 255:
            lo, hi = 0.0, 255.0
        else:
            lo, hi = vmin, vmax
    return Image.fromarray(_scale_to_uint8(arr, lo, hi))


def _on_white(img: Image.Image) -> Image.Image:
    rgba = img.convert("RGBA")
    canvas = Image.new("RGBA", rgba.size, (255, 255, 255, 255))
    return Image.alpha_composite(canvas, rgba).convert("RGB")


def to_rgb(img: Image.Image) -> Image.Image:
    """Convert an already-decoded PIL image to 8-bit RGB (no EXIF handling)."""
    mode = img.mode
    if mode in _INT16_MODES or mode in ("I", "F"):
        return _high_depth_to_l(img).convert("RGB")
    if mode in _ALPHA_MODES or (mode in ("1", "L", "P", "RGB") and "transparency" in img.info):
        return _on_white(img)  # includes palette / colour-key transparency (PNG tRNS, GIF)
    if mode == "RGB":
        return img
    return img.convert("RGB")


def _upright(img: Image.Image) -> Image.Image:
    try:
        return ImageOps.exif_transpose(img) or img
    except Exception:  # a broken EXIF block must not cost us the pixels
        return img


def open_image(src: ImageSource, *, description: str | None = None) -> Image.Image:
    """Decode ``src`` into an upright 8-bit RGB PIL image.

    ``src`` may be a file path, a PIL image (e.g. from a Hugging Face dataset), encoded bytes, or a
    Hugging Face undecoded image dict ``{"bytes": ..., "path": ...}``. ``description`` overrides how
    the image is named in errors. Any decoding failure raises :class:`ImageReadError`.
    """
    where = _describe(src, description)
    try:
        if isinstance(src, Image.Image):
            src.load()
            out = to_rgb(_upright(src))
            return out.copy() if out is src else out  # never hand back the caller's object
        if isinstance(src, dict):
            if src.get("bytes") is not None:
                src = bytes(src["bytes"])
            elif src.get("path"):
                src = src["path"]
            else:
                raise _read_error(where, "the record holds neither image bytes nor a path")
        if isinstance(src, (bytes, bytearray)):
            fp: Any = io.BytesIO(src)
        elif isinstance(src, (str, os.PathLike)):
            fp = Path(src)
            if not fp.exists():
                raise _read_error(where, "the file does not exist")
            if fp.is_dir():
                raise _read_error(where, "it is a directory, not an image file")
        else:
            raise TypeError(f"open_image expects a path, PIL image, bytes or {{'bytes','path'}} dict, got {type(src)!r}")
        with Image.open(fp) as img:
            img.load()  # decode now so truncated data fails here, inside the try
            out = to_rgb(_upright(img))
            return out.copy() if out is img else out
    except ImageReadError:
        raise
    except TypeError:
        raise
    except Image.DecompressionBombError as exc:
        raise _read_error(
            where,
            f"it is too large to decode safely ({exc}); downscale it, or raise PIL.Image.MAX_IMAGE_PIXELS "
            "if the size is intended",
        ) from exc
    except (KeyboardInterrupt, SystemExit, MemoryError):
        raise
    except Exception as exc:  # truncated, corrupt, unknown format, permission denied, ...
        reason = f"{type(exc).__name__}: {exc}" if str(exc) else type(exc).__name__
        raise _read_error(where, reason) from exc
