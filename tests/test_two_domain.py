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
