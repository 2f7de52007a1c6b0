"""Metrics: the math against direct numpy/scipy computations, the streaming classes, the weight
resolver and the standard extractors built from fake local weight files, all with the network cut."""
from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest
import scipy.linalg
import torch
from torch import nn

from i2ikit.eval import registry_entries
from i2ikit.eval.features import CachedFeatures, batched, inception_features, to_uint8, vgg_conv5_features
from i2ikit.eval.metrics import (
    DIPD,
    FID,
    KID,
    ContentAccuracy,
    LPIPSDiversity,
    MeanFID,
    MeanKID,
    TranslationAccuracy,
    TranslationGroup,
    Moments,
    domain_invariant_perceptual_distance,
    frechet_distance,
    frechet_distance_from_moments,
    kernel_inception_distance,
    lpips_diversity,
)
from i2ikit.eval.weights import (
    KNOWN_WEIGHTS,
    ChecksumMismatchError,
    MissingWeightsError,
    resolve_weights,
    sha256_of,
    verify_weights,
)


pytestmark = pytest.mark.usefixtures("offline_weights")  # conftest: no internet, no real weight caches


def rng(seed: int = 0) -> np.random.Generator:
    return np.random.default_rng(seed)


# ----------------------------------------------------------------------------------- FID / KID


def scipy_fid(f1: np.ndarray, f2: np.ndarray) -> float:
    mu1, mu2 = f1.mean(0), f2.mean(0)
    s1, s2 = np.cov(f1, rowvar=False), np.cov(f2, rowvar=False)
    covmean = scipy.linalg.sqrtm(s1 @ s2)
    covmean = np.real(covmean)
    return float(((mu1 - mu2) ** 2).sum() + np.trace(s1) + np.trace(s2) - 2 * np.trace(covmean))


def test_fid_of_a_set_with_itself_is_zero():
    f = rng().normal(size=(300, 16))
    assert abs(frechet_distance(f, f)) < 1e-6


def test_fid_equals_direct_scipy_computation():
    g = rng(1)
    f1 = g.normal(size=(400, 10))
    f2 = g.normal(size=(350, 10)) @ g.normal(size=(10, 10)) * 0.5 + 0.3
    ours = frechet_distance(torch.from_numpy(f1).float(), torch.from_numpy(f2).float())
    ref = scipy_fid(f1.astype(np.float32).astype(np.float64), f2.astype(np.float32).astype(np.float64))
    assert ours == pytest.approx(ref, rel=1e-6)


def test_fid_of_shifted_gaussians_is_the_squared_mean_shift():
    g = rng(2)
    delta = np.array([0.5, -1.0, 2.0, 0.0])
    f = g.normal(size=(500, 4))
    # The same samples shifted: identical covariances, so FID is exactly ‖Δμ‖².
    assert frechet_distance(f, f + delta) == pytest.approx(float(delta @ delta), abs=1e-8)
    # Independent samples: ‖Δμ‖² up to sampling noise (std of the estimate about 0.015 here).
    small = np.array([0.3, -0.4, 0.0, 0.2])
    f1, f2 = g.normal(size=(20000, 4)), g.normal(size=(20000, 4)) + small
    assert frechet_distance(f1, f2) == pytest.approx(float(small @ small), abs=0.05)


def test_streaming_moments_match_numpy_and_give_the_same_fid():
    g = rng(4)
    f1 = g.normal(size=(257, 12)) * 0.01 + 1e3  # a large offset: sums must not cancel
    f2 = g.normal(size=(199, 12)) * 0.02 + 1e3
    m1, m2 = Moments(), Moments()
    for i in range(0, len(f1), 50):
        m1.add(torch.from_numpy(f1[i:i + 50]))
    m2.add(torch.from_numpy(f2))
    mu, cov = m1.mean_cov()
    assert np.allclose(mu, f1.mean(0), rtol=0, atol=1e-10)
    assert np.allclose(cov, np.cov(f1, rowvar=False), rtol=1e-9, atol=1e-14)
    assert frechet_distance_from_moments(*m1.mean_cov(), *m2.mean_cov()) == pytest.approx(frechet_distance(f1, f2), rel=1e-7)


