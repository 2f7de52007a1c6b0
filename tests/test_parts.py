"""Parts: contracts checked at registration, one builder, specs checked before anything is built, and the
swap matrix: methods trained for two CPU steps with another method's (or a plugin's) part, exported and
rebuilt from the export."""
from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest
import torch
from torch import nn

import i2ikit
from i2ikit.errors import ConfigError
from i2ikit.parts import DiscriminatorOutput, PartSlot, build_part, check_part_spec, contract_problems
from i2ikit.plugins import reload_plugins
from i2ikit.recipe import RecipeError, validate
from i2ikit.train.trainer import Trainer

from conftest import TINY_FUNIT, make_image_folder, tiny_recipe

pytestmark = pytest.mark.filterwarnings("ignore::UserWarning")

SLOT = PartSlot("discriminator", "funit_patch", labels=True, supplies=("num_classes",))


# ---- contracts ------------------------------------------------------------------------------------
def test_contracts_name_what_does_not_fit() -> None:
    class NoLabels(nn.Module):
        def forward(self, x, y=None):
            return x

    class NeedsLabelsWithoutClasses(nn.Module):
        labels = "required"

        def forward(self, x, y):
            return x

    class LabelWithoutDefault(nn.Module):
        labels = "unused"

        def forward(self, x, y):
            return x

    class NotALoss:
        def d_real(self, logits):
            return logits.mean()

    class LossWithArgs:
        def __init__(self, margin):
            pass

        d_real = d_fake = g = staticmethod(lambda logits: logits.mean())

    assert any("labels" in p for p in contract_problems("discriminator", NoLabels))
    assert any("num_classes" in p for p in contract_problems("discriminator", NeedsLabelsWithoutClasses))
    assert any("default None" in p for p in contract_problems("discriminator", LabelWithoutDefault))
    assert any("d_fake" in p and "g" in p for p in contract_problems("gan_loss", NotALoss))
    assert any("margin" in p for p in contract_problems("gan_loss", LossWithArgs))
    assert any("nn.Module" in p for p in contract_problems("encoder", NotALoss))
    assert any("a class" in p for p in contract_problems("generator", lambda: None))
    reg = i2ikit.get_registry()
    for kind in ("discriminator", "gan_loss", "encoder", "generator"):  # every registered part fits its contract
        for entry in reg.entries(kind=kind):
            assert contract_problems(kind, entry.obj) == [], (kind, entry.name)
    assert {"funit_patch", "gpunit_discriminator", "biggan_projection"} <= set(reg.names("discriminator"))
    assert {"hinge", "nonsaturating"} <= set(reg.names("gan_loss"))


def test_the_builder_drops_none_supplies_what_the_part_takes_and_names_bad_keys() -> None:
    dis = build_part(SLOT, {"nf": 8, "n_res_blks": 2, "inplace_quirks": None}, "x.discriminator",
                     supplied={"num_classes": 3, "img_size": 32})  # funit_patch takes no img_size: not passed
    assert dis.cnn_f[0].conv.out_channels == 8 and dis.cnn_c[0].conv.out_channels == 3 and dis.inplace_quirks
    gp = build_part(SLOT, {"name": "gpunit_discriminator", "nf": 8}, "x", supplied={"num_classes": 3, "img_size": 32})
    assert len(gp.model) == 7  # img_size 32 reached it, num_classes did not
    with pytest.raises(ConfigError, match=r"x\.discriminator \(discriminator 'funit_patch'\): unknown key 'nff'.*Did you mean 'nf'"):
        build_part(SLOT, {"nff": 8}, "x.discriminator")
    with pytest.raises(ConfigError, match=r"x\.discriminator\.nf: discriminator 'funit_patch' cannot use nf=0: nf must be >= 1"):
        check_part_spec(SLOT, {"nf": 0}, "x.discriminator")
    with pytest.raises(ConfigError, match="num_classes.*sets .* itself"):
        check_part_spec(SLOT, {"num_classes": 4}, "x.discriminator")
    with pytest.raises(ConfigError, match="unknown discriminator 'funit_ptach'.*Did you mean 'funit_patch'"):
        check_part_spec(SLOT, "funit_ptach", "x.discriminator")
    with pytest.raises(ConfigError, match="expected a discriminator name or"):
        check_part_spec(SLOT, 3, "x.discriminator")


