"""Evaluation protocols, reports, determinism, training-time evaluation and the glyph benchmark."""
from __future__ import annotations

import json

import pytest
import torch
from torch import nn

import i2ikit
from i2ikit.data import ImageFolder
from i2ikit.eval.runner import ClassMeanBaseline, EvalSettings, IdentityBaseline, evaluate, write_report
from i2ikit.recipe import validate
from i2ikit.train.trainer import Trainer

from conftest import TINY_FUNIT, make_image_folder, run_cli, tiny_recipe


def _features():
    torch.manual_seed(0)
    net = nn.Sequential(nn.Conv2d(3, 8, 3, 2, 1), nn.ReLU(), nn.AdaptiveAvgPool2d(2), nn.Flatten()).eval()
    return lambda x: net(x).detach()


class _ColourClassifier(nn.Module):
    """Classifies an image by its mean colour's nearest class centre: a transparent, exact stand-in."""

    def __init__(self, centres: torch.Tensor) -> None:
        super().__init__()
        self.centres = centres

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return -torch.cdist(x.mean((2, 3)), self.centres)


@pytest.fixture
def split(tmp_path):
    source = ImageFolder(make_image_folder(tmp_path / "source", classes=3, per_class=6))
    target = ImageFolder(make_image_folder(tmp_path / "target", classes=2, per_class=8, seed=5))
    return source, target


def test_few_shot_protocol_is_deterministic_and_shares_the_shots(split):
    source, target = split
    feats = _features()
    options = {"mfid": {"features": feats}, "mkid": {"features": feats, "subsets": 5}}
    settings = EvalSettings(ks=[1, 3], metrics=["mfid", "mkid"], num_content=10, seed=3)
    model = i2ikit.build("funit", num_classes=3, **TINY_FUNIT)
    a = evaluate(model, content=source, targets=target, settings=settings, metric_options=options, image_size=32, progress=False)
    b = evaluate(model, content=source, targets=target, settings=settings, metric_options=options, image_size=32, progress=False)
    assert a == b and set(a) == {"k1", "k3"}
    assert a["k1"]["num_content"] == 10 and a["k1"]["num_target_classes"] == 2

    seen = []

    class Spy(IdentityBaseline):
        def translate(self, content, class_images=None, **kw):
            seen.append(class_images.clone())
            return super().translate(content)

    evaluate(Spy(), content=source, targets=target, settings=settings, metric_options=options, image_size=32, progress=False)
    first = list(seen)
    seen.clear()
    evaluate(Spy(), content=source, targets=target, settings=settings, metric_options=options, image_size=32, progress=False)
    assert first and len(seen) == len(first)  # the spy was called, and as often both times
    assert {x.shape[0] for x in first} == {1, 3}  # K = 1 and K = 3 class images
    assert all(torch.equal(x, y) for x, y in zip(first, seen))  # the same K images for every method


def test_baselines_and_accuracy_behave_as_expected(split):
    source, target = split
    # Class centres = mean colour of each target class's images: the class-mean baseline must be classified right.
    from i2ikit.data import EvalTransform

    t = EvalTransform(new_size=32, crop=32)
    centres = torch.stack([torch.stack([t(target.load(i), None) for i in idx]).mean((0, 2, 3)) for idx in target.indices_by_class()])
    options = {"accuracy": {"classifier": _ColourClassifier(centres)}}
    settings = EvalSettings(ks=[5], metrics=["accuracy"], num_content=6)
    mean = evaluate(ClassMeanBaseline(), content=source, targets=target, settings=settings, metric_options=options, image_size=32, progress=False)
    assert mean["k5"]["top1"] == 1.0
    ident = evaluate(IdentityBaseline(), content=source, targets=target, settings=settings, metric_options=options, image_size=32, progress=False)
    assert ident["k5"]["top1"] <= 0.5 + 1e-9  # the content image ignores the target: at most chance over 2 classes


def test_many_class_and_two_domain_protocols(split):
    source, target = split
    calls = []

    class ManyClass:
        def translate(self, images, target_class, z=None):
            calls.append(target_class)
            return images * 0 + target_class * 0.5

    class TwoDomain:
        def translate(self, content, style_image=None, z=None):
            return (content + torch.randn(content.shape[0], 3, 1, 1)).clamp(-1, 1)

    feats = _features()
    r = evaluate(ManyClass(), content=source, targets=target, settings=EvalSettings(protocol="many_class", metrics=["fid"], num_content=4),
                 metric_options={"fid": {"features": feats}}, image_size=32, progress=False)
    assert set(r) == {"all"} and sorted(set(calls)) == [0, 1]

    class LPIPSStandIn:
        def __call__(self, a, b):
            return (a - b).abs().mean((1, 2, 3))

    settings = EvalSettings(protocol="two_domain", metrics=["lpips_diversity"], num_content=4, diversity_samples=3)
    a = evaluate(TwoDomain(), content=source, targets=target, settings=settings, metric_options={"lpips_diversity": {"model": LPIPSStandIn()}},
                 image_size=32, progress=False)
    b = evaluate(TwoDomain(), content=source, targets=target, settings=settings, metric_options={"lpips_diversity": {"model": LPIPSStandIn()}},
                 image_size=32, progress=False)
    assert a == b and a["all"]["lpips_diversity"] > 0  # seeded random styles: diverse, yet repeatable