def numpy_kid(f1, f2, subsets, m, seed, degree=3, coef0=1.0):
    rs = np.random.RandomState(seed)
    d = f1.shape[1]
    vals = []
    for _ in range(subsets):
        x = f1[rs.choice(len(f1), m, replace=False)]
        y = f2[rs.choice(len(f2), m, replace=False)]
        k = lambda a, b: (a @ b.T / d + coef0) ** degree  # noqa: E731
        kxx, kyy, kxy = k(x, x), k(y, y), k(x, y)
        off = lambda km: km.sum() - np.trace(km)  # noqa: E731
        vals.append((off(kxx) + off(kyy)) / (m * (m - 1)) - 2 * kxy.sum() / (m * m))
    return float(np.mean(vals)), float(np.std(vals))


def test_kid_equals_direct_unbiased_mmd_on_the_same_subsets():
    g = rng(3)
    f1 = g.normal(size=(120, 6))
    f2 = g.normal(size=(90, 6)) * 1.3 + 0.2
    mean, std = kernel_inception_distance(f1, f2, subsets=7, subset_size=50, seed=5)
    ref_mean, ref_std = numpy_kid(f1, f2, 7, 50, 5)
    assert mean == pytest.approx(ref_mean, rel=1e-9, abs=1e-12)
    assert std == pytest.approx(ref_std, rel=1e-9, abs=1e-12)
    # subset_size is clipped to the smaller set
    clipped = kernel_inception_distance(f1, f2, subsets=3, subset_size=1000, seed=0)
    assert clipped[0] == pytest.approx(numpy_kid(f1, f2, 3, 90, 0)[0], rel=1e-9)
    assert mean > 0.01  # different distributions


# ----------------------------------------------------------------------------------- classes


def tiny_extractor(seed: int = 0) -> nn.Module:
    torch.manual_seed(seed)
    return nn.Sequential(nn.Conv2d(3, 8, 3, stride=2), nn.ReLU(), nn.AdaptiveAvgPool2d(1), nn.Flatten(), nn.Linear(8, 6)).eval()


def make_groups(n_classes: int = 3, n: int = 20, m: int = 25, size: int = 16, seed: int = 0) -> list[TranslationGroup]:
    g = torch.Generator().manual_seed(seed)
    content = torch.rand(n, 3, size, size, generator=g) * 2 - 1
    groups = []
    for c in range(n_classes):
        translated = (torch.rand(n, 3, size, size, generator=g) * 2 - 1) * 0.8 + 0.1 * c
        real = (torch.rand(m, 3, size, size, generator=g) * 2 - 1) * 0.9 + 0.1 * c
        groups.append(TranslationGroup(f"class{c}", c, content, translated, real,
                                       content_labels=torch.arange(n) % 4))
    return groups


def test_fid_mfid_kid_mkid_classes_match_the_functions():
    ext = tiny_extractor()
    groups = make_groups()
    feats = lambda x: batched(ext, x, 7).double()  # noqa: E731
    metrics = {cls.name: cls(features=ext, batch_size=7) for cls in (FID, MeanFID, KID, MeanKID)}
    metrics["kid"] = KID(features=ext, batch_size=7, subsets=5, subset_size=15, seed=1)
    metrics["mkid"] = MeanKID(features=ext, batch_size=7, subsets=5, subset_size=15, seed=1)
    for grp in groups:
        for metric in metrics.values():
            metric.update(grp)
    fake = torch.cat([feats(gr.translated) for gr in groups])
    real = torch.cat([feats(gr.real) for gr in groups])
    out = metrics["fid"].compute()
    assert out["fid"] == pytest.approx(frechet_distance(fake, real), rel=1e-9)
    assert (out["fid_images_translated"], out["fid_images_real"]) == (60, 75)

    per_class = [frechet_distance(feats(gr.translated), feats(gr.real)) for gr in groups]
    out = metrics["mfid"].compute()
    assert out["mfid"] == pytest.approx(np.mean(per_class), rel=1e-9)
    assert metrics["mfid"].per_class()["class1"] == pytest.approx(per_class[1], rel=1e-9)
    assert (out["mfid_classes"], out["mfid_images_per_class"], out["mfid_real_images_per_class"]) == (3, 20, 25)

    out = metrics["kid"].compute()
    assert out["kid"] == pytest.approx(kernel_inception_distance(fake, real, 5, 15, seed=1)[0], rel=1e-9)
    assert out["kid_subset_size"] == 15
    out = metrics["mkid"].compute()
    ref = np.mean([kernel_inception_distance(feats(g.translated), feats(g.real), 5, 15, seed=1)[0] for g in groups])
    assert out["mkid"] == pytest.approx(ref, rel=1e-9)


