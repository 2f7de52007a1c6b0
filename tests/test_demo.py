"""The demo's model side, without a browser: uploads are checked (one sentence for a file that is not an image,
a huge, grayscale or non-RGB one), every translate mode makes its grid, and the page has one tab per mode the
model declares. The browser test (tests/test_demo_browser.py) drives the served page."""
from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest
import torch
from PIL import Image

import i2ikit
from i2ikit import demo as demo_mod
from i2ikit.cli import main as cli_main
from i2ikit.demo import DemoModel, UploadError, image_size_of, read_upload
from i2ikit.errors import UserError

from conftest import TINY_FUNIT

pytestmark = pytest.mark.filterwarnings("ignore:DeepI2I is training without BigGAN weights")


def _picture(path: Path, mode: str = "RGB", size: tuple[int, int] = (40, 36), seed: int = 0) -> Path:
    rng = np.random.default_rng(seed)
    rgb = Image.fromarray(rng.integers(0, 255, (size[1], size[0], 3), dtype=np.uint8))
    (rgb if mode == "RGB" else rgb.convert(mode)).save(path)
    return path


@pytest.fixture
def pictures(tmp_path: Path) -> list[Path]:
    return [_picture(tmp_path / f"p{k}.png", seed=k) for k in range(4)]


def _label_map(path: Path, ids: int = 3, size: int = 64) -> Path:
    rng = np.random.default_rng(1)
    Image.fromarray(rng.integers(0, ids, (size, size), dtype=np.uint8), mode="L").save(path)
    return path


# ---- uploads -------------------------------------------------------------------------------------------------
def test_colour_uploads_open_as_rgb_and_alpha_goes_on_white(tmp_path: Path) -> None:
    assert read_upload(_picture(tmp_path / "a.png"), "content image").mode == "RGB"
    clear = Image.new("RGBA", (8, 8), (0, 0, 0, 0))
    clear.save(tmp_path / "clear.png")
    assert read_upload(tmp_path / "clear.png", "content image").getpixel((0, 0)) == (255, 255, 255)
    assert read_upload(_picture(tmp_path / "p.png", "P"), "content image").mode == "RGB"
    assert read_upload({"path": str(tmp_path / "a.png")}, "content image").size == (40, 36)  # Gradio's file dicts


@pytest.mark.parametrize("case, words", [
    ("text", "is not an image Pillow can read"),
    ("gray", "is a grayscale image (mode L)"),
    ("gray16", "is a grayscale image (mode I;16)"),
    ("cmyk", "is in colour mode CMYK, not RGB"),
    ("huge", "is 4200x4100 pixels; the demo takes at most 16 megapixels"),
    ("missing", "did not reach the server"),
])
def test_a_bad_upload_is_one_sentence_naming_the_file(tmp_path: Path, case: str, words: str) -> None:
    path = tmp_path / f"{case}.png"
    if case == "text":
        path.write_text("certainly not a PNG")
    elif case == "gray":
        _picture(path, "L")
    elif case == "gray16":
        Image.fromarray(np.full((8, 8), 40000, dtype=np.uint16)).save(path)
    elif case == "cmyk":
        path = _picture(tmp_path / "cmyk.jpg", "CMYK")
    elif case == "huge":
        Image.new("L", (4200, 4100)).save(path)  # 17 megapixels, a few kB as PNG
    with pytest.raises(UploadError) as err:
        read_upload(path, "content image")
    message = str(err.value)
    assert words in message and f"content image '{path.name}'" in message and "\n" not in message


def test_an_upload_over_the_byte_limit_is_refused_before_it_is_decoded(tmp_path: Path, monkeypatch) -> None:
    monkeypatch.setattr(demo_mod, "MAX_UPLOAD_BYTES", 100)
    with pytest.raises(UploadError, match=r"the demo takes images up to 0 MB"):
        read_upload(_picture(tmp_path / "a.png"), "style image")


def test_label_maps_are_read_as_ids_and_colour_ones_are_refused(tmp_path: Path) -> None:
    ids = read_upload(_label_map(tmp_path / "label.png"), "label map", label_map=True)
    assert ids.shape == (1, 1, 64, 64) and int(ids.max()) == 2
    with pytest.raises(UserError, match="label map"):
        read_upload(_picture(tmp_path / "photo.png"), "label map", label_map=True)


