"""The two-domain family (UNIT, MUNIT, DRIT): official recipes stop before training naming what is missing, the
command line translates both ways and writes a grid of one input under several styles, and (slow) each glyph
recipe trains end to end."""
from __future__ import annotations

from pathlib import Path

import pytest
import torch
from PIL import Image

import i2ikit
from conftest import ROOT, run_cli
from i2ikit.cli import main as cli_main

OFFICIAL = {"munit_edges2shoes": "data/edges2shoes", "munit_edges2handbags": "data/edges2handbags",
            "munit_summer2winter_yosemite256": "data/summer2winter_yosemite256/summer2winter_yosemite",
            "munit_synthia2cityscape": "data/synthia2cityscape", "unit_edges2shoes": "data/edges2shoes",
            "unit_edges2handbags": "data/edges2handbags",
            "unit_summer2winter_yosemite256": "data/summer2winter_yosemite256/summer2winter_yosemite",
            "unit_gta2city": "data/gta2city"}


@pytest.mark.parametrize("recipe", sorted(OFFICIAL))
def test_official_recipes_stop_before_training_naming_the_folder(recipe: str, tmp_path: Path, monkeypatch, capsys) -> None:
    monkeypatch.chdir(tmp_path)
    assert cli_main(["train", str(ROOT / "recipes" / f"{recipe}.yaml")]) == 2
    err = capsys.readouterr().err
    assert f"'{OFFICIAL[recipe]}' does not exist" in err and "docs/datasets.md" in err and "Traceback" not in err
    assert f"{OFFICIAL[recipe]}/trainA/" in err  # the layout expected
    assert not (tmp_path / "runs").exists()


def test_translate_command_both_directions_and_a_style_grid(tmp_path: Path) -> None:
    torch.manual_seed(0)
    model = i2ikit.build("munit", generator={"dim": 8, "mlp_dim": 16, "style_dim": 4, "n_res": 1},
                         discriminator={"num_scales": 2, "discriminator": {"name": "munit_patch", "dim": 8, "n_layer": 2}})
    model.save_pretrained(tmp_path / "export")
    Image.new("RGB", (40, 32), (200, 30, 30)).save(tmp_path / "a.png")
    out = tmp_path / "out"
    assert cli_main(["translate", "--model", str(tmp_path / "export"), "--content", str(tmp_path / "a.png"),
                     "--num-styles", "3", "--size", "32", "--out", str(out)]) == 0
    assert sorted(p.name for p in out.glob("a_*.png")) == ["a_0.png", "a_1.png", "a_2.png"]
    grid = [p for p in out.glob("*.png") if not p.name.startswith("a_")]
    assert grid and Image.open(grid[0]).size[0] >= 4 * 32  # content + 3 styles side by side
    b2a = tmp_path / "b2a"
    assert cli_main(["translate", "--model", str(tmp_path / "export"), "--content", str(tmp_path / "a.png"),
                     "--style", str(tmp_path / "a.png"), "--direction", "b2a", "--size", "32", "--out", str(b2a)]) == 0
    assert Image.open(b2a / "a_to_a.png").size == (32, 32)


def test_translate_direction_is_refused_for_one_way_methods(tmp_path: Path, capsys) -> None:
    from conftest import TINY_FUNIT

    i2ikit.build("funit", num_classes=2, **TINY_FUNIT).save_pretrained(tmp_path / "export")
    Image.new("RGB", (32, 32)).save(tmp_path / "a.png")
    (tmp_path / "k").mkdir()
    Image.new("RGB", (32, 32)).save(tmp_path / "k" / "b.png")
    assert cli_main(["translate", "--model", str(tmp_path / "export"), "--content", str(tmp_path / "a.png"),
                     "--class-images", str(tmp_path / "k"), "--direction", "b2a", "--out", str(tmp_path / "o")]) == 2
    assert "translates one way only" in capsys.readouterr().err


@pytest.mark.slow
@pytest.mark.parametrize("method", ["unit", "munit"])
def test_glyph_recipe_trains_end_to_end(method: str, tmp_path: Path) -> None:
    run = tmp_path / "run"
    out = run_cli(["-m", "i2ikit.run", str(ROOT / "recipes" / f"{method}_glyphs.yaml"), "train.steps=20",
                   "train.sample_every=10", "train.save_every=20", f"train.run_dir={run}", "train.progress=false",
                   "train.trackers=none"], timeout=900)
    assert out.returncode == 0, out.stderr[-3000:]
    assert len(list((run / "samples").glob("*.png"))) >= 2
    model = i2ikit.build(pretrained=run / "export")
    x = torch.rand(1, 3, 64, 64) * 2 - 1
    assert model.translate(x).shape == (1, 3, 64, 64)
    assert model.translate(x, direction="b2a").shape == (1, 3, 64, 64)


TINY = {
    "unit": {"generator": {"dim": 8, "n_res": 1}, "discriminator": {"num_scales": 2, "discriminator": {"name": "munit_patch", "dim": 8, "n_layer": 2}}},
    "munit": {"generator": {"dim": 8, "mlp_dim": 16, "style_dim": 4, "n_res": 1},
              "discriminator": {"num_scales": 2, "discriminator": {"name": "munit_patch", "dim": 8, "n_layer": 2}}},
    "drit": {"dim": 8, "discriminator": {"discriminator": {"name": "drit_patch", "dim": 8}},
             "content_discriminator": {"n_down": 1, "dim": 16}},
}


@pytest.mark.parametrize("method", sorted(TINY))
def test_the_two_domain_protocol_scores_each_method(method: str, tmp_path: Path) -> None:
    """FID, LPIPS diversity over random styles and DIPD (content preservation) as i2ikit eval runs them, with
    small seeded stand-in extractors (tests/test_gpunit_eval.py); repeatable, and UNIT (one mapping) has no diversity."""
    from conftest import make_image_folder
    from i2ikit.data import ImageFolder
    from i2ikit.eval.runner import EvalSettings, evaluate
    from test_gpunit_eval import _options

    test = make_image_folder(tmp_path / "test", classes=2, per_class=4, size=36, seed=1)
    torch.manual_seed(0)
    model = i2ikit.build(method, **TINY[method])
    settings = EvalSettings(protocol="two_domain", metrics=["fid", "lpips_diversity", "dipd"], num_content=100,
                            max_real_per_class=0, styles_per_input=3, batch_size=4, seed=0)
    run = lambda: evaluate(model, content=ImageFolder(test).subset(["class_00"]),  # noqa: E731
                           targets=ImageFolder(test).subset(["class_01"]), settings=settings, metric_options=_options(),
                           image_size=32, progress=False)["all"]
    row = run()
    assert row["fid_images_translated"] == 4 * 3 and row["dipd_images"] == 4 * 3
    assert all(torch.isfinite(torch.tensor(v)) for v in row.values())
    assert (row["lpips_diversity"] == 0) == (method == "unit")
    assert run() == row


def test_a_nested_part_without_a_name_is_named_in_the_error() -> None:
    from i2ikit.errors import ConfigError

    with pytest.raises(ConfigError, match=r"discriminator 'multiscale'\)\.discriminator: name the discriminator"):
        i2ikit.build("munit", discriminator={"discriminator": {"dim": 8}})
