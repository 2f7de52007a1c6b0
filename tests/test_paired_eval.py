"""The paired evaluation protocol (label maps -> images: pix2pixHD, SPADE): every label map of a paired split
synthesised, FID/KID against the same split's real images, LPIPS diversity over S random styles; run on tiny
SPADE models with small seeded stand-in extractors (tests/test_gpunit_eval.py), by evaluate, i2ikit eval and
a recipe's eval: section."""
from __future__ import annotations

import json
import math
from pathlib import Path

import numpy as np
import pytest
import torch
from PIL import Image

import i2ikit
from i2ikit.data import ImageFolder, PairedImages
from i2ikit.errors import ConfigError
from i2ikit.eval import command
from i2ikit.eval.runner import EvalSettings, evaluate
from conftest import make_image_folder
from test_gpunit_eval import _options

TINY = dict(dataset_mode="custom", label_nc=3, crop_size=64, ngf=4, ndf=4, no_vgg_loss=True)
PAIRS = 5
STYLES = 3


def make_paired_folder(root: Path, phase: str = "val", count: int = PAIRS, size: int = 64, seed: int = 0) -> Path:
    """``<phase>_label`` (ids 0..2 in blocks), ``<phase>_inst`` and ``<phase>_img`` (a colour per label id)."""
    rng = np.random.default_rng(seed)
    for sub in ("label", "inst", "img"):
        (root / f"{phase}_{sub}").mkdir(parents=True, exist_ok=True)
    colours = np.array([[20, 20, 20], [200, 40, 40], [40, 40, 200]], dtype=np.uint8)
    for i in range(count):
        label = np.kron(rng.integers(0, 3, (size // 8, size // 8)), np.ones((8, 8), int)).astype(np.uint8)
        inst = np.kron(rng.integers(0, 4, (size // 16, size // 16)), np.ones((16, 16), int)).astype(np.uint8)
        Image.fromarray(label, mode="L").save(root / f"{phase}_label" / f"p{i}.png")
        Image.fromarray(inst, mode="L").save(root / f"{phase}_inst" / f"p{i}.png")
        Image.fromarray(colours[label]).save(root / f"{phase}_img" / f"p{i}.png")
    return root


@pytest.fixture
def pairs(tmp_path: Path) -> PairedImages:
    return PairedImages(make_paired_folder(tmp_path / "pairs"), phase="val", label_nc=3, preprocess="crop",
                        crop_size=64, flip=False)


def _tiny_spade(**kw):
    torch.manual_seed(0)
    return i2ikit.build("spade", **{**TINY, **kw})


def test_paired_protocol_scores_every_label_map_with_random_styles(pairs):
    model = _tiny_spade(use_vae=True)
    settings = EvalSettings(protocol="paired", metrics=["fid", "kid", "lpips_diversity"], num_content=100,
                            styles_per_input=STYLES, batch_size=2, seed=0)
    opts = {**_options(), "kid": {"features": _options()["fid"]["features"], "subset_size": 4, "subsets": 5}}
    r = evaluate(model, content=pairs, targets=pairs, settings=settings, metric_options=opts, progress=False)
    row = r["all"]
    assert row["num_content"] == PAIRS and row["num_styles_per_input"] == STYLES
    assert row["fid_images_translated"] == PAIRS * STYLES and row["fid_images_real"] == PAIRS  # same split's reals
    assert row["kid_images_translated"] == PAIRS * STYLES and row["kid_images_real"] == PAIRS
    assert row["lpips_diversity_inputs"] == PAIRS and row["lpips_diversity_samples_per_input"] == STYLES
    assert all(math.isfinite(v) for v in row.values()) and row["lpips_diversity"] > 0
    opts2 = {**_options(), "kid": {"features": _options()["fid"]["features"], "subset_size": 4, "subsets": 5}}
    again = evaluate(model, content=pairs, targets=pairs, settings=settings, metric_options=opts2, progress=False)
    assert again == r  # seeded styles: the same numbers twice


def test_paired_protocol_without_styles_resizes_a_fixed_size_generator(tmp_path):
    # data cropped to 48 px, generator making 64 px: the synthesised images are brought to 48 px
    root = make_paired_folder(tmp_path / "pairs")
    small = PairedImages(root, phase="val", label_nc=3, preprocess="crop", crop_size=48, flip=False)
    model = _tiny_spade()
    seen = []

    class Spy:
        def __call__(self, x):
            seen.append(tuple(x.shape[-2:]))
            return x.mean((2, 3))

    r = evaluate(model, content=small, targets=small, settings=EvalSettings(protocol="paired", metrics=["fid"],
                 num_content=3, seed=0), metric_options={"fid": {"features": Spy()}}, progress=False)
    assert r["all"]["fid_images_translated"] == 3 and r["all"]["fid_images_real"] == 3  # a seeded draw of 3 of 5
    assert set(seen) == {(48, 48)}


def test_paired_protocol_errors(pairs, tmp_path):
    plain = _tiny_spade()
    with pytest.raises(ConfigError, match="samples styles"):  # no encoder: one image per label map
        evaluate(plain, content=pairs, targets=pairs, settings=EvalSettings(protocol="paired", styles_per_input=2,
                 metrics=["fid"]), progress=False)
    with pytest.raises(ConfigError, match="diversity_samples"):
        evaluate(_tiny_spade(use_vae=True), content=pairs, targets=pairs, progress=False,
                 settings=EvalSettings(protocol="paired", styles_per_input=2, diversity_samples=2, metrics=["fid"]))
    images = ImageFolder(make_image_folder(tmp_path / "imgs", classes=1, per_class=3))
    with pytest.raises(ConfigError, match="type `paired`"):
        evaluate(plain, content=images, targets=images, settings=EvalSettings(protocol="paired", metrics=["fid"]),
                 progress=False)


def test_eval_cli_picks_the_paired_protocol_and_reads_the_whole_split(pairs, tmp_path, monkeypatch):
    export = tmp_path / "spade" / "export"
    _tiny_spade(use_vae=True).save_pretrained(export)
    monkeypatch.setattr(command, "metric_options", lambda args: _options())
    out = tmp_path / "eval"
    # a paired split needs options a data spec string cannot carry: a YAML mapping, as a recipe writes it
    spec = f"{{type: paired, root: '{pairs.root}', phase: val, label_nc: 3, preprocess: crop, crop_size: 64}}"
    rc = command.main([str(export), "--data", spec, "--metrics", "fid", "lpips_diversity", "--styles-per-input", "2",
                       "--batch-size", "4", "--device", "cpu", "--out", str(out)])
    assert rc == 0
    row = json.loads((out / "metrics.json").read_text())["export"]["all"]
    assert row["num_content"] == PAIRS  # every label map by default, not 500 draws
    assert row["fid_images_translated"] == 2 * PAIRS and row["lpips_diversity_samples_per_input"] == 2
    with pytest.raises(ConfigError, match="paired"):
        command.main([str(export), "--protocol", "two_domain", "--data", spec, "--out", str(out)])
    with pytest.raises(ConfigError, match="not a YAML mapping"):
        command.main([str(export), "--data", "{type: [", "--out", str(out)])


@pytest.mark.filterwarnings("ignore::UserWarning")
def test_a_recipe_trains_spade_and_runs_the_paired_protocol(tmp_path):
    """Two trainer iterations of a tiny SPADE on a paired folder, the recipe's eval: section (paired protocol,
    2 styles per label map), samples and the export with the official files."""
    from i2ikit.recipe import validate
    from i2ikit.train.trainer import Trainer

    root = make_paired_folder(tmp_path / "pairs", phase="train", count=4)
    data = {"type": "paired", "root": str(root), "phase": "train", "label_nc": 3, "preprocess": "crop",
            "crop_size": 64, "flip": True}
    recipe = {
        "name": "spade_tiny",
        "method": {"name": "spade", **TINY, "use_vae": True, "epoch_iters": 2},
        "data": {"train": data, "new_size": 64, "crop": 64, "num_workers": 0},
        "train": {"steps": 2, "batch_size": 2, "sample_every": 2, "save_every": 2, "eval_every": 2, "sample_count": 2,
                  "run_dir": str(tmp_path / "run"), "trackers": "none", "progress": False},
        "eval": {"protocol": "paired", "targets": {**data, "flip": False}, "metrics": ["fid", "lpips_diversity"],
                 "metric_options": {"fid": {"features": lambda x: x.mean((2, 3))},
                                    "lpips_diversity": {"model": lambda a, b: (a - b).abs().mean((1, 2, 3))}},
                 "styles_per_input": 2, "num_content": 100},
    }
    Trainer(validate(recipe)).fit()
    run = tmp_path / "run"
    out = json.loads((run / "eval" / "step_00000002.json").read_text())["all"]
    assert out["fid_images_translated"] == 8 and out["lpips_diversity"] > 0
    logged = [json.loads(line) for line in (run / "losses.jsonl").read_text().splitlines()]
    assert {"G/loss", "G/KLD", "G/GAN", "G/GAN_Feat", "D/D_Fake", "D/D_real"} <= set(logged[-1])
    assert (run / "samples" / "step_00000002.png").is_file()
    assert {"latest_net_G.pth", "latest_net_D.pth", "latest_net_E.pth"} <= {p.name for p in (run / "export").iterdir()}
    model = i2ikit.build(pretrained=run / "export")
    label = torch.zeros(1, 1, 64, 64)
    assert model.translate(label, torch.zeros_like(label), num_styles=2).shape == (2, 3, 64, 64)
