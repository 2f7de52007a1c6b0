"""``i2ikit data check``: decode every image of a dataset (or of every dataset of a recipe) once, before
training, and say what is wrong with which file and how to fix it.

A run of several days should not die at hour 30 on the one truncated JPEG among 100k. The checker runs
exactly the decoder training uses (:func:`~i2ikit.data.images.open_image`) on every item, in parallel
worker processes, and sorts what it finds into three kinds:

* **unreadable**: the file cannot be decoded (truncated, empty, not an image, too large for PIL's
  decompression-bomb limit); training would stop at the first one it draws.
* **tiny**: the shorter side is smaller than ``data.crop``, so training upscales it.
* **odd**: it decodes, but only through one of the fixed conversion rules (CMYK, 16-bit, float,
  transparency, palette, greyscale), or it is EXIF-rotated, extremely elongated, very large, or its
  extension does not match its contents.

Only *unreadable* files make a check fail (:attr:`Report.ok`); the others are warnings.
:func:`write_exclude` writes the unreadable files in the form the dataset's ``exclude`` option takes.

Sources whose items stack several images (``sample_item``, e.g. GP-UNIT's image + shape mask): every
item's own image is checked like any other; the other images an item reads are checked too when the
source names them, through an ``extra_images(i) -> [(label, raw), ...]`` method (or, for GP-UNIT's
``gpunit_prior_images`` with ``masks: folder``, its ``mask_path``); otherwise each item is drawn once
through ``sample_item`` so that any image it cannot read is reported (without the finer checks).
Cross-class partners of paired items are items of the same source, so they are covered already.
"""
from __future__ import annotations

import argparse
import dataclasses
import inspect
import io
import json
import os
import re
import time
import warnings
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Iterable, Sequence

from PIL import Image

from .images import _HINT, ImageReadError, open_image
from .sources import ClassSubset, HFImages, LabeledImages

__all__ = ["Finding", "SourceCheck", "Report", "scan_source", "check_source", "check_recipe", "write_exclude", "main",
           "FIXES", "KINDS"]

KINDS = ("unreadable", "tiny", "odd")
MAX_ASPECT = 4.0
"""Longer / shorter side above this is reported as odd (the square crop keeps a small part of it)."""
MAX_MEGAPIXELS = 40.0
"""Images above this many megapixels are reported as odd (slow to decode every time one is drawn)."""

_CONVERSION_DOC = "docs/datasets.md, \"Image conversion rules\""
FIXES: dict[str, str] = {
    "unreadable": (
        "training stops at the first of these it draws. Fix: delete or re-save each file, list it in the dataset's "
        "`exclude` option (`--exclude-file FILE` writes that list; image_folder and file_list take it), or set "
        "`data.on_bad_image: skip` in the recipe to skip and report them while training instead of stopping."
    ),
    "tiny": (
        "the shorter side is smaller than data.crop, so training upscales them and they come out blurry. Fix: remove "
        "them or list them in the dataset's `exclude` option, or lower data.crop / data.new_size."
    ),
    "extension": (
        "the file's extension does not match its contents. PIL reads the contents, so it decodes, but other tools "
        "(and a later `extensions:` filter) go by the name; rename it or re-save it in the format its name says."
    ),
    "cmyk": (
        f"CMYK (print) colours, converted to RGB by a fixed rule without a colour profile ({_CONVERSION_DOC}), so "
        "colours may shift; re-save as RGB if that is not what you want."
    ),
    "high_depth": (
        f"16-bit, 32-bit or float greyscale, scaled to 8 bits by a fixed rule ({_CONVERSION_DOC}); re-save as 8-bit "
        "RGB if that scaling is not what you want."
    ),
    "alpha": (
        f"transparency, composited onto white by a fixed rule ({_CONVERSION_DOC}); re-save them on the background "
        "you want if white is wrong."
    ),
    "palette": (
        f"palette colours, expanded to RGB by a fixed rule ({_CONVERSION_DOC}); usually harmless, re-save as RGB if "
        "that is not what you want."
    ),
    "greyscale": (
        f"greyscale (or black-and-white), copied into all three channels by a fixed rule ({_CONVERSION_DOC}); fine "
        "in a greyscale dataset, a mistake in a colour one: re-save as RGB if that is not what you want."
    ),
    "mode": (
        f"an unusual colour mode, converted to RGB by PIL's `convert` ({_CONVERSION_DOC}); re-save as RGB if that is "
        "not what you want."
    ),
    "exif_rotated": (
        "an EXIF orientation tag: they are rotated or flipped upright when decoded (as a photo viewer shows them). "
        "If that is wrong for your data (e.g. masks or labels drawn on the stored pixels), re-save them upright "
        "without the tag."
    ),
    "aspect": (
        f"an extreme aspect ratio (longer side more than {MAX_ASPECT:g} x the shorter): training resizes the "
        "shorter side and crops a square, keeping only a small part; crop them to a squarer shape, or remove them."
    ),
    "large": (
        f"more than {MAX_MEGAPIXELS:g} megapixels: decoded in full every time one is drawn, which slows every step; "
        "downscale them once (e.g. to about twice data.new_size)."
    ),
}
_ODD_ORDER = ("extension", "cmyk", "high_depth", "alpha", "palette", "greyscale", "mode", "exif_rotated", "aspect",
              "large")
