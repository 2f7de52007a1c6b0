"""StarGAN v2's FID features (``features="stargan_v2"``): torchvision's ImageNet Inception-v3 from a
local file, StarGAN v2's preprocessing, and the metric / CLI option. Random weights stand in for the
published file; every image costs an Inception forward at 299 px, so the sets are tiny."""
from __future__ import annotations


import numpy as np
import pytest
import torch
import torch.nn.functional as F
from PIL import Image

from i2ikit.eval.features import (
    CachedFeatures,
    StarGANv2InceptionFeatures,
    default_extractor,
    save_image_uint8,
    stargan_v2_inception_features,
)
from i2ikit.eval.metrics import FID, KID, TranslationGroup
from i2ikit.eval.weights import KNOWN_WEIGHTS, MissingWeightsError

FILENAME = "inception_v3_google-0cc3c7bd.pth"


pytestmark = pytest.mark.usefixtures("offline_weights")  # conftest: no internet, no real weight caches


@pytest.fixture(scope="module")
def weights_file(tmp_path_factory):
    """A file with torchvision inception_v3's keys (AuxLogits and fc included), random seeded values."""
    from torchvision.models import inception_v3

    torch.manual_seed(0)
    net = inception_v3(weights=None, aux_logits=True, init_weights=True)
    with torch.no_grad():
        for m in net.modules():
            if isinstance(m, torch.nn.Conv2d):  # keep activations O(1) through the depth
                torch.nn.init.kaiming_normal_(m.weight, nonlinearity="relu")
            if isinstance(m, torch.nn.BatchNorm2d):  # non-trivial statistics, so eval-mode BN is exercised
                m.running_mean.uniform_(-0.1, 0.1)
                m.running_var.uniform_(0.5, 2.0)
    path = tmp_path_factory.mktemp("weights") / FILENAME
    torch.save(net.state_dict(), path)
    return path


def _images(n: int, size: int, seed: int) -> torch.Tensor:
    g = torch.Generator().manual_seed(seed)
    return torch.rand(n, 3, size, size, generator=g) * 2 - 1


def _reference(path, images: torch.Tensor, tmp_dir, img_size: int) -> torch.Tensor:
    """StarGAN v2's path written out by hand: save each fake as PNG with torchvision's save_image,
    read it back with PIL, get_eval_loader's transforms, then the Inception modules one by one."""
    from torchvision import transforms
    from torchvision.models import inception_v3
    from torchvision.utils import save_image

    transform = transforms.Compose([
        transforms.Resize([img_size, img_size]),
        transforms.Resize([299, 299]),
        transforms.ToTensor(),
        transforms.Normalize(mean=[0.485, 0.456, 0.406], std=[0.229, 0.224, 0.225]),
    ])
    batch = []
    for i, x in enumerate(images):
        f = tmp_dir / f"{i:04d}.png"
        save_image(((x + 1) / 2).clamp(0, 1), f, nrow=1, padding=0)
        batch.append(transform(Image.open(f).convert("RGB")))
    x = torch.stack(batch)
    net = inception_v3(weights=None, aux_logits=True, init_weights=False)
    net.load_state_dict(torch.load(path, weights_only=True))
    net.eval()
    with torch.no_grad():
        x = net.Conv2d_2b_3x3(net.Conv2d_2a_3x3(net.Conv2d_1a_3x3(x)))
        x = F.max_pool2d(x, 3, 2)
        x = F.max_pool2d(net.Conv2d_4a_3x3(net.Conv2d_3b_1x1(x)), 3, 2)
        for name in ("5b", "5c", "5d", "6a", "6b", "6c", "6d", "6e", "7a", "7b", "7c"):
            x = getattr(net, f"Mixed_{name}")(x)
        return x.mean(dim=(2, 3))


def test_known_weights_entry():
    entry = KNOWN_WEIGHTS["inception_v3_torchvision"]
    assert entry.filename == FILENAME and entry.sha256 == "0cc3c7bd"
    assert entry.url == "https://download.pytorch.org/models/inception_v3_google-0cc3c7bd.pth"
    assert any("stargan_v2" in u for u in entry.used_by)


