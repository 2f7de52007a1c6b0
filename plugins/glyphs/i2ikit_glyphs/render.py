"""The glyphs plugin's renderer: offline, real-data quick start, font glyphs as a few-shot dataset.

Each font *face* (family + style, e.g. ``roboto-bold-italic``) is a class and each
character is a content image, which is the classic few-shot font-style setting:
a translator trained on the seen faces must render the content (a character) in
the style of an unseen face given only a few of its glyphs.  Some faces are held
out as unseen classes (``test``), the rest are seen classes (``train``).

Fonts come from three offline sources, in this priority order (the first copy of a
face wins, so adding system fonts never changes which file a pip face comes from):

1. installed PyPI distributions named ``font-*`` (font-roboto, font-lato, ...);
2. matplotlib's bundled fonts (DejaVu, STIX, Computer Modern);
3. system fonts (``fc-list`` and the usual font folders), only with ``include_system``.

Only faces that really draw every requested character are kept: the cmap must map
each character to a real glyph, the glyph names (when the font has them) must not
reveal a symbol font that reuses the ASCII code points (cmex10, cmsy10), and the
rendered glyphs must be neither blank nor the same "tofu" box (LastResort).
"""

from __future__ import annotations

import argparse
import hashlib
import json
import os
import re
import shutil
import socket
import subprocess
import sys
import unicodedata
import uuid
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Iterable, Iterator, Sequence

from i2ikit.errors import ConfigError

if TYPE_CHECKING:
    from PIL import Image

__all__ = [
    "DEFAULT_CHARS",
    "FORMAT_VERSION",
    "FontFace",
    "find_font_faces",
    "split_faces",
    "default_glyph_root",
    "build_glyph_dataset",
    "glyph_source",
    "glyph_filename",
    "render_face",
    "main",
]

DEFAULT_CHARS: str = (
    "ABCDEFGHIJKLMNOPQRSTUVWXYZ" "abcdefghijklmnopqrstuvwxyz" "0123456789"
)
"""The 62 content classes of the default dataset (upper, lower case and digits)."""

FORMAT_VERSION = 1
"""Bumped whenever the rendering or layout changes, so old caches are not reused."""

_FONT_EXTS = (".ttf", ".otf", ".ttc", ".otc")
_COLLECTION_EXTS = (".ttc", ".otc")
# Style words that carry no information: "DejaVu Sans Book" is just "dejavu-sans".
_PLAIN_STYLES = {"regular", "book", "roman", "normal", "plain", "medium roman"}
_GENERIC_GLYPH_NAME = re.compile(r"^(glyph|gid|cid|g|index)\d+$", re.IGNORECASE)
_SYSTEM_FONT_DIRS = (
    "/usr/share/fonts",
    "/usr/local/share/fonts",
    "~/.local/share/fonts",
    "~/.fonts",
    "/Library/Fonts",
    "/System/Library/Fonts",
    "~/Library/Fonts",
    "C:/Windows/Fonts",
)
_SOURCE_RANK = {"pip": 0, "matplotlib": 1, "system": 2}
_CHECK_SIZE = 32  # pixel size of the renders used to detect blank/tofu glyphs


@dataclass(frozen=True)
class FontFace:
    """One usable font face; it becomes one class of the glyph dataset.

    ``index`` selects the face inside a font collection (.ttc); it is 0 for plain
    font files, which is every pip and matplotlib face.
    """

    id: str
    family: str
    style: str
    path: str
    source: str
    index: int = 0


# --------------------------------------------------------------------------- helpers


def _slug(text: str) -> str:
    """Filesystem-safe, case-folded identifier ("Red Hat Display" -> "red-hat-display")."""
    text = unicodedata.normalize("NFKD", text).encode("ascii", "ignore").decode("ascii")
    return re.sub(r"[^a-z0-9]+", "-", text.lower()).strip("-")


def _face_id(family: str, style: str) -> str:
    style_part = "" if style.strip().lower() in _PLAIN_STYLES else style
    return _slug(f"{family} {style_part}") or "font"