_ODD_TITLES = {
    "extension": "extension does not match the contents", "cmyk": "CMYK", "high_depth": "high bit depth",
    "alpha": "transparency", "palette": "palette", "greyscale": "greyscale", "mode": "unusual colour mode",
    "exif_rotated": "EXIF-rotated", "aspect": "extreme aspect ratio", "large": "very large",
}
_ALPHA_MODES = {"LA", "La", "RGBA", "RGBa", "PA"}
_INT16_PREFIX = "I;16"
_SAME_FORMAT = ({"JPEG", "MPO"},)  # phone cameras write multi-picture JPEGs (MPO) as .jpg


@dataclass(frozen=True)
class Finding:
    """One thing wrong with one file."""

    kind: str
    """``unreadable``, ``tiny`` or ``odd``."""
    reason: str
    """What exactly: ``unreadable``, ``tiny``, or for odd files ``extension``, ``cmyk``, ``high_depth``, ``alpha``,
    ``palette``, ``greyscale``, ``mode``, ``exif_rotated``, ``aspect``, ``large``. :data:`FIXES` says what to do."""
    source: str
    """The name of the source (``image_folder:/data/x``)."""
    index: int
    """The item of the source."""
    path: str
    """Where the image comes from (the source's ``path(i)``, or the extra image's file)."""
    detail: str
    """What was found, e.g. ``1x1 (shorter side 1 < crop 128)`` or ``JPEG CMYK``."""
    file: str | None = None
    """The file on disk, when there is one."""
    exclude_entry: str | None = None
    """The item as the source's ``exclude`` option lists it (``cat/001.jpg``); None if it has no such form."""

    @property
    def fix(self) -> str:
        return FIXES[self.reason]


@dataclass
class SourceCheck:
    """What one source holds and what was found in it."""

    name: str
    images: int
    classes: int
    crop: int
    findings: list[Finding] = field(default_factory=list)
    roles: list[str] = field(default_factory=list)
    """Where a recipe uses it (``data.train``, ``stages.prior.data.train`` ...); empty for a plain source."""
    extra_images: int = 0
    extra_label: str = ""
    """What the extra images are (``masks``), for sources whose items stack several images."""
    coverage: str = ""
    """How the images of multi-image items were checked (empty for one image per item)."""
    exclude_option: bool = False
    """Whether its dataset type takes ``exclude`` (so :func:`write_exclude` can help)."""
    excluded_already: list[str] = field(default_factory=list)
    """What its ``exclude`` option lists now (kept in the file :func:`write_exclude` writes)."""
    seconds: float = 0.0

    def files_with(self, kind: str) -> int:
        return len({(f.index, f.path) for f in self.findings if f.kind == kind})

    @property
    def label(self) -> str:
        roles = [r for r in self.roles if r]
        return f"{self.name} ({', '.join(roles)})" if roles else self.name

    def summary(self) -> str:
        counts = [f"{self.files_with(k):,} {k}" for k in KINDS if self.files_with(k)]
        extra = f" + {self.extra_images:,} {self.extra_label or 'extra images'}" if self.extra_images else ""
        what = ", ".join(counts) if counts else "all fine"
        return f"{self.label}: {self.images:,} images{extra} in {self.classes:,} classes decoded: {what}"