def test_real_images_of_a_target_are_counted_once_across_chunks():
    ext = tiny_extractor()
    grp = make_groups(n_classes=1)[0]
    half = TranslationGroup(grp.target, grp.target_label, grp.content[:10], grp.translated[:10], grp.real.clone())
    rest = TranslationGroup(grp.target, grp.target_label, grp.content[10:], grp.translated[10:], grp.real.clone())
    chunked, whole = MeanFID(features=ext), MeanFID(features=ext)
    chunked.update(half)
    chunked.update(rest)
    whole.update(grp)
    a, b = chunked.compute(), whole.compute()
    assert a["mfid"] == pytest.approx(b["mfid"], rel=1e-9)
    assert a["mfid_real_images_per_class"] == 25 and a["mfid_images_per_class"] == 20


def test_compute_before_update_and_missing_inputs_fail_clearly():
    with pytest.raises(RuntimeError, match="before any update"):
        FID(features=tiny_extractor()).compute()
    grp = make_groups(n_classes=1)[0]
    with pytest.raises(ValueError, match="variants"):
        LPIPSDiversity(model=lambda a, b: (a - b).abs().mean((1, 2, 3))).update(grp)
    with pytest.raises(ValueError, match="needs a classifier"):
        TranslationAccuracy().update(grp)
    with pytest.raises(ValueError, match="translations"):
        TranslationGroup("x", 0, grp.content, grp.translated[:3], grp.real)


class RowLogits(nn.Module):
    """Reads its logits from the image: channel 0, row 0, first C pixels."""

    def __init__(self, num_classes: int, classes: list[str] | None = None) -> None:
        super().__init__()
        self.num_classes = num_classes
        if classes is not None:
            self.classes = classes

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return x[:, 0, 0, : self.num_classes]


def images_with_target_rank(ranks: list[int], target: int, num_classes: int = 8, size: int = 8) -> torch.Tensor:
    """One image per rank: its logits put class ``target`` at that rank (0 = top)."""
    imgs = torch.zeros(len(ranks), 3, size, size)
    others = [c for c in range(num_classes) if c != target]
    for i, r in enumerate(ranks):
        order = others[:r] + [target] + others[r:]  # order[j] gets the j-th highest logit
        for j, c in enumerate(order):
            imgs[i, 0, 0, c] = 0.9 - 0.1 * j
    return imgs


def test_translation_accuracy_top1_top5_against_a_hand_made_classifier():
    ranks = [0, 0, 0, 1, 2, 4, 5, 6, 7, 3]  # top1: 3/10, top5 (rank < 5): 7/10
    translated = images_with_target_rank(ranks, target=2)
    content = torch.zeros_like(translated)
    grp = TranslationGroup("c2", 2, content, translated, real=torch.zeros(2, 3, 8, 8))
    metric = TranslationAccuracy(classifier=RowLogits(8), batch_size=4)
    metric.update(grp)
    out = metric.compute()
    assert out["top1"] == pytest.approx(0.3) and out["top5"] == pytest.approx(0.7) and out["accuracy_images"] == 10

    # With class names the target is found by name, not by target_label.
    named = RowLogits(8, classes=[f"n{i}" for i in range(8)])
    metric = TranslationAccuracy(classifier=named)
    metric.update(TranslationGroup("n2", 5, content, translated, real=torch.zeros(2, 3, 8, 8)))
    assert metric.compute()["top1"] == pytest.approx(0.3)
    with pytest.raises(ValueError, match="not among the classifier's classes"):
        TranslationAccuracy(classifier=named).update(TranslationGroup("zebra", 2, content, translated, content))


