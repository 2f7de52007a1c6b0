"""Registry and plugin loading: kinds, errors, collisions, entry-point discovery, third-party plugins."""
from __future__ import annotations

import subprocess
import sys
import textwrap
from pathlib import Path

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
    reg.add("loss", "hinge", object, plugin="core")
    with pytest.raises(RegistryError, match="by plugin 'core' and by plugin 'other'"):
        reg.add("loss", "hinge", object, plugin="other")
    with pytest.raises(RegistryError, match="unknown kind"):
        reg.add("optimizer", "x", object, plugin="p")
    assert set(KINDS) == {"encoder", "decoder", "generator", "discriminator", "loss", "method", "dataset", "metric"}


def test_first_party_plugins_come_from_entry_points():
    infos = {i.name: i for i in plugin_infos()}
    assert {"core", "funit"} <= set(infos)
    assert infos["funit"].module == "i2ikit_funit" and infos["funit"].error is None
    assert ("method", "funit") in {(e.kind, e.name) for e in infos["funit"].registered}
    assert i2ikit.list_models("*unit*") == ["funit"] or "funit" in i2ikit.list_models("*unit*")
    assert i2ikit.list_models("nothing*") == []


def test_plugins_cli_lists_versions_and_parts():
    out = run_cli(["-m", "i2ikit.cli", "plugins"])
    assert out.returncode == 0, out.stderr
    assert "funit 0.1.0" in out.stdout and "method: funit" in out.stdout
    assert "core " in out.stdout and "loss: hinge" in out.stdout


PLUGIN_SRC = '''
"""A third-party i2ikit plugin: an LSGAN loss and a tiny patch discriminator."""
import torch
from torch import nn

import i2ikit
from i2ikit.losses import GANLoss

__version__ = "9.9.9"


class LSGANLoss(GANLoss):
    """Least-squares GAN loss."""

    def d_real(self, logits):
        return ((logits - 1) ** 2).mean()

    def d_fake(self, logits):
        return (logits ** 2).mean()

    def g(self, logits):
        return ((logits - 1) ** 2).mean()


class TinyPatchDis(nn.Module):
    """Two strided convs and one logit channel per class."""

    def __init__(self, num_classes, nf=8):
        super().__init__()
        self.body = nn.Sequential(nn.Conv2d(3, nf, 4, 2, 1), nn.LeakyReLU(0.2), nn.Conv2d(nf, 2 * nf, 4, 2, 1), nn.LeakyReLU(0.2))
        self.head = nn.Conv2d(2 * nf, num_classes, 1)

    def forward(self, x, y):
        feat = self.body(x)
        out = self.head(feat)
        return out[torch.arange(x.shape[0], device=x.device), y], feat


@i2ikit.hookimpl
def i2ikit_register(register):
    register("loss", "lsgan", LSGANLoss)
    register("discriminator", "tiny_patch", TinyPatchDis)
'''


def _make_package(root: Path, dist: str, module: str, source: str, ep_name: str) -> Path:
    pkg = root / dist
    (pkg / module).mkdir(parents=True)
    (pkg / module / "__init__.py").write_text(source)
    (pkg / "pyproject.toml").write_text(textwrap.dedent(f'''
        [build-system]
        requires = ["setuptools>=68"]
        build-backend = "setuptools.build_meta"

        [project]
        name = "{dist}"
        version = "9.9.9"

        [project.entry-points.i2ikit]
        {ep_name} = "{module}"

        [tool.setuptools]
        packages = ["{module}"]
    '''))
    return pkg


@pytest.fixture(scope="module")
def third_party_site(tmp_path_factory) -> Path:
    """Build and install (into a private target folder) a third-party plugin and a broken one."""
    base = tmp_path_factory.mktemp("plugins")
    site = base / "site"
    good = _make_package(base, "i2ikit-tinyparts", "i2ikit_tinyparts", PLUGIN_SRC, "tinyparts")
    broken = _make_package(base, "i2ikit-broken", "i2ikit_broken", "raise ImportError('simulated missing dependency')\n", "broken")
    clash = _make_package(base, "i2ikit-clash", "i2ikit_clash",
                          "import i2ikit\n\n@i2ikit.hookimpl\ndef i2ikit_register(register):\n    register('loss', 'hinge', object)\n    register('loss', 'clash_only', object)\n", "clash")
    template = base / "template"
    import shutil

    shutil.copytree(ROOT / "plugins" / "template", template, ignore=shutil.ignore_patterns("*.egg-info", "__pycache__", "build"))
    for pkg in (good, broken, clash, template):
        subprocess.run([sys.executable, "-m", "pip", "install", "-q", "--no-deps", "--no-build-isolation", "--target", str(site), str(pkg)],
                       check=True, capture_output=True)
    return site


def test_third_party_plugin_is_discovered_and_failures_are_isolated(third_party_site, monkeypatch):
    monkeypatch.syspath_prepend(str(third_party_site))
    monkeypatch.setenv("I2IKIT_LOAD_PLUGINS", "funit,tinyparts,broken,clash")  # not the template: it also has 'lsgan'
    with pytest.warns(UserWarning, match="by plugin 'core' and by plugin 'clash'"):
        reload_plugins()
    try:
        infos = {i.name: i for i in plugin_infos()}
        assert infos["tinyparts"].version == "9.9.9" and infos["tinyparts"].error is None
        assert {(e.kind, e.name) for e in infos["tinyparts"].registered} == {("loss", "lsgan"), ("discriminator", "tiny_patch")}
        assert "broken" in infos and "simulated missing dependency" in infos["broken"].error
        assert "'core'" in infos["clash"].error and "'clash'" in infos["clash"].error
        reg = i2ikit.get_registry()
        assert reg.get("loss", "hinge").plugin == "core"  # the first registration keeps the name
        assert reg.get("loss", "clash_only").plugin == "clash"
        assert "funit" in i2ikit.list_models()  # the others still work
    finally:
        monkeypatch.undo()
        reload_plugins()


def test_recipe_uses_third_party_loss_and_discriminator(third_party_site, tmp_path):
    data = make_image_folder(tmp_path / "data")
    recipe = tiny_recipe(data, tmp_path / "run", steps=2, save_every=2, sample_every=2)
    recipe["method"].update(gan_loss="lsgan", discriminator="tiny_patch", discriminator_kwargs={"nf": 4})
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
        model = i2ikit.build("funit", num_classes=3, gan_loss="lsgan", discriminator="patchgan",
                             discriminator_kwargs={"nf": 8, "n_layers": 2}, **TINY_FUNIT)
        x, y = torch.rand(2, 3, 32, 32) * 2 - 1, torch.tensor([0, 2])
        batch = {"content": (x, y), "class": (x.flip(0), y.flip(0))}
        nets = {"gen": model.gen, "dis": model.dis}
        for step in model.training_steps(0):
            losses = step.fn(batch, nets)
            assert torch.isfinite(losses["loss"])
            losses["loss"].backward()
    finally:
        monkeypatch.undo()
        reload_plugins()


def test_template_discriminator_names_a_bad_key(monkeypatch):
    from i2ikit.errors import ConfigError

    monkeypatch.syspath_prepend(str(ROOT / "plugins" / "template"))
    from i2ikit_template import PatchGANDiscriminator

    with pytest.raises(ConfigError, match="'patchgan'.*nf.*discriminator_kwargs"):
        PatchGANDiscriminator(num_classes=3, nf=0)
    with pytest.raises(ConfigError, match="n_layers"):
        PatchGANDiscriminator(num_classes=3, n_layers=-1)
    PatchGANDiscriminator(num_classes=3, nf=4, n_layers=2)