def test_recipe_validator_checks_part_specs_like_method_kwargs(tmp_path: Path) -> None:
    def recipe(**method: Any) -> dict:
        r = tiny_recipe(tmp_path, tmp_path / "run")
        r["method"].update(method)
        return r

    validate(recipe(discriminator={"nf": 8, "n_res_blks": 4}, gan_loss="nonsaturating"))
    cases = [
        ({"discriminator": {"name": "funit_patch", "n_res_blk": 4}}, "method.discriminator.*unknown key 'n_res_blk'"),
        ({"discriminator": {"nf": -4}}, "method.discriminator.nf.*nf=-4"),
        ({"discriminator": {"nf": "abc"}}, "method.discriminator.*nf.*expected an integer"),
        ({"gan_loss": "hinj"}, "method.gan_loss.*unknown gan_loss 'hinj'.*Did you mean 'hinge'"),
        ({"gan_loss": {"name": "hinge", "margin": 1}}, "method.gan_loss.*unknown key 'margin'"),
    ]
    for method, message in cases:
        with pytest.raises(RecipeError, match=message):
            validate(recipe(**method))
    with pytest.raises(ConfigError, match="'funit'.*discriminator.*unknown key 'width'"):
        i2ikit.build("funit", **{**TINY_FUNIT, "discriminator": {"width": 3}})


def test_combinations_that_cannot_work_stop_before_training(tmp_path: Path) -> None:
    gp = dict(img_size=64, nef=8, ngf=8, style_nef=8, style_dim=16, noise_dim=8)
    # a class-conditional discriminator in a method that has no labels for it
    with pytest.raises(ConfigError, match="'biggan_projection' needs class labels.*gives its discriminator none"):
        i2ikit.build("gpunit", **gp, discriminator={"name": "biggan_projection", "ch": 8, "resolution": 64})
    # a many-class method learns its classes through its discriminator's labels: an unconditional one cannot serve
    with pytest.raises(ConfigError, match="'gpunit_discriminator' ignores class labels.*learns its target classes"):
        i2ikit.build("deepi2i", resolution=64, ch=8, num_classes=3, discriminator={"name": "gpunit_discriminator"})
    # a generator without the methods the method calls
    with pytest.raises(ConfigError, match="generator 'gpunit_generator' cannot serve here.*encode_content, encode_class, decode"):
        i2ikit.build("funit", **{**TINY_FUNIT, "generator": "gpunit_generator"})
    # the style loss reads a feature the part does not expose
    with pytest.raises(ConfigError, match="style_layer=4.*'funit_patch' exposes 1 feature.*set style_layer to 1..1"):
        i2ikit.build("gpunit", **gp, discriminator={"name": "funit_patch", "nf": 8, "n_res_blks": 2})
    reg = i2ikit.get_registry()

    class TooCoarse(nn.Module):  # its kernel is larger than the images
        labels = "unused"

        def __init__(self) -> None:
            super().__init__()
            self.conv = nn.Conv2d(3, 1, 65)

        def forward(self, x, y=None):
            h = self.conv(x)
            return DiscriminatorOutput(h.flatten(1), [h])

    # a part whose size does not fit the images is named before training
    reg.add("discriminator", "test_too_coarse", TooCoarse, plugin="tests")
    try:
        with pytest.raises(ConfigError, match="'test_too_coarse' fails on 64x64 images"):
            i2ikit.build("gpunit", **gp, style_layer=1, discriminator="test_too_coarse")
    finally:
        reg._entries.pop(("discriminator", "test_too_coarse"), None)

    # a discriminator whose output breaks the contract is named at its first use, not misused

    class PlainTensor(nn.Module):
        labels = "unused"

        def __init__(self) -> None:
            super().__init__()
            self.conv = nn.Conv2d(3, 1, 3)

        def forward(self, x, y=None):
            return self.conv(x)

    reg.add("discriminator", "test_plain_tensor", PlainTensor, plugin="tests")
    try:
        m = i2ikit.build("funit", **{**TINY_FUNIT, "num_classes": 3, "discriminator": "test_plain_tensor"})
        x = torch.rand(2, 3, 32, 32) * 2 - 1
        batch = {"content": (x, torch.tensor([0, 1])), "class": (x.flip(0), torch.tensor([1, 2]))}
        with pytest.raises(ConfigError, match="'test_plain_tensor' returned Tensor, not \\(logits, features\\)"):
            m.d_step(batch, m.networks())
    finally:
        reg._entries.pop(("discriminator", "test_plain_tensor"), None)


