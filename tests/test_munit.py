"""MUNIT: official architecture, keys and counts, official files, translation, losses, schedule, training."""
from __future__ import annotations

import math
from pathlib import Path

import pytest
import torch

import i2ikit
from conftest import make_image_folder
from i2ikit.errors import CheckpointError, ConfigError
from i2ikit.nn.blocks import LayerNorm
from i2ikit.two_domain import step_decay
from i2ikit_munit import MUNIT
from munit_family_keys import MUNIT_GEN_KEYS

TINY_GEN = {"dim": 8, "mlp_dim": 16, "style_dim": 4, "n_res": 1}
TINY_DIS = {"num_scales": 2, "discriminator": {"name": "munit_patch", "dim": 8, "n_layer": 2}}


def official_weights(net: torch.nn.Module, seed: int) -> dict[str, torch.Tensor]:
    """Deterministic weights for every key of a network: N(0, 0.05^2) parameters, AdaIN dummies 0 / 1."""
    g = torch.Generator().manual_seed(seed)
    out = {}
    for k, v in net.state_dict().items():
        if k.endswith("running_mean"):
            out[k] = torch.zeros(v.shape)
        elif k.endswith("running_var"):
            out[k] = torch.ones(v.shape)
        else:
            out[k] = torch.randn(v.shape, generator=g) * 0.05
    return out


def count(net: torch.nn.Module) -> int:
    return sum(p.numel() for p in net.parameters())


@pytest.fixture(scope="module")
def official():
    return i2ikit.build("munit")


def test_parameter_counts_and_keys_at_the_official_configs(official) -> None:
    g, d = official.gen_a, official.dis_a
    assert (count(g), count(g.enc_style), count(g.enc_content), count(g.dec), count(g.mlp)) == (
        15_026_187, 2_764_936, 5_385_856, 5_754_627, 1_120_768)
    assert count(d) == 8_271_171 and count(official) == 46_594_716
    assert [(k, tuple(v.shape)) for k, v in g.state_dict().items()] == MUNIT_GEN_KEYS  # official order
    dis_keys = list(d.state_dict())
    assert len(dis_keys) == 30 and dis_keys[:2] == ["scales.0.0.conv.weight", "scales.0.0.conv.bias"]
    assert d.state_dict()["scales.2.4.weight"].shape == (1, 512, 1, 1)
    # LN gamma keeps its Uniform(0, 1) start, conv biases are 0 after the kaiming init, D weights are N(0, 0.02)
    gamma = g.state_dict()["dec.model.2.norm.gamma"]
    assert 0 <= gamma.min() and gamma.max() <= 1 and gamma.std() > 0.1
    assert g.enc_content.model[0].conv.bias.abs().max() == 0
    w = d.scales[0][1].conv.weight
    assert abs(w.std().item() - 0.02) < 0.002


def test_outputs_equal_the_official_networks_for_the_same_weights(tmp_path: Path, official) -> None:
    """Reference values computed once by the official NVlabs/MUNIT AdaINGen (a82e222) on CPU for these
    weights and inputs: content of x through gen_a, style of y through gen_b, decoded by gen_b."""
    file = tmp_path / "gen_01000000.pt"
    torch.save({"a": official_weights(official.gen_a, 10), "b": official_weights(official.gen_b, 11)}, file)
    model = i2ikit.build("munit", pretrained=file)
    g = torch.Generator().manual_seed(1)
    x, y = torch.rand(1, 3, 32, 32, generator=g) * 2 - 1, torch.rand(1, 3, 32, 32, generator=g) * 2 - 1
    out = model.translate(x, y)
    expected = torch.tensor([[0.108228467, 0.144571349, 0.150638387, 0.136348516],
                             [0.018041248, 0.048036173, 0.028790371, 0.009838860],
                             [-0.099731132, -0.081649736, -0.058916699, 0.003631769]])
    assert torch.allclose(out[0, :, 0, :4], expected, atol=1e-5)
    assert math.isclose(out.mean().item(), 0.027879739, abs_tol=1e-6)
    assert math.isclose(out.abs().mean().item(), 0.086758696, abs_tol=1e-6)


