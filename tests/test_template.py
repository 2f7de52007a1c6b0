"""The copy-me template plugin holds a complete two-domain method (CycleGAN) assembled from registered
parts; installed like a third party's plugin, it trains on the built-in glyph data from its own recipe,
exports, rebuilds, and translates from the command line."""
from __future__ import annotations

import json
from pathlib import Path

import pytest
import torch
from PIL import Image

import i2ikit
from i2ikit.plugins import reload_plugins
from i2ikit.recipe import apply_overrides, find_recipe, load_raw, validate
from i2ikit.train.trainer import Trainer

from conftest import ROOT, run_cli

pytestmark = pytest.mark.filterwarnings("ignore::UserWarning")

SMOKE = ["train.steps=2", "train.batch_size=2", "train.sample_every=2", "train.save_every=2", "train.sample_count=2",
         "train.log_every=1", "train.progress=false", "train.trackers=none", "data.num_workers=0",
         "method.generator.ngf=4", "method.generator.n_blocks=1", "method.discriminator.nf=4"]


@pytest.fixture
def template(third_party_site, monkeypatch):
    monkeypatch.syspath_prepend(str(third_party_site))
    monkeypatch.setenv("I2IKIT_LOAD_PLUGINS", "template,glyphs")
    reload_plugins()
    yield third_party_site
    monkeypatch.undo()
    reload_plugins()


def test_the_template_method_is_small_and_built_from_parts(template) -> None:
    source = (ROOT / "plugins" / "template" / "i2ikit_template" / "cyclegan.py").read_text().splitlines()
    assert len(source) <= 220  # "about 200 lines", docstrings included
    cls = i2ikit.get_registry().get("method", "cyclegan").obj
    assert {k: (s.kind, s.default) for k, s in cls.parts.items()} == {
        "generator": ("generator", "resnet_generator"), "discriminator": ("discriminator", "patchgan"),
        "gan_loss": ("gan_loss", "lsgan")}
    m = i2ikit.build("cyclegan", generator={"ngf": 4, "n_blocks": 1}, discriminator={"nf": 4})
    assert set(m.export_modules()) == {"G_ab", "G_ba", "D_a", "D_b"}  # the DDP view is not a second owner
    x = torch.rand(2, 3, 32, 32) * 2 - 1
    assert m.translate(x).shape == (2, 3, 32, 32)
    # a discriminator that needs class labels cannot serve a method without them: refused before building
    from torch import nn

    class Projection(nn.Module):
        labels = "required"

        def __init__(self, num_classes: int) -> None:
            super().__init__()

        def forward(self, x, y):
            return x

    reg = i2ikit.get_registry()
    reg.add("discriminator", "test_projection", Projection, plugin="tests")
    try:
        with pytest.raises(i2ikit.errors.ConfigError, match="'test_projection' needs class labels"):
            i2ikit.build("cyclegan", discriminator="test_projection")
    finally:
        reg._entries.pop(("discriminator", "test_projection"), None)


def test_the_template_recipe_trains_on_glyphs_exports_and_translates(template, tmp_path: Path) -> None:
    recipe_file = find_recipe("cyclegan_glyphs")
    assert Path(recipe_file).is_file() and "i2ikit_template" in recipe_file  # shipped by the plugin
    raw = apply_overrides(load_raw(recipe_file), [*SMOKE, f"train.run_dir={tmp_path / 'run'}"])
    run = Trainer(validate(raw, source=recipe_file)).fit()
    lines = [json.loads(line) for line in (run / "losses.jsonl").read_text().splitlines()]
    assert [line["step"] for line in lines] == [1, 2]
    assert {"gen/cycle", "gen/identity", "gen/g_adv", "dis/d_real", "dis/d_fake"} <= set(lines[-1])
    assert (run / "samples").is_dir() and any((run / "samples").iterdir())
    config = json.loads((run / "export" / "config.json").read_text())["config"]
    assert config["generator"] == {"name": "resnet_generator", "ngf": 4, "n_blocks": 1}
    rebuilt = i2ikit.build(pretrained=run / "export")
    assert type(rebuilt.D_a).__name__ == "PatchGANDiscriminator"

    content = tmp_path / "in"
    content.mkdir()
    Image.new("RGB", (64, 64), (255, 255, 255)).save(content / "a.png")
    env = {"PYTHONPATH": str(template), "I2IKIT_LOAD_PLUGINS": "template,glyphs"}
    out = run_cli(["-m", "i2ikit.cli", "translate", "--model", str(run / "export"), "--content", str(content),
                   "--out", str(tmp_path / "out")], env=env)
    assert out.returncode == 0, out.stderr[-2000:]
    assert Image.open(tmp_path / "out" / "a.png").size == (64, 64)
    wrong = run_cli(["-m", "i2ikit.cli", "translate", "--model", str(run / "export"), "--content", str(content),
                     "--out", str(tmp_path / "out2"), "--num-styles", "2"], env=env)
    assert wrong.returncode == 2 and "translates with --content alone" in wrong.stderr and "Traceback" not in wrong.stderr
