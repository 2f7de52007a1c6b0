"""`i2ikit data check`: every image decoded once, before training; unreadable / tiny / odd files reported
with their path and a fix, and an exclude list the sources accept."""
from __future__ import annotations

import io
import re
from pathlib import Path

import numpy as np
import pytest
from PIL import Image

from i2ikit.data import ImageFolder
from i2ikit.data.check import Report, check_recipe, check_source, main, scan_source, write_exclude

from conftest import make_image_folder, run_cli, tiny_recipe, write_yaml

CROP = 32  # the good images are 36 x 36


def _jpeg_bytes(size=(64, 64)) -> bytes:
    buf = io.BytesIO()
    Image.effect_noise(size, 60).convert("RGB").save(buf, "JPEG")
    return buf.getvalue()


def _png_bytes(size=(64, 64)) -> bytes:
    buf = io.BytesIO()
    Image.effect_noise(size, 60).convert("RGB").save(buf, "PNG")
    return buf.getvalue()


# file -> (kind, reason) it must be reported as
EXPECTED = {
    "bad/trunc.jpg": ("unreadable", "unreadable"),
    "bad/trunc.png": ("unreadable", "unreadable"),
    "bad/empty.jpg": ("unreadable", "unreadable"),
    "bad/text.png": ("unreadable", "unreadable"),
    "odd/one.png": ("tiny", "tiny"),
    "odd/deep.png": ("odd", "high_depth"),
    "odd/cmyk.jpg": ("odd", "cmyk"),
    "odd/alpha.png": ("odd", "alpha"),
    "odd/wide.png": ("odd", "aspect"),
    "odd/png.jpg": ("odd", "extension"),
}
UNREADABLE = sorted(k for k, (kind, _) in EXPECTED.items() if kind == "unreadable")