def test_official_files_load_safely_with_their_quirks(tmp_path: Path) -> None:
    tiny = i2ikit.build("munit", generator=TINY_GEN, discriminator=TINY_DIS)
    sd_a = official_weights(tiny.gen_a, 1)
    # a PyTorch 0.3 file: IN running statistics test.py drops; the DataParallel prefix on 'b'
    old = {**sd_a, "enc_content.model.0.norm.running_mean": torch.zeros(8), "enc_content.model.0.norm.running_var": torch.ones(8)}
    sd_b = {f"module.{k}": v for k, v in official_weights(tiny.gen_b, 2).items()}
    file = tmp_path / "gen_00010000.pt"
    torch.save({"a": old, "b": sd_b}, file)
    dis = {"a": {k.replace("scales.", "cnns."): torch.randn(v.shape) for k, v in tiny.dis_a.state_dict().items()},
           "b": {k.replace("scales.", "cnns."): torch.randn(v.shape) for k, v in tiny.dis_b.state_dict().items()}}
    torch.save(dis, tmp_path / "dis_00010000.pt")
    m = i2ikit.build("munit", pretrained=file, dis=tmp_path / "dis_00010000.pt",
                     discriminator=TINY_DIS)
    assert m.config["generator"] == {"name": "munit_generator", "dim": 8, "n_downsample": 2, "n_res": 1,
                                     "style_dim": 4, "mlp_dim": 16}  # read from the shapes
    for k, v in sd_a.items():
        assert torch.equal(m.gen_a.state_dict()[k], v), k
    assert torch.equal(m.dis_b.state_dict()["scales.1.2.weight"], dis["b"]["cnns.1.2.weight"])
    # the export also writes the official format, which loads back
    m.save_pretrained(tmp_path / "export")
    again = i2ikit.build("munit", pretrained=tmp_path / "export" / "gen.pt")
    x = torch.rand(2, 3, 32, 32) * 2 - 1
    assert torch.equal(again.translate(x, x.flip(0)), m.translate(x, x.flip(0)))
    # a file that is not {'a', 'b'}, a file that needs pickle, and wrong settings: one message naming the file
    torch.save({"gen": sd_a}, tmp_path / "other.pt")
    with pytest.raises(CheckpointError, match="other.pt.*'a': state_dict"):
        i2ikit.build("munit", pretrained=tmp_path / "other.pt")

    class Evil:
        def __reduce__(self):
            return (exec, ("import pathlib; pathlib.Path('PWNED').write_text('x')",))

    torch.save({"a": Evil(), "b": {}}, tmp_path / "evil.pt")
    with pytest.raises(CheckpointError):
        i2ikit.build("munit", pretrained=tmp_path / "evil.pt")
    assert not Path("PWNED").exists()
    with pytest.raises(CheckpointError, match="gen_00010000.pt"):
        MUNIT.load_official(file, generator={"dim": 8, "mlp_dim": 16, "style_dim": 4, "n_res": 2})


def test_translation_modes_and_directions() -> None:
    torch.manual_seed(0)
    m = i2ikit.build("munit", generator=TINY_GEN, discriminator=TINY_DIS)
    x, y = torch.rand(3, 3, 32, 32) * 2 - 1, torch.rand(3, 3, 32, 32) * 2 - 1
    c, _ = m.gen_a.enc_content(x), None
    s_y = m.gen_b.enc_style(y)
    assert torch.allclose(m.translate(x, y), m.gen_b.decode(c, s_y))  # exemplar: target-domain style encoder
    z = torch.randn(3, 4)
    assert torch.allclose(m.translate(x, z=z), m.gen_b.decode(c, z.view(3, 4, 1, 1)))
    g1, g2 = torch.Generator().manual_seed(5), torch.Generator().manual_seed(5)
    many = m.translate(x[:1], num_styles=4, generator=g1)  # one input, 4 random styles
    assert many.shape == (4, 3, 32, 32) and torch.equal(many, m.translate(x[:1], num_styles=4, generator=g2))
    assert not torch.allclose(many[0], many[1])
    b2a = m.translate(y, x, direction="b2a")
    assert torch.allclose(b2a, m.gen_a.decode(m.gen_b.enc_content(y), m.gen_a.enc_style(x)))
    assert m.translate(x, y[:1]).shape == (3, 3, 32, 32)  # one exemplar for all
    with pytest.raises(ConfigError, match="'sideways'"):
        m.translate(x, direction="sideways")
    with pytest.raises(ConfigError, match="one style source"):
        m.translate(x, y, z=z)
    with pytest.raises(ConfigError, match="3 content images and 2 styles"):
        m.translate(x, y[:2])


def test_munit_layer_norm_semantics() -> None:
    """Per sample over C x H x W, unbiased std, eps outside the root, per-channel affine."""
    ln = LayerNorm(4)
    x = torch.randn(2, 4, 3, 3)
    flat = x.view(2, -1)
    ref = (x - flat.mean(1).view(2, 1, 1, 1)) / (flat.std(1, unbiased=True).view(2, 1, 1, 1) + 1e-5)
    ref = ref * ln.gamma.view(1, 4, 1, 1) + ln.beta.view(1, 4, 1, 1)
    assert torch.allclose(ln(x), ref, atol=1e-6)