# ---- every way of translating --------------------------------------------------------------------------------
def _demo(model, tmp_path: Path, size: int = 32) -> DemoModel:
    model.eval()
    return DemoModel(model, name="test model", size=size, out_dir=tmp_path / "out")


def _grid_size(path: Path) -> tuple[int, int]:
    with Image.open(path) as img:
        return img.size


def test_few_shot_translation_makes_a_grid_of_content_class_images_and_translation(tmp_path, pictures) -> None:
    torch.manual_seed(0)
    demo = _demo(i2ikit.build("funit", num_classes=3, **TINY_FUNIT), tmp_path)
    path, columns = demo.translate("class_images", pictures[0], class_images=pictures[1:])
    assert columns == ["content", "class image 0", "class image 1", "class image 2", "translation"]
    assert _grid_size(path) == (5 * 34 + 2, 34 + 2)  # 32 px tiles, 2 px padding
    expected = demo.model.translate(demo._tensor(read_upload(pictures[0], "c")),
                                    torch.cat([demo._tensor(read_upload(p, "c")) for p in pictures[1:]]))
    again, _ = demo.translate("class_images", pictures[0], class_images=pictures[1:])
    assert path != again and _grid_size(again) == _grid_size(path)
    assert expected.shape == (1, 3, 32, 32)
    with pytest.raises(UploadError, match="upload one or more images of the target class"):
        demo.translate("class_images", pictures[0], class_images=[])
    with pytest.raises(UploadError, match="upload a content image first"):
        demo.translate("class_images", None, class_images=pictures[1:])
    with pytest.raises(UploadError, match="does not translate with 'style'"):
        demo.translate("style", pictures[0], style=pictures[1])


def test_many_class_translation_has_a_column_per_chosen_class(tmp_path, pictures) -> None:
    from i2ikit_deepi2i import DeepI2I

    torch.manual_seed(0)
    demo = _demo(DeepI2I(resolution=64, ch=8, num_classes=3), tmp_path, size=64)
    assert demo.modes == ("target_class",) and demo.num_classes == 3
    _, columns = demo.translate("target_class", pictures[0], targets=["2", "0"])
    assert columns == ["content", "class 0", "class 2"]
    with pytest.raises(UploadError, match="the model knows classes 0 to 2"):
        demo.translate("target_class", pictures[0], targets=[5])
    with pytest.raises(UploadError, match="choose one or more target classes"):
        demo.translate("target_class", pictures[0], targets=[])


def test_two_domain_translation_by_style_image_and_random_styles_both_ways(tmp_path, pictures) -> None:
    torch.manual_seed(0)
    model = i2ikit.build("munit", generator={"dim": 8, "mlp_dim": 16, "style_dim": 4, "n_res": 1},
                         discriminator={"num_scales": 2, "discriminator": {"name": "munit_patch", "dim": 8, "n_layer": 2}})
    demo = _demo(model, tmp_path)
    assert demo.modes == ("style", "num_styles") and demo.directions == ("a2b", "b2a")
    _, columns = demo.translate("style", pictures[0], style=pictures[1], direction="b2a")
    assert columns == ["content", "style", "translation"]
    first, columns = demo.translate("num_styles", pictures[0], num_styles=3, seed=7)
    assert columns == ["content", "style 0", "style 1", "style 2"]
    second, _ = demo.translate("num_styles", pictures[0], num_styles=3, seed=7)
    assert np.array_equal(np.asarray(Image.open(first)), np.asarray(Image.open(second)))  # the seed decides
    with pytest.raises(UploadError, match="upload a style image"):
        demo.translate("style", pictures[0])


def test_one_mapping_translation_and_a_wrong_direction_is_named(tmp_path, pictures) -> None:
    torch.manual_seed(0)
    demo = _demo(i2ikit.build("unit", generator={"dim": 8, "n_res": 2}), tmp_path)
    assert demo.modes == ("direct",)
    _, columns = demo.translate("direct", pictures[0], direction="b2a")
    assert columns == ["content", "translation"]
    with pytest.raises(UserError, match="direction"):
        demo.translate("direct", pictures[0], direction="sideways")