@dataclass
class Report:
    """The findings of a check, per source (see :meth:`grouped` for kind -> source -> findings)."""

    sources: list[SourceCheck] = field(default_factory=list)

    @property
    def findings(self) -> list[Finding]:
        return [f for s in self.sources for f in s.findings]

    @property
    def grouped(self) -> dict[str, dict[str, list[Finding]]]:
        """``{kind: {source name: [findings]}}``, kinds in the order unreadable, tiny, odd; only non-empty ones."""
        out: dict[str, dict[str, list[Finding]]] = {}
        for kind in KINDS:
            for s in self.sources:
                found = [f for f in s.findings if f.kind == kind]
                if found:
                    out.setdefault(kind, {}).setdefault(s.name, []).extend(found)
        return out

    @property
    def ok(self) -> bool:
        """True when nothing is unreadable (tiny and odd files are warnings)."""
        return not any(f.kind == "unreadable" for f in self.findings)

    def count(self, kind: str) -> int:
        return sum(s.files_with(kind) for s in self.sources)

    def format(self, limit: int | None = 20) -> str:
        """Readable text: a summary line per source, then per kind of problem what to do and the files
        (at most ``limit`` per group; None lists every file)."""
        lines = []
        for s in self.sources:
            lines.append(s.summary())
            if s.coverage:
                lines.append(f"  ({s.coverage})")
        multi = len(self.sources) > 1
        for kind in KINDS:
            found = [(s, f) for s in self.sources for f in s.findings if f.kind == kind]
            if not found:
                continue
            lines.append("")
            n = len({(s.name, f.index, f.path) for s, f in found})
            noun = "image" if n == 1 else "images"
            if kind == "odd":
                lines.append(f"{n:,} odd {noun}: they decode, but perhaps not as you expect.")
                for reason in _ODD_ORDER:
                    group = [(s, f) for s, f in found if f.reason == reason]
                    if group:
                        lines.append(f"  {_ODD_TITLES[reason]} ({len(group):,}): {FIXES[reason]}")
                        lines += _listing(group, limit, multi, indent="    ")
                continue
            lines.append(f"{n:,} {kind} {noun}: {FIXES[kind]}")
            lines += _listing(found, limit, multi, indent="  ")
            if kind == "unreadable":
                no_exclude = sorted({s.name for s, _ in found if not s.exclude_option})
                if no_exclude:
                    lines.append(f"  ({', '.join(no_exclude)}: no `exclude` option; fix or remove those files, or "
                                 "use data.on_bad_image: skip)")
        lines.append("")
        warn = len({(f.source, f.index, f.path) for f in self.findings if f.kind != "unreadable"})
        warn_text = f"; {warn:,} file(s) with warnings" if warn else ""
        if self.ok:
            lines.append(f"ok: every image decodes{warn_text}.")
        else:
            lines.append(f"NOT ok: {self.count('unreadable'):,} unreadable image(s) would stop training{warn_text}.")
        return "\n".join(lines)


def _listing(found: list[tuple[SourceCheck, Finding]], limit: int | None, multi: bool, indent: str) -> list[str]:
    shown = found if not limit or limit < 0 else found[:limit]
    out = [f"{indent}{f.path}: {f.detail}" + (f"  [{s.roles[0] if s.roles else s.name}]" if multi else "")
           for s, f in shown]
    if len(found) > len(shown):
        out.append(f"{indent}... and {len(found) - len(shown):,} more; --all lists every file")
    return out


# ---- checking one item ----------------------------------------------------------------------------
_EXT_FORMATS: dict[str, str] | None = None


def _ext_format(ext: str) -> str | None:
    global _EXT_FORMATS
    if _EXT_FORMATS is None:
        _EXT_FORMATS = {k.lower(): v for k, v in Image.registered_extensions().items()}
    return _EXT_FORMATS.get(ext.lower())


def _formats_match(actual: str, expected: str) -> bool:
    return actual == expected or any({actual, expected} <= group for group in _SAME_FORMAT)


def _short_reason(exc: ImageReadError, where: str) -> str:
    text = str(exc).replace(_HINT, "").strip()
    prefix = f"cannot read image {where!r}: "
    if text.startswith(prefix):
        text = text[len(prefix):]
    text = re.sub(r"<_io\.BytesIO object at 0x[0-9a-fA-F]+>", "(its bytes)", text)
    return text.rstrip(". ") or type(exc).__name__


def _mode_reason(mode: str, info: dict[str, Any]) -> tuple[str, str] | None:
    if mode in _ALPHA_MODES or (mode in ("1", "L", "P", "RGB") and "transparency" in info):
        return "alpha", "palette with transparency" if mode == "P" else f"{mode}" if mode in _ALPHA_MODES else (
            f"{mode} with a transparent colour")
    if mode == "RGB":
        return None
    if mode == "CMYK":
        return "cmyk", "CMYK"
    if mode.startswith(_INT16_PREFIX):
        return "high_depth", f"16-bit greyscale ({mode})"
    if mode == "I":
        return "high_depth", "32-bit integer greyscale (I)"
    if mode == "F":
        return "high_depth", "32-bit float greyscale (F)"
    if mode == "P":
        return "palette", "palette (P)"
    if mode == "L":
        return "greyscale", "greyscale (L)"
    if mode == "1":
        return "greyscale", "black and white (1)"
    return "mode", f"mode {mode}"