def test_report_files(tmp_path):
    # counts (num_*, *_inputs, *_per_input, *_images_*) stay in metrics.json, out of the table
    results = {"funit": {"k1": {"top1": 0.5, "mfid": 12.0, "num_content": 3.0, "lpips_diversity_inputs": 3.0,
                                "lpips_diversity_samples_per_input": 2.0, "fid_images_real": 9.0}},
               "baseline": {"k1": {"top1": 0.1, "mfid": 30.0}}}
    paths = write_report(results, tmp_path / "r", title="t", command="i2ikit eval x")
    assert json.loads(paths["json"].read_text()) == results
    md = paths["md"].read_text()
    assert "| model | K | mfid | top1 |" in md and "| funit | 1 | 12 | 0.5 |" in md and "i2ikit eval x" in md
    assert paths["png"].stat().st_size > 1000


def test_evaluation_during_training_is_logged(tmp_path, image_folder):
    held_out = make_image_folder(tmp_path / "held_out", classes=2, per_class=5, seed=9)
    recipe = tiny_recipe(image_folder, tmp_path / "run", steps=2, eval_every=2, sample_every=100, save_every=100)
    recipe["eval"] = {"targets": {"type": "image_folder", "root": str(held_out)}, "k": [1], "metrics": ["kid"],
                      "metric_options": {"kid": {"features": "inception"}}, "num_content": 4}
    # The standard Inception weights are not here: the run must say which file is missing, by name.
    with pytest.raises(FileNotFoundError, match="inception-2015-12-05"):
        Trainer(validate(recipe)).fit()
    recipe["eval"]["metrics"] = ["dipd"]
    recipe["eval"]["metric_options"] = {"dipd": {"features": lambda x: x}}
    recipe["train"]["run_dir"] = str(tmp_path / "run2")
    Trainer(validate(recipe)).fit()
    out = json.loads((tmp_path / "run2" / "eval" / "step_00000002.json").read_text())
    assert out["k1"]["dipd"] > 0


def test_eval_recipe_errors(tmp_path, image_folder):
    recipe = tiny_recipe(image_folder, tmp_path / "run", eval_every=2)
    with pytest.raises(ValueError, match="no `eval:` section"):
        validate(recipe)
    recipe["eval"] = {"targets": {"type": "image_folder", "root": str(image_folder)}, "metrics": ["mfdi"]}
    with pytest.raises(ValueError, match="Did you mean 'mfid'"):
        validate(recipe)


@pytest.mark.slow
def test_glyph_benchmark_end_to_end(tmp_path):
    env = {"I2IKIT_DATA": str(tmp_path / "cache")}
    model = i2ikit.build("funit", num_classes=3, **TINY_FUNIT)
    model.save_pretrained(tmp_path / "m" / "export")
    out = run_cli(["-m", "i2ikit.cli", "eval", "glyphs", "--model", str(tmp_path / "m" / "export"), "--out", str(tmp_path / "bench"),
                   "--size", "32", "--k", "1", "--num-content", "8", "--classifier-model", "test_resnet", "--classifier-epochs", "1",
                   "--quiet"], env=env, timeout=1200)
    assert out.returncode == 0, out.stderr[-3000:]
    results = json.loads((tmp_path / "bench" / "metrics.json").read_text())
    assert set(results) == {"m", "baseline: content image", "baseline: mean of class images"}
    for row in results.values():
        assert {"top1", "top5", "content_top1", "mfid", "mkid"} <= set(row["k1"])


def test_glyph_benchmark_scores_the_validation_faces(tmp_path, monkeypatch):
    """``--split val``: the unseen classes are the validation faces (``glyphs:val``), the content glyphs and
    the character classifier come from the other training faces (``glyphs:fit``); the test faces are not read."""
    from i2ikit.eval.classifier import load_classifier
    from i2ikit_glyphs import benchmark, render
    from i2ikit_glyphs.dataset import glyphs

    monkeypatch.setenv("I2IKIT_DATA", str(tmp_path / "cache"))
    real = render.build_glyph_dataset
    monkeypatch.setattr(render, "build_glyph_dataset",
                        lambda *a, **k: real(*a, **{**k, "chars": "AbG3", "size": 32, "progress": False}))
    model = i2ikit.build("funit", num_classes=3, **TINY_FUNIT)
    model.save_pretrained(tmp_path / "m" / "export")
    assert benchmark.main(["--split", "val", "--model", str(tmp_path / "m" / "export"), "--out", str(tmp_path / "b"),
                           "--size", "32", "--k", "1", "--num-content", "4", "--classifier-model", "test_resnet",
                           "--classifier-epochs", "1", "--threads", "1", "--quiet"]) == 0
    style = load_classifier(tmp_path / "b" / "classifiers" / "style")
    assert style.classes == glyphs(split="val", size=32).classes
    assert set(style.classes).isdisjoint(glyphs(split="test", size=32).classes)
    assert len(load_classifier(tmp_path / "b" / "classifiers" / "content").classes) == 4  # the four characters
    assert "validation faces" in (tmp_path / "b" / "metrics.md").read_text()
    assert set(json.loads((tmp_path / "b" / "metrics.json").read_text())) == {
        "m", "baseline: content image", "baseline: mean of class images"}


def test_eval_commands_come_from_plugins(capsys):
    """``i2ikit eval <name>`` runs a plugin's ``i2ikit_eval_commands`` entry; ``--help`` lists them."""
    from i2ikit.cli import main
    from i2ikit.eval.command import eval_commands

    commands = eval_commands()
    assert commands["train-classifier"][0] == "core" and commands["glyphs"][0] == "glyphs"
    with pytest.raises(SystemExit) as exit_:
        main(["eval", "--help"])
    assert exit_.value.code == 0
    text = capsys.readouterr().out
    assert "evaluation commands" in text and "  glyphs " in text and "[glyphs]" in text and "train-classifier" in text
    with pytest.raises(SystemExit):
        main(["eval", "glyphs", "--help"])
    assert "usage: i2ikit eval glyphs" in capsys.readouterr().out