def test_content_accuracy_uses_content_labels():
    # Each image's top class is its index mod 8; labels agree for the first 6 of 8.
    imgs = torch.stack([images_with_target_rank([0], target=i % 8)[0] for i in range(8)])
    labels = torch.tensor([0, 1, 2, 3, 4, 5, 0, 0])
    grp = TranslationGroup("t", 0, imgs, imgs, imgs, content_labels=labels)
    metric = ContentAccuracy(classifier=RowLogits(8))
    metric.update(grp)
    out = metric.compute()
    assert out["content_top1"] == pytest.approx(6 / 8) and out["content_images"] == 8


def test_dipd_is_invariant_to_per_channel_affine_changes_and_positive_for_other_content():
    g = torch.Generator().manual_seed(0)
    a = torch.randn(4, 16, 6, 6, generator=g, dtype=torch.float64)
    scale = torch.rand(4, 16, 1, 1, generator=g, dtype=torch.float64) * 3 + 0.2
    shift = torch.randn(4, 16, 1, 1, generator=g, dtype=torch.float64) * 5
    for reduction, tol in (("mse", 1e-8), ("l2", 1e-3)):  # only eps (1e-5, inside the root) breaks invariance
        same = domain_invariant_perceptual_distance(a, a * scale + shift, reduction)
        assert same.shape == (4,) and same.abs().max() < tol
        other = domain_invariant_perceptual_distance(a, torch.randn(4, 16, 6, 6, generator=g, dtype=torch.float64), reduction)
        assert (other > 0.5).all()
    # The metric class: identity "features" = the images, so a per-channel colour change is pure style.
    content = torch.rand(6, 3, 12, 12, generator=g) * 2 - 1
    styled = (content * torch.tensor([0.5, 0.8, 0.3]).view(1, 3, 1, 1) + torch.tensor([0.2, -0.1, 0.4]).view(1, 3, 1, 1))
    metric = DIPD(features=lambda x: x.double(), batch_size=4)
    metric.update(TranslationGroup("t", 0, content, styled, styled))
    assert metric.compute()["dipd"] < 1e-6
    metric.reset()
    metric.update(TranslationGroup("t", 0, content, torch.rand(6, 3, 12, 12, generator=g), styled))
    out = metric.compute()
    assert out["dipd"] > 0.5 and out["dipd_images"] == 6


def l1_model(a: torch.Tensor, b: torch.Tensor) -> torch.Tensor:
    return (a - b).abs().mean(dim=(1, 2, 3))


def test_lpips_diversity_zero_for_identical_variants_and_the_pairwise_mean_otherwise():
    g = torch.Generator().manual_seed(0)
    base = torch.rand(3, 1, 3, 8, 8, generator=g)
    same = base.expand(3, 4, 3, 8, 8).contiguous()
    assert lpips_diversity(same, l1_model) == 0.0
    variants = torch.rand(3, 4, 3, 8, 8, generator=g)
    ref = np.mean([np.mean([float(l1_model(variants[n, i:i + 1], variants[n, j:j + 1]))
                            for i in range(4) for j in range(i + 1, 4)]) for n in range(3)])
    assert lpips_diversity(variants, l1_model, batch_size=5) == pytest.approx(ref, rel=1e-6)
    metric = LPIPSDiversity(model=l1_model)
    metric.update(TranslationGroup("t", 0, variants[:, 0], variants[:, 0], variants[:, 0], variants=variants))
    out = metric.compute()
    assert out["lpips_diversity"] == pytest.approx(ref, rel=1e-6) and out["lpips_diversity_inputs"] == 3


def test_cached_features_compute_each_live_tensor_once():
    calls = []

    def ext(x: torch.Tensor) -> torch.Tensor:
        calls.append(len(x))
        return x.flatten(1)[:, :4]

    cached = CachedFeatures(ext, batch_size=3)
    x = torch.rand(5, 3, 4, 4)
    a = cached(x)
    b = cached(x)
    assert torch.equal(a, b) and calls == [3, 2]
    x.mul_(2)  # in-place change: recomputed
    assert torch.allclose(cached(x), a * 2) and len(calls) == 4
    y = x.clone()
    cached(y)
    assert len(calls) == 6
    del y
    assert len(cached._cache) == 1  # the entry went away with its tensor