_ORIENTATION = {2: "mirrored", 3: "rotated 180°", 4: "flipped", 5: "transposed", 6: "rotated 90°", 7: "transversed",
                8: "rotated 270°"}


def _open_header(raw: Any) -> tuple[Any, str | None]:
    """``(file object or path for Image.open, the file name's extension)``, or ``(None, None)`` when ``raw``
    is not an encoded file (a PIL image, say)."""
    if isinstance(raw, dict):
        name = raw.get("path")
        ext = os.path.splitext(str(name))[1] if name else None
        if raw.get("bytes") is not None:
            return io.BytesIO(bytes(raw["bytes"])), ext
        return (Path(name), ext) if name else (None, None)
    if isinstance(raw, (bytes, bytearray)):
        return io.BytesIO(raw), None
    if isinstance(raw, (str, os.PathLike)):
        return Path(raw), os.path.splitext(os.fspath(raw))[1]
    return None, None


def _inspect(raw: Any, where: str, crop: int, decode: Any = None) -> tuple[list[tuple[str, str, str]], bool]:
    """Check one image: ``([(kind, reason, detail), ...], readable)``. ``decode()``, when given, decodes it
    instead of ``open_image(raw)`` (for sources with their own ``load``)."""
    out: list[tuple[str, str, str]] = []
    header = None
    fp, ext = _open_header(raw)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")  # decompression-bomb and palette warnings: we report what matters
        try:
            if fp is not None:
                try:
                    header = Image.open(fp)
                except Exception:
                    header = None  # open_image below raises the error training would raise
            elif isinstance(raw, Image.Image):
                header = raw
            try:
                if decode is not None:
                    img = decode()
                elif header is not None:
                    img = open_image(header, description=where)
                else:
                    img = open_image(raw, description=where)
            except ImageReadError as exc:
                return [("unreadable", "unreadable", _short_reason(exc, where))], False
            if header is not None:
                fmt, mode, info, (w0, h0) = header.format, header.mode, dict(header.info), header.size
                if fmt and ext:
                    expected = _ext_format(ext)
                    if expected and not _formats_match(fmt, expected):
                        out.append(("odd", "extension", f"{fmt} data in a {ext} file"))
                odd_mode = _mode_reason(mode, info)
                if odd_mode is not None:
                    reason, what = odd_mode
                    out.append(("odd", reason, f"{fmt} {what}" if fmt else what))
                try:
                    orientation = int(header.getexif().get(0x0112, 1) or 1)
                except Exception:
                    orientation = 1
                if orientation in _ORIENTATION:
                    out.append(("odd", "exif_rotated", f"EXIF orientation {orientation} ({_ORIENTATION[orientation]})"))
                if w0 * h0 > MAX_MEGAPIXELS * 1e6:
                    out.append(("odd", "large", f"{w0}x{h0} ({w0 * h0 / 1e6:.1f} megapixels)"))
        finally:
            if header is not None and fp is not None:
                header.close()
    w, h = img.size
    short, long_ = min(w, h), max(w, h)
    if short < crop:
        out.append(("tiny", "tiny", f"{w}x{h} (shorter side {short} < crop {crop})"))
    if short > 0 and long_ / short > MAX_ASPECT:
        out.append(("odd", "aspect", f"{w}x{h} ({long_ / short:.1f}:1)"))
    return out, True


_DIRECT_LOADS = (LabeledImages.load, HFImages.load)


def _base(source: LabeledImages, i: int) -> tuple[LabeledImages, int]:
    """Undo class subsets, which only re-index their parent."""
    while isinstance(source, ClassSubset):
        source, i = source.parent, source.items[i]
    return source, i


def _exclude_entry(source: LabeledImages, i: int) -> str | None:
    base, j = _base(source, i)
    files = getattr(base, "files", None)
    if isinstance(files, list) and 0 <= j < len(files) and isinstance(files[j], str):
        return files[j]
    return None


def _extras(source: LabeledImages, i: int) -> list[tuple[str, Any]] | None:
    """The other images item ``i`` reads, as ``[(label, raw)]``; None if the source does not say."""
    fn = getattr(source, "extra_images", None)
    if callable(fn):
        return list(fn(i))
    if callable(getattr(source, "mask_path", None)) and hasattr(source, "masks") and isinstance(
            getattr(source, "files", None), list):  # GP-UNIT's gpunit_prior_images
        return [("mask", source.mask_path(source.files[i]))] if source.masks == "folder" else []
    return None


@dataclass
class _ItemResult:
    index: int
    findings: list[Finding]
    extras: int = 0
    own: list[tuple[str, str, str]] | None = None
    """What was found in the item's own image, for the per-file cache (None: not cacheable)."""