def test_label_maps_translate_with_random_styles_and_a_grayscale_photo_is_a_label_map(tmp_path) -> None:
    torch.manual_seed(0)
    model = i2ikit.build("spade", dataset_mode="custom", label_nc=3, contain_dontcare_label=True, crop_size=64,
                         ngf=4, ndf=4, no_vgg_loss=True, use_vae=True, no_instance=True)
    demo = _demo(model, tmp_path, size=64)
    assert demo.label_maps and set(demo.modes) == {"direct", "style", "num_styles"}
    _, columns = demo.translate("num_styles", _label_map(tmp_path / "label.png"), num_styles=2)
    assert columns == ["label", "output 0", "output 1"]
    _, columns = demo.translate("style", tmp_path / "label.png", style=_picture(tmp_path / "s.png"))
    assert columns == ["label", "output 0"]
    with pytest.raises(UserError, match=r"label map"):
        demo.translate("direct", _picture(tmp_path / "photo.png"))


# ---- the page and the command ----------------------------------------------------------------------------------
def _elem_ids(app) -> set[str]:
    return {b.elem_id for b in app.blocks.values() if getattr(b, "elem_id", None)}


def test_the_page_has_one_tab_and_button_per_translate_mode(tmp_path) -> None:
    pytest.importorskip("gradio")
    torch.manual_seed(0)
    funit = _demo(i2ikit.build("funit", num_classes=3, **TINY_FUNIT), tmp_path)
    ids = _elem_ids(demo_mod.build_app(funit))
    assert {"content", "class-images", "run-class_images", "status", "grid", "download"} <= ids
    assert not ids & {"run-style", "direction", "instance"}
    munit = _demo(i2ikit.build("munit", generator={"dim": 8, "mlp_dim": 16, "style_dim": 4, "n_res": 1}), tmp_path)
    ids = _elem_ids(demo_mod.build_app(munit))
    assert {"run-style", "run-num_styles", "style", "num-styles", "seed", "direction"} <= ids
    assert "run-class_images" not in ids


def test_the_click_handler_puts_a_bad_upload_in_the_status_line(tmp_path, pictures) -> None:
    torch.manual_seed(0)
    demo = _demo(i2ikit.build("funit", num_classes=3, **TINY_FUNIT), tmp_path)
    run = demo_mod._handler(demo, "class_images", ["class_images"])
    (tmp_path / "notes.txt").write_text("hello")
    status, grid, download = run(str(tmp_path / "notes.txt"), [str(p) for p in pictures[1:]])
    assert status.startswith("**Cannot translate:** content image 'notes.txt' is not an image") and grid is None
    status, grid, download = run(str(pictures[0]), [str(p) for p in pictures[1:]])
    assert status.startswith("Done. Columns: content | class image 0") and Path(grid).is_file() and download == grid


def test_the_input_size_comes_from_the_exports_recipe(tmp_path) -> None:
    torch.manual_seed(0)
    model = i2ikit.build("funit", num_classes=3, **TINY_FUNIT)
    model.save_pretrained(tmp_path / "plain")
    assert image_size_of(tmp_path / "plain") == 128 and image_size_of(None, default=64) == 64
    model.save_pretrained(tmp_path / "trained", extra={"recipe": {"data": {"crop": 48}}})
    assert image_size_of(tmp_path / "trained") == 48


def test_demo_refuses_a_model_that_does_not_translate_and_names_a_missing_gradio(tmp_path, monkeypatch, capsys) -> None:
    torch.manual_seed(0)
    i2ikit.build("gpunit_prior", img_size=128, nf=4, embed_dim=8).save_pretrained(tmp_path / "prior")
    assert cli_main(["demo", "--model", str(tmp_path / "prior"), "--port", "7999"]) == 2
    err = capsys.readouterr().err
    assert "does not translate images" in err and "Traceback" not in err
    import builtins

    real_import = builtins.__import__

    def no_gradio(name, *args, **kw):
        if name == "gradio":
            raise ImportError("no gradio here")
        return real_import(name, *args, **kw)

    monkeypatch.setattr(builtins, "__import__", no_gradio)
    assert cli_main(["demo", "--model", str(tmp_path / "prior")]) == 2
    assert 'pip install -e ".[demo]"' in capsys.readouterr().err
