"""GP-UNIT's latent sampler fitting (official ``train_sampler`` / GLANN ICP): style-bias mitigation, the ICP
fit on synthetic codes, and the fit the ``gpunit`` method runs before every training export."""
from __future__ import annotations

from pathlib import Path

import pytest
import torch
from conftest import make_image_folder
from i2ikit_gpunit.networks import Sampler
from i2ikit_gpunit.sampler_fit import (
    collect_style_codes,
    fit_sampler,
    mitigate_style_bias,
    nearest_indices,
)

import i2ikit
from i2ikit.recipe import validate
from i2ikit.train.trainer import Trainer

TINY = {"img_size": 64, "nef": 8, "ngf": 8, "discriminator": {"nf": 8}, "style_nef": 8, "style_dim": 16, "noise_dim": 8}

pytestmark = pytest.mark.filterwarnings("ignore:GP-UNIT")


def recipe(data_root: Path, run_dir: Path, method: dict | None = None, **train) -> dict:
    return {
        "name": "gpunit_sampler_tiny",
        "method": {"name": "gpunit", **TINY, **(method or {})},
        "data": {"train": {"type": "image_folder", "root": str(data_root)}, "new_size": 64, "crop": 64, "num_workers": 0},
        "train": {"steps": 2, "batch_size": 4, "log_every": 1, "sample_every": 2, "save_every": 2, "sample_count": 2,
                  "run_dir": str(run_dir), "trackers": "none", "progress": False, **train},
    }


# ---- mitigate_style_bias ----------------------------------------------------------------------------------
def test_mitigate_style_bias_appends_the_farthest_halves() -> None:
    n = 2000
    perm = torch.randperm(n, generator=torch.Generator().manual_seed(0))
    codes = torch.zeros(n, 3)
    codes[:, 0] = perm.float()  # value v: L1 distance |v - 999.5| from the mean code, no tie at any cut
    codes[:, 2] = 5.0  # constant: adds nothing to the distance
    out = mitigate_style_bias(codes)
    # N // 1000 = 2 repetitions: the farthest 1000, then the farthest 500
    assert out.shape == (n + 1000 + 500, 3)
    assert torch.equal(out[:n], codes)
    first, second = out[n:n + 1000, 0], out[n + 1000:, 0]
    assert set(first.tolist()) == set(range(500)) | set(range(1500, 2000))
    assert set(second.tolist()) == set(range(250)) | set(range(1750, 2000))
    # each appended block is the tail of the ascending distance ranking
    dist = (first - 999.5).abs()
    assert torch.all(dist[1:] >= dist[:-1])


def test_mitigate_style_bias_counts() -> None:
    assert mitigate_style_bias(torch.randn(999, 4)).shape[0] == 999  # N < 1000: unchanged
    # N = 16000: 16 repetitions of max(N // 2**(i+1), 1): 8000, 4000, ..., 7, 3, then 1 four times
    codes = torch.rand(16000, 2, generator=torch.Generator().manual_seed(1))
    assert mitigate_style_bias(codes).shape[0] == 16000 + 15997


def test_nearest_indices_match_a_full_search_in_chunks() -> None:
    g = torch.Generator().manual_seed(2)
    q, k = torch.randn(50, 6, generator=g), torch.randn(70, 6, generator=g)
    ref = ((q[:, None] - k[None]) ** 2).sum(-1).argmin(1)
    assert torch.equal(nearest_indices(q, k, max_elements=100), ref)  # one query row per chunk
    assert torch.equal(nearest_indices(q, k), ref)


# ---- fit_sampler ----------------------------------------------------------------------------------------
def _clusters(n: int = 200) -> tuple[torch.Tensor, torch.Tensor]:
    g = torch.Generator().manual_seed(0)
    centres = torch.stack([torch.full((16,), 2.0), torch.full((16,), -2.0)])
    return centres[torch.arange(n) % 2] + 0.3 * torch.randn(n, 16, generator=g), centres


def _coverage(sampler: Sampler, codes: torch.Tensor, centres: torch.Tensor) -> tuple[float, torch.Tensor]:
    z = torch.randn(2 * codes.shape[0], sampler.noise_dim, generator=torch.Generator().manual_seed(9))
    with torch.no_grad():
        samples = sampler(z, batch_stats=True)  # official sampling: BatchNorm batch statistics
    mean_nearest = torch.cdist(codes, samples).min(dim=1).values.mean().item()
    per_cluster = torch.bincount(torch.cdist(samples, centres).argmin(dim=1), minlength=2)
    return mean_nearest, per_cluster


def test_fit_sampler_covers_two_clusters_and_is_deterministic() -> None:
    codes, centres = _clusters()
    torch.manual_seed(0)
    sampler = Sampler(8, 16).requires_grad_(False).eval()
    init = {k: v.clone() for k, v in sampler.state_dict().items()}
    before, _ = _coverage(sampler, codes, centres)
    losses = fit_sampler(sampler, codes, epochs=30, batch_size=32, generator=torch.Generator().manual_seed(3))
    after, per_cluster = _coverage(sampler, codes, centres)
    assert len(losses) == 30 and losses[-1] < 0.5 * losses[0]
    assert after < 0.5 * before, (before, after)
    assert per_cluster.min().item() >= 0.2 * per_cluster.sum().item(), per_cluster  # both clusters sampled
    # flags and mode restored
    assert not sampler.training and not any(p.requires_grad for p in sampler.parameters())
    # BatchNorm running statistics moved (train mode throughout, as officially)
    assert int(sampler.bn1.num_batches_tracked) > 0
    # same generator seed, same start: the same result
    again = Sampler(8, 16)
    again.load_state_dict(init)
    losses2 = fit_sampler(again, codes, epochs=30, batch_size=32, generator=torch.Generator().manual_seed(3))
    assert losses2 == losses
    for k, v in sampler.state_dict().items():
        assert torch.equal(v, again.state_dict()[k]), k