def _file_key(source: LabeledImages, i: int) -> str | None:
    """The file of item ``i`` when it can be named without reading anything (folders, list files)."""
    from .sources import FileList, ImageFolder

    base, j = _base(source, i)
    if type(base)._raw not in (ImageFolder._raw, FileList._raw) or type(base).load not in _DIRECT_LOADS:
        return None
    return os.fspath(Path(base.root) / base.files[j])


def _check_item(source: LabeledImages, i: int, crop: int) -> _ItemResult:
    entry = _exclude_entry(source, i)
    try:
        raw = source._raw(i)
        where = source._describe(i, raw) if isinstance(source, HFImages) else source.path(i)
    except Exception as exc:  # e.g. a dataset row or an HDF5 record that cannot be read at all
        where = _safe_path(source, i)
        detail = f"{type(exc).__name__}: {exc}" if str(exc) else type(exc).__name__
        return _ItemResult(i, [Finding("unreadable", "unreadable", source.name, i, where, detail, None, entry)])
    file = _file_of(raw)
    direct = type(_base(source, i)[0]).load in _DIRECT_LOADS
    found, readable = _inspect(raw, where, crop, decode=None if direct else (lambda: source.load(i)))
    if not readable and file:
        found = [(k, r, _what_is_in(file, d)) for k, r, d in found]
    findings = [Finding(k, r, source.name, i, where, d, file, entry) for k, r, d in found]
    extras = 0
    if readable and getattr(source, "sample_item", None) is not None:
        extra = _extras(source, i)
        if extra is None:
            findings += _draw_item(source, i, crop, where, entry)
        else:
            for label, xraw in extra:
                extras += 1
                xfile = _file_of(xraw)
                xwhere = xfile or f"{label} of {where}"
                for k, r, d in _inspect(xraw, xwhere, crop)[0]:
                    findings.append(Finding(k, r, source.name, i, xwhere, f"{d} (the {label} of {where})", xfile, entry))
    return _ItemResult(i, findings, extras, own=found if direct else None)


def _draw_item(source: Any, i: int, crop: int, where: str, entry: str | None) -> list[Finding]:
    """Draw item ``i`` once through the source's own ``sample_item``, so that every image it reads is decoded."""
    import torch

    try:
        source.sample_item(i, None, lambda img, rng: torch.zeros(3, crop, crop))
    except ImageReadError as exc:
        at = exc.path or where
        return [Finding("unreadable", "unreadable", source.name, i, at, _short_reason(exc, at) + f" (read by item {where})",
                        exc.path if exc.path and os.path.isfile(exc.path) else None, entry)]
    except Exception as exc:
        exc.add_note(f"while drawing item {where} of {source.name} once through its sample_item (i2ikit data check)")
        raise
    return []


def _what_is_in(file: str, detail: str) -> str:
    """Say so when an unreadable file is empty or holds text (often an HTML page from a failed download)."""
    try:
        with open(file, "rb") as fh:
            head = fh.read(512)
    except OSError:
        return detail
    if not head:
        return "the file is empty (0 bytes)"
    if b"\0" not in head:
        try:
            text = head.decode("utf-8")
        except UnicodeDecodeError:
            return detail
        if all(c.isprintable() or c in "\r\n\t" for c in text):
            kind = "an HTML page, e.g. from a failed download" if "<html" in text.lower() or "<!doctype" in text.lower() \
                else "text"
            return f"{detail} (it holds {kind}, not an image)"
    return detail


def _file_of(raw: Any) -> str | None:
    if isinstance(raw, (str, os.PathLike)):
        return os.fspath(raw)
    if isinstance(raw, dict) and raw.get("path") and raw.get("bytes") is None:
        return str(raw["path"])
    return None


def _safe_path(source: LabeledImages, i: int) -> str:
    try:
        return source.path(i)
    except Exception:
        return f"{source.name} item {i}"


class _Items:
    """A map-style dataset over some item indices whose items are plain check results (decoded in workers)."""

    def __init__(self, source: LabeledImages, crop: int, indices: list[int]) -> None:
        self.source, self.crop, self.indices = source, crop, indices

    def __len__(self) -> int:
        return len(self.indices)

    def __getitem__(self, k: int) -> _ItemResult:
        return _check_item(self.source, self.indices[k], self.crop)


def _as_list(batch: list[_ItemResult]) -> list[_ItemResult]:
    return batch


def _reusable(source: LabeledImages) -> bool:
    """Whether an item is checked completely by checking its own image (so a result per file can be reused)."""
    return getattr(source, "sample_item", None) is None or (len(source) > 0 and _extras(source, 0) == [])


_Cache = dict  # {(file, crop): [(kind, reason, detail)]}: results per file, shared by the sources of one check