# ---- the swap matrix ------------------------------------------------------------------------------
def _funit(data: Path, run: Path, **method: Any) -> dict:
    r = tiny_recipe(data, run, steps=2, save_every=2, sample_every=2)
    r["method"].update(method)
    return r


def _gpunit(data: Path, run: Path, **method: Any) -> dict:
    return {
        "name": "swap_gpunit",
        "method": {"name": "gpunit", "img_size": 64, "nef": 8, "ngf": 8, "style_nef": 8, "style_dim": 16,
                   "noise_dim": 8, "sampler_epochs": 1, **method},
        "data": {"train": {"type": "image_folder", "root": str(data)}, "new_size": 64, "crop": 64, "num_workers": 0,
                 "streams": {"source": {"classes": ["class_00"]}, "target": {"classes": ["class_01", "class_02"]}}},
        "train": {"steps": 2, "batch_size": 2, "log_every": 1, "sample_every": 2, "save_every": 2, "sample_count": 2,
                  "run_dir": str(run), "trackers": "none", "progress": False},
    }


def _deepi2i(data: Path, run: Path, **method: Any) -> dict:
    return {
        "name": "swap_deepi2i",
        "method": {"name": "deepi2i", "resolution": 64, "ch": 8, "num_classes": "auto", **method},
        "data": {"train": {"type": "image_folder", "root": str(data)}, "new_size": 64, "crop": 64, "flip": False,
                 "num_workers": 0},
        "train": {"steps": 2, "batch_size": 2, "log_every": 1, "sample_every": 2, "save_every": 2, "sample_count": 2,
                  "run_dir": str(run), "trackers": "none", "progress": False},
    }


def _train_export_rebuild(recipe: dict, slot: str, part_type: str | None) -> None:
    """Two steps, finite losses, an export whose config names the part, and a rebuild with that part."""
    run = Trainer(validate(recipe)).fit()
    lines = [json.loads(line) for line in (run / "losses.jsonl").read_text().splitlines()]
    assert [line["step"] for line in lines] == [1, 2]
    assert all(isinstance(v, float) and v == v and abs(v) != float("inf") for line in lines for k, v in line.items()
               if k != "step" and isinstance(v, float))
    config = json.loads((run / "export" / "config.json").read_text())["config"]
    given = recipe["method"][slot]
    assert config[slot]["name"] == (given if isinstance(given, str) else given["name"])
    rebuilt = i2ikit.build(pretrained=run / "export")
    if part_type is not None:  # the discriminator the spec named, not the method's default
        assert type(rebuilt.D if hasattr(rebuilt, "D") else rebuilt.dis).__name__ == part_type
    assert rebuilt.config[slot] == config[slot]


@pytest.fixture(scope="module")
def data(tmp_path_factory) -> Path:
    return make_image_folder(tmp_path_factory.mktemp("swap") / "images", classes=3, per_class=4, size=64)


def test_funit_with_the_gpunit_discriminator(tmp_path: Path, data: Path) -> None:
    recipe = _funit(data, tmp_path / "run", discriminator={"name": "gpunit_discriminator", "nf": 8, "img_size": 32})
    _train_export_rebuild(recipe, "discriminator", "Discriminator")


def test_gpunit_with_the_funit_discriminator(tmp_path: Path, data: Path) -> None:
    recipe = _gpunit(data, tmp_path / "run", style_layer=1, discriminator={"name": "funit_patch", "nf": 8, "n_res_blks": 2})
    _train_export_rebuild(recipe, "discriminator", "GPPatchMcResDis")


def test_deepi2i_with_the_non_saturating_loss(tmp_path: Path, data: Path) -> None:
    recipe = _deepi2i(data, tmp_path / "run", gan_loss="nonsaturating")
    _train_export_rebuild(recipe, "gan_loss", None)
    assert type(i2ikit.build(pretrained=tmp_path / "run" / "export").adv_loss).__name__ == "NonSaturatingLoss"