def test_save_image_uint8_rounds_like_torchvision_save_image():
    x = torch.tensor([-1.5, -1.0, -0.999, 0.0, 0.5, 1.0, 1.5]).view(1, 1, 1, -1)
    # (x + 1) / 2 * 255 + 0.5, truncated: 0, 0, 0.6275 -> 0, 128.0 -> 128, 191.75 -> 191, 255, 255
    assert save_image_uint8(x).flatten().tolist() == [0, 0, 0, 128, 191, 255, 255]


def test_features_match_stargan_v2_by_hand(weights_file, tmp_path):
    ext = stargan_v2_inception_features(weights_file)
    x = _images(2, 16, seed=1)
    out = ext(x)
    assert out.shape == (2, 2048) and out.dtype == torch.float32 and torch.isfinite(out).all()
    assert torch.equal(out, ext(x))  # deterministic
    ref = _reference(weights_file, x, tmp_path, img_size=16)
    assert torch.allclose(out, ref, rtol=1e-4, atol=1e-5 * ref.abs().max().item())
    # the normalised input itself: PIL bilinear 16 -> 299 on uint8, ImageNet mean/std
    assert ext.preprocess(x).shape == (2, 3, 299, 299)


def test_image_size_resizes_first_as_get_eval_loader(weights_file, tmp_path):
    ext = StarGANv2InceptionFeatures(weights_file, image_size=8)
    x = _images(1, 24, seed=2)
    ref = _reference(weights_file, x, tmp_path, img_size=8)
    out = ext(x)
    assert torch.allclose(out, ref, rtol=1e-4, atol=1e-5 * ref.abs().max().item())
    with pytest.raises(ValueError, match="image_size"):
        StarGANv2InceptionFeatures(weights_file, image_size=0)


def test_wrong_file_and_missing_file(tmp_path, monkeypatch):
    bad = tmp_path / FILENAME
    torch.save({"Conv2d_1a_3x3.conv.weight": torch.zeros(1)}, bad)
    with pytest.raises(ValueError, match="inception_v3"):
        StarGANv2InceptionFeatures(bad)
    monkeypatch.setenv("I2IKIT_WEIGHTS", str(tmp_path / "weights"))
    metric = FID(features="stargan_v2")  # constructing needs no file
    with pytest.raises(MissingWeightsError) as err:
        metric.update(TranslationGroup("t", 0, _images(2, 8, 0), _images(2, 8, 0), _images(2, 8, 1)))
    msg = str(err.value)
    for part in (FILENAME, KNOWN_WEIGHTS["inception_v3_torchvision"].url, "I2IKIT_WEIGHTS", "0cc3c7bd"):
        assert part in msg, part
    with pytest.raises(ValueError, match="stargan_v2"):
        FID(features="stargan")


def test_fid_and_kid_with_the_stargan_v2_extractor(weights_file, monkeypatch):
    monkeypatch.setenv("I2IKIT_WEIGHTS", str(weights_file.parent))
    a, b = _images(2, 16, seed=3), _images(2, 16, seed=4)
    fid, kid = FID(features="stargan_v2"), KID(features="stargan_v2", subsets=2)
    for m in (fid, kid):
        m.update(TranslationGroup("t", 0, a, a, b))
    assert fid.features is kid.features and isinstance(fid.features, CachedFeatures)  # shared, one pass per set
    assert isinstance(fid.features.extractor, StarGANv2InceptionFeatures)
    assert fid.features is default_extractor("stargan_v2")
    value = fid.compute()["fid"]
    assert np.isfinite(value) and value > 0 and np.isfinite(kid.compute()["kid"])
    same = FID(features="stargan_v2", weights=weights_file)  # explicit file: the same cached extractor
    same.update(TranslationGroup("t", 0, a, a, a))  # features of `a` come from the cache
    assert same.features is fid.features
    assert same.compute()["fid"] == pytest.approx(0.0, abs=1e-4 * value)


def test_cli_features_option():
    from i2ikit.eval.command import metric_options, parser

    args = parser().parse_args(["m", "--data", "d", "--out", "o", "--features", "stargan_v2"])
    assert metric_options(args) == {name: {"features": "stargan_v2"} for name in ("fid", "mfid", "kid", "mkid")}
