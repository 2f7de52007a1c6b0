"""GP-UNIT's paper evaluation protocol (two_domain, S latent styles per test input) on a tiny random model."""
from __future__ import annotations

import json
import math
import warnings

import pytest
import torch
from torch import nn

import i2ikit
from i2ikit.data import ImageFolder
from i2ikit.eval import command
from i2ikit.eval.runner import EvalSettings, evaluate

from conftest import make_image_folder

TINY_GPUNIT = dict(img_size=64, nef=8, ngf=8, discriminator={"nf": 8}, style_nef=8, content_encoder=None, vgg_weights=None)
STYLES = 3


def _tiny_gpunit():
    torch.manual_seed(0)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")  # the random content encoder warning
        return i2ikit.build("gpunit", **TINY_GPUNIT)


class _CountingFeatures:
    """A small seeded conv net as the FID/DIPD extractor (nothing downloads); counts the images seen."""

    def __init__(self, pooled: bool) -> None:
        torch.manual_seed(1)
        layers = [nn.Conv2d(3, 8, 3, 2, 1), nn.ReLU()]
        self.net = nn.Sequential(*layers, *([nn.AdaptiveAvgPool2d(2), nn.Flatten()] if pooled else [])).eval()
        self.images = 0

    def __call__(self, x: torch.Tensor) -> torch.Tensor:
        self.images += len(x)
        with torch.no_grad():
            return self.net(x)


class _LPIPSStandIn:
    def __call__(self, a: torch.Tensor, b: torch.Tensor) -> torch.Tensor:
        return (a - b).abs().mean((1, 2, 3))


@pytest.fixture
def domains(tmp_path):
    # test split of the source domain (class_00) and training split of the target domain (class_01)
    test = make_image_folder(tmp_path / "val", classes=2, per_class=5, size=40, seed=1)
    train = make_image_folder(tmp_path / "train", classes=2, per_class=6, size=40, seed=2)
    return test, train


def _options():
    return {"fid": {"features": _CountingFeatures(pooled=True)}, "dipd": {"features": _CountingFeatures(pooled=False)},
            "lpips_diversity": {"model": _LPIPSStandIn()}}


def test_two_domain_paper_protocol_on_tiny_gpunit(domains):
    test, train = domains
    content = ImageFolder(test).subset(["class_00"])
    targets = ImageFolder(train).subset(["class_01"])
    model = _tiny_gpunit()
    # batch 4 over 5 inputs: the last batch of one is merged (GP-UNIT's sampler needs two styles)
    settings = EvalSettings(protocol="two_domain", metrics=["fid", "lpips_diversity", "dipd"], num_content=100,
                            max_real_per_class=0, styles_per_input=STYLES, batch_size=4, seed=0)
    opts = _options()
    r = evaluate(model, content=content, targets=targets, settings=settings, metric_options=opts, image_size=32, progress=False)
    assert set(r) == {"all"}
    row = r["all"]
    assert row["num_content"] == 5 and row["num_target_classes"] == 1 and row["num_styles_per_input"] == STYLES
    assert row["fid_images_translated"] == 5 * STYLES  # FID sees every style's fakes
    assert row["fid_images_real"] == 6  # all training images of the target domain
    assert row["lpips_diversity_inputs"] == 5 and row["lpips_diversity_samples_per_input"] == STYLES
    assert row["dipd_images"] == 5 * STYLES
    assert opts["fid"]["features"].images == 5 * STYLES + 6  # the real images go through once
    assert all(math.isfinite(v) for v in row.values())
    assert row["lpips_diversity"] > 0  # different latent styles give different outputs
    again = evaluate(model, content=content, targets=targets, settings=settings, metric_options=_options(), image_size=32,
                     progress=False)
    assert again == r  # seeded styles: the same numbers twice


def test_styles_per_input_errors(domains):
    test, train = domains
    content, targets = ImageFolder(test), ImageFolder(train)
    for settings, match in [(EvalSettings(protocol="many_class", styles_per_input=2), "two_domain"),
                            (EvalSettings(protocol="two_domain", styles_per_input=2, diversity_samples=2), "diversity_samples")]:
        with pytest.raises(ValueError, match=match):
            evaluate(_tiny_gpunit(), content=content, targets=targets, settings=settings, image_size=32, progress=False)


