"""The shared losses of the core: GAN losses, R1, feature matching and the VGG19 perceptual loss."""
from __future__ import annotations

from pathlib import Path

import pytest
import torch
import torch.nn.functional as F

from i2ikit.losses import HingeLoss, NonSaturatingLoss, VGGPerceptualLoss, feature_matching, resolve_vgg19


def test_gan_losses_terms() -> None:
    x = torch.tensor([-2.0, 0.5, 3.0])
    h, ns = HingeLoss(), NonSaturatingLoss()
    assert torch.isclose(h.d_real(x), F.relu(1 - x).mean()) and torch.isclose(h.d_fake(x), F.relu(1 + x).mean())
    assert torch.isclose(h.g(x), -x.mean())
    assert torch.isclose(ns.d_real(x), F.binary_cross_entropy_with_logits(x, torch.ones(3)))
    assert torch.isclose(ns.d_fake(x), F.binary_cross_entropy_with_logits(x, torch.zeros(3)))


def test_feature_matching_forms_and_detached_targets() -> None:
    torch.manual_seed(0)
    fake = [torch.randn(2, 3, 4, 4, requires_grad=True), torch.randn(2, 5, 2, 2, requires_grad=True)]
    real = [torch.randn(2, 3, 4, 4, requires_grad=True), torch.randn(2, 5, 2, 2, requires_grad=True)]
    maps = feature_matching(fake, real, weights=[1.0, 0.5])
    assert torch.isclose(maps, (fake[0] - real[0]).abs().mean() + 0.5 * (fake[1] - real[1]).abs().mean())
    means = feature_matching(fake, real, spatial_mean=True)
    ref = sum((f.mean((2, 3)) - r.mean((2, 3))).abs().mean() for f, r in zip(fake, real))
    assert torch.isclose(means, ref)
    maps.backward()
    assert fake[0].grad is not None and real[0].grad is None  # targets are detached
    with pytest.raises(ValueError, match="same, non-zero number"):
        feature_matching(fake, real[:1])


def test_vgg_perceptual_loss_is_the_official_sum_over_five_relus(tmp_path: Path) -> None:
    from torchvision.models.vgg import cfgs, make_layers

    torch.manual_seed(0)
    features = make_layers(cfgs["E"], batch_norm=False)
    file = tmp_path / "vgg19-dcbb9e9d.pth"
    torch.save({f"features.{k}": v for k, v in features.state_dict().items()}, file)
    assert resolve_vgg19(tmp_path) == file  # a folder holding the published file name
    loss = VGGPerceptualLoss(str(file))
    assert not any(p.requires_grad for p in loss.parameters()) and not loss.features.training
    a = (torch.rand(2, 3, 32, 32) * 2 - 1).requires_grad_()
    b = torch.rand(2, 3, 32, 32) * 2 - 1
    value = loss(a, b)
    mean = torch.tensor([0.485, 0.456, 0.406]).view(1, 3, 1, 1) * 2 - 1
    std = torch.tensor([0.229, 0.224, 0.225]).view(1, 3, 1, 1) * 2
    fa, fb, ref, start = (a - mean) / std, (b - mean) / std, 0.0, 0
    for end in (2, 7, 12, 21, 30):  # relu1_1, relu2_1, relu3_1, relu4_1, relu5_1
        fa, fb = features[start:end](fa), features[start:end](fb)
        ref = ref + 0.3 * (fa - fb).abs().mean()
        start = end
    torch.testing.assert_close(value, ref, rtol=1e-5, atol=1e-6)
    assert loss(b, b).item() == 0.0
    value.backward()
    assert a.grad is not None and a.grad.abs().sum() > 0
