"""Registry and plugin loading: kinds, errors, collisions, entry-point discovery, third-party plugins."""
from __future__ import annotations

import pytest

import i2ikit
from i2ikit.plugins import plugin_infos, reload_plugins
from i2ikit.registry import KINDS, Registry, RegistryError, UnknownNameError

from conftest import ROOT, TINY_FUNIT, make_image_folder, run_cli, tiny_recipe, write_yaml


def test_unknown_name_suggests_nearest():
    reg = Registry()
    reg.add("method", "funit", object, plugin="a")
    reg.add("method", "gpunit", object, plugin="b")
    with pytest.raises(UnknownNameError) as exc:
        reg.get("method", "fnuit")
    assert "Did you mean 'funit'" in str(exc.value)
    assert "gpunit" in str(exc.value)


def test_collision_names_both_plugins():
    reg = Registry()
    from i2ikit.losses import HingeLoss

    reg.add("gan_loss", "hinge", HingeLoss, plugin="core")
    with pytest.raises(RegistryError, match="by plugin 'core' and by plugin 'other'"):
        reg.add("gan_loss", "hinge", HingeLoss, plugin="other")
    with pytest.raises(RegistryError, match="unknown kind"):
        reg.add("optimizer", "x", object, plugin="p")
    assert set(KINDS) == {"encoder", "generator", "discriminator", "gan_loss", "method", "dataset", "metric"}


def test_first_party_plugins_come_from_entry_points():
    infos = {i.name: i for i in plugin_infos()}
    assert {"core", "funit"} <= set(infos)
    assert infos["funit"].module == "i2ikit_funit" and infos["funit"].error is None
    assert ("method", "funit") in {(e.kind, e.name) for e in infos["funit"].registered}
    for name, module in (("gpunit", "i2ikit_gpunit"), ("deepi2i", "i2ikit_deepi2i")):
        assert infos[name].module == module and infos[name].error is None, name
    # list_models names exactly the methods the loaded plugins registered, filtered by the pattern
    methods = sorted(e.name for i in infos.values() for e in i.registered if e.kind == "method")
    assert {"funit", "gpunit", "gpunit_prior", "deepi2i"} <= set(methods)
    assert i2ikit.list_models() == methods
    assert i2ikit.list_models("*unit*") == [m for m in methods if "unit" in m]
    assert "deepi2i" not in i2ikit.list_models("*unit*")
    assert i2ikit.list_models("nothing*") == []


def test_plugins_cli_lists_versions_and_parts():
    out = run_cli(["-m", "i2ikit.cli", "plugins"])
    assert out.returncode == 0, out.stderr
    assert "funit 0.1.0" in out.stdout and "method: funit" in out.stdout
    assert "core " in out.stdout and "gan_loss: hinge" in out.stdout


def test_third_party_plugin_is_discovered_and_failures_are_isolated(third_party_site, monkeypatch):
    monkeypatch.syspath_prepend(str(third_party_site))
    monkeypatch.setenv("I2IKIT_LOAD_PLUGINS", "funit,tinyparts,broken,clash,typo")
    with pytest.warns(UserWarning) as warned:
        reload_plugins()
    messages = [str(w.message) for w in warned]
    assert any("by plugin 'core' and by plugin 'clash'" in m for m in messages)
    assert any("plugin 'clash' registered discriminator 'no_labels', which does not fit" in m for m in messages)
    try:
        infos = {i.name: i for i in plugin_infos()}
        assert infos["tinyparts"].version == "9.9.9" and infos["tinyparts"].error is None
        assert {(e.kind, e.name) for e in infos["tinyparts"].registered} == {("gan_loss", "tiny_lsgan"), ("discriminator", "tiny_patch")}
        assert "broken" in infos and "simulated missing dependency" in infos["broken"].error
        assert "'core'" in infos["clash"].error and "'clash'" in infos["clash"].error
        # a part that does not fit its kind's contract is refused by plugin and name, with the reason
        assert "discriminator 'no_labels'" in infos["clash"].error and "labels" in infos["clash"].error
        # a misspelt hook implementation is an error naming the plugin and the hook (pluggy's check_pending)
        assert "plugin 'typo'" in infos["typo"].error and "i2ikit_regster" in infos["typo"].error
        assert "i2ikit_register" in infos["typo"].error  # the hooks that exist are listed
        reg = i2ikit.get_registry()
        assert reg.get("gan_loss", "hinge").plugin == "core"  # the first registration keeps the name
        assert reg.get("gan_loss", "clash_only").plugin == "clash"
        assert ("discriminator", "no_labels") not in reg
        assert "funit" in i2ikit.list_models()  # the others still work
    finally:
        monkeypatch.undo()
        reload_plugins()