def glyph_filename(char: str, width: int = 3) -> str:
    """File stem for ``char``: zero-padded code point + readable name (``065_A``).

    The code point prefix keeps names unique on case-insensitive filesystems
    (``065_A`` vs ``097_a``) and makes the sort order identical everywhere;
    non-alphanumeric or non-ASCII characters use their Unicode name instead of
    the raw character so that no filesystem can mangle them.
    """
    cp = ord(char)
    if char.isascii() and char.isalnum():
        name = char
    else:
        name = _slug(unicodedata.name(char, f"u{cp:04x}")) or f"u{cp:04x}"
    return f"{cp:0{width}d}_{name}"


def _stem_width(chars: str) -> int:
    return max(3, max(len(str(ord(c))) for c in chars))


def _check_chars(chars: str) -> str:
    if not chars:
        raise ConfigError("chars (--chars) must not be empty")
    if len(set(chars)) != len(chars):
        raise ConfigError(f"chars (--chars) must not repeat a character: {chars!r}")
    bad = [c for c in chars if c.isspace() or unicodedata.category(c).startswith("C")]
    if bad:
        raise ConfigError(f"chars (--chars) must be visible characters, got {bad!r}")
    return chars


def _sha256(path: str | Path) -> str:
    h = hashlib.sha256()
    with open(path, "rb") as f:
        for block in iter(lambda: f.read(1 << 20), b""):
            h.update(block)
    return h.hexdigest()


_HASH_CACHE: dict[tuple[str, int, int], str] = {}


def _file_sha256(path: str) -> str:
    """sha256 of a font file, memoised on (path, mtime, size) since fonts are rehashed per call."""
    st = os.stat(path)
    key = (path, st.st_mtime_ns, st.st_size)
    if key not in _HASH_CACHE:
        _HASH_CACHE[key] = _sha256(path)
    return _HASH_CACHE[key]


def _renderer_info() -> dict[str, str]:
    """Versions that decide the rendered bytes; part of the cache key."""
    import PIL
    from PIL import features

    return {"pillow": PIL.__version__, "freetype": str(features.version("freetype2"))}


# ----------------------------------------------------------------------- discovery


def _pip_font_files() -> Iterator[tuple[str, str]]:
    """(path, "pip:<dist>") for font files shipped by installed ``font-*`` distributions."""
    from importlib import metadata

    seen: set[str] = set()
    dists = []
    for dist in metadata.distributions():
        name = (dist.metadata["Name"] or "").strip()
        norm = re.sub(r"[-_.]+", "-", name).lower()
        if not norm.startswith("font-") or norm in seen:
            continue  # a dist found twice on sys.path: the first one is the imported one
        seen.add(norm)
        dists.append((norm, dist))
    for norm, dist in sorted(dists, key=lambda x: x[0]):
        paths: list[str] = []
        for f in dist.files or ():
            if str(f).lower().endswith(_FONT_EXTS):
                p = Path(str(dist.locate_file(f)))
                if p.is_file():
                    paths.append(str(p.resolve()))
        if not paths and not dist.files:
            paths = _fonts_from_top_level(dist)
        for p in sorted(set(paths)):
            yield p, f"pip:{norm}"


def _fonts_from_top_level(dist) -> list[str]:
    """Fallback when a distribution has no RECORD: walk its top-level packages."""
    import importlib.resources

    out: list[str] = []
    for pkg in (dist.read_text("top_level.txt") or "").split():
        try:
            root = Path(str(importlib.resources.files(pkg)))
        except (ModuleNotFoundError, TypeError):
            continue
        out += [str(p.resolve()) for p in _walk_fonts(root)]
    return out


def _walk_fonts(root: Path) -> list[Path]:
    if not root.is_dir():
        return []
    found = []
    for dirpath, _dirs, files in os.walk(root, followlinks=False):
        for name in files:
            if name.lower().endswith(_FONT_EXTS):
                found.append(Path(dirpath) / name)
    return sorted(found)


def _matplotlib_font_files() -> Iterator[tuple[str, str]]:
    try:
        import matplotlib
    except ImportError:
        return
    root = Path(matplotlib.get_data_path()) / "fonts" / "ttf"
    for p in _walk_fonts(root):
        yield str(p.resolve()), "matplotlib"


