"""The `i2ikit` command: translate with an export or an official checkpoint, models, recipes."""
from __future__ import annotations

from pathlib import Path

import torch
from PIL import Image

import i2ikit
from i2ikit.cli import main

from conftest import TINY_FUNIT


def _images(folder: Path, n: int, size: int = 40) -> Path:
    folder.mkdir(parents=True)
    g = torch.Generator().manual_seed(n)
    for i in range(n):
        arr = (torch.rand(size, size, 3, generator=g) * 255).to(torch.uint8).numpy()
        Image.fromarray(arr).save(folder / f"im{i}.png")
    return folder


def test_translate_with_an_export(tmp_path, capsys):
    model = i2ikit.build("funit", num_classes=3, **TINY_FUNIT)
    model.save_pretrained(tmp_path / "export")
    content, shots = _images(tmp_path / "content", 3), _images(tmp_path / "shots", 2)
    assert main(["translate", "--model", str(tmp_path / "export"), "--content", str(content),
                 "--class-images", str(shots), "--out", str(tmp_path / "out"), "--size", "32"]) == 0
    outs = sorted(p.name for p in (tmp_path / "out").glob("im*.png"))
    assert outs == ["im0.png", "im1.png", "im2.png"]
    assert Image.open(tmp_path / "out" / "im0.png").size == (32, 32)
    assert (tmp_path / "out" / "grid.png").exists()
    # The CLI computes exactly what the API does: the mean class code of the K shots.
    from i2ikit.data import TestTransform, open_image

    t = TestTransform(size=32)
    expected = model.translate(torch.stack([t(open_image(content / "im0.png"), None)]),
                               torch.stack([t(open_image(shots / f"im{i}.png"), None) for i in range(2)]))
    got = torch.from_numpy(__import__("numpy").array(Image.open(tmp_path / "out" / "im0.png"))).permute(2, 0, 1).float() / 255
    assert (got - (expected[0].clamp(-1, 1) + 1) / 2).abs().max() < 1 / 255 + 1e-6


def test_translate_with_an_official_checkpoint(tmp_path, capsys):
    from i2ikit_funit import to_official

    model = i2ikit.build("funit", num_classes=3, **TINY_FUNIT)
    torch.save(to_official(model), tmp_path / "gen.pt")
    content, shots = _images(tmp_path / "content", 1), _images(tmp_path / "shots", 1)
    args = ["translate", "--model", str(tmp_path / "gen.pt"), "--content", str(content / "im0.png"),
            "--class-images", str(shots), "--out", str(tmp_path / "out"), "--size", "32"]
    assert main(args) == 2  # an official file needs --method
    assert "--method" in capsys.readouterr().err
    assert main(args + ["--method", "funit"]) == 0
    assert Image.open(tmp_path / "out" / "im0.png").size == (32, 32)


def test_models_and_recipes_listing(capsys):
    assert main(["models", "*unit*"]) == 0
    assert "funit" in capsys.readouterr().out
    assert main(["recipes"]) == 0
    assert "quickstart.yaml" in capsys.readouterr().out


def test_missing_inputs_are_named(tmp_path, capsys):
    model = i2ikit.build("funit", num_classes=3, **TINY_FUNIT)
    model.save_pretrained(tmp_path / "export")
    rc = main(["translate", "--model", str(tmp_path / "export"), "--content", str(tmp_path / "nope"),
               "--class-images", str(tmp_path), "--out", str(tmp_path / "out")])
    assert rc == 2 and "nope" in capsys.readouterr().err


def test_translate_into_many_classes_writes_one_image_per_class_and_a_grid(tmp_path, monkeypatch):
    """Many-class methods (DeepI2I-style ``translate(images, target_class)``) get per-class outputs."""
    import i2ikit.cli as cli

    class ManyClass:
        config = {"num_classes": 3}
        translate_modes = ("target_class",)

        def translate(self, images, target_class, z=None):
            return images * 0 + (target_class - 1) / 2

    monkeypatch.setattr(cli, "_load_model", lambda *a, **k: ManyClass())
    content = _images(tmp_path / "content", 2)
    assert main(["translate", "--model", "x", "--content", str(content), "--all-classes", "--out", str(tmp_path / "out"), "--size", "16"]) == 0
    names = sorted(p.name for p in (tmp_path / "out").glob("im*.png"))
    assert names == [f"im{i}_class{t:04d}.png" for i in range(2) for t in range(3)]
    for i in range(2):  # each file holds the translation into its own class: (t - 1) / 2 -> 64, 128, 191
        for t, value in enumerate((64, 128, 191)):
            pixels = __import__("numpy").asarray(Image.open(tmp_path / "out" / f"im{i}_class{t:04d}.png"))
            assert pixels.shape == (16, 16, 3) and (pixels == value).all(), (i, t)
    grid = Image.open(tmp_path / "out" / "grid.png")
    assert grid.size == (4 * 18 + 2, 2 * 18 + 2)  # 4 columns (input + 3 classes), 2 rows of 16 px tiles, 2 px padding
    assert (tmp_path / "out" / "columns.txt").read_text().strip() == "content | class 0 | class 1 | class 2"


def test_translate_exemplar_and_latent_guided_gpunit(tmp_path, capsys):
    import warnings

    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        model = i2ikit.build("gpunit", img_size=64, nef=8, ngf=8, discriminator={"nf": 8}, style_nef=8, content_encoder=None,
                             vgg_weights=None)
    model.save_pretrained(tmp_path / "export")
    content, styles = _images(tmp_path / "content", 2, size=64), _images(tmp_path / "styles", 3, size=64)
    args = ["translate", "--model", str(tmp_path / "export"), "--content", str(content), "--size", "64"]
    assert main(args + ["--style", str(styles), "--out", str(tmp_path / "ex")]) == 0
    assert sorted(p.name for p in (tmp_path / "ex").glob("im*.png")) == [f"im{c}_to_im{s}.png" for c in range(2) for s in range(3)]
    assert main(args + ["--num-styles", "4", "--seed", "1", "--out", str(tmp_path / "lat")]) == 0
    assert sorted(p.name for p in (tmp_path / "lat").glob("im*.png")) == [f"im{c}_{k}.png" for c in range(2) for k in range(4)]
    assert main(args + ["--num-styles", "4", "--seed", "1", "--out", str(tmp_path / "lat2")]) == 0
    assert (tmp_path / "lat" / "im1_3.png").read_bytes() == (tmp_path / "lat2" / "im1_3.png").read_bytes()  # seeded
    # FUNIT has no latent-guided translation: a clear error, not a traceback
    funit = i2ikit.build("funit", num_classes=3, **TINY_FUNIT)
    funit.save_pretrained(tmp_path / "funit")
    assert main(["translate", "--model", str(tmp_path / "funit"), "--content", str(content), "--num-styles", "2",
                 "--out", str(tmp_path / "f")]) == 2
    assert "cannot translate with --num-styles; it translates with --class-images" in capsys.readouterr().err
