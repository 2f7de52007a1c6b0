"""Tests of the glyphs plugin's font-glyph dataset (pip + matplotlib fonts only, for determinism)."""

from __future__ import annotations

import json
import os
import re
from pathlib import Path

import numpy as np
import pytest
from PIL import Image

from i2ikit_glyphs import render as glyphs
from i2ikit_glyphs.render import (
    DEFAULT_CHARS,
    FontFace,
    build_glyph_dataset,
    default_glyph_root,
    find_font_faces,
    glyph_filename,
    glyph_source,
    split_faces,
)

CHARS = "AbG3"
SIZE = 32
STEMS = ["065_A", "098_b", "071_G", "051_3"]


def _build(out: Path, **kw) -> Path:
    kw = {"size": SIZE, "chars": CHARS, "include_system": False, "progress": False, **kw}
    return build_glyph_dataset(out, **kw)


@pytest.fixture(scope="module")
def built(tmp_path_factory) -> Path:
    return _build(tmp_path_factory.mktemp("glyphs") / "ds")


def _files(root: Path) -> dict[str, bytes]:
    return {
        str(p.relative_to(root)): p.read_bytes() for p in sorted(root.rglob("*")) if p.is_file()
    }


# ------------------------------------------------------------------- discovery


def test_default_chars() -> None:
    assert len(DEFAULT_CHARS) == 62 == len(set(DEFAULT_CHARS))
    assert DEFAULT_CHARS.isalnum() and DEFAULT_CHARS.isascii()


def test_pip_and_matplotlib_give_40_faces() -> None:
    faces = find_font_faces(DEFAULT_CHARS, include_system=False)
    ids = [f.id for f in faces]
    assert len(faces) >= 40, ids
    assert ids == sorted(ids) and len(set(ids)) == len(ids)
    assert all(re.fullmatch(r"[a-z0-9]+(-[a-z0-9]+)*", i) for i in ids)
    assert {f.source.split(":")[0] for f in faces} <= {"pip", "matplotlib"}
    assert any(f.source.startswith("pip:font-") for f in faces)
    assert any(f.source == "matplotlib" for f in faces)
    for expected in ("roboto-bold-italic", "dejavu-serif", "dejavu-sans", "cmr10", "lato"):
        assert expected in ids
    # Symbol, size-variant and fallback fonts lack real letters and must be skipped.
    for rejected in ("cmex10", "cmsy10", "dejavu-sans-display", "last-resort-high-efficiency"):
        assert rejected not in ids
    assert not any(i.startswith(("stixsize", "stixnonunicode")) for i in ids)
    # Deduplicated by (family, style): one face per pair, one file per face.
    assert len({(f.family.lower(), f.style.lower()) for f in faces}) == len(faces)
    assert len({f.path for f in faces}) == len(faces)


def test_system_fonts_only_add_faces() -> None:
    base = {f.id: f for f in find_font_faces(CHARS, include_system=False)}
    more = {f.id: f for f in find_font_faces(CHARS, include_system=True)}
    assert set(base) <= set(more)
    assert all(more[i] == base[i] for i in base)  # pip/matplotlib copies keep priority


def test_symbol_and_tofu_fonts_are_rejected() -> None:
    import matplotlib
    from fontTools.ttLib import TTFont

    ttf = Path(matplotlib.get_data_path()) / "fonts" / "ttf"
    for name in ("cmex10.ttf", "cmsy10.ttf"):
        with TTFont(ttf / name, lazy=True) as font:
            assert glyphs._cmap_problem(font, DEFAULT_CHARS) is not None
    with TTFont(ttf / "cmr10.ttf", lazy=True) as font:
        assert glyphs._cmap_problem(font, DEFAULT_CHARS) is None
    last_resort = ttf / "LastResortHE-Regular.ttf"  # maps every char to one box: caught by the render check
    assert last_resort.is_file(), f"{last_resort} is missing: this matplotlib has no tofu font to test with"
    assert "tofu" in glyphs._render_problem(str(last_resort), 0, CHARS)
    assert glyphs._render_problem(str(ttf / "DejaVuSans.ttf"), 0, CHARS) is None