def _system_font_files() -> Iterator[tuple[str, str]]:
    """Fonts known to fontconfig plus the usual font folders; never raises."""
    paths: set[str] = set()
    fc = shutil.which("fc-list")
    if fc:
        try:
            res = subprocess.run(
                [fc, "--format", "%{file}\n"], capture_output=True, text=True, timeout=30
            )
            for line in res.stdout.splitlines():
                if line.strip().lower().endswith(_FONT_EXTS):
                    paths.add(line.strip())
        except (OSError, subprocess.SubprocessError):
            pass
    for d in _SYSTEM_FONT_DIRS:
        paths.update(str(p) for p in _walk_fonts(Path(d).expanduser()))
    resolved = set()
    for p in paths:
        try:
            if os.path.isfile(p):
                resolved.add(str(Path(p).resolve()))
        except OSError:
            continue
    for p in sorted(resolved):
        yield p, "system"


# -------------------------------------------------------------------- inspection


@dataclass(frozen=True)
class _Candidate:
    family: str
    style: str
    path: str
    source: str
    index: int
    variable: bool
    sha256: str


def _collection_size(path: str) -> int:
    if not path.lower().endswith(_COLLECTION_EXTS):
        return 1
    try:
        from fontTools.ttLib import TTCollection

        with TTCollection(path, lazy=True) as coll:
            return len(coll.fonts)
    except Exception:
        return 0


def _names(font) -> tuple[str, str]:
    """(family, style), preferring the typographic names (IDs 16/17) over the legacy 1/2."""
    name = font["name"]
    family = name.getDebugName(16) or name.getDebugName(1) or ""
    style = name.getDebugName(17) or name.getDebugName(2) or "Regular"
    return family.strip(), style.strip()


def _expected_glyph_names(char: str) -> tuple[str, ...]:
    from fontTools import agl

    cp = ord(char)
    names = [f"uni{cp:04X}", f"u{cp:04X}"]
    if cp in agl.UV2AGL:
        names.insert(0, agl.UV2AGL[cp])
    return tuple(names)


# Code-point blocks whose glyphs a symbol font also puts on ASCII letters and digits (Symbol: a -> alpha;
# dingbat faces: ornaments), found by the glyph an ASCII code shares with one of them.
_SYMBOL_BLOCKS = ((0x0370, 0x03FF, "Greek"), (0x2190, 0x22FF, "arrow and math"), (0x2460, 0x27BF, "symbol and dingbat"),
                  (0xE000, 0xF8FF, "private-use"), (0x1F300, 0x1FAFF, "pictograph"))


def _symbol_problem(font, cmap: dict[int, str], chars: str) -> str | None:
    """Why the font is a symbol or dingbat face rather than text, from its tables alone, or None.

    Two tells, both independent of glyph names (a font with post format 3 has none): a Microsoft Symbol cmap
    (platform 3, encoding 0, the encoding of Symbol, Wingdings, Webdings), or most of its lowercase letters
    and digits drawn by glyphs that its Greek, symbol, dingbat or private-use code points also map to. Text
    faces share glyphs between Latin and Greek capitals (A and Alpha) and the letter o and omicron, so only
    lowercase letters and digits count, and more than half of those in ``chars`` must be shared. (The OS/2
    symbol code-page bit is no tell: STIXGeneral, a text face with many symbols, sets it.)"""
    if any(t.platformID == 3 and t.platEncID == 0 for t in font["cmap"].tables):
        return "a Microsoft Symbol cmap (platform 3, encoding 0): a symbol font"
    other: dict[str, str] = {}
    for cp, glyph in cmap.items():
        for lo, hi, block in _SYMBOL_BLOCKS:
            if lo <= cp <= hi:
                other.setdefault(glyph, block)
    counted = [c for c in chars if c.isascii() and (c.islower() or c.isdigit())]
    shared = [c for c in counted if cmap.get(ord(c)) in other]
    if counted and len(shared) > len(counted) // 2:
        block = other[cmap[ord(shared[0])]]
        return (f"{len(shared)} of its {len(counted)} lowercase letters and digits are drawn by glyphs of its {block} "
                "code points: a symbol font")
    return None