def test_gpunit_with_the_template_patchgan_and_lsgan(tmp_path: Path, data: Path, third_party_site, monkeypatch) -> None:
    monkeypatch.syspath_prepend(str(third_party_site))
    monkeypatch.setenv("I2IKIT_LOAD_PLUGINS", "gpunit,template")
    reload_plugins()
    try:
        recipe = _gpunit(data, tmp_path / "run", style_layer=1, gan_loss="lsgan",
                         discriminator={"name": "patchgan", "nf": 8, "n_layers": 2})
        _train_export_rebuild(recipe, "discriminator", "PatchGANDiscriminator")
        assert type(i2ikit.build(pretrained=tmp_path / "run" / "export").adv_loss).__name__ == "LSGANLoss"  # the core's
    finally:
        monkeypatch.undo()
        reload_plugins()


def test_funit_with_a_part_from_an_installed_third_party_package(tmp_path: Path, data: Path, third_party_site,
                                                                 monkeypatch) -> None:
    monkeypatch.syspath_prepend(str(third_party_site))
    monkeypatch.setenv("I2IKIT_LOAD_PLUGINS", "funit,tinyparts")
    reload_plugins()
    try:
        recipe = _funit(data, tmp_path / "run", discriminator={"name": "tiny_patch", "nf": 4}, gan_loss="tiny_lsgan")
        _train_export_rebuild(recipe, "discriminator", "TinyPatchDis")
    finally:
        monkeypatch.undo()
        reload_plugins()


def test_exports_of_the_previous_release_still_load(tmp_path: Path) -> None:
    """i2ikit 0.1.0 wrote FUNIT's discriminator as dis_nf/dis_n_res_blks/discriminator_kwargs and GP-UNIT's
    width as dis_nf: such an export rebuilds the same networks and loads its weights."""
    funit = i2ikit.build("funit", **{**TINY_FUNIT, "num_classes": 3})
    funit.save_pretrained(tmp_path / "funit")
    meta = json.loads((tmp_path / "funit" / "config.json").read_text())
    cfg = meta["config"]
    spec = cfg.pop("discriminator")
    cfg.pop("gan_loss")
    cfg.update(dis_nf=spec["nf"], dis_n_res_blks=spec["n_res_blks"], discriminator="funit_patch",
               discriminator_kwargs=None, inplace_quirks=True, gan_loss="hinge")
    (tmp_path / "funit" / "config.json").write_text(json.dumps(meta))
    again = i2ikit.build(pretrained=tmp_path / "funit")
    assert again.config["discriminator"] == {"name": "funit_patch", "nf": 8, "n_res_blks": 4, "inplace_quirks": True}
    assert all(torch.equal(a, b) for a, b in zip(again.dis.state_dict().values(), funit.dis.state_dict().values()))

    gp = i2ikit.build("gpunit", img_size=64, nef=8, ngf=8, style_nef=8, style_dim=16, noise_dim=8,
                      discriminator={"nf": 8})
    gp.save_pretrained(tmp_path / "gpunit")
    meta = json.loads((tmp_path / "gpunit" / "config.json").read_text())
    meta["config"].pop("discriminator")
    meta["config"].pop("gan_loss")
    meta["config"]["dis_nf"] = 8
    (tmp_path / "gpunit" / "config.json").write_text(json.dumps(meta))
    again = i2ikit.build(pretrained=tmp_path / "gpunit")
    assert again.config["discriminator"] == {"name": "gpunit_discriminator", "nf": 8}
    assert all(torch.equal(a, b) for a, b in zip(again.D.state_dict().values(), gp.D.state_dict().values()))


def test_discriminator_output_is_a_tuple_of_logits_and_features() -> None:
    out = DiscriminatorOutput(torch.zeros(2), [torch.zeros(2, 3, 1, 1)])
    logits, features = out
    assert logits is out.logits and features is out.features