def test_fit_sampler_official_defaults_and_checks() -> None:
    codes, _ = _clusters(300)
    sampler = Sampler(8, 16)
    # official: batch 128 with the last partial batch dropped; epochs default int(2e6 / N)
    assert len(fit_sampler(sampler, codes, epochs=2, generator=torch.Generator().manual_seed(0))) == 2
    assert sampler.training
    import inspect

    kw = inspect.signature(fit_sampler).parameters
    assert kw["batch_size"].default == 128 and kw["lr"].default == 1e-3 and kw["lr_step_epochs"].default == 50
    assert kw["lr_gamma"].default == 0.5 and kw["betas"].default == (0.5, 0.999) and kw["weight_decay"].default == 1e-5
    assert kw["noise_factor"].default == 2
    with pytest.raises(ValueError, match="style_dim"):
        fit_sampler(sampler, torch.randn(10, 7), epochs=1)
    with pytest.raises(ValueError, match="at least 2"):
        fit_sampler(sampler, torch.randn(1, 16), epochs=1)


def test_collect_style_codes() -> None:
    enc = torch.nn.Linear(3, 2)
    out = collect_style_codes(enc, [(torch.randn(2, 3), torch.zeros(2)), torch.randn(3, 3)])
    assert out.shape == (5, 2) and not out.requires_grad
    with pytest.raises(ValueError, match="no images"):
        collect_style_codes(enc, [])


# ---- the method: fit before every training export ---------------------------------------------------------
def test_trainer_export_fits_the_sampler_on_target_codes(tmp_path: Path) -> None:
    folder = make_image_folder(tmp_path / "imgs", classes=2, per_class=6, size=64)
    rec = recipe(folder, tmp_path / "run", {"sampler_epochs": 3})
    rec["data"]["streams"] = {"source": {"classes": ["class_00"]}, "target": {"classes": ["class_01"]}}
    trainer = Trainer(validate(rec))
    s0 = {k: v.clone() for k, v in trainer.method.sampler.state_dict().items()}
    run = trainer.fit()
    m = trainer.method
    assert m.sampler_fit_info is not None
    assert m.sampler_fit_info["codes"] == 6 and m.sampler_fit_info["epochs"] == 3 and m.sampler_fit_info["step"] == 2
    assert not any(p.requires_grad for p in m.sampler.parameters())
    rebuilt = i2ikit.build(pretrained=run / "export")
    exported = rebuilt.sampler.state_dict()
    assert any(not torch.equal(exported[k].cpu(), s0[k]) for k in ("lin1.weight", "lin2.weight", "lin_out.weight"))
    for k, v in m.sampler.state_dict().items():
        assert torch.equal(exported[k].cpu(), v.cpu()), k
    x = torch.rand(1, 3, 64, 64, generator=torch.Generator().manual_seed(0)) * 2 - 1
    out = rebuilt.translate(x, num_styles=2)
    assert out.shape == (2, 3, 64, 64) and torch.isfinite(out).all()


def test_before_export_needs_target_images_and_can_be_off() -> None:
    from i2ikit_gpunit import GPUNIT

    from i2ikit.method import ExportData

    def one_pass(stream):
        yield torch.rand(3, 3, 64, 64) * 2 - 1, torch.zeros(3, dtype=torch.long)  # source-domain labels only

    data = ExportData(step=5, seed=0, device=torch.device("cpu"), batch_size=3, one_pass=one_pass)
    m = GPUNIT(**TINY, sampler_epochs=1)
    with pytest.raises(ValueError, match="target_classes"):
        m.before_export(data)
    off = GPUNIT(**TINY, fit_sampler=False)
    s0 = {k: v.clone() for k, v in off.sampler.state_dict().items()}
    off.before_export(data)
    assert off.sampler_fit_info is None
    assert all(torch.equal(v, s0[k]) for k, v in off.sampler.state_dict().items())


def test_before_export_mitigates_and_is_seeded_by_step(monkeypatch) -> None:
    from i2ikit_gpunit import GPUNIT

    from i2ikit.method import ExportData

    imgs = torch.rand(4, 3, 64, 64, generator=torch.Generator().manual_seed(0)) * 2 - 1

    def one_pass(stream):
        yield imgs, torch.tensor([1, 1, 0, 1])

    data = ExportData(step=7, seed=0, device=torch.device("cpu"), batch_size=4, one_pass=one_pass)
    a = GPUNIT(**TINY, sampler_epochs=2)
    a.before_export(data)
    assert a.sampler_fit_info["codes"] == 3  # the label-0 image is not a target image
    b = GPUNIT(**TINY, sampler_epochs=2)
    b.G_ema.load_state_dict(a.G_ema.state_dict())
    b.before_export(data)
    for k, v in a.sampler.state_dict().items():
        assert torch.equal(v, b.sampler.state_dict()[k]), k
    # mitigate_style_bias: the codes go through it before the fit (N < 1000 here, so spy on the call)
    import i2ikit_gpunit.method as method_module

    seen = []

    def spy(codes):
        seen.append(codes.shape[0])
        return torch.cat([codes, codes[:1]])

    monkeypatch.setattr(method_module, "_mitigate", spy)
    c = GPUNIT(**TINY, sampler_epochs=1, mitigate_style_bias=True)
    c.before_export(data)
    assert seen == [3] and c.sampler_fit_info["codes"] == 4