def _scan(source: LabeledImages, crop: int, num_workers: int, progress: bool, desc: str,
          cache: _Cache | None = None) -> tuple[list[Finding], int]:
    from torch.utils.data import DataLoader
    from tqdm import tqdm

    n = len(source)
    crop = int(crop)
    reuse = cache is not None and _reusable(source)
    keys = [_file_key(source, i) for i in range(n)] if cache is not None else [None] * n
    results: list[_ItemResult] = []
    todo = []
    for i, key in enumerate(keys):
        if reuse and key is not None and (key, crop) in cache:
            entry = _exclude_entry(source, i)
            where = source.path(i)
            results.append(_ItemResult(i, [Finding(k, r, source.name, i, where, d, key, entry)
                                           for k, r, d in cache[(key, crop)]]))
        else:
            todo.append(i)
    workers = max(0, int(num_workers)) if todo else 0
    loader = DataLoader(_Items(source, crop, todo), batch_size=16, shuffle=False, num_workers=workers,
                        collate_fn=_as_list)
    with tqdm(total=n, desc=desc or f"checking {source.name}", unit="img", disable=not progress, leave=False,
              dynamic_ncols=True) as bar:
        bar.update(n - len(todo))
        for batch in loader:
            for item in batch:
                results.append(item)
                if cache is not None and item.own is not None and keys[item.index] is not None:
                    cache[(keys[item.index], crop)] = item.own
            bar.update(len(batch))
    results.sort(key=lambda r: r.index)
    return [f for r in results for f in r.findings], sum(r.extras for r in results)


def scan_source(source: LabeledImages, *, crop: int, num_workers: int = 0, progress: bool = True,
                desc: str = "") -> list[Finding]:
    """Decode every item of ``source`` once (in ``num_workers`` worker processes) and return what is wrong,
    in item order: unreadable files, files whose shorter side is below ``crop``, and odd files (see
    :data:`FIXES`). A progress bar (stderr) names the source unless ``progress`` is False."""
    return _scan(source, crop, num_workers, progress, desc)[0]


def _coverage(source: LabeledImages) -> tuple[str, str]:
    """``(label of the extra images, how multi-image items were checked)``."""
    if getattr(source, "sample_item", None) is None:
        return "", ""
    if len(source) and _extras(source, 0) is None:
        return "", ("its items stack several images; each item was also drawn once through its sample_item, so "
                    "unreadable images are reported, but only the items' own images get the tiny/odd checks")
    if callable(getattr(source, "extra_images", None)):
        return "extra images", "its items stack several images: the ones it names (extra_images) were checked too"
    if getattr(source, "masks", None) == "folder":
        return "masks", "its items stack image and shape mask: the masks were checked too"
    return "", (f"its items stack several images, all made from the images checked here (masks: "
                f"{getattr(source, 'masks', '?')}; paired partners are items of the same source)")


def check_source(source: LabeledImages, *, crop: int, num_workers: int = 0, progress: bool = True, desc: str = "",
                 roles: Sequence[str] = (), exclude_option: bool | None = None,
                 excluded_already: Iterable[str] = (), cache: dict | None = None) -> SourceCheck:
    """:func:`scan_source` plus what the report needs to know about the source. ``cache`` (a dict shared
    by the sources of one check) lets a file that two sources read be decoded once."""
    start = time.perf_counter()
    findings, extras = _scan(source, crop, num_workers, progress, desc, cache)
    label, coverage = _coverage(source)
    if exclude_option is None:
        exclude_option = _takes_exclude(type(_base(source, 0)[0]) if len(source) else type(source))
    return SourceCheck(name=source.name, images=len(source), classes=len(source.classes), crop=int(crop),
                       findings=findings, roles=list(roles), extra_images=extras, extra_label=label, coverage=coverage,
                       exclude_option=bool(exclude_option), excluded_already=list(excluded_already),
                       seconds=time.perf_counter() - start)


def _takes_exclude(factory: Any) -> bool:
    try:
        return "exclude" in inspect.signature(factory).parameters
    except (TypeError, ValueError):
        return False


# ---- recipes --------------------------------------------------------------------------------------
def _recipe_specs(recipe: Any) -> list[tuple[str, dict[str, Any], int]]:
    """``(role, dataset spec, crop)`` for every dataset of the recipe and its stages, stages first."""
    out: list[tuple[str, dict[str, Any], int]] = []
    for prefix, r in [*((f"stages.{n}.", s) for n, s in (recipe.stages or {}).items()), ("", recipe)]:
        data = r.data
        crop = int(data.crop)
        out.append((f"{prefix}data.train", data.train, crop))
        if data.samples:
            out.append((f"{prefix}data.samples", data.samples, crop))
        for stream, spec in (data.streams or {}).items():
            if isinstance(spec, dict) and "type" in spec:  # {classes: [...]} streams are part of data.train
                out.append((f"{prefix}data.streams.{stream}", spec, crop))
        if r.eval is not None:
            for key in ("targets", "content"):
                spec = getattr(r.eval, key)
                if spec:
                    out.append((f"{prefix}eval.{key}", spec, crop))
    return out