def _made_font(path: Path, family: str, *, symbol_cmap: bool = False, greek_aliases: bool = False,
               greek_names: bool = False) -> Path:
    """A TrueType face drawing each of DEFAULT_CHARS as its own rectangle (distinct renders), glyph names
    ``glyph1``... in a post table of format 3 (no names) unless ``greek_names``. ``symbol_cmap``: a Microsoft
    Symbol (3, 0) subtable beside the Unicode one, as Symbol and Wingdings have. ``greek_aliases``: the
    lowercase letters' glyphs are also Greek letters' (a and alpha one glyph) and the digits' circled digits':
    a symbol face drawing Greek and ornaments on ASCII codes."""
    from fontTools.fontBuilder import FontBuilder
    from fontTools.pens.ttGlyphPen import TTGlyphPen
    from fontTools.ttLib.tables._c_m_a_p import CmapSubtable

    greek = "alpha beta gamma delta epsilon zeta eta theta iota kappa lambda mu nu xi omicron pi rho sigma tau " \
            "upsilon phi chi psi omega".split()
    lower = iter(greek + ["digamma", "koppa"])
    names = [(next(lower) if greek_names and c.islower() else f"glyph{i + 1}") for i, c in enumerate(DEFAULT_CHARS)]
    fb = FontBuilder(1000, isTTF=True)
    fb.setupGlyphOrder([".notdef", *names])
    cmap = {ord(c): n for c, n in zip(DEFAULT_CHARS, names)}
    if greek_aliases:
        lowers = [n for c, n in zip(DEFAULT_CHARS, names) if c.islower()]
        digits = [n for c, n in zip(DEFAULT_CHARS, names) if c.isdigit()]
        cmap.update({0x03B1 + k: n for k, n in enumerate(lowers)})  # alpha, beta, ... (26 code points from U+03B1)
        cmap.update({0x2460 + k: n for k, n in enumerate(digits)})  # circled digits
    fb.setupCharacterMap(cmap)
    glyphs = {}
    for i, name in enumerate([".notdef", *names]):
        pen = TTGlyphPen(None)
        x1, y1 = 60 + 7 * i, 100 + 10 * i  # each glyph its own size: no two renders alike
        for x, y in ((50, 0), (50, y1), (x1, y1), (x1, 0)):
            (pen.moveTo if (x, y) == (50, 0) else pen.lineTo)((x, y))
        pen.closePath()
        glyphs[name] = pen.glyph()
    fb.setupGlyf(glyphs)
    fb.setupHorizontalMetrics({n: (600, 50) for n in glyphs})
    fb.setupHorizontalHeader(ascent=800, descent=-200)
    fb.setupNameTable({"familyName": family, "styleName": "Regular"})
    fb.setupOS2(sTypoAscender=800, sTypoDescender=-200, usWinAscent=800, usWinDescent=200)
    fb.setupPost(keepGlyphNames=greek_names)
    if symbol_cmap:
        sub = CmapSubtable.newSubtable(4)
        sub.platformID, sub.platEncID, sub.language = 3, 0, 0
        sub.cmap = {0xF000 + ord(c): n for c, n in zip(DEFAULT_CHARS, names)}
        fb.font["cmap"].tables.append(sub)
    fb.save(str(path))
    return path