def test_recipe_uses_third_party_loss_and_discriminator(third_party_site, tmp_path):
    data = make_image_folder(tmp_path / "data")
    recipe = tiny_recipe(data, tmp_path / "run", steps=2, save_every=2, sample_every=2)
    recipe["method"].update(gan_loss="tiny_lsgan", discriminator={"name": "tiny_patch", "nf": 4})
    path = write_yaml(tmp_path / "third_party.yaml", recipe)
    env = {"PYTHONPATH": str(third_party_site), "I2IKIT_LOAD_PLUGINS": "funit,tinyparts"}
    out = run_cli(["-m", "i2ikit.run", str(path)], env=env)
    assert out.returncode == 0, out.stderr[-3000:]
    import json

    lines = [json.loads(l) for l in (tmp_path / "run" / "losses.jsonl").read_text().splitlines()]
    assert len(lines) == 2
    from safetensors.torch import load_file

    dis = load_file(str(tmp_path / "run" / "export" / "dis.safetensors"))
    assert any(k.startswith("body.") for k in dis) and any(k.startswith("head.") for k in dis)


def test_copy_me_template_plugin_works_with_funit(third_party_site, monkeypatch):
    import torch

    monkeypatch.syspath_prepend(str(third_party_site))
    monkeypatch.setenv("I2IKIT_LOAD_PLUGINS", "funit,template")
    reload_plugins()
    try:
        info = {i.name: i for i in plugin_infos()}["template"]
        assert info.error is None and info.version == "0.1.0"
        model = i2ikit.build("funit", num_classes=3, gan_loss="lsgan",
                             **{**TINY_FUNIT, "discriminator": {"name": "patchgan", "nf": 8, "n_layers": 2}})
        # the template's parts are the ones in use, not FUNIT's own patch discriminator; lsgan is the core's
        assert {e.name for e in info.registered} == {"patchgan", "resnet_generator", "cyclegan"}
        assert (type(model.adv_loss).__module__, type(model.adv_loss).__name__) == ("i2ikit.losses", "LSGANLoss")
        assert (type(model.dis).__module__, type(model.dis).__name__) == ("i2ikit_template", "PatchGANDiscriminator")
        x, y = torch.rand(2, 3, 32, 32) * 2 - 1, torch.tensor([0, 2])
        batch = {"content": (x, y), "class": (x.flip(0), y.flip(0))}
        nets = {"gen": model.gen, "dis": model.dis}
        steps = model.training_steps(0)
        assert [s.name for s in steps] == ["dis", "gen"]
        for step in steps:
            losses = step.fn(batch, nets)
            assert torch.isfinite(losses["loss"])
            losses["loss"].backward()
        assert all(p.grad is not None and torch.isfinite(p.grad).all() for p in model.dis.parameters())
    finally:
        monkeypatch.undo()
        reload_plugins()


def test_template_discriminator_names_a_bad_key(monkeypatch):
    from i2ikit.errors import ConfigError

    monkeypatch.syspath_prepend(str(ROOT / "plugins" / "template"))
    from i2ikit_template import PatchGANDiscriminator

    with pytest.raises(ConfigError, match="'patchgan'.*nf"):
        PatchGANDiscriminator(num_classes=3, nf=0)
    with pytest.raises(ConfigError, match="n_layers"):
        PatchGANDiscriminator(num_classes=3, n_layers=-1)
    PatchGANDiscriminator(num_classes=3, nf=4, n_layers=2)