def _existing_exclusions(spec: dict[str, Any]) -> list[str]:
    value = spec.get("exclude")
    if value is None:
        return []
    from .sources import _read_exclusions

    try:
        return sorted(_read_exclusions(value))
    except Exception:
        return []


def check_recipe(recipe: Any, *, num_workers: int | None = None, progress: bool = True) -> Report:
    """Check every dataset of ``recipe`` (a :class:`~i2ikit.recipe.Recipe`) and of its stages: data.train,
    data.samples, data.streams with their own ``type``, eval.targets and eval.content. Each distinct spec is
    built and decoded once (with the largest data.crop of the recipes that use it). ``num_workers``
    defaults to the recipe's data.num_workers."""
    from ..plugins import get_registry
    from .sources import build_dataset

    workers = int(recipe.data.num_workers if num_workers is None else num_workers)
    unique: dict[str, tuple[dict[str, Any], list[str], int]] = {}
    for role, spec, crop in _recipe_specs(recipe):
        key = json.dumps(spec, sort_keys=True, default=str)
        if key in unique:
            first, roles, old = unique[key]
            unique[key] = (first, roles + [role], max(old, crop))
        else:
            unique[key] = (spec, [role], crop)
    report = Report()
    registry = get_registry()
    cache: dict = {}
    for spec, roles, crop in unique.values():
        source = build_dataset(spec)
        factory = registry.get("dataset", spec["type"]).obj
        report.sources.append(check_source(
            source, crop=crop, num_workers=workers, progress=progress, desc=f"checking {roles[0]}", roles=roles,
            exclude_option=_takes_exclude(factory), excluded_already=_existing_exclusions(spec), cache=cache))
    return report


# ---- exclude files --------------------------------------------------------------------------------
def _slug(text: str) -> str:
    return re.sub(r"[^A-Za-z0-9_.-]+", "_", text).strip("_.") or "source"


def _exclude_targets(report: Report, path: Path) -> list[tuple[Path, SourceCheck | None, list[str]]]:
    bad: list[tuple[SourceCheck, list[str]]] = []
    for s in report.sources:
        entries = [f.exclude_entry for f in s.findings if f.kind == "unreadable" and f.exclude_entry]
        if entries and s.exclude_option:
            bad.append((s, list(dict.fromkeys(entries))))
    if not bad:
        only = report.sources[0] if len(report.sources) == 1 and report.sources[0].exclude_option else None
        return [(path, only, list(only.excluded_already) if only else [])]
    if len(bad) == 1:
        s, entries = bad[0]
        return [(path, s, list(dict.fromkeys([*s.excluded_already, *entries])))]
    out = []
    used: set[str] = set()
    for s, entries in bad:
        slug = _slug(s.roles[0] if s.roles else s.name)
        while slug in used:
            slug += "_"
        used.add(slug)
        out.append((path.with_name(f"{path.stem}.{slug}{path.suffix}"), s,
                    list(dict.fromkeys([*s.excluded_already, *entries]))))
    return out


def write_exclude(report: Report, path: str | os.PathLike) -> list[Path]:
    """Write the unreadable files of ``report`` as exclude lists: one relative path per line, in the form the
    source's ``exclude`` option takes (image_folder: ``<class>/<file>``, file_list: the listed path), after
    what the source's ``exclude`` lists already, so the file can replace it.

    The ``exclude`` option reads every non-blank line as a path (no comments), so lists of different sources
    go to different files: ``path`` itself when at most one source has unreadable files (an empty file when
    none has), otherwise ``<stem>.<role><suffix>`` per source (``bad.data.train.txt``). Sources without an
    ``exclude`` option get no file. Returns the files written."""
    written = []
    for target, _, entries in _exclude_targets(report, Path(path)):
        target.parent.mkdir(parents=True, exist_ok=True)
        target.write_text("".join(f"{e}\n" for e in entries), encoding="utf-8")
        written.append(target)
    return written


