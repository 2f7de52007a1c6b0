"""Shared fixtures: tiny labelled image folders and tiny FUNIT settings, so tests run in seconds."""
from __future__ import annotations

import os
import random
import subprocess
import textwrap
import sys
from pathlib import Path

import pytest
import torch
from PIL import Image, ImageDraw

ROOT = Path(__file__).resolve().parent.parent

# A FUNIT small enough for CPU tests at 32 px.
TINY_FUNIT = {
    "nf": 8, "n_res_blks": 1, "nf_mlp": 16, "latent_dim": 8, "n_mlp_blks": 3,
    "n_downs_content": 2, "n_downs_class": 2, "discriminator": {"nf": 8, "n_res_blks": 4},
}


def make_image_folder(root: Path, classes: int = 3, per_class: int = 6, size: int = 36, seed: int = 0) -> Path:
    """Draw one coloured shape style per class so that classes are visually distinct."""
    rng = random.Random(seed)
    for c in range(classes):
        folder = root / f"class_{c:02d}"
        folder.mkdir(parents=True, exist_ok=True)
        colour = tuple(rng.randrange(40, 255) for _ in range(3))
        for i in range(per_class):
            img = Image.new("RGB", (size, size), tuple(rng.randrange(0, 60) for _ in range(3)))
            d = ImageDraw.Draw(img)
            x, y = rng.randrange(2, size // 2), rng.randrange(2, size // 2)
            box = (x, y, x + size // 3 + c * 2, y + size // 3)
            (d.ellipse if c % 2 else d.rectangle)(box, fill=colour)
            img.save(folder / f"img_{i:03d}.png")
    return root


@pytest.fixture
def image_folder(tmp_path: Path) -> Path:
    return make_image_folder(tmp_path / "images")


def tiny_recipe(data_root: Path, run_dir: Path, **train) -> dict:
    return {
        "name": "tiny",
        "method": {"name": "funit", "num_classes": "auto", **TINY_FUNIT},
        "data": {"train": {"type": "image_folder", "root": str(data_root)}, "new_size": 36, "crop": 32, "num_workers": 0},
        "train": {"steps": 4, "batch_size": 2, "log_every": 1, "sample_every": 2, "save_every": 2, "sample_count": 2,
                  "run_dir": str(run_dir), "trackers": "none", "progress": False, **train},
    }


def write_yaml(path: Path, data: dict) -> Path:
    import yaml

    path.write_text(yaml.safe_dump(data, sort_keys=False))
    return path


def run_cli(args: list[str], env: dict | None = None, cwd: Path | None = None, timeout: int = 600) -> subprocess.CompletedProcess:
    full_env = {**os.environ, "OMP_NUM_THREADS": "1", **(env or {})}
    return subprocess.run([sys.executable, *args], capture_output=True, text=True, env=full_env, cwd=cwd or ROOT, timeout=timeout)


@pytest.fixture(autouse=True)
def _fresh_accelerate_state():
    """Accelerate keeps process-wide singletons; reset them so each in-process run starts clean."""
    yield
    try:
        from accelerate.state import AcceleratorState, GradientState, PartialState

        AcceleratorState._reset_state(True)
        GradientState._reset_state()
        PartialState._reset_state()
    except Exception:
        pass


RECORDED_ON = "AVX512"
"""The CPU kernels (``torch.backends.cpu.get_cpu_capability()``) of the machine that recorded the golden
numbers of test_default_numbers.py and test_spade.py: oneDNN picks other kernels on AVX2 CPUs, which sum in
another order (a few 1e-6 relative after a training step, up to 2e-3 on a near-cancelling loss)."""


def recorded_tolerance(exact: float, elsewhere: float) -> float:
    """``exact`` on a CPU with the recording machine's kernels, ``elsewhere`` on any other."""
    return exact if torch.backends.cpu.get_cpu_capability() == RECORDED_ON else elsewhere


@pytest.fixture
def one_thread():
    """One CPU thread for a test that compares with numbers recorded on one thread: another count sums
    convolutions (and their gradients) in another order, a few 1e-6 apart after a training step."""
    before = torch.get_num_threads()
    torch.set_num_threads(1)
    yield
    torch.set_num_threads(before)


class NetworkUsed(AssertionError):
    """Raised when a test reaches for the internet (weights must come from local files only)."""


def _no_network(*args, **kwargs):
    raise NetworkUsed(f"network access attempted: {args[:2]}")


@pytest.fixture
def offline_weights(monkeypatch, tmp_path):
    """Cut every path to the internet and hide any real weight caches, so metric tests see only the
    files they write themselves."""
    import socket
    import urllib.request

    import torch
    import torch_fidelity.feature_extractor_inceptionv3 as tf_inc
    import torchvision.models._api as tv_api

    from i2ikit.eval import features

    monkeypatch.setattr(socket.socket, "connect", _no_network)
    monkeypatch.setattr(urllib.request, "urlopen", _no_network)
    monkeypatch.setattr(torch.hub, "load_state_dict_from_url", _no_network)
    monkeypatch.setattr(torch.hub, "download_url_to_file", _no_network)
    monkeypatch.setattr(tv_api, "load_state_dict_from_url", _no_network)
    monkeypatch.setattr(tf_inc, "load_state_dict_from_url", _no_network)
    monkeypatch.setenv("HOME", str(tmp_path / "home"))
    monkeypatch.setenv("TORCH_HOME", str(tmp_path / "torch_home"))
    monkeypatch.delenv("I2IKIT_WEIGHTS", raising=False)
    features._default.cache_clear()
    yield
    features._default.cache_clear()


# ---- third-party plugins, installed for real (pip --target) by the tests that need them ----
PLUGIN_SRC = '''
"""A third-party i2ikit plugin: an LSGAN loss and a tiny patch discriminator."""
import torch
from torch import nn

import i2ikit
from i2ikit.losses import GANLoss
from i2ikit.parts import DiscriminatorOutput

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

    labels = "optional"

    def __init__(self, num_classes=1, nf=8):
        super().__init__()
        self.body = nn.Sequential(nn.Conv2d(3, nf, 4, 2, 1), nn.LeakyReLU(0.2), nn.Conv2d(nf, 2 * nf, 4, 2, 1), nn.LeakyReLU(0.2))
        self.head = nn.Conv2d(2 * nf, num_classes, 1)

    def forward(self, x, y=None):
        feat = self.body(x)
        out = self.head(feat)
        y = torch.zeros(x.shape[0], dtype=torch.long, device=x.device) if y is None else y
        return DiscriminatorOutput(out[torch.arange(x.shape[0], device=x.device), y], [feat])


@i2ikit.hookimpl
def i2ikit_register(register):
    register("gan_loss", "tiny_lsgan", LSGANLoss)
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


@pytest.fixture(scope="session")
def third_party_site(tmp_path_factory) -> Path:
    """Build and install (into a private target folder) a third-party plugin and a broken one."""
    base = tmp_path_factory.mktemp("plugins")
    site = base / "site"
    good = _make_package(base, "i2ikit-tinyparts", "i2ikit_tinyparts", PLUGIN_SRC, "tinyparts")
    broken = _make_package(base, "i2ikit-broken", "i2ikit_broken", "raise ImportError('simulated missing dependency')\n", "broken")
    clash = _make_package(base, "i2ikit-clash", "i2ikit_clash", textwrap.dedent('''
        import i2ikit
        from i2ikit.losses import HingeLoss
        from torch import nn


        class NoLabels(nn.Module):  # says nothing of how it uses labels: does not fit the contract
            def forward(self, x, y=None):
                return x


        @i2ikit.hookimpl
        def i2ikit_register(register):
            register("gan_loss", "hinge", HingeLoss)
            register("gan_loss", "clash_only", HingeLoss)
            register("discriminator", "no_labels", NoLabels)
        '''), "clash")
    typo = _make_package(base, "i2ikit-typo", "i2ikit_typo",
                         "import i2ikit\n\n@i2ikit.hookimpl\ndef i2ikit_regster(register):\n    pass\n", "typo")
    template = base / "template"
    import shutil

    shutil.copytree(ROOT / "plugins" / "template", template, ignore=shutil.ignore_patterns("*.egg-info", "__pycache__", "build"))
    for pkg in (good, broken, clash, typo, template):
        subprocess.run([sys.executable, "-m", "pip", "install", "-q", "--no-deps", "--no-build-isolation", "--target", str(site), str(pkg)],
                       check=True, capture_output=True)
    return site