def _cmap_problem(font, chars: str) -> str | None:
    """Why the font cannot draw ``chars`` as text according to its tables, or None if it can."""
    cmap = font.getBestCmap() or {}
    missing = [c for c in chars if ord(c) not in cmap]
    if missing:
        return f"cmap lacks {len(missing)} of {len(chars)} chars"
    order = font.getGlyphOrder()
    names = [cmap[ord(c)] for c in chars]
    if any(n == ".notdef" or (order and n == order[0]) for n in names):
        return "chars mapped to .notdef"
    symbol = _symbol_problem(font, cmap, chars)
    if symbol is not None:
        return symbol
    # Symbol fonts (cmex10, cmsy10) put other shapes on ASCII code points; their
    # glyph names ("integraldisplay" for "b") give them away.  Fonts without real
    # names (post format 3, "glyph123") are judged by the render check alone.
    if "post" in font and font["post"].formatType == 3.0:
        return None
    wrong = 0
    for c, n in zip(chars, names):
        base = n.split(".")[0]
        if _GENERIC_GLYPH_NAME.match(base):
            continue
        if not any(base.startswith(e) for e in _expected_glyph_names(c)):
            wrong += 1
    if wrong > len(chars) // 4:
        return f"glyph names of {wrong} chars do not match (symbol font?)"
    return None


def _read_candidates(path: str, source: str, chars: str) -> list[_Candidate]:
    """Faces in one file that pass the table checks (cheap: no rendering yet)."""
    from fontTools.ttLib import TTFont

    out = []
    for index in range(_collection_size(path)):
        try:
            with TTFont(path, lazy=True, fontNumber=index) as font:
                family, style = _names(font)
                if not family or _cmap_problem(font, chars) is not None:
                    continue
                variable = "fvar" in font
        except Exception:
            continue  # unreadable or not a font: just not a candidate
        out.append(
            _Candidate(family, style, path, source, index, variable, _file_sha256(path))
        )
    return out