# ---- command line ---------------------------------------------------------------------------------
_EPILOG = """\
examples:
  i2ikit data check recipes/quickstart.yaml            every dataset of a recipe (and of its stages)
  i2ikit data check recipes/x.yaml data.crop=256       ... with overrides, as `i2ikit train` takes them
  i2ikit data check data/afhq/train --crop 256         a folder of class sub-folders
  i2ikit data check list:data/animals:animals_list_train.txt --workers 8
  i2ikit data check data/x --exclude-file data/x_bad.txt    then: exclude: data/x_bad.txt

Checked: every image is decoded once, exactly as training decodes it. Unreadable files (truncated, empty,
not an image) make the check fail (exit 1); tiny files (shorter side < crop) and odd ones (CMYK, 16-bit,
transparency, palette, greyscale, EXIF-rotated, aspect ratio > 4, > 40 megapixels, extension that does not
match the contents) are warnings. Exit 0 when every image decodes. See docs/datasets.md, "Checking data
before training".
"""


def _parser() -> argparse.ArgumentParser:
    p = argparse.ArgumentParser(
        prog="i2ikit data check",
        description="Decode every image of a recipe's datasets (or of one dataset) once, before training, and\n"
                    "list unreadable, tiny and odd files with what to do about each.",
        epilog=_EPILOG, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("target", help="a recipe (.yaml/.yml), a folder of class sub-folders, or a data spec: glyphs:train, "
                                  "hf:<path>, list:<root>:<list file>")
    p.add_argument("overrides", nargs="*", help="recipe overrides key=value (e.g. data.crop=256), as for i2ikit train")
    p.add_argument("--crop", type=int, default=None, metavar="N",
                   help="report images whose shorter side is below N as tiny (default: the recipe's data.crop, "
                        "else 128)")
    p.add_argument("--workers", type=int, default=None, metavar="N",
                   help="decoding processes (default: the recipe's data.num_workers, else up to 4)")
    p.add_argument("--all", action="store_true", help="list every file (default: the first 20 of each kind)")
    p.add_argument("--exclude-file", metavar="FILE", default=None,
                   help="write the unreadable files to FILE, one per line, in the form the dataset's `exclude` "
                        "option takes (one file per dataset when several have some)")
    p.add_argument("--no-progress", action="store_true", help="no progress bar")
    return p


def _spec_source(target: str) -> tuple[LabeledImages, bool]:
    from .sources import build_dataset
    from .spec import registered_spec

    source = build_dataset(target)
    registered = registered_spec(target)
    if registered is not None:  # TYPE:VALUE (e.g. glyphs:train): whether that dataset type takes `exclude`
        from ..plugins import get_registry

        return source, _takes_exclude(get_registry().get("dataset", registered[0]).obj)
    return source, _takes_exclude(type(source))


def main(argv: list[str]) -> int:
    """``i2ikit data check``: 0 when every image decodes, 1 when some are unreadable."""
    args = _parser().parse_intermixed_args(argv)
    progress = not args.no_progress
    if args.crop is not None and args.crop < 1:
        from ..errors import ConfigError

        raise ConfigError(f"--crop must be >= 1, got {args.crop}")
    if args.workers is not None and args.workers < 0:
        from ..errors import ConfigError

        raise ConfigError(f"--workers must be >= 0, got {args.workers}")
    if args.target.lower().endswith((".yaml", ".yml")):
        from ..recipe import load_recipe

        recipe = load_recipe(args.target, args.overrides)
        if args.crop is not None:
            recipe = _with_crop(recipe, args.crop)
        report = check_recipe(recipe, num_workers=args.workers, progress=progress)
    else:
        if args.overrides:
            from ..errors import ConfigError

            raise ConfigError(f"overrides {args.overrides} only apply to a recipe (.yaml); {args.target!r} is a data "
                              "spec. Use --crop / --workers instead")
        source, takes_exclude = _spec_source(args.target)
        workers = args.workers if args.workers is not None else min(4, os.cpu_count() or 1)
        report = Report([check_source(source, crop=args.crop or 128, num_workers=workers, progress=progress,
                                      exclude_option=takes_exclude)])
    print(report.format(limit=None if args.all else 20))
    if args.exclude_file:
        targets = _exclude_targets(report, Path(args.exclude_file))
        write_exclude(report, args.exclude_file)
        for target, src, entries in targets:
            if src is None:
                use = ""
            elif src.roles:
                use = f"; use it as `exclude: {target}` in {src.roles[0]}"
            else:
                use = f"; use it as the dataset's `exclude: {target}`"
            print(f"wrote {len(entries):,} path(s) to {target}{use}")
    return 0 if report.ok else 1


def _with_crop(recipe: Any, crop: int) -> Any:
    """The recipe (and its stages) with data.crop replaced, for --crop."""
    stages = {n: dataclasses.replace(s, data=dataclasses.replace(s.data, crop=crop)) for n, s in recipe.stages.items()}
    return dataclasses.replace(recipe, data=dataclasses.replace(recipe.data, crop=crop), stages=stages)
