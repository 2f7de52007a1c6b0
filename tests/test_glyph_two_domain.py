"""The glyph data's two-domain split (serif -> sans-serif) and its benchmark: `i2ikit eval glyphs --protocol two_domain`."""
from __future__ import annotations

import json
from pathlib import Path

import pytest
import torch

import i2ikit
from i2ikit.errors import ConfigError
from i2ikit_glyphs import render
from i2ikit_glyphs.benchmark import DomainClassifier
from i2ikit_glyphs.dataset import glyphs
from i2ikit_glyphs.domains import DOMAIN_FAMILIES, domain_faces, face_domain

from conftest import run_cli


def test_faces_belong_to_their_family_domain() -> None:
    assert face_domain("source-serif-pro-bold-italic") == "serif" and face_domain("stixgeneral") == "serif"
    assert face_domain("source-sans-pro") == "sans" and face_domain("dejavu-sans-condensed-oblique") == "sans"
    assert face_domain("cmss10") == "sans" and face_domain("cmr10") == "serif"
    # Monospace, script, math and unknown faces are in no domain; a family is a whole name part.
    for face in ("dejavu-sans-mono-bold", "cmtt10", "amatic-sc", "intuitive", "dejavu-math-tex-gyre", "latosans",
                 "robotoslab", "liberation-serif"):
        assert face_domain(face) is None, face
    assert set(DOMAIN_FAMILIES) == {"serif", "sans"}


def test_domain_faces_keeps_the_order_and_names_what_is_wrong() -> None:
    faces = ["lato", "caladea", "cmtt10", "roboto-bold", "cmr10"]
    assert domain_faces(faces, "sans") == ["lato", "roboto-bold"]
    assert domain_faces(faces, "serif") == ["caladea", "cmr10"]
    with pytest.raises(ConfigError, match=r"'slab' is not a glyph domain; use one of: serif, sans"):
        domain_faces(faces, "slab")
    with pytest.raises(ConfigError, match=r"no face of domain 'serif'.*i2ikit data glyphs --list"):
        domain_faces(["lato"], "serif", where="data.streams.source")


def test_the_dataset_type_filters_a_split_by_domain(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    real = render.build_glyph_dataset
    monkeypatch.setattr(render, "build_glyph_dataset",
                        lambda *a, **k: real(*a, **{**k, "chars": "Ab", "size": 32, "include_system": False,
                                                    "progress": False}))
    root = str(tmp_path / "g")
    every = glyphs(split="train", root=root)
    serif, sans = glyphs(split="train", root=root, domain="serif"), glyphs(split="train", root=root, domain="sans")
    assert serif.classes and sans.classes
    assert all(face_domain(f) == "serif" for f in serif.classes) and all(face_domain(f) == "sans" for f in sans.classes)
    assert set(serif.classes) | set(sans.classes) == {f for f in every.classes if face_domain(f)}
    assert len(serif) == 2 * len(serif.classes)  # both characters of each face


class _Style(torch.nn.Module):
    classes = ["caladea-italic", "lato-bold", "amatic-sc", "roboto-bold-italic"]

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return x.flatten(1)[:, :4]


def test_domain_accuracy_sums_the_style_classifiers_probability_over_each_domains_faces() -> None:
    clf = DomainClassifier(_Style())
    assert clf.classes == ["other", "sans", "serif"]
    face_logits = torch.randn(5, 4)
    got = clf(face_logits.view(5, 4, 1, 1)).softmax(1)
    p = face_logits.softmax(1)
    torch.testing.assert_close(got, torch.stack([p[:, 2], p[:, 1] + p[:, 3], p[:, 0]], 1))


def test_the_lpips_style_distance_is_zero_for_equal_images_and_symmetric() -> None:
    from i2ikit.eval.classifier import Classifier, classifier_lpips
    from i2ikit.eval.metrics import lpips_diversity

    torch.manual_seed(0)
    distance = classifier_lpips(Classifier("test_resnet", ["a", "b"], image_size=32))
    a, b = torch.rand(3, 3, 32, 32) * 2 - 1, torch.rand(3, 3, 32, 32) * 2 - 1
    d = distance(a, b)
    assert d.shape == (3, 1, 1, 1) and bool((d > 0).all())
    torch.testing.assert_close(d, distance(b, a))
    assert float(distance(a, a).abs().max()) < 1e-6
    # As the diversity of S outputs per input: none when the S outputs are one image.
    assert lpips_diversity(a.unsqueeze(1).expand(3, 4, 3, 32, 32), distance) < 1e-6
    assert lpips_diversity(torch.stack([a, b], 1), distance) == pytest.approx(float(d.mean()), rel=1e-5)


@pytest.mark.slow
def test_the_two_domain_glyph_benchmark_end_to_end(tmp_path: Path) -> None:
    env = {"I2IKIT_DATA": str(tmp_path / "cache")}
    torch.manual_seed(0)
    model = i2ikit.build("munit", generator={"dim": 8, "mlp_dim": 16, "style_dim": 4, "n_res": 1},
                         discriminator={"num_scales": 2, "discriminator": {"name": "munit_patch", "dim": 8, "n_layer": 2}})
    model.save_pretrained(tmp_path / "munit_glyphs" / "export")
    def command(out: str) -> list[str]:
        return ["-m", "i2ikit.cli", "eval", "glyphs", "--protocol", "two_domain", "--model",
                str(tmp_path / "munit_glyphs" / "export"), "--out", str(tmp_path / out), "--size", "32",
                "--num-content", "16", "--styles-per-input", "2", "--classifier-model", "test_resnet",
                "--classifier-epochs", "1", "--classifiers", str(tmp_path / "clf"), "--quiet"]

    out = run_cli(command("bench"), env=env, timeout=1500)
    assert out.returncode == 0, out.stderr[-3000:]
    results = json.loads((tmp_path / "bench" / "metrics.json").read_text())
    assert set(results) == {"munit_glyphs", "baseline: serif glyph untouched",
                            "reference: real sans-serif glyphs (training faces)"}
    row = results["munit_glyphs"]["all"]
    assert {"domain_top1", "content_top1", "fid", "kid", "lpips_diversity"} <= set(row)
    assert "top5" not in row and row["fid_images_translated"] == 16 * 2 and row["lpips_diversity"] > 0
    assert "lpips_diversity" not in results["baseline: serif glyph untouched"]["all"]
    again = run_cli(command("again"), env=env, timeout=1500)  # the classifiers trained above, reused
    assert again.returncode == 0, again.stderr[-3000:]
    assert json.loads((tmp_path / "again" / "metrics.json").read_text()) == results