# ----------------------------------------------------------------------------------- weights


def test_missing_weights_error_names_file_hash_url_and_env_var(tmp_path, monkeypatch):
    monkeypatch.setenv("I2IKIT_WEIGHTS", str(tmp_path / "weights"))
    from i2ikit.eval.weights import known_weights

    table = known_weights()
    assert set(KNOWN_WEIGHTS) < set(table) and "ir_se50" not in KNOWN_WEIGHTS  # GP-UNIT declares its own file
    assert table["ir_se50"].filename == "model_ir_se50.pth"
    for name, entry in table.items():
        with pytest.raises(MissingWeightsError) as err:
            resolve_weights(name)
        msg = str(err.value)
        assert isinstance(err.value, FileNotFoundError)
        for part in (entry.filename, entry.sha256, entry.url, "I2IKIT_WEIGHTS", str(tmp_path / "weights"), "curl -L -o"):
            assert part in msg, (name, part)
    with pytest.raises(MissingWeightsError, match="vgg16-397923af.pth"):
        resolve_weights("vgg16", tmp_path / "nowhere.pth")


def test_metrics_resolve_standard_weights_lazily():
    metric = FID()  # constructing needs no file
    grp = make_groups(n_classes=1, n=3, m=3)[0]
    with pytest.raises(MissingWeightsError, match="weights-inception-2015-12-05-6726825d.pth"):
        metric.update(grp)
    with pytest.raises(MissingWeightsError, match="vgg16-397923af.pth"):
        DIPD().update(grp)
    with pytest.raises(MissingWeightsError, match="alexnet-owt-7be5be79.pth"):
        LPIPSDiversity().update(TranslationGroup("t", 0, grp.content, grp.content, grp.real,
                                                 variants=torch.stack([grp.content, grp.content], 1)))


def test_resolve_order_aliases_and_checksums(tmp_path, monkeypatch):
    env_dir, home_file = tmp_path / "env", Path(tmp_path / "home" / ".cache" / "i2ikit" / "weights" / "vgg16-397923af.pth")
    env_dir.mkdir()
    home_file.parent.mkdir(parents=True)
    home_file.write_bytes(b"home")
    assert resolve_weights("vgg16") == home_file
    monkeypatch.setenv("I2IKIT_WEIGHTS", str(env_dir))
    (env_dir / "vgg16-397923af.pth").write_bytes(b"env")
    assert resolve_weights("vgg16") == env_dir / "vgg16-397923af.pth"
    explicit = tmp_path / "my.pth"
    explicit.write_bytes(b"x")
    assert resolve_weights("vgg16", explicit) == explicit
    assert resolve_weights("vgg16", env_dir) == env_dir / "vgg16-397923af.pth"  # a folder
    (env_dir / "pt_inception-2015-12-05-6726825d.pth").write_bytes(b"pytorch-fid name")
    assert resolve_weights("inception").name == "pt_inception-2015-12-05-6726825d.pth"
    with pytest.raises(ChecksumMismatchError, match="397923af"):
        resolve_weights("vgg16", verify=True)
    digest = sha256_of(explicit)
    assert verify_weights(explicit, digest[:8]) == digest  # prefix match, as in torch hub file names
    with pytest.raises(KeyError, match="known"):
        resolve_weights("resnet")


# ----------------------------------------------------------------------------------- standard extractors