def test_parts_command_lists_kind_keywords_defaults_and_plugin() -> None:
    from conftest import run_cli

    out = run_cli(["-m", "i2ikit.cli", "parts"])
    assert out.returncode == 0, out.stderr
    lines = out.stdout.splitlines()
    row = next(i for i, line in enumerate(lines) if line.split()[:2] == ["discriminator", "funit_patch"])
    assert "plugin funit" in lines[row] and "labels: optional" in lines[row]
    assert lines[row + 1].strip() == "num_classes=1, nf=64, n_res_blks=10, inplace_quirks=True"
    assert any(line.split()[:2] == ["gan_loss", "hinge"] and "plugin core" in line for line in lines)
    assert ("  funit: generator -> generator, funit_generator; discriminator -> discriminator, funit_patch; "
            "gan_loss -> gan_loss, hinge") in lines
    only = run_cli(["-m", "i2ikit.cli", "parts", "--kind", "gan_loss"])
    assert only.returncode == 0 and {line.split()[0] for line in only.stdout.splitlines() if not line.startswith(" ")} == {"gan_loss"}
    missing = run_cli(["-m", "i2ikit.cli", "parts", "nothing*"])
    assert missing.returncode == 1 and "kinds: encoder, generator, discriminator, gan_loss" in missing.stderr
    models = run_cli(["-m", "i2ikit.cli", "models"])  # each method with the tasks it declares
    rows = {line.split()[0]: line.split()[3] for line in models.stdout.splitlines()}
    assert (rows["funit"], rows["deepi2i"], rows["gpunit"]) == ("few_shot", "many_class", "two_domain")
    typo = run_cli(["-m", "i2ikit.cli", "parts", "--kind", "discriminatr"])
    assert typo.returncode == 2 and "invalid choice" in typo.stderr and "Traceback" not in typo.stderr


def test_eval_mode_restores_each_submodule_and_train_mode_switches_on() -> None:
    from i2ikit.nn import eval_mode, train_mode

    net = nn.Sequential(nn.BatchNorm2d(2), nn.Dropout())
    net[1].eval()  # a part kept in eval inside a training network
    with eval_mode(net):
        assert not any(m.training for m in net.modules())
    assert net.training and net[0].training and not net[1].training
    net.eval()
    with train_mode(net):
        assert all(m.training for m in net.modules())
    assert not any(m.training for m in net.modules())
    with pytest.raises(RuntimeError), eval_mode(net):
        raise RuntimeError("restored on errors too")
    assert not net.training


def test_the_multiscale_wrapper_runs_a_part_at_every_scale(tmp_path: Path, data: Path) -> None:
    from i2ikit.discriminators import MultiScaleDiscriminator

    spec = {"name": "multiscale", "num_scales": 2, "discriminator": {"name": "funit_patch", "nf": 4, "n_res_blks": 2}}
    ms = build_part(SLOT, spec, "x.discriminator", supplied={"num_classes": 3})
    assert isinstance(ms, MultiScaleDiscriminator) and len(ms.scales) == 2
    assert all(s.cnn_c[0].conv.out_channels == 3 for s in ms.scales)  # num_classes reached every scale
    x, y = torch.rand(2, 3, 32, 32) * 2 - 1, torch.tensor([0, 2])
    logits, features = ms(x, y)
    fine, coarse = ms.scales[0](x, y), ms.scales[1](torch.nn.functional.avg_pool2d(x, 3, 2, 1, count_include_pad=False), y)
    assert logits.shape == (2, fine.logits[0].numel() + coarse.logits[0].numel()) and len(features) == 2
    per_scale = ms.split(logits)
    assert torch.equal(per_scale[0], fine.logits) and torch.equal(per_scale[1], coarse.logits)
    # the nested spec is checked with the recipe, before anything is built
    with pytest.raises(ConfigError, match=r"discriminator.*'multiscale'.*discriminator.*unknown key 'nff'"):
        check_part_spec(SLOT, {**spec, "discriminator": {"name": "funit_patch", "nff": 4}}, "x.discriminator")
    with pytest.raises(ConfigError, match="'multiscale' needs discriminator"):
        build_part(SLOT, {"name": "multiscale"}, "x.discriminator")
    # FUNIT trains with it, exports and rebuilds
    recipe = _funit(data, tmp_path / "run", discriminator=spec)
    _train_export_rebuild(recipe, "discriminator", "MultiScaleDiscriminator")