def _render_problem(path: str, index: int, chars: str) -> str | None:
    """Reject faces whose renders are blank or repeat one shape (tofu boxes)."""
    from PIL import ImageFont

    try:
        font = ImageFont.truetype(
            path, _CHECK_SIZE, index=index, layout_engine=ImageFont.Layout.BASIC
        )
    except OSError as e:
        return f"cannot load: {e}"
    groups: dict[bytes, int] = {}
    for c in chars:
        crop = _ink_crop(font, c, _CHECK_SIZE)
        if crop is None:
            return f"blank glyph for {c!r}"
        key = f"{crop.width}x{crop.height}:".encode() + crop.tobytes()
        groups[key] = groups.get(key, 0) + 1
    # Real faces may draw a pair alike (I/l, O/0); tofu repeats one box for most chars.
    if max(groups.values()) > max(2, len(chars) // 4):
        return "most chars render the same shape (tofu)"
    return None


_RENDER_CHECK_CACHE: dict[tuple[str, int, str, str], str | None] = {}


def _render_problem_cached(cand: _Candidate, chars: str) -> str | None:
    key = (cand.path, cand.index, cand.sha256, chars)
    if key not in _RENDER_CHECK_CACHE:
        _RENDER_CHECK_CACHE[key] = _render_problem(cand.path, cand.index, chars)
    return _RENDER_CHECK_CACHE[key]


def _candidate_files(include_system: bool) -> Iterator[tuple[str, str]]:
    yield from _pip_font_files()
    yield from _matplotlib_font_files()
    if include_system:
        yield from _system_font_files()


def _preference(c: _Candidate) -> tuple:
    """Which file represents a face: earlier source, static over variable, .ttf over .otf."""
    src = _SOURCE_RANK[c.source.split(":")[0]]
    ext = Path(c.path).suffix.lower()
    return (src, c.variable, _FONT_EXTS.index(ext) if ext in _FONT_EXTS else 9, c.path, c.index)


def find_font_faces(chars: str = DEFAULT_CHARS, include_system: bool = False) -> list[FontFace]:
    """All distinct faces that draw every char in ``chars``, sorted by id.

    Faces are deduplicated by (family, style) from the name table and by file
    hash; the preferred copy comes from pip, then matplotlib, then the system, so
    ``include_system`` only ever adds faces.
    """
    chars = _check_chars(chars)
    seen_files: set[str] = set()
    by_key: dict[tuple[str, str], list[_Candidate]] = {}
    for path, source in _candidate_files(include_system):
        if path in seen_files:
            continue
        seen_files.add(path)
        for cand in _read_candidates(path, source, chars):
            key = (cand.family.casefold(), cand.style.casefold())
            by_key.setdefault(key, []).append(cand)

    chosen: list[_Candidate] = []
    used_hashes: set[tuple[str, int]] = set()
    for key in sorted(by_key, key=lambda k: min(_preference(c) for c in by_key[k])):
        for cand in sorted(by_key[key], key=_preference):
            if (cand.sha256, cand.index) in used_hashes:
                continue
            if _render_problem_cached(cand, chars) is None:
                chosen.append(cand)
                used_hashes.add((cand.sha256, cand.index))
                break

    faces: list[FontFace] = []
    taken: set[str] = set()
    for cand in chosen:  # already in preference order, so id suffixes are stable
        base = _face_id(cand.family, cand.style)
        fid, k = base, 2
        while fid in taken:
            fid, k = f"{base}-{k}", k + 1
        taken.add(fid)
        faces.append(FontFace(fid, cand.family, cand.style, cand.path, cand.source, cand.index))
    return sorted(faces, key=lambda f: f.id)


# ---------------------------------------------------------------------- splitting


def split_faces(face_ids: Iterable[str], holdout: float = 0.2, seed: int = 0) -> set[str]:
    """Held-out (unseen) face ids: a deterministic choice from (seed, sorted ids).

    Faces are ranked by sha256(seed, id), which is stable across Python versions
    and machines.  ``round(holdout * n)`` faces are held out, at least 2 when
    ``holdout > 0``, always leaving at least 2 seen faces; ``holdout == 0``
    holds out nothing.
    """
    ids = sorted(set(face_ids))
    if not 0.0 <= holdout < 1.0:
        raise ConfigError(f"holdout (--holdout) must be in [0, 1), got {holdout}")
    if holdout == 0.0:
        return set()
    n = len(ids)
    k = min(max(2, round(holdout * n)), n - 2)
    if k < 2:
        raise ConfigError(f"need at least 4 font faces to hold 2 out, found {n}: install font packages (pip install "
                          "font-roboto font-lato ...), allow system fonts, or use holdout 0")
    rank = sorted(ids, key=lambda i: hashlib.sha256(f"{seed}:{i}".encode()).hexdigest())
    return set(rank[:k])


# ---------------------------------------------------------------------- rendering


def _margin(size: int) -> int:
    return max(1, round(size / 16))


def _ink_crop(font, char: str, em: int) -> Image.Image | None:
    """The glyph's ink, cropped to its bounding box (None if it draws nothing).

    Drawn white on black around a baseline origin on a canvas a few em wide;
    the canvas grows if the ink touches its border (swashes, huge bearings).
    """
    from PIL import Image, ImageDraw

    side = 3 * em
    while True:
        canvas = Image.new("L", (side, side), 0)
        origin = (side // 3, 2 * side // 3)
        ImageDraw.Draw(canvas).text(origin, char, font=font, fill=255, anchor="ls")
        box = canvas.getbbox()
        if box is None:
            return None
        inside = box[0] > 0 and box[1] > 0 and box[2] < side and box[3] < side
        if inside or side >= 48 * em:
            return canvas.crop(box)
        side *= 2


def render_face(
    face: FontFace, chars: str = DEFAULT_CHARS, size: int = 64
) -> list[Image.Image]:
    """Render ``chars`` of one face as size x size RGB images, black ink on white.

    Each glyph is cropped to its ink box and centered; one scale per face (the
    largest glyph box fits inside the margin) keeps case and size differences,
    e.g. "o" stays smaller than "O".  Glyphs are drawn at about 4x the target and
    downsampled, which anti-aliases better than rendering small.
    """
    from PIL import Image, ImageFont

    hi = max(4 * size, 128)
    font = ImageFont.truetype(
        face.path, hi, index=face.index, layout_engine=ImageFont.Layout.BASIC
    )
    crops = []
    for c in chars:
        crop = _ink_crop(font, c, hi)
        if crop is None:
            raise ValueError(f"face {face.id} draws nothing for {c!r}")
        crops.append(crop)
    inner = size - 2 * _margin(size)
    scale = inner / max(max(im.size) for im in crops)
    out = []
    for im in crops:
        w = min(inner, max(1, round(im.width * scale)))
        h = min(inner, max(1, round(im.height * scale)))
        small = im.resize((w, h), Image.Resampling.LANCZOS)
        tile = Image.new("L", (size, size), 0)
        tile.paste(small, ((size - w) // 2, (size - h) // 2))
        ink = tile.point(lambda v: 255 - v)
        out.append(Image.merge("RGB", (ink, ink, ink)))
    return out


# ----------------------------------------------------------------------- building


def _fingerprint(params: dict, faces: Sequence[FontFace]) -> str:
    blob = {
        "version": FORMAT_VERSION,
        "params": params,
        "faces": [[f.id, _file_sha256(f.path), f.index] for f in faces],
        "renderer": _renderer_info(),
    }
    return hashlib.sha256(json.dumps(blob, sort_keys=True).encode()).hexdigest()


def _params(size: int, chars: str, holdout: float, seed: int, include_system: bool) -> dict:
    if size < 8:
        raise ConfigError(f"glyph size (--size) must be >= 8, got {size}")
    return {
        "size": int(size),
        "margin": _margin(size),
        "chars": chars,
        "holdout": float(holdout),
        "seed": int(seed),
        "include_system": bool(include_system),
    }


def _cache_home() -> Path:
    env = os.environ.get("I2IKIT_DATA")
    return Path(env).expanduser() if env else Path.home() / ".cache" / "i2ikit"


def default_glyph_root(
    *,
    size: int = 64,
    chars: str = DEFAULT_CHARS,
    holdout: float = 0.2,
    seed: int = 0,
    include_system: bool = False,
    faces: Sequence[FontFace] | None = None,
) -> Path:
    """Cache folder for these parameters: ``$I2IKIT_DATA`` or ``~/.cache/i2ikit``.

    The name holds a short hash of the parameters and the exact face list (ids
    and file hashes), so new fonts or a new Pillow/FreeType get a fresh folder
    instead of a stale one.
    """
    chars = _check_chars(chars)
    if faces is None:
        faces = find_font_faces(chars, include_system)
    fp = _fingerprint(_params(size, chars, holdout, seed, include_system), faces)
    return _cache_home() / f"glyphs-{fp[:12]}"


def _is_complete(root: Path, fingerprint: str) -> bool:
    """A finished build of exactly this fingerprint, with all its files present."""
    try:
        meta = json.loads((root / "meta.json").read_text(encoding="utf-8"))
    except (OSError, ValueError):
        return False
    if not isinstance(meta, dict) or not meta.get("complete"):
        return False
    if meta.get("fingerprint") != fingerprint:
        return False
    if not (root / "content_labels.json").is_file():
        return False
    counts = meta.get("counts", {})
    for split in ("train", "test"):
        d = root / split
        n = sum(1 for _ in d.glob("*/*.png")) if d.is_dir() else 0
        if n != counts.get(f"{split}_images"):
            return False
    return True


_OWN_ENTRIES = {"train", "test", "meta.json", "content_labels.json"}


def _replaceable(root: Path) -> bool:
    """Only ever delete folders that hold nothing but a (partial) glyph dataset."""
    return root.is_dir() and all(p.name in _OWN_ENTRIES for p in root.iterdir())


def _tmp_prefix(root: Path) -> str:
    return f".{root.name}.tmp-"


def _clean_stale_tmp(root: Path) -> None:
    """Remove temp folders left by killed builds of this host (their pid is gone)."""
    if os.name == "nt":
        return  # os.kill(pid, 0) is not a liveness probe on Windows (0 is CTRL_C_EVENT)
    host = _slug(socket.gethostname()) or "host"
    for p in root.parent.glob(_tmp_prefix(root) + "*"):
        m = re.fullmatch(re.escape(_tmp_prefix(root)) + r"(.+)-(\d+)-[0-9a-f]+", p.name)
        if not m or m.group(1) != host:
            continue
        try:
            os.kill(int(m.group(2)), 0)
        except ProcessLookupError:
            shutil.rmtree(p, ignore_errors=True)
        except (PermissionError, OSError):
            pass


def build_glyph_dataset(
    out: str | Path | None = None,
    *,
    size: int = 64,
    chars: str = DEFAULT_CHARS,
    holdout: float = 0.2,
    seed: int = 0,
    include_system: bool = False,
    progress: bool = True,
    force: bool = False,
) -> Path:
    """Render the glyph dataset (or reuse a finished one) and return its root.

    Layout: ``train/<face_id>/<NNN>_<char>.png`` for seen faces,
    ``test/<face_id>/...`` for held-out faces, ``meta.json`` and
    ``content_labels.json`` (file stem -> index of the char in ``chars``).
    Output is deterministic (same fonts and parameters give identical bytes) and
    written to a temp folder that is renamed into place, so an interrupted build
    never leaves a folder that looks finished.
    """
    chars = _check_chars(chars)
    params = _params(size, chars, holdout, seed, include_system)
    faces = find_font_faces(chars, include_system)
    held_out = split_faces([f.id for f in faces], holdout, seed)
    fp = _fingerprint(params, faces)
    root = Path(out).expanduser() if out is not None else _cache_home() / f"glyphs-{fp[:12]}"
    root = root.absolute()

    if not force and _is_complete(root, fp):
        return root
    if root.exists() and not _replaceable(root):
        raise FileExistsError(
            f"{root} exists and holds files that are not a glyph dataset; "
            "choose another --out folder"
        )

    root.parent.mkdir(parents=True, exist_ok=True)
    _clean_stale_tmp(root)
    host = _slug(socket.gethostname()) or "host"
    tmp = root.parent / f"{_tmp_prefix(root)}{host}-{os.getpid()}-{uuid.uuid4().hex[:8]}"
    tmp.mkdir()
    try:
        _write_dataset(tmp, faces, held_out, params, fp, progress)
        _install(tmp, root, fp, force)
    finally:
        if tmp.exists():
            shutil.rmtree(tmp, ignore_errors=True)
    return root


def _write_dataset(
    tmp: Path,
    faces: Sequence[FontFace],
    held_out: set[str],
    params: dict,
    fingerprint: str,
    progress: bool,
) -> dict:
    from tqdm.auto import tqdm

    chars, size = params["chars"], params["size"]
    width = _stem_width(chars)
    stems = [glyph_filename(c, width) for c in chars]
    (tmp / "train").mkdir()
    (tmp / "test").mkdir()
    entries = []
    for face in tqdm(faces, desc="rendering glyph faces", unit="face", disable=not progress):
        split = "test" if face.id in held_out else "train"
        d = tmp / split / face.id
        d.mkdir()
        for stem, im in zip(stems, render_face(face, chars, size)):
            im.save(d / f"{stem}.png", format="PNG", optimize=False, compress_level=6)
        entries.append(
            {
                "id": face.id,
                "family": face.family,
                "style": face.style,
                "source": face.source,
                "file": Path(face.path).name,
                "index": face.index,
                "sha256": _file_sha256(face.path),
                "split": split,
            }
        )
    n_test = sum(e["split"] == "test" for e in entries)
    n_train = len(entries) - n_test
    labels = {stem: i for i, stem in enumerate(stems)}
    (tmp / "content_labels.json").write_text(
        json.dumps(labels, indent=2, sort_keys=True) + "\n", encoding="utf-8"
    )
    meta = {
        "name": "i2ikit-glyphs",
        "version": FORMAT_VERSION,
        "fingerprint": fingerprint,
        "params": params,
        "renderer": _renderer_info(),
        "chars": chars,
        "files": stems,
        "faces": entries,
        "counts": {
            "faces": len(entries),
            "train_faces": n_train,
            "test_faces": n_test,
            "chars": len(chars),
            "train_images": n_train * len(chars),
            "test_images": n_test * len(chars),
        },
        "complete": True,
    }
    # meta.json is written last: a folder without it is never taken as finished.
    (tmp / "meta.json").write_text(json.dumps(meta, indent=2) + "\n", encoding="utf-8")
    return meta


def _install(tmp: Path, root: Path, fingerprint: str, force: bool) -> None:
    """Move the finished temp folder to ``root``, swapping out any stale copy."""
    if not force and _is_complete(root, fingerprint):
        return  # a concurrent build of the same dataset won; keep it, drop ours
    old = None
    if root.exists():
        old = root.parent / f"{_tmp_prefix(root)}old-{os.getpid()}-{uuid.uuid4().hex[:8]}"
        try:
            os.replace(root, old)
        except FileNotFoundError:
            old = None  # another process removed it meanwhile
    try:
        os.replace(tmp, root)
    except OSError:
        # Another build finished first; keep theirs if it is the same dataset.
        if not _is_complete(root, fingerprint):
            raise
    if old is not None:
        shutil.rmtree(old, ignore_errors=True)


def glyph_source(
    split: str = "train",
    root: str | Path | None = None,
    size: int = 64,
    holdout: float = 0.2,
    seed: int = 0,
    include_system: bool = False,
    progress: bool = True,
) -> Path:
    """Folder of one split (``root/train`` or ``root/test``), building it if needed.

    Each sub-folder is a face (class), laid out for an ImageFolder-style reader.
    """
    if split not in ("train", "test"):
        raise ConfigError(f"glyphs: split must be 'train' or 'test', got {split!r} (on the command line: glyphs:train, "
                          "glyphs:test)")
    built = build_glyph_dataset(
        root,
        size=size,
        holdout=holdout,
        seed=seed,
        include_system=include_system,
        progress=progress,
    )
    return built / split


# ---------------------------------------------------------------------------- CLI


def main(argv: Sequence[str] | None = None) -> int:
    """``i2ikit data glyphs``: list the usable font faces or build the dataset."""
    ap = argparse.ArgumentParser(
        prog="i2ikit data glyphs",
        description="Build the offline font-glyph few-shot dataset (one class per font face).",
    )
    ap.add_argument("--out", type=Path, default=None, help="output folder (default: cache)")
    ap.add_argument("--size", type=int, default=64, help="image size in pixels (default 64)")
    ap.add_argument("--holdout", type=float, default=0.2, help="fraction of unseen faces")
    ap.add_argument("--seed", type=int, default=0, help="seed of the held-out choice")
    ap.add_argument("--chars", default=DEFAULT_CHARS, help="characters to render")
    ap.add_argument(
        "--system-fonts", action="store_true",
        help="add the system's fonts to the pip + matplotlib ones (they differ between machines, so the "
             "dataset and its benchmark numbers do too)",
    )
    ap.add_argument("--force", action="store_true", help="re-render even if cached")
    ap.add_argument("--list", action="store_true", help="list the font faces found and exit")
    ap.add_argument("--quiet", action="store_true", help="no progress bar")
    args = ap.parse_args(argv)
    include_system = args.system_fonts

    if args.list:
        faces = find_font_faces(args.chars, include_system)
        width = max((len(f.id) for f in faces), default=2)
        for f in faces:
            print(f"{f.id:<{width}}  {f.source}")
        print(f"{len(faces)} font faces")
        return 0

    root = build_glyph_dataset(
        args.out,
        size=args.size,
        chars=args.chars,
        holdout=args.holdout,
        seed=args.seed,
        include_system=include_system,
        progress=not args.quiet,
        force=args.force,
    )
    counts = json.loads((root / "meta.json").read_text(encoding="utf-8"))["counts"]
    print(root)
    print(
        f"{counts['faces']} faces ({counts['train_faces']} train, {counts['test_faces']} test), "
        f"{counts['chars']} chars, {counts['train_images']} train + "
        f"{counts['test_images']} test images"
    )
    return 0


if __name__ == "__main__":  # pragma: no cover
    sys.exit(main())