def make_bad_folder(root: Path) -> Path:
    """Good images in class_00..01 plus one of every problem in `bad/` and `odd/`."""
    make_image_folder(root, classes=2, per_class=3)
    bad, odd = root / "bad", root / "odd"
    bad.mkdir()
    odd.mkdir()
    Image.new("RGB", (36, 36), (10, 200, 10)).save(bad / "good.png")  # keeps the class non-empty once excluded
    data = _jpeg_bytes()
    (bad / "trunc.jpg").write_bytes(data[: len(data) // 2])
    data = _png_bytes()
    (bad / "trunc.png").write_bytes(data[: len(data) // 2])
    (bad / "empty.jpg").write_bytes(b"")
    (bad / "text.png").write_text("<html><body>404 not found</body></html>\n")
    Image.new("RGB", (1, 1), (255, 0, 0)).save(odd / "one.png")
    Image.fromarray((np.arange(40 * 40, dtype=np.uint16).reshape(40, 40) * 40)).save(odd / "deep.png")
    Image.new("CMYK", (40, 40), (0, 120, 120, 0)).save(odd / "cmyk.jpg")
    Image.new("RGBA", (40, 40), (0, 100, 100, 100)).save(odd / "alpha.png")
    Image.new("RGB", (200, 40), (5, 5, 5)).save(odd / "wide.png")
    Image.new("RGB", (40, 40), (9, 9, 9)).save(odd / "png.jpg", format="PNG")
    return root


@pytest.fixture
def bad_folder(tmp_path: Path) -> Path:
    return make_bad_folder(tmp_path / "bad_data")


def _found(findings) -> dict[str, set[tuple[str, str]]]:
    out: dict[str, set[tuple[str, str]]] = {}
    for f in findings:
        out.setdefault(f.exclude_entry, set()).add((f.kind, f.reason))
    return out


def test_every_problem_is_reported_in_its_group_with_its_path(bad_folder):
    source = ImageFolder(bad_folder)
    findings = scan_source(source, crop=CROP, progress=False)
    found = _found(findings)
    for rel, expected in EXPECTED.items():
        assert expected in found.get(rel, set()), (rel, found.get(rel))
    # Nothing else: the good images (and the PNG that merely has the wrong name) are not unreadable.
    assert set(found) == set(EXPECTED)
    assert all(f.path == str(bad_folder / f.exclude_entry) and f.file == f.path for f in findings)
    by_rel = {f.exclude_entry: f for f in findings}
    assert by_rel["bad/empty.jpg"].detail == "the file is empty (0 bytes)"
    assert "HTML" in by_rel["bad/text.png"].detail and "truncated" in by_rel["bad/trunc.png"].detail.lower()
    assert by_rel["odd/one.png"].detail.startswith("1x1")
    assert "I;16" in by_rel["odd/deep.png"].detail and "CMYK" in by_rel["odd/cmyk.jpg"].detail
    assert by_rel["odd/png.jpg"].detail == "PNG data in a .jpg file"

    report = Report([check_source(source, crop=CROP, progress=False)])
    assert not report.ok
    assert set(report.grouped) == {"unreadable", "tiny", "odd"}
    assert {f.exclude_entry for f in report.grouped["unreadable"][source.name]} == set(UNREADABLE)
    text = report.format()
    assert f"{source.name}: {len(source)} images in 4 classes decoded: 4 unreadable, 1 tiny, 5 odd" in text
    assert "data.on_bad_image: skip" in text and "exclude" in text
    for rel in EXPECTED:
        assert str(bad_folder / rel) in text
    short = report.format(limit=2)
    assert "... and 2 more; --all lists every file" in short and str(bad_folder / UNREADABLE[-1]) not in short


def test_exif_rotation_and_huge_images_are_odd(tmp_path):
    root = tmp_path / "d" / "c"
    root.mkdir(parents=True)
    img = Image.new("RGB", (40, 60))
    exif = img.getexif()
    exif[0x0112] = 6
    img.save(root / "rot.jpg", exif=exif)
    Image.new("L", (40, 40), 128).save(root / "grey.png")
    Image.new("P", (40, 40)).save(root / "pal.png")
    found = _found(scan_source(ImageFolder(tmp_path / "d"), crop=CROP, progress=False))
    assert found == {"c/rot.jpg": {("odd", "exif_rotated")}, "c/grey.png": {("odd", "greyscale")},
                     "c/pal.png": {("odd", "palette")}}

    import i2ikit.data.check as check

    old = check.MAX_MEGAPIXELS
    check.MAX_MEGAPIXELS = 0.001  # 40x40 = 0.0016 MP; a real 40 MP file would make the test slow
    try:
        found = _found(scan_source(ImageFolder(tmp_path / "d"), crop=CROP, progress=False))
    finally:
        check.MAX_MEGAPIXELS = old
    assert ("odd", "large") in found["c/grey.png"]


def test_command_exit_codes_and_the_exclude_file_imagefolder_accepts(bad_folder, tmp_path, capsys):
    exclude = tmp_path / "bad.txt"
    rc = main([str(bad_folder), "--crop", str(CROP), "--workers", "0", "--no-progress", "--exclude-file", str(exclude)])
    assert rc == 1
    out = capsys.readouterr().out
    assert "4 unreadable" in out and f"wrote 4 path(s) to {exclude}" in out
    assert exclude.read_text().splitlines() == UNREADABLE
    before, after = ImageFolder(bad_folder), ImageFolder(bad_folder, exclude=exclude)
    assert sorted(set(before.files) - set(after.files)) == UNREADABLE
    assert main([str(bad_folder), "--crop", str(CROP), "--workers", "0", "--no-progress"]) == 1

    clean = make_image_folder(tmp_path / "clean")
    assert main([str(clean), "--crop", str(CROP), "--workers", "0", "--no-progress"]) == 0
    assert "decoded: all fine" in capsys.readouterr().out


def test_warnings_alone_pass(bad_folder, tmp_path):
    root = tmp_path / "warn"
    (root / "odd").mkdir(parents=True)
    for f in (bad_folder / "odd").iterdir():
        (root / "odd" / f.name).write_bytes(f.read_bytes())
    assert main([str(root), "--crop", str(CROP), "--workers", "0", "--no-progress"]) == 0


def test_bad_arguments_raise_user_errors(tmp_path):
    from i2ikit.errors import ConfigError
    from i2ikit.recipe import RecipeError

    with pytest.raises(FileNotFoundError, match="no such folder"):
        main([str(tmp_path / "nope"), "--no-progress"])
    with pytest.raises(RecipeError, match=re.escape(f"recipe file {tmp_path / 'nope.yaml'} does not exist")):
        main([str(tmp_path / "nope.yaml"), "--no-progress"])
    make_image_folder(tmp_path / "ok", classes=1, per_class=1)
    with pytest.raises(ConfigError, match="only apply to a recipe"):
        main([str(tmp_path / "ok"), "data.crop=3", "--no-progress"])
    with pytest.raises(SystemExit):
        main(["--workers", "x"])


def test_workers_give_the_same_findings(bad_folder):
    source = ImageFolder(bad_folder)
    single = scan_source(source, crop=CROP, progress=False)
    assert set(_found(single)) == set(EXPECTED)  # not two empty lists
    assert scan_source(source, crop=CROP, num_workers=2, progress=False) == single


def test_a_recipe_checks_train_and_samples_once_each(bad_folder, tmp_path, capsys):
    samples = make_image_folder(tmp_path / "samples", classes=2, per_class=2)
    (samples / "class_00" / "cut.jpg").write_bytes(_jpeg_bytes()[:300])
    raw = tiny_recipe(bad_folder, tmp_path / "run")
    raw["data"]["samples"] = {"type": "image_folder", "root": str(samples)}
    raw["eval"] = {"targets": {"type": "image_folder", "root": str(samples)}}  # the same spec again: checked once
    recipe_file = write_yaml(tmp_path / "r.yaml", raw)
    from i2ikit.recipe import load_recipe

    report = check_recipe(load_recipe(recipe_file), progress=False)
    assert [s.roles for s in report.sources] == [["data.train"], ["data.samples", "eval.targets"]]
    assert [s.images for s in report.sources] == [len(ImageFolder(bad_folder)), 5]
    assert [s.files_with("unreadable") for s in report.sources] == [4, 1]
    assert all(s.crop == CROP for s in report.sources)
    text = report.format()
    assert f"image_folder:{samples} (data.samples, eval.targets): 5 images in 2 classes decoded: 1 unreadable" in text

    # Two sources with unreadable files: one exclude file each (the option takes no comment lines).
    written = write_exclude(report, tmp_path / "ex.txt")
    assert [p.name for p in written] == ["ex.data.train.txt", "ex.data.samples.txt"]
    assert written[1].read_text() == "class_00/cut.jpg\n"
    assert len(ImageFolder(samples, exclude=written[1])) == 4
    assert sorted(set(ImageFolder(bad_folder).files) - set(ImageFolder(bad_folder, exclude=written[0]).files)) == UNREADABLE

    # What the dataset excludes already is kept in the new list, so it can replace the old one.
    raw["data"]["samples"]["exclude"] = str(written[1])
    raw["data"]["train"]["exclude"] = str(written[0])
    raw.pop("eval")
    write_yaml(recipe_file, raw)
    assert main([str(recipe_file), "data.crop=2", "--no-progress", "--workers", "0",
                 "--exclude-file", str(tmp_path / "again.txt")]) == 0
    out = capsys.readouterr().out
    assert "(shorter side 1 < crop 2)" in out and "ok: every image decodes" in out  # the override reached the check
    assert (tmp_path / "again.txt").read_text() == ""  # nothing new; two sources: nothing to keep in one file


def test_gpunit_masks_are_checked_and_other_multi_image_items_are_drawn(tmp_path):
    from i2ikit_gpunit.prior_data import PriorImages

    root = make_image_folder(tmp_path / "img", classes=2, per_class=2)
    masks = tmp_path / "mask"
    for f in root.glob("*/*.png"):
        (masks / f.parent.name).mkdir(parents=True, exist_ok=True)
        Image.new("RGB", (36, 36), (255, 255, 255)).save((masks / f.parent.name / f.name).with_suffix(".jpg"))
    broken = masks / "class_01" / "img_001.jpg"
    broken.write_bytes(_jpeg_bytes()[:200])
    source = PriorImages(str(root), str(masks), masks="folder")
    check = check_source(source, crop=CROP, progress=False)
    assert check.extra_images == 4 and "masks were checked" in check.coverage
    [bad] = check.findings
    assert (bad.kind, bad.path, bad.exclude_entry) == ("unreadable", str(broken), "class_01/img_001.png")
    assert "mask of" in bad.detail

    class TwoFiles(ImageFolder):
        """A source whose items read a second file the checker cannot name."""

        def sample_item(self, index, rng, transform):
            from i2ikit.data import open_image

            other = Path(self.path(index)).with_suffix(".side")
            return transform(open_image(other), rng), self.labels[index]

    for f in root.glob("*/*.png"):
        f.with_suffix(".side").write_bytes(f.read_bytes())
    (root / "class_00" / "img_000.side").write_bytes(b"nope")
    check = check_source(TwoFiles(root), crop=CROP, progress=False)
    [bad] = check.findings
    assert bad.kind == "unreadable" and bad.path.endswith("img_000.side") and "sample_item" in check.coverage


def test_the_cli_runs_it(tmp_path, capsys):
    from i2ikit.cli import main as cli_main

    folder = make_image_folder(tmp_path / "images", classes=2, per_class=2)
    assert cli_main(["data", "check", str(folder), "--crop", "32", "--no-progress"]) == 0
    assert "4 images in 2 classes decoded: all fine" in capsys.readouterr().out
    assert cli_main(["data", "--help"]) == 0
    assert "check" in capsys.readouterr().err
    (folder / "class_00" / "zz.png").write_bytes(b"")
    done = run_cli(["-m", "i2ikit.cli", "data", "check", str(folder), "--crop", "32", "--no-progress"], timeout=300)
    assert done.returncode == 1, done.stderr
    assert "5 images in 2 classes decoded: 1 unreadable" in done.stdout and "the file is empty" in done.stdout


def test_file_list_exclusions_are_the_listed_paths(tmp_path):
    from i2ikit.data import FileList

    root = make_image_folder(tmp_path / "root", classes=2, per_class=3)
    (root / "class_01" / "img_002.png").write_bytes(_png_bytes()[:100])
    listed = sorted(p.relative_to(root).as_posix() for p in root.glob("*/*.png"))
    list_file = tmp_path / "list.txt"
    list_file.write_text("\n".join(listed) + "\n")
    source = FileList(root, list_file)
    report = Report([check_source(source, crop=CROP, progress=False)])
    [bad] = report.findings
    assert bad.path == f"{root / 'class_01/img_002.png'} (line 6 of {list_file})" and bad.file == str(root / "class_01/img_002.png")
    [written] = write_exclude(report, tmp_path / "ex.txt")
    assert written.read_text() == "class_01/img_002.png\n"
    assert FileList(root, list_file, exclude=written).files == listed[:5]