def test_symbol_and_dingbat_faces_made_here_do_not_become_classes(tmp_path: Path, monkeypatch) -> None:
    """Faces whose tables map ASCII codes to Greek letters or ornaments are refused even without glyph names
    (post format 3), while the same face drawn as text is a class."""
    from fontTools.ttLib import TTFont

    made = {
        "Made Text": _made_font(tmp_path / "text.ttf", "Made Text"),
        "Made Symbol Cmap": _made_font(tmp_path / "symbol.ttf", "Made Symbol Cmap", symbol_cmap=True),
        "Made Greek On Ascii": _made_font(tmp_path / "greek.ttf", "Made Greek On Ascii", greek_aliases=True),
        "Made Greek Names": _made_font(tmp_path / "names.ttf", "Made Greek Names", greek_names=True),
    }
    why = {}
    for family, path in made.items():
        with TTFont(path, lazy=True) as font:
            assert font["post"].formatType == (2.0 if family == "Made Greek Names" else 3.0)
            why[family] = glyphs._cmap_problem(font, DEFAULT_CHARS)
    assert why["Made Text"] is None and glyphs._render_problem(str(made["Made Text"]), 0, DEFAULT_CHARS) is None
    assert "Microsoft Symbol cmap" in why["Made Symbol Cmap"]
    assert "36 of its 36 lowercase letters and digits are drawn by glyphs of its Greek code points" in why["Made Greek On Ascii"]
    assert "symbol font?" in why["Made Greek Names"]

    monkeypatch.setattr(glyphs, "_candidate_files", lambda include_system: ((str(p), "system") for p in made.values()))
    assert [f.family for f in find_font_faces(DEFAULT_CHARS)] == ["Made Text"]


def test_glyph_filename_is_case_safe() -> None:
    assert glyph_filename("A") == "065_A"
    assert glyph_filename("a") == "097_a"
    assert glyph_filename("0") == "048_0"
    assert glyph_filename("/") == "047_solidus"
    assert glyph_filename("é", width=3) == "233_latin-small-letter-e-with-acute"
    stems = [glyph_filename(c) for c in DEFAULT_CHARS]
    assert len({s.lower() for s in stems}) == len(stems)


def test_bad_chars_are_refused() -> None:
    with pytest.raises(ValueError, match="must not repeat a character: 'AA'"):
        find_font_faces("AA")
    with pytest.raises(ValueError, match=r"must be visible characters, got \[' '\]"):
        find_font_faces("A b")


# ---------------------------------------------------------------------- splits


def test_split_faces() -> None:
    ids = [f"f{i:02d}" for i in range(50)]
    held = split_faces(ids, 0.2, seed=0)
    assert len(held) == 10 and held <= set(ids)
    assert held == split_faces(list(reversed(ids)), 0.2, seed=0)  # order-independent
    assert held != split_faces(ids, 0.2, seed=1)
    assert len(split_faces(ids[:5], 0.01)) == 2  # at least 2 ...
    assert len(split_faces(ids[:5], 0.9)) == 3  # ... leaving at least 2 seen
    assert split_faces(ids, 0.0) == set()
    with pytest.raises(ValueError, match="need at least 4 font faces to hold 2 out, found 3"):
        split_faces(ids[:3], 0.2)
    with pytest.raises(ValueError, match=r"holdout .* must be in \[0, 1\), got 1.0"):
        split_faces(ids, 1.0)


# -------------------------------------------------------------------- building


def test_layout_and_counts(built: Path) -> None:
    meta = json.loads((built / "meta.json").read_text())
    faces = find_font_faces(CHARS, include_system=False)
    train = sorted(p.name for p in (built / "train").iterdir())
    test = sorted(p.name for p in (built / "test").iterdir())
    assert len(test) >= 2 and len(train) >= 2
    assert not set(train) & set(test)
    assert sorted(train + test) == [f.id for f in faces]
    assert abs(len(test) - 0.2 * len(faces)) <= 1
    for split, ids in (("train", train), ("test", test)):
        for fid in ids:
            assert sorted(p.name for p in (built / split / fid).iterdir()) == sorted(
                f"{s}.png" for s in STEMS
            )
    c = meta["counts"]
    assert c == {
        "faces": len(faces),
        "train_faces": len(train),
        "test_faces": len(test),
        "chars": len(CHARS),
        "train_images": len(train) * len(CHARS),
        "test_images": len(test) * len(CHARS),
    }
    labels = json.loads((built / "content_labels.json").read_text())
    assert labels == {s: i for i, s in enumerate(STEMS)}