def test_vgg_conv5_and_dipd_from_a_fake_local_weights_file(tmp_path):
    from torchvision.models.vgg import cfgs, make_layers

    torch.manual_seed(0)
    features = make_layers(cfgs["D"])
    path = tmp_path / "vgg16-397923af.pth"
    torch.save({f"features.{k}": v for k, v in features.state_dict().items()}, path)  # torchvision key names
    ext = vgg_conv5_features(weights=path)
    x = torch.rand(2, 3, 32, 32) * 2 - 1
    out = ext(x)
    assert out.shape == (2, 512, 2, 2) and torch.isfinite(out).all() and (out >= 0).all()  # relu5_3
    norm = ((x + 1) / 2 - torch.tensor([0.485, 0.456, 0.406]).view(1, 3, 1, 1)) / torch.tensor([0.229, 0.224, 0.225]).view(1, 3, 1, 1)
    assert torch.allclose(out, features[:30](norm), atol=1e-5)
    metric = DIPD(weights=path)
    metric.update(TranslationGroup("t", 0, x, x.flip(-1), x))
    assert metric.compute()["dipd"] > 0
    bad = tmp_path / "bad.pth"
    torch.save({"features.0.weight": torch.zeros(1)}, bad)
    with pytest.raises(ValueError, match="vgg16"):
        vgg_conv5_features(weights=bad)


def test_lpips_from_fake_local_alexnet_weights(tmp_path):
    from torchvision.models import AlexNet

    torch.manual_seed(0)
    path = tmp_path / "alexnet-owt-7be5be79.pth"
    torch.save({f"features.{k}": v for k, v in AlexNet().features.state_dict().items()}, path)
    metric = LPIPSDiversity(net="alex", weights=path)
    g = torch.Generator().manual_seed(1)
    variants = torch.rand(2, 3, 3, 64, 64, generator=g) * 2 - 1
    metric.update(TranslationGroup("t", 0, variants[:, 0], variants[:, 0], variants[:, 0], variants=variants))
    div = metric.compute()["lpips_diversity"]
    assert np.isfinite(div) and div > 0
    backbone = metric.model.net.slice1[0].weight
    assert torch.equal(backbone, torch.load(path)["features.0.weight"])  # the local file, not a random init
    same = variants[:, :1].expand(2, 3, 3, 64, 64).contiguous()
    metric.reset()
    metric.update(TranslationGroup("t", 0, same[:, 0], same[:, 0], same[:, 0], variants=same))
    assert metric.compute()["lpips_diversity"] == pytest.approx(0.0, abs=1e-7)


def test_inception_features_from_a_fake_local_weights_file(tmp_path, monkeypatch):
    from torch_fidelity.feature_extractor_inceptionv3 import FeatureExtractorInceptionV3

    # torch-fidelity's extractor always loads a file: build one with random weights first.
    empty = tmp_path / "empty.pth"
    torch.save({}, empty)
    with monkeypatch.context() as m:
        m.setattr(FeatureExtractorInceptionV3, "load_state_dict", lambda self, *a, **k: None)
        torch.manual_seed(0)
        random_net = FeatureExtractorInceptionV3("x", ["2048"], feature_extractor_weights_path=str(empty))
    path = tmp_path / "weights-inception-2015-12-05-6726825d.pth"
    torch.save(random_net.state_dict(), path)
    monkeypatch.setenv("I2IKIT_WEIGHTS", str(tmp_path))
    ext = inception_features()
    x = torch.rand(2, 3, 32, 32) * 2 - 1
    out = ext(x)
    assert out.shape == (2, 2048) and torch.isfinite(out).all()
    (ref,) = random_net(to_uint8(x))  # uint8 [0, 255] in, torch-fidelity resizes to 299 itself
    assert torch.allclose(out, ref)
    # The default FID extractor is shared and caches features per live tensor.
    grp = TranslationGroup("t", 0, x, x, x.flip(-1))
    fid, kid = FID(), KID(subsets=2)
    fid.update(grp)
    kid.update(grp)
    assert fid.features is kid.features and np.isfinite(fid.compute()["fid"])


def test_to_uint8_rounds_the_generator_range():
    x = torch.tensor([-1.0, -0.999, 0.0, 0.5, 1.0, 1.5])
    assert to_uint8(x.view(1, 1, 1, -1)).flatten().tolist() == [0, 0, 128, 191, 255, 255]


def test_registry_entries_cover_the_metrics():
    entries = registry_entries()
    assert [n for _, n, _ in entries] == ["fid", "mfid", "kid", "mkid", "accuracy", "content_accuracy", "dipd",
                                          "lpips_diversity"]
    assert all(kind == "metric" and cls.name == n for kind, n, cls in entries)