def test_schedule_is_the_official_step_decay() -> None:
    m = i2ikit.build("munit", generator=TINY_GEN, discriminator=TINY_DIS)
    # StepLR(100000, 0.5) stepped before every iteration: the first halving is at iteration 99,999 (0-based)
    assert [m.lr_factor("gen", i) for i in (0, 99_998, 99_999, 199_999, 999_999)] == [1, 1, 0.5, 0.25, 0.5 ** 10]
    assert step_decay(3, 2, 0.1) == pytest.approx(0.01)
    assert i2ikit.build("munit", generator=TINY_GEN, discriminator=TINY_DIS, lr_policy="constant").lr_factor("dis", 10 ** 6) == 1
    opt = m.make_optimizers()
    assert set(opt) == {"gen", "dis"}
    group = opt["gen"].param_groups[0]
    assert (group["lr"], group["betas"], group["weight_decay"]) == (1e-4, (0.5, 0.999), 1e-4)
    assert [s.name for s in m.training_steps(0)] == ["dis", "gen"]  # one D step, then one G step


def test_losses_of_one_iteration(tmp_path: Path) -> None:
    torch.manual_seed(0)
    from i2ikit.losses import Vgg16Relu53

    vgg = tmp_path / "vgg16.weight"
    torch.save({k: torch.randn(v.shape) * 0.01 for k, v in Vgg16Relu53().state_dict().items()}, vgg)
    m = i2ikit.build("munit", generator=TINY_GEN, discriminator=TINY_DIS, recon_x_cyc_w=10, vgg_w=1, vgg_weights=str(vgg))
    batch = {"source": (torch.rand(2, 3, 32, 32) * 2 - 1, torch.zeros(2)), "target": (torch.rand(2, 3, 32, 32) * 2 - 1, torch.zeros(2))}
    nets = m.networks()
    d = m.dis_update(batch, nets)
    g = m.gen_update(batch, nets)
    assert set(g) == {"loss", "loss_gen_recon_x", "loss_gen_recon_s", "loss_gen_recon_c", "loss_gen_gan",
                      "loss_gen_cycrecon_x", "loss_gen_vgg"}
    total = (g["loss_gen_gan"] + 10 * g["loss_gen_recon_x"] + g["loss_gen_recon_s"] + g["loss_gen_recon_c"]
             + 10 * g["loss_gen_cycrecon_x"] + g["loss_gen_vgg"])
    assert torch.allclose(g["loss"].detach(), total)
    assert all(torch.isfinite(v) for v in [*d.values(), *g.values()])
    g["loss"].backward()
    assert m.gen_a.mlp.model[0].fc.weight.grad is not None and m.gen_b.enc_style.model[0].conv.weight.grad is not None
    # the LSGAN losses are summed over the scales, each scale's mean counting once
    x = batch["source"][0]
    logits = m.dis_a(x).logits
    parts = m.dis_a.split(logits)
    from i2ikit.losses import LSGANLoss, per_scale

    assert torch.allclose(per_scale(LSGANLoss().g, m.dis_a, logits), sum(((p - 1) ** 2).mean() for p in parts))
    plain = i2ikit.build("munit", generator=TINY_GEN, discriminator=TINY_DIS)
    assert "loss_gen_cycrecon_x" not in plain.gen_update(batch, plain.networks())  # E2S: recon_x_cyc_w 0


def test_trains_on_two_folders_with_the_schedule_applied(tmp_path: Path) -> None:
    from i2ikit.recipe import validate
    from i2ikit.train.trainer import Trainer

    root = make_image_folder(tmp_path / "data", classes=2, per_class=4, size=36)
    (root / "class_00").rename(root / "trainA")
    (root / "class_01").rename(root / "trainB")
    raw = {"name": "munit_tiny",
           "method": {"name": "munit", "generator": TINY_GEN, "discriminator": TINY_DIS, "step_size": 1, "gamma": 0.5},
           "data": {"train": {"type": "image_folder", "root": str(root), "classes": ["trainA", "trainB"]},
                    "streams": {"source": {"classes": ["trainA"]}, "target": {"classes": ["trainB"]}},
                    "new_size": 36, "crop": 32, "num_workers": 0},
           "train": {"steps": 2, "batch_size": 1, "log_every": 1, "sample_every": 2, "save_every": 2, "sample_count": 2,
                     "run_dir": str(tmp_path / "run"), "trackers": "none", "progress": False}}
    trainer = Trainer(validate(raw))
    trainer.fit()
    # the lr of the last iteration (index 1): 1e-4 * 0.5 ** ((1 + 1) // 1)
    assert trainer.optimizers["gen"].param_groups[0]["lr"] == pytest.approx(2.5e-5)
    assert list((tmp_path / "run" / "samples").glob("*.png"))
    export = tmp_path / "run" / "export"
    assert (export / "gen.pt").is_file() and (export / "gen_a.safetensors").is_file()
    model = i2ikit.build(pretrained=export)
    assert model.translate(torch.zeros(1, 3, 32, 32), num_styles=2).shape == (2, 3, 32, 32)