def test_eval_cli_paper_protocol_on_export(domains, tmp_path, monkeypatch):
    test, train = domains
    export = tmp_path / "gpunit" / "export"
    _tiny_gpunit().save_pretrained(export)
    # The CLI would load Inception/VGG/AlexNet files; give it the local stand-ins instead.
    monkeypatch.setattr(command, "metric_options", lambda args: _options())
    out = tmp_path / "eval"
    rc = command.main([str(export), "--protocol", "two_domain", "--content", str(test), "--content-classes", "class_00",
                       "--data", str(train), "--data-classes", "class_01", "--styles-per-input", str(STYLES),
                       "--max-real", "0", "--metrics", "fid", "lpips_diversity", "dipd", "--image-size", "32",
                       "--batch-size", "4", "--device", "cpu", "--out", str(out)])
    assert rc == 0
    row = json.loads((out / "metrics.json").read_text())["export"]["all"]
    assert row["fid_images_translated"] == 5 * STYLES and row["fid_images_real"] == 6
    assert row["lpips_diversity_samples_per_input"] == STYLES and row["dipd_images"] == 5 * STYLES


@pytest.mark.filterwarnings("ignore:GP-UNIT")
def test_paper_protocol_during_training(tmp_path):
    """A recipe's eval: section runs the two_domain protocol with several styles per input on the EMA model."""
    from i2ikit.recipe import validate
    from i2ikit.train.trainer import Trainer

    folder = make_image_folder(tmp_path / "imgs", classes=2, per_class=4, size=64)
    recipe = {
        "name": "gpunit_eval",
        "method": {"name": "gpunit", **{k: v for k, v in TINY_GPUNIT.items()}, "sampler_epochs": 1},
        "data": {"train": {"type": "image_folder", "root": str(folder)},
                 "streams": {"source": {"classes": ["class_00"]}, "target": {"classes": ["class_01"]}},
                 "new_size": 64, "crop": 64, "num_workers": 0},
        "train": {"steps": 2, "batch_size": 2, "sample_every": 100, "save_every": 100, "eval_every": 2,
                  "run_dir": str(tmp_path / "run"), "trackers": "none", "progress": False},
        "eval": {"protocol": "two_domain", "content": {"type": "image_folder", "root": str(folder), "classes": ["class_00"]},
                 "targets": {"type": "image_folder", "root": str(folder), "classes": ["class_01"]},
                 "metrics": ["dipd"], "metric_options": {"dipd": {"features": lambda x: x}}, "num_content": 3,
                 "styles_per_input": 2, "max_real_per_class": 0},
    }
    Trainer(validate(recipe)).fit()
    out = json.loads((tmp_path / "run" / "eval" / "step_00000002.json").read_text())["all"]
    assert out["num_styles_per_input"] == 2 and out["dipd_images"] == 6 and out["dipd"] > 0


@pytest.mark.filterwarnings("ignore:GP-UNIT")
def test_training_time_eval_uses_a_sampler_fitted_at_that_step(tmp_path, monkeypatch):
    """Evaluation before the first export must not draw styles from an unfitted (random) sampler."""
    from i2ikit.recipe import validate
    from i2ikit.train.trainer import Trainer
    from i2ikit_gpunit import GPUNIT

    seen = []
    original = GPUNIT.translate

    def spy(self, *args, **kwargs):
        seen.append(getattr(self, "sampler_fit_info", {}).get("step"))
        return original(self, *args, **kwargs)

    monkeypatch.setattr(GPUNIT, "translate", spy)
    folder = make_image_folder(tmp_path / "imgs", classes=2, per_class=4, size=64)
    recipe = {
        "name": "gpunit_eval",
        "method": {"name": "gpunit", **TINY_GPUNIT, "sampler_epochs": 1},
        "data": {"train": {"type": "image_folder", "root": str(folder)}, "new_size": 64, "crop": 64, "num_workers": 0},
        "train": {"steps": 2, "batch_size": 2, "sample_every": 100, "save_every": 100, "eval_every": 1,
                  "run_dir": str(tmp_path / "run"), "trackers": "none", "progress": False},
        "eval": {"protocol": "two_domain", "targets": {"type": "image_folder", "root": str(folder), "classes": ["class_01"]},
                 "metrics": ["dipd"], "metric_options": {"dipd": {"features": lambda x: x}}, "num_content": 2},
    }
    Trainer(validate(recipe)).fit()
    assert seen and set(seen) == {1, 2}  # eval at step 1 (no export yet) already used a sampler fitted at step 1