def test_meta_content(built: Path) -> None:
    meta = json.loads((built / "meta.json").read_text())
    assert meta["version"] == glyphs.FORMAT_VERSION
    assert meta["complete"] is True
    assert meta["chars"] == CHARS
    assert meta["params"]["size"] == SIZE and meta["params"]["holdout"] == 0.2
    assert meta["params"]["seed"] == 0 and meta["params"]["include_system"] is False
    assert meta["files"] == STEMS
    by_id = {f["id"]: f for f in meta["faces"]}
    test_ids = {p.name for p in (built / "test").iterdir()}
    for fid, entry in by_id.items():
        assert set(entry) >= {"id", "family", "style", "source", "sha256", "split"}
        assert re.fullmatch(r"[0-9a-f]{64}", entry["sha256"])
        assert entry["split"] == ("test" if fid in test_ids else "train")
    assert by_id["roboto-bold-italic"]["family"] == "Roboto"
    assert by_id["roboto-bold-italic"]["style"] == "Bold Italic"
    assert by_id["roboto-bold-italic"]["source"] == "pip:font-roboto"
    assert by_id["dejavu-serif"]["source"] == "matplotlib"
    text = (built / "meta.json").read_text()
    assert str(Path.home()) not in text  # no machine-specific paths or timestamps


def test_images_are_real_glyphs(built: Path) -> None:
    def load(fid: str, stem: str) -> np.ndarray:
        split = "train" if (built / "train" / fid).is_dir() else "test"
        im = Image.open(built / split / fid / f"{stem}.png")
        assert im.mode == "RGB" and im.size == (SIZE, SIZE)
        a = np.asarray(im)
        assert (a[..., 0] == a[..., 1]).all() and (a[..., 0] == a[..., 2]).all()
        return a[..., 0].astype(int)

    for fid in ("roboto", "dejavu-serif", "cmr10"):
        for stem in STEMS:
            a = load(fid, stem)
            assert a.min() < 64 and (a < 128).mean() > 0.02  # ink present
            assert (a[0] == 255).all() and (a[:, 0] == 255).all()  # white margin
    assert np.abs(load("roboto", "065_A") - load("dejavu-serif", "065_A")).mean() > 5
    assert np.abs(load("roboto", "065_A") - load("roboto-black", "065_A")).mean() > 5


def test_one_scale_per_face() -> None:
    """Glyphs are not each blown up to fill the tile: "o" stays smaller than "O"."""
    face = next(f for f in find_font_faces("oO", include_system=False) if f.id == "roboto")
    small, big = (np.asarray(im)[..., 0] < 128 for im in glyphs.render_face(face, "oO", SIZE))
    h_small, h_big = small.any(axis=1).sum(), big.any(axis=1).sum()
    assert h_small < 0.85 * h_big
    assert h_big >= SIZE - 2 * glyphs._margin(SIZE) - 1  # the tallest glyph fills the box


def test_deterministic(built: Path, tmp_path: Path) -> None:
    again = _build(tmp_path / "again")
    assert _files(again) == _files(built)


def test_cache_is_reused(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    out = _build(tmp_path / "ds")
    mtimes = {p: p.stat().st_mtime_ns for p in out.rglob("*")}

    def boom(*a, **k):
        raise AssertionError("re-rendered a cached dataset")

    monkeypatch.setattr(glyphs, "render_face", boom)
    assert _build(tmp_path / "ds") == out
    assert {p: p.stat().st_mtime_ns for p in out.rglob("*")} == mtimes
    with pytest.raises(AssertionError, match="re-rendered"):
        _build(tmp_path / "ds", force=True)
    assert (out / "meta.json").is_file()  # a failed forced rebuild keeps the old copy
    # Other parameters are a different dataset: they are not served from this folder.
    with pytest.raises(AssertionError, match="re-rendered"):
        _build(tmp_path / "ds", seed=1)


def test_default_root_and_glyph_source(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("I2IKIT_DATA", str(tmp_path / "cache"))
    root = default_glyph_root(size=SIZE, chars=CHARS, include_system=False)
    assert root.parent == tmp_path / "cache" and re.fullmatch(r"glyphs-[0-9a-f]{12}", root.name)
    assert _build(None) == root
    assert default_glyph_root(size=SIZE, chars=CHARS, include_system=False, seed=3) != root
    # glyph_source renders the 62 default chars; narrow them to keep the test fast.
    real = glyphs.build_glyph_dataset
    monkeypatch.setattr(
        glyphs, "build_glyph_dataset", lambda *a, **k: real(*a, **{**k, "chars": CHARS})
    )
    mtime = (root / "meta.json").stat().st_mtime_ns
    assert glyph_source("test", size=SIZE, include_system=False, progress=False) == root / "test"
    assert glyph_source("train", root=root, size=SIZE, include_system=False) == root / "train"
    assert (root / "meta.json").stat().st_mtime_ns == mtime  # served from the cache
    with pytest.raises(ValueError, match="split must be 'train' or 'test', got 'val'"):
        glyph_source("val", root=root)


def test_atomic_write(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    out = tmp_path / "ds"
    # A half folder (no meta.json) from an older or foreign writer is rebuilt.
    (out / "train" / "stale-face").mkdir(parents=True)
    (out / "train" / "stale-face" / "065_A.png").write_bytes(b"junk")
    # A temp folder of a build killed elsewhere is ignored (and left alone).
    leftover = tmp_path / ".ds.tmp-otherhost-1-deadbeef"
    (leftover / "train").mkdir(parents=True)
    (leftover / "meta.json").write_text("{}")
    # A temp folder of a dead build on this host is cleaned up.
    host = glyphs._slug(glyphs.socket.gethostname()) or "host"
    dead = tmp_path / f".ds.tmp-{host}-999999999-cafe"
    dead.mkdir()
    _build(out)
    assert (out / "meta.json").is_file() and not (out / "train" / "stale-face").exists()
    assert leftover.is_dir() and not dead.exists()

    # A build killed half way leaves neither a dataset-looking folder nor temp files.
    calls = {"n": 0}
    real = glyphs.render_face

    def dies(*a, **k):
        calls["n"] += 1
        if calls["n"] > 5:
            raise KeyboardInterrupt
        return real(*a, **k)

    monkeypatch.setattr(glyphs, "render_face", dies)
    with pytest.raises(KeyboardInterrupt):
        _build(tmp_path / "other")
    assert not (tmp_path / "other").exists()
    assert sorted(p.name for p in tmp_path.iterdir()) == sorted(
        ["ds", leftover.name]
    )

    # Folders holding anything else are never deleted.
    foreign = tmp_path / "mine"
    foreign.mkdir()
    (foreign / "notes.txt").write_text("keep me")
    with pytest.raises(FileExistsError):
        _build(foreign)
    assert (foreign / "notes.txt").read_text() == "keep me"


def test_complete_check_notices_missing_files(built: Path, tmp_path: Path) -> None:
    import shutil

    copy = tmp_path / "copy"
    shutil.copytree(built, copy)
    victim = next((copy / "train").iterdir())
    shutil.rmtree(victim)
    out = _build(copy)  # incomplete -> rebuilt
    assert _files(out) == _files(built)


# ------------------------------------------------------------------------- CLI


def test_cli_list_and_build(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    assert glyphs.main(["--list", "--chars", CHARS]) == 0
    out = capsys.readouterr().out.strip().splitlines()
    assert out[-1] == f"{len(out) - 1} font faces" and len(out) - 1 >= 40
    assert any(line.split() == ["roboto-bold-italic", "pip:font-roboto"] for line in out)
    args = ["--out", str(tmp_path / "ds"), "--size", str(SIZE), "--chars", CHARS]
    assert glyphs.main(args + ["--quiet", "--seed", "2"]) == 0
    lines = capsys.readouterr().out.strip().splitlines()
    assert lines[0] == str(tmp_path / "ds")
    assert "faces" in lines[1] and "test" in lines[1]
    meta = json.loads((tmp_path / "ds" / "meta.json").read_text())
    assert meta["params"]["seed"] == 2


def test_fontface_fields() -> None:
    f = FontFace("x", "X", "Regular", os.devnull, "system")
    assert (f.id, f.family, f.style, f.path, f.source, f.index) == (
        "x", "X", "Regular", os.devnull, "system", 0
    )


# ------------------------------------------------------------------------- plugin


def test_glyphs_is_its_own_plugin() -> None:
    """The glyph data is the first-party plugin ``glyphs`` (its own entry point), not part of the core."""
    from i2ikit.cli import data_commands
    from i2ikit.eval.command import eval_commands
    from i2ikit.plugins import get_registry, plugin_infos

    infos = {i.name: i for i in plugin_infos()}
    info = infos["glyphs"]
    assert (info.module, info.error, info.version) == ("i2ikit_glyphs", None, "0.1.0")
    assert ("dataset", "glyphs") in {(e.kind, e.name) for e in info.registered}
    assert get_registry().get("dataset", "glyphs").plugin == "glyphs"
    assert not any(e.name == "glyphs" for e in infos["core"].registered)
    assert data_commands()["glyphs"][0] == "glyphs" and eval_commands()["glyphs"][0] == "glyphs"
    assert data_commands()["check"][0] == "core" and eval_commands()["train-classifier"][0] == "core"


def test_the_core_does_not_import_the_glyphs_plugin() -> None:
    core = Path(__file__).resolve().parents[1] / "i2ikit"
    offenders = [str(p.relative_to(core)) for p in sorted(core.rglob("*.py")) if "i2ikit_glyphs" in p.read_text(encoding="utf-8")]
    assert offenders == []
    assert not (core / "data" / "glyphs.py").exists() and not (core / "eval" / "glyph_benchmark.py").exists()


def test_glyph_data_spec_goes_through_the_registry(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """``glyphs:train`` on the command line is the registered dataset type with ``split: train``."""
    from i2ikit.data.spec import parse_data_spec, registered_spec

    assert registered_spec("glyphs:test") == ("glyphs", {"split": "test"})
    assert registered_spec("glyphs:") == ("glyphs", {})
    assert registered_spec("hf:x") is None and registered_spec("C:/data") is None and registered_spec("nope:x") is None
    monkeypatch.setenv("I2IKIT_DATA", str(tmp_path / "cache"))
    real = glyphs.build_glyph_dataset
    monkeypatch.setattr(glyphs, "build_glyph_dataset",
                        lambda *a, **k: real(*a, **{**k, "chars": CHARS, "size": SIZE, "include_system": False, "progress": False}))
    source = parse_data_spec("glyphs:test")
    assert source.root.name == "test" and source.root.parent.parent == tmp_path / "cache" and len(source.classes) >= 4
    with pytest.raises(ValueError, match="glyphs:train, glyphs:test, glyphs:fit, glyphs:val"):
        parse_data_spec("glyphs:nope")
    # fit + val split the training faces: disjoint, together the training faces, the same on every call.
    train, fit, val = (parse_data_spec(f"glyphs:{s}") for s in ("train", "fit", "val"))
    assert fit.root == val.root == train.root
    assert set(fit.classes).isdisjoint(val.classes) and sorted(fit.classes + val.classes) == train.classes
    assert len(val.classes) == max(2, round(0.2 * len(train.classes)))
    assert parse_data_spec("glyphs:val").classes == val.classes
    assert set(val.classes).isdisjoint(parse_data_spec("glyphs:test").classes)
