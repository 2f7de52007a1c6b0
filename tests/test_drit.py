"""DRIT / DRIT++ (the ``drit`` method): official parameter counts and state-dict keys (Appendix A/B of
the reference), the kept quirks, official-file round trips, translation modes, the d_iter schedule, the
learning-rate schedule and every loss term. Tiny widths (dim 8) at 64 px unless the official layout is the
point (counted on the meta device, or one forward at 216 px for the content discriminator)."""
from __future__ import annotations

import json
import pickle
from pathlib import Path

import pytest
import torch
import torch.nn.functional as F

import i2ikit
from i2ikit.errors import CheckpointError, ConfigError
from i2ikit.recipe import load_recipe
from i2ikit_drit import (DRIT, ClippedAdam, Draws, DritContentDiscriminator, GaussianNoiseLayer, LayerNorm,
                         LeakyReLUConv2d, MisINSResBlock, drit_forward, save_official)
from i2ikit_drit.official import dis_from_official, dis_to_official, infer_config

from conftest import ROOT, run_cli

# 64 px: the content code is 16 x 16, so the content discriminator keeps one k7 s2 layer (16 -> 6 -> k4 -> 3).
TINY = {"dim": 8, "discriminator": {"discriminator": {"name": "drit_patch", "dim": 8}},
        "content_discriminator": {"n_down": 1, "dim": 16}}
NETS = ("enc_c", "enc_a", "gen", "disA", "disB", "disA2", "disB2", "disContent")


@pytest.fixture(autouse=True, scope="module")
def _one_thread():
    """Small convolutions on a shared 2-core machine: one thread avoids OpenMP contention; restored after."""
    before = torch.get_num_threads()
    torch.set_num_threads(1)
    yield
    torch.set_num_threads(before)


def tiny(**kw) -> DRIT:
    torch.manual_seed(0)
    return DRIT(**{**TINY, **kw})


def images(n: int, size: int = 64, seed: int = 0) -> torch.Tensor:
    g = torch.Generator().manual_seed(seed)
    return torch.rand(n, 3, size, size, generator=g) * 2 - 1


def batch_of(n: int = 2, size: int = 64, seed: int = 0) -> dict:
    return {"source": (images(n, size, seed), torch.zeros(n, dtype=torch.long)),
            "target": (images(n, size, seed + 1), torch.zeros(n, dtype=torch.long))}


def nets_of(m: DRIT) -> dict:
    return m.networks()


def count(module: torch.nn.Module) -> int:
    return sum(p.numel() for p in module.parameters())


# ---- the official keys and shapes (reference, Appendix A and B), written out from its tables ------------
def _resblock(prefix: str, c: int) -> list[tuple[str, tuple]]:
    return [(f"{prefix}model.1.weight", (c, c, 3, 3)), (f"{prefix}model.1.bias", (c,)),
            (f"{prefix}model.5.weight", (c, c, 3, 3)), (f"{prefix}model.5.bias", (c,))]


def appendix_enc_c() -> list[tuple[str, tuple]]:
    keys = _resblock("conv_share.0.", 256)
    for side in "AB":
        keys += [(f"conv{side}.0.model.1.weight", (64, 3, 7, 7)), (f"conv{side}.0.model.1.bias", (64,)),
                 (f"conv{side}.1.model.1.weight", (128, 64, 3, 3)), (f"conv{side}.1.model.1.bias", (128,)),
                 (f"conv{side}.2.model.1.weight", (256, 128, 3, 3)), (f"conv{side}.2.model.1.bias", (256,))]
        for i in (3, 4, 5):
            keys += _resblock(f"conv{side}.{i}.", 256)
    return keys


def appendix_enc_a_concat() -> list[tuple[str, tuple]]:
    keys = []
    for side in "AB":
        keys += [(f"fc_{side}.0.weight", (8, 256)), (f"fc_{side}.0.bias", (8,)),
                 (f"fcVar_{side}.0.weight", (8, 256)), (f"fcVar_{side}.0.bias", (8,)),
                 (f"conv_{side}.1.weight", (64, 3, 4, 4)), (f"conv_{side}.1.bias", (64,))]
        for i, (cin, cout) in zip((2, 3, 4), ((64, 128), (128, 192), (192, 256))):
            keys += [(f"conv_{side}.{i}.conv.2.weight", (cin, cin, 3, 3)), (f"conv_{side}.{i}.conv.2.bias", (cin,)),
                     (f"conv_{side}.{i}.conv.4.1.weight", (cout, cin, 3, 3)), (f"conv_{side}.{i}.conv.4.1.bias", (cout,)),
                     (f"conv_{side}.{i}.shortcut.1.weight", (cout, cin, 1, 1)), (f"conv_{side}.{i}.shortcut.1.bias", (cout,))]
    return keys


def appendix_gen_concat() -> list[tuple[str, tuple]]:
    keys = _resblock("dec_share.0.", 256)
    for side in "AB":
        for i in range(3):
            keys += _resblock(f"dec{side}1.{i}.", 264)
        keys += [(f"dec{side}2.0.model.0.weight", (272, 136, 3, 3)), (f"dec{side}2.0.model.0.bias", (136,)),
                 (f"dec{side}2.0.model.1.weight", (136, 1, 1)), (f"dec{side}2.0.model.1.bias", (136, 1, 1)),
                 (f"dec{side}3.0.model.0.weight", (144, 72, 3, 3)), (f"dec{side}3.0.model.0.bias", (72,)),
                 (f"dec{side}3.0.model.1.weight", (72, 1, 1)), (f"dec{side}3.0.model.1.bias", (72, 1, 1)),
                 (f"dec{side}4.0.weight", (80, 3, 1, 1)), (f"dec{side}4.0.bias", (3,))]
    return keys


def appendix_enc_a() -> list[tuple[str, tuple]]:
    keys = []
    for side in "ab":
        for i, shape in zip((1, 4, 7, 10, 13, 16), ((64, 3, 7, 7), (128, 64, 4, 4), (256, 128, 4, 4), (256, 256, 4, 4),
                                                    (256, 256, 4, 4), (8, 256, 1, 1))):
            keys += [(f"model_{side}.{i}.weight", shape), (f"model_{side}.{i}.bias", (shape[0],))]
    return keys


def appendix_gen() -> list[tuple[str, tuple]]:
    keys = []
    for side in "AB":
        for k in range(1, 5):
            p = f"dec{side}{k}."
            keys += [(p + "conv1.0.1.weight", (256, 256, 3, 3)), (p + "conv1.0.1.bias", (256,)),
                     (p + "conv2.0.1.weight", (256, 256, 3, 3)), (p + "conv2.0.1.bias", (256,)),
                     (p + "blk1.0.weight", (512, 512, 1, 1)), (p + "blk1.0.bias", (512,)),
                     (p + "blk1.2.weight", (256, 512, 1, 1)), (p + "blk1.2.bias", (256,)),
                     (p + "blk2.0.weight", (512, 512, 1, 1)), (p + "blk2.0.bias", (512,)),
                     (p + "blk2.2.weight", (256, 512, 1, 1)), (p + "blk2.2.bias", (256,))]
        p = f"dec{side}5."
        keys += [(p + "0.model.0.weight", (256, 128, 3, 3)), (p + "0.model.0.bias", (128,)),
                 (p + "0.model.1.weight", (128, 1, 1)), (p + "0.model.1.bias", (128, 1, 1)),
                 (p + "1.model.0.weight", (128, 64, 3, 3)), (p + "1.model.0.bias", (64,)),
                 (p + "1.model.1.weight", (64, 1, 1)), (p + "1.model.1.bias", (64, 1, 1)),
                 (p + "2.weight", (64, 3, 1, 1)), (p + "2.bias", (3,))]
    for side in "AB":
        keys += [(f"mlp{side}.0.weight", (256, 8)), (f"mlp{side}.0.bias", (256,)), (f"mlp{side}.2.weight", (256, 256)),
                 (f"mlp{side}.2.bias", (256,)), (f"mlp{side}.4.weight", (1024, 256)), (f"mlp{side}.4.bias", (1024,))]
    return keys


def appendix_dis() -> list[tuple[str, tuple]]:
    keys = []
    for s in range(3):
        cin = 3
        for i, cout in enumerate((64, 128, 256, 512)):
            keys += [(f"Diss.{s}.{i}.model.1.weight", (cout, cin, 4, 4)), (f"Diss.{s}.{i}.model.1.bias", (cout,))]
            cin = cout
        keys += [(f"Diss.{s}.4.weight", (1, 512, 1, 1)), (f"Diss.{s}.4.bias", (1,))]
    return keys


def appendix_dis_content() -> list[tuple[str, tuple]]:
    keys = []
    for i in range(3):
        keys += [(f"model.{i}.model.1.weight", (256, 256, 7, 7)), (f"model.{i}.model.1.bias", (256,))]
    return keys + [("model.3.model.1.weight", (256, 256, 4, 4)), ("model.3.model.1.bias", (256,)),
                   ("model.4.weight", (1, 256, 1, 1)), ("model.4.bias", (1,))]


def shapes(module: torch.nn.Module, official_dis: bool = False) -> list[tuple[str, tuple]]:
    sd = module.state_dict()
    if official_dis:
        sd = dis_to_official(sd)
    return [(k, tuple(v.shape)) for k, v in sd.items()]


@pytest.fixture(scope="module")
def official_models() -> dict[int, DRIT]:
    with torch.device("meta"):
        return {1: DRIT(), 0: DRIT(concat=0)}


# ---- registration, defaults, counts and keys ------------------------------------------------------------
def test_registered_with_official_defaults_and_eight_adams() -> None:
    assert "drit" in i2ikit.list_models()
    cls = i2ikit.get_registry().get("method", "drit").obj
    assert cls is DRIT and DRIT.data_streams == ("source", "target") and DRIT.tasks == ("two_domain",)
    assert DRIT.translate_modes == ("style", "num_styles") and DRIT.min_classes == {"source": 1, "target": 1}
    cfg = DRIT.__init__.__wrapped__.__kwdefaults__
    assert (cfg["concat"], cfg["nz"], cfg["d_iter"], cfg["n_ep"], cfg["n_ep_decay"], cfg["mode_seeking"]) == (1, 8, 3, 1200, 600, True)
    assert (cfg["lambda_kl"], cfg["lambda_kl_content"], cfg["lambda_cross_cycle"], cfg["lambda_self_rec"],
            cfg["lambda_latent"], cfg["lambda_ms"]) == (0.01, 0.01, 10.0, 10.0, 10.0, 1.0)
    m = tiny()
    assert list(m.export_modules()) == ["disA", "disB", "disA2", "disB2", "disContent", "enc_c", "enc_a", "gen"]
    opts = m.make_optimizers()
    assert sorted(opts) == sorted(NETS)
    for name, opt in opts.items():
        assert isinstance(opt, torch.optim.Adam) and opt.defaults["betas"] == (0.5, 0.999)
        assert opt.defaults["weight_decay"] == 1e-4
        assert opt.defaults["lr"] == (4e-5 if name == "disContent" else 1e-4)
        assert {id(p) for p in opt.param_groups[0]["params"]} == {id(p) for p in getattr(m, name).parameters()}
    assert isinstance(opts["disContent"], ClippedAdam) and opts["disContent"].max_norm == 5.0
    assert not isinstance(opts["disA"], ClippedAdam)
    assert m.config["discriminator"] == {"name": "multiscale", "num_scales": 3,
                                         "discriminator": {"name": "drit_patch", "dim": 8}}
    assert m.config["gan_loss"] == {"name": "nonsaturating"}
    assert DRIT.parts["discriminator"].defaults == {"num_scales": 3, "discriminator": "drit_patch"}


@pytest.mark.parametrize("concat, enc_a, gen", [(1, 2_688_160, 9_564_710), (0, 5_529_872, 17_146_374)])
def test_parameter_counts_at_official_settings(official_models, concat, enc_a, gen) -> None:
    m = official_models[concat]
    assert count(m.enc_c) == 9_018_112
    assert (count(m.enc_c.convA), count(m.enc_c.convB), count(m.enc_c.conv_share)) == (3_918_976, 3_918_976, 1_180_160)
    assert count(m.enc_a) == enc_a and count(m.gen) == gen
    for name in ("disA", "disB", "disA2", "disB2"):
        assert count(getattr(m, name)) == 8_271_171
        assert [count(s) for s in getattr(m, name).scales] == [2_757_057] * 3
    assert count(m.disContent) == 10_683_649
    assert count(m.enc_c) + count(m.enc_a) + count(m.gen) == (21_270_982 if concat else 31_694_358)
    assert count(m) == (65_039_315 if concat else 75_462_691)
    assert not list(m.buffers())  # IN without affine or running stats, DRIT's LN with parameters only
    if concat:
        assert count(m.gen.decA1) == 3_765_168 and count(m.gen.decA2) == 333_336 and count(m.gen.decA3) == 93_528
        assert count(m.gen.decA4) == 243 and count(m.gen.dec_share) == 1_180_160
    else:
        assert count(m.gen.decA1) == 1_968_128 and count(m.gen.decA5) == 369_411 and count(m.gen.mlpA) == 331_264
        assert count(m.enc_a.model_a) == 2_764_936


def test_state_dict_keys_and_shapes_are_the_official_ones_in_order(official_models) -> None:
    m1, m0 = official_models[1], official_models[0]
    assert shapes(m1.enc_c) == appendix_enc_c() and len(appendix_enc_c()) == 40
    assert shapes(m1.enc_a) == appendix_enc_a_concat() and len(appendix_enc_a_concat()) == 48
    assert shapes(m1.gen) == appendix_gen_concat() and len(appendix_gen_concat()) == 48
    assert shapes(m0.enc_c) == appendix_enc_c()
    assert shapes(m0.enc_a) == appendix_enc_a() and len(appendix_enc_a()) == 24
    assert shapes(m0.gen) == appendix_gen() and len(appendix_gen()) == 128
    for name in ("disA", "disB", "disA2", "disB2"):
        assert shapes(getattr(m1, name), official_dis=True) == appendix_dis() and len(appendix_dis()) == 30
    assert list(m1.disA.state_dict())[:2] == ["scales.0.0.model.1.weight", "scales.0.0.model.1.bias"]
    assert shapes(m1.disContent) == appendix_dis_content()
    official = dict(appendix_dis())
    assert dis_to_official(dis_from_official(official)) == official


def test_content_discriminator_gives_one_logit_per_sample_on_a_216_crop() -> None:
    torch.manual_seed(0)
    dis = DritContentDiscriminator()  # the official layout: 3 x k7 s2 p1, k4 s1 p0, 1x1
    assert dis.output_size(54) == 1 and dis.output_size(64) == 2 and dis.output_size(32) is None
    with torch.no_grad():
        out = dis(torch.randn(2, 256, 54, 54))
    assert out.logits.shape == (2, 1) and out.features[-1].shape == (2, 256, 1, 1)
    with pytest.raises(ConfigError, match=r"content code is 16x16.*n_down to 1"):
        dis(torch.randn(1, 256, 16, 16))
    small = DritContentDiscriminator(in_dim=32, dim=16, n_down=1)  # the glyph recipe's layout at 64 px
    assert small(torch.randn(2, 32, 16, 16)).logits.shape == (2, 9)
    m = tiny()
    assert m.enc_c.forward_a(images(1, 216)).shape == (1, 32, 54, 54)  # crop 216 -> the 54 x 54 code


# ---- quirks --------------------------------------------------------------------------------------------
def test_leaky_relu_conv_has_no_instance_norm_and_slope_0_01() -> None:
    block = LeakyReLUConv2d(3, 4, 3, 1, 1, norm="Instance")  # asked for IN: the official typo drops it
    kinds = [type(m).__name__ for m in block.model]
    assert kinds == ["ReflectionPad2d", "Conv2d", "LeakyReLU"] and block.model[2].negative_slope == 0.01
    x = torch.randn(2, 3, 8, 8)
    conv = F.conv2d(F.pad(x, (1, 1, 1, 1), mode="reflect"), block.model[1].weight, block.model[1].bias)
    torch.testing.assert_close(block(x), torch.where(conv > 0, conv, 0.01 * conv))
    fixed = LeakyReLUConv2d(3, 4, 3, 1, 1, norm="Instance", instance_norm_fix=True)
    assert [type(m).__name__ for m in fixed.model] == ["ReflectionPad2d", "Conv2d", "InstanceNorm2d", "LeakyReLU"]
    assert list(fixed.state_dict()) == list(block.state_dict())  # IN has no parameters: same keys
    m = tiny()
    assert not any(isinstance(mod, torch.nn.InstanceNorm2d) for mod in m.disContent.modules())
    assert not any(isinstance(mod, torch.nn.InstanceNorm2d) for mod in m.disA.modules())
    fixed_m = tiny(instance_norm_fix=True)
    assert sum(isinstance(mod, torch.nn.InstanceNorm2d) for mod in fixed_m.disContent.modules()) == 1  # n_down 1
    slopes = {mod.negative_slope for mod in m.enc_a.modules() if isinstance(mod, torch.nn.LeakyReLU)}
    assert slopes == {0.2}  # E_attr_concat's own LeakyReLU(0.2), unlike LeakyReLUConv2d


def test_content_noise_only_in_training_with_std_one() -> None:
    m = tiny()
    x = images(2)
    m.enc_c.eval()
    clean = m.enc_c.forward_a(x)
    torch.testing.assert_close(m.enc_c.forward_a(x), clean)
    m.enc_c.train()  # no running statistics anywhere: training mode differs by the noise alone
    torch.manual_seed(3)
    noisy = m.enc_c.forward_a(x)
    torch.manual_seed(3)
    torch.testing.assert_close(noisy - clean, torch.randn_like(clean), atol=1e-5, rtol=0)
    assert 0.95 < float((noisy - clean).detach().std()) < 1.05
    layer = GaussianNoiseLayer().train()
    assert torch.equal(layer(torch.zeros(3), torch.ones(3)), torch.ones(3))  # a given draw is replayed
    assert torch.equal(layer.eval()(torch.zeros(3)), torch.zeros(3))


def test_init_is_normal_0_02_on_conv_weights_only() -> None:
    m = DRIT(dim=16, discriminator={"num_scales": 1})
    convs = [mod for mod in m.modules() if isinstance(mod, (torch.nn.Conv2d, torch.nn.ConvTranspose2d))]
    w = torch.cat([c.weight.flatten() for c in convs]).detach()
    assert abs(float(w.std()) - 0.02) < 0.001 and abs(float(w.mean())) < 0.001
    first = m.enc_c.convA[0].model[1]  # fan_in 3 x 7 x 7: PyTorch's default bias, uniform(+-1/sqrt(147)), untouched
    bias = first.bias.detach()
    assert float(bias.abs().max()) <= 147 ** -0.5 and float(bias.std()) > 0.03
    lin = m.enc_a.fc_A[0]
    lw = lin.weight.detach()
    assert float(lw.abs().max()) <= 1 / 64 ** 0.5 + 1e-6 and float(lw.std()) > 0.03  # default Linear
    ln = m.gen.decA2[0].model[1]
    assert torch.equal(ln.weight, torch.ones(ln.weight.shape)) and torch.equal(ln.bias, torch.zeros(ln.bias.shape))


def test_layer_norm_and_misins_block_by_hand() -> None:
    torch.manual_seed(0)
    ln = LayerNorm(3)
    with torch.no_grad():
        ln.weight.copy_(torch.tensor([1.0, 2.0, 3.0]).view(3, 1, 1))
        ln.bias.copy_(torch.tensor([0.0, 1.0, -1.0]).view(3, 1, 1))
    x = torch.randn(2, 3, 4, 5)
    mean = x.mean(dim=(1, 2, 3), keepdim=True)
    var = x.var(dim=(1, 2, 3), unbiased=False, keepdim=True)  # biased, eps inside the root: not MUNIT's
    torch.testing.assert_close(ln(x), (x - mean) / torch.sqrt(var + 1e-5) * ln.weight + ln.bias)

    blk = MisINSResBlock(4, 2)
    assert list(blk.state_dict())[:4] == ["conv1.0.1.weight", "conv1.0.1.bias", "conv2.0.1.weight", "conv2.0.1.bias"]
    x, z = torch.randn(2, 4, 6, 6), torch.randn(2, 2)
    zmap = z[:, :, None, None].expand(2, 2, 6, 6)
    conv = lambda t, c: F.conv2d(F.pad(t, (1, 1, 1, 1), mode="reflect"), c.weight, c.bias)  # noqa: E731
    mlp = lambda t, b: F.relu(b[2](F.relu(b[0](t))))  # noqa: E731
    o1 = F.instance_norm(conv(x, blk.conv1[0][1]))
    o2 = mlp(torch.cat([o1, zmap], 1), blk.blk1)
    o3 = F.instance_norm(conv(o2, blk.conv2[0][1]))
    torch.testing.assert_close(blk(x, z), mlp(torch.cat([o3, zmap], 1), blk.blk2) + x)


# ---- official files -----------------------------------------------------------------------------------
def _rconv(x, w, b, stride=1, pad=0):
    if pad:
        x = F.pad(x, (pad,) * 4, mode="reflect")
    return F.conv2d(x, w, b, stride)


def _res(x, sd, p):
    h = F.relu(F.instance_norm(_rconv(x, sd[p + "model.1.weight"], sd[p + "model.1.bias"], 1, 1)))
    return x + F.instance_norm(_rconv(h, sd[p + "model.5.weight"], sd[p + "model.5.bias"], 1, 1))


def ref_content_a(sd, x):
    """E_content.forward_a in eval mode from the file's tensors (reference §3)."""
    h = F.leaky_relu(_rconv(x, sd["convA.0.model.1.weight"], sd["convA.0.model.1.bias"], 1, 3), 0.01)
    for i in (1, 2):
        h = F.relu(F.instance_norm(_rconv(h, sd[f"convA.{i}.model.1.weight"], sd[f"convA.{i}.model.1.bias"], 2, 1)))
    for i in (3, 4, 5):
        h = _res(h, sd, f"convA.{i}.")
    return _res(h, sd, "conv_share.0.")


def ref_mu_b(sd, x):
    """E_attr_concat.forward_b's mu from the file's tensors."""
    h = _rconv(x, sd["conv_B.1.weight"], sd["conv_B.1.bias"], 2, 1)
    for i in (2, 3, 4):
        p = f"conv_B.{i}."
        t = _rconv(F.leaky_relu(h, 0.2), sd[p + "conv.2.weight"], sd[p + "conv.2.bias"], 1, 1)
        t = F.avg_pool2d(_rconv(F.leaky_relu(t, 0.2), sd[p + "conv.4.1.weight"], sd[p + "conv.4.1.bias"], 1, 1), 2)
        h = t + F.conv2d(F.avg_pool2d(h, 2), sd[p + "shortcut.1.weight"], sd[p + "shortcut.1.bias"])
    h = F.leaky_relu(h, 0.2).mean(dim=(2, 3))
    return F.linear(h, sd["fc_B.0.weight"], sd["fc_B.0.bias"])


def ref_gen_b(sd, c, z):
    """G_concat.forward_b from the file's tensors: z concatenated before every stage."""
    cat = lambda h: torch.cat([h, z[:, :, None, None].expand(-1, -1, *h.shape[2:])], 1)  # noqa: E731
    h = cat(_res(c, sd, "dec_share.0."))
    for i in range(3):
        h = _res(h, sd, f"decB1.{i}.")
    for k in (2, 3):
        p = f"decB{k}.0.model."
        h = F.conv_transpose2d(cat(h), sd[p + "0.weight"], sd[p + "0.bias"], stride=2, padding=1, output_padding=1)
        h = F.relu(F.layer_norm(h, h.shape[1:], sd[p + "1.weight"].expand(h.shape[1:]), sd[p + "1.bias"].expand(h.shape[1:])))
    return torch.tanh(F.conv_transpose2d(cat(h), sd["decB4.0.weight"], sd["decB4.0.bias"]))


def random_state(keys: list[tuple[str, tuple]], seed: int) -> dict[str, torch.Tensor]:
    g = torch.Generator().manual_seed(seed)
    out = {}
    for k, shape in keys:
        t = torch.randn(shape, generator=g)
        fan_in = max(1, int(torch.tensor(shape[1:]).prod())) if len(shape) > 1 else 1
        out[k] = 1 + 0.1 * t if k.endswith("model.1.weight") and len(shape) == 3 else t / fan_in ** 0.5
    return out


@pytest.fixture(scope="module")
def official_concat1_file(tmp_path_factory) -> tuple[Path, dict]:
    """An official-format file of the documented keys and shapes (Appendix A), E/G only (what test.py reads),
    with an int ep and total_it as train.py writes them."""
    ckpt = {"enc_c": random_state(appendix_enc_c(), 1), "enc_a": random_state(appendix_enc_a_concat(), 2),
            "gen": random_state(appendix_gen_concat(), 3), "ep": 599, "total_it": 123456}
    path = tmp_path_factory.mktemp("official") / "example.pth"
    torch.save(ckpt, path)
    return path, ckpt


def test_official_file_loads_every_tensor_and_matches_a_reference_forward(official_concat1_file) -> None:
    path, ckpt = official_concat1_file
    m = i2ikit.build("drit", pretrained=path)
    assert m.concat == 1 and m.nz == 8 and m.dim == 64 and not m.training
    assert m.official_info["ep"] == 599 and m.official_info["total_it"] == 123456
    assert m.official_info["loaded"] == ["enc_c", "enc_a", "gen"]
    for net in ("enc_c", "enc_a", "gen"):
        own = getattr(m, net).state_dict()
        assert list(own) == list(ckpt[net])
        for k, v in ckpt[net].items():
            assert torch.equal(own[k], v), (net, k)
    x, y = images(2, 32, seed=4), images(2, 32, seed=5)
    z = torch.randn(2, 8, generator=torch.Generator().manual_seed(6))
    content = ref_content_a(ckpt["enc_c"], x)
    torch.testing.assert_close(m.translate(x, z=z), ref_gen_b(ckpt["gen"], content, z), atol=1e-5, rtol=1e-4)
    # exemplar-guided (test_forward_transfer, concat=1): mu + eps * sigma of B's attribute, eps ~ N(0, I)
    mu = ref_mu_b(ckpt["enc_a"], y)
    torch.testing.assert_close(m.enc_a.forward_b(y)[0], mu, atol=1e-5, rtol=1e-4)
    logvar = F.linear(m.enc_a.conv_B(y).flatten(1), ckpt["enc_a"]["fcVar_B.0.weight"], ckpt["enc_a"]["fcVar_B.0.bias"])
    eps = torch.randn(2, 8, generator=torch.Generator().manual_seed(7))
    torch.testing.assert_close(m.translate(x, y, generator=torch.Generator().manual_seed(7)),
                               ref_gen_b(ckpt["gen"], content, mu + eps * (0.5 * logvar).exp()), atol=1e-5, rtol=1e-4)


def test_official_round_trip_with_discriminators_and_concat0(tmp_path: Path) -> None:
    m = tiny(concat=0)
    path = save_official(m, tmp_path / "00009.pth", ep=9, total_it=40)
    raw = torch.load(path, weights_only=True)  # the official layout needs no pickle
    assert list(raw) == ["disA", "disA2", "disB", "disB2", "disContent", "enc_c", "enc_a", "gen",
                         "disA_opt", "disA2_opt", "disB_opt", "disB2_opt", "disContent_opt", "enc_c_opt", "enc_a_opt",
                         "gen_opt", "ep", "total_it"]
    assert "Diss.2.4.weight" in raw["disB2"] and "model_a.16.weight" in raw["enc_a"]
    assert raw["gen_opt"]["param_groups"][0]["initial_lr"] == 1e-4  # what the official resume's LambdaLR needs
    assert infer_config(raw) == {"concat": 0, "nz": 8, "dim": 8,
                                 "discriminator": {"name": "multiscale", "num_scales": 3,
                                                   "discriminator": {"name": "drit_patch", "n_layer": 4, "dim": 8}},
                                 "content_discriminator": {"dim": 16, "n_down": 1, "last_kernel": 4}}
    back = i2ikit.build("drit", pretrained=path)
    assert back.official_info["loaded"] == ["disA", "disA2", "disB", "disB2", "disContent", "enc_c", "enc_a", "gen"]
    for net in NETS:
        assert all(torch.equal(a, b) for a, b in zip(getattr(m, net).state_dict().values(),
                                                     getattr(back, net).state_dict().values())), net
    x, z = images(2), torch.randn(2, 8)
    torch.testing.assert_close(back.translate(x, z=z), m.translate(x, z=z))
    y = images(2, seed=9)
    torch.testing.assert_close(back.translate(x, y), m.translate(x, y))  # concat=0: deterministic exemplar
    # DataParallel prefixes are dropped
    prefixed = {k: ({f"module.{n}": t for n, t in v.items()} if k in NETS else v) for k, v in raw.items()}
    torch.save(prefixed, tmp_path / "dp.pth")
    torch.testing.assert_close(i2ikit.build("drit", pretrained=tmp_path / "dp.pth").translate(x, z=z), m.translate(x, z=z))
    # single-scale Dis (--dis_scale 1)
    with torch.device("meta"):
        official_single = DRIT(dis_scale=1)
    assert type(official_single.disA).__name__ == "DritDiscriminator"
    assert official_single.config["discriminator"] == {"name": "drit_dis"} and official_single.config["dis_scale"] is None
    assert [k for k in official_single.disA.state_dict()][-2:] == ["model.6.weight", "model.6.bias"]
    assert official_single.disA.state_dict()["model.5.model.1.weight"].shape == (2048, 1024, 3, 3)
    single = tiny(discriminator={"name": "drit_dis", "dim": 4})
    save_official(single, tmp_path / "single.pth")
    back = i2ikit.build("drit", pretrained=tmp_path / "single.pth")
    assert type(back.disA).__name__ == "DritDiscriminator" and back.config["discriminator"]["dim"] == 4
    assert torch.equal(back.disB2.model[6].weight, single.disB2.model[6].weight)
    with pytest.raises(ConfigError, match="either dis_scale"):
        tiny(dis_scale=2)


def test_bad_official_files_are_checkpoint_errors(tmp_path: Path, official_concat1_file) -> None:
    class Planted:
        def __reduce__(self):
            return (print, ("pickle ran",))

    planted = tmp_path / "planted.pth"
    torch.save({"enc_c": Planted(), "enc_a": {}, "gen": {}}, planted)
    with pytest.raises(CheckpointError, match="needs pickle"):
        i2ikit.build("drit", pretrained=planted)
    torch.save({"enc_c": {"convA.0.model.1.weight": torch.zeros(1)}}, tmp_path / "partial.pth")
    with pytest.raises(CheckpointError, match=r"partial\.pth.*lacks 'enc_a', 'gen'"):
        i2ikit.build("drit", pretrained=tmp_path / "partial.pth")
    path, ckpt = official_concat1_file
    broken = dict(ckpt, gen={**ckpt["gen"], "decB4.0.bias": torch.zeros(4)})
    torch.save(broken, tmp_path / "broken.pth")
    with pytest.raises(CheckpointError, match=r"(?s)broken\.pth \['gen'\].*decB4\.0\.bias: file \(4,\)"):
        i2ikit.build("drit", pretrained=tmp_path / "broken.pth")
    torch.save(dict(ckpt, enc_a={"foo.weight": torch.zeros(1)}), tmp_path / "noattr.pth")
    with pytest.raises(CheckpointError, match="neither E_attr_concat"):
        i2ikit.build("drit", pretrained=tmp_path / "noattr.pth")
    with pytest.raises(pickle.UnpicklingError):  # and the plain loader would indeed need pickle
        torch.load(planted, weights_only=True)


def test_export_round_trip(tmp_path: Path) -> None:
    m = tiny()
    m.save_pretrained(tmp_path / "export")
    assert sorted(p.name for p in (tmp_path / "export").glob("*.safetensors")) == sorted(f"{n}.safetensors" for n in NETS)
    back = i2ikit.build(pretrained=tmp_path / "export")
    x, z = images(2), torch.randn(2, 8)
    torch.testing.assert_close(back.translate(x, z=z), m.translate(x, z=z))
    assert json.loads((tmp_path / "export" / "config.json").read_text())["config"]["dis_scale"] is None


# ---- translation ----------------------------------------------------------------------------------------
def test_translate_modes_directions_and_broadcast() -> None:
    m = tiny()
    x, y = images(3), images(3, seed=1)
    g = lambda s=0: torch.Generator().manual_seed(s)  # noqa: E731
    out = m.translate(x, generator=g())
    assert out.shape == (3, 3, 64, 64) and out.abs().max() <= 1
    torch.testing.assert_close(m.translate(x, generator=g()), out)
    assert not torch.allclose(m.translate(x, generator=g(1)), out)
    z = torch.randn(3, 8, generator=g())
    torch.testing.assert_close(out, m.translate(x, z=z))  # random attributes are N(0, I) draws of the generator
    with torch.no_grad():
        m.eval()
        torch.testing.assert_close(m.translate(x, z=z, direction="b2a"), m.gen.forward_a(m.enc_c.forward_b(x), z))
        torch.testing.assert_close(m.translate(x, z=z), m.gen.forward_b(m.enc_c.forward_a(x), z))
    many = m.translate(x[:1], num_styles=4, generator=g())
    assert many.shape == (4, 3, 64, 64)
    torch.testing.assert_close(many[1:2], m.translate(x[:1], z=torch.randn(4, 8, generator=g())[1:2]))
    torch.testing.assert_close(m.translate(x, z=z[:1]), torch.cat([m.translate(x[i:i + 1], z=z[:1]) for i in range(3)]))
    # exemplar, concat=1: sampled, so stochastic unless the generator fixes eps (as test_transfer.py)
    ex = m.translate(x, y, generator=g())
    torch.testing.assert_close(m.translate(x, y, generator=g()), ex)
    assert not torch.allclose(m.translate(x, y), m.translate(x, y))
    assert m.translate(x, y[:1]).shape == (3, 3, 64, 64)
    assert m.translate(images(1, 60), z=z[:1]).shape == (1, 3, 60, 60)  # fully convolutional, no resize
    with pytest.raises(ConfigError, match="'sideways'"):
        m.translate(x, direction="sideways")
    with pytest.raises(ConfigError, match="3 content images and 2 attributes"):
        m.translate(x, z=z[:2])
    with pytest.raises(ConfigError, match="one attribute source"):
        m.translate(x, y, num_styles=2)
    with pytest.raises(ConfigError, match="N x 8"):
        m.translate(x, z=torch.zeros(3, 4))
    m0 = tiny(concat=0)
    torch.testing.assert_close(m0.translate(x, y), m0.translate(x, y))  # concat=0: deterministic exemplar
    cols = m.sample_columns(batch_of(2))
    assert [c for c, _ in cols] == ["A", "A->B (random attr)", "A->B (B's attr)", "B", "B->A (random attr)",
                                    "B->A (A's attr)"]
    assert all(t.shape == (2, 3, 64, 64) and t.abs().max() <= 1 for _, t in cols)


# ---- schedule -------------------------------------------------------------------------------------------
def test_d_iter_schedule() -> None:
    m = tiny()
    names = [[s.name for s in m.training_steps(i)] for i in range(7)]
    content, full = ["dis_content"], ["dis", "eg", "g_alone"]
    assert names == [content, content, full, content, content, full, content]
    steps = {s.name: s for s in m.training_steps(2)}
    assert steps["dis"].trains == ("disA", "disB", "disA2", "disB2", "disContent") == steps["dis"].optimizers
    assert steps["eg"].trains == ("EG",) and steps["eg"].optimizers == ("enc_c", "enc_a", "gen")
    assert steps["g_alone"].optimizers == ("enc_c", "gen")  # enc_a is not stepped by the second EG step
    assert m.training_steps(0)[0].optimizers == ("disContent",)
    assert [[s.name for s in tiny(d_iter=1).training_steps(i)] for i in range(2)] == [full, full]


def test_lr_factor_follows_the_official_lambda_rule() -> None:
    m = tiny(epoch_iters=10)
    assert m.lr_factor("gen", 0) == 1.0 and m.lr_factor("disContent", 5999) == 1.0  # epochs 0..599
    assert m.lr_factor("gen", 6000) == 1.0  # epoch 600: max(0, 600 - 600) = 0
    assert m.lr_factor("gen", 6010) == pytest.approx(1 - 1 / 601)
    assert m.lr_factor("gen", 11999) == pytest.approx(1 - 599 / 601) == pytest.approx(0.0033278, abs=1e-6)
    assert m.lr_factor("gen", 10**7) == 0.0  # never negative past n_ep
    assert tiny().lr_factor("gen", 10**6) == 1.0  # without epoch_iters: constant
    step = tiny(epoch_iters=10, lr_policy="step")
    assert [step.lr_factor("gen", i) for i in (5999, 6000, 12000)] == pytest.approx([1.0, 0.1, 0.01])
    with pytest.raises(ConfigError, match="n_ep_decay"):
        tiny(n_ep=10, n_ep_decay=20)


# ---- losses ----------------------------------------------------------------------------------------------
def test_one_iteration_of_each_kind_gives_every_term_finite() -> None:
    m = tiny().train()
    nets = nets_of(m)
    batch = batch_of(4)
    c = m.content_d_step(batch, nets)
    assert set(c) == {"loss", "disContent"} and torch.isfinite(c["loss"])
    d = m.d_step(batch, nets)
    assert set(d) == {"loss", "disA", "disB", "disA2", "disB2", "disContent"}
    total = float(d["loss"].detach())
    assert torch.isfinite(d["loss"]) and total == pytest.approx(sum(float(d[k]) for k in d if k != "loss"), rel=1e-5)
    e = m.eg_step(batch, nets)
    assert set(e) == {"loss", "gan_a", "gan_b", "gan_content_a", "gan_content_b", "kl_za_a", "kl_za_b", "kl_zc_a",
                      "kl_zc_b", "cc_a", "cc_b", "rec_aa", "rec_bb"}
    assert all(torch.isfinite(v) for v in e.values()) and e["loss"].requires_grad
    g2 = m.g_alone_step(batch, nets)
    assert set(g2) == {"loss", "gan2_a", "gan2_b", "ms_ab", "ms_ba", "latent_a", "latent_b"}
    assert all(torch.isfinite(v) for v in g2.values())
    g2["loss"].backward()
    assert all(p.grad is not None for p in m.enc_a.parameters())  # every enc_a parameter in the graph (DDP)
    assert torch.count_nonzero(m.enc_a.fcVar_A[0].weight.grad) == 0  # log sigma^2 takes no part in step 2
    m.eg_step(batch, nets)  # the next step 1 starts from clean enc_a gradients, as enc_a_opt.zero_grad()
    assert all(p.grad is None for p in m.enc_a.parameters())
    with pytest.raises(ConfigError, match="train.batch_size must be even.*got 3"):
        m.d_step(batch_of(3), nets)


def test_losses_match_the_official_formulas() -> None:
    m = tiny().train()
    nets = nets_of(m)
    batch = batch_of(2)
    a, a_rand, b, b_rand = m.halves(batch)
    torch.manual_seed(5)
    d = m.d_step(batch, nets)
    draws = m._draws[id(batch)]
    with torch.no_grad():
        out = drit_forward(m, a, b, draws, "eg")  # the EG replay sees the D step's draws
        bce = lambda logits, t: F.binary_cross_entropy(torch.sigmoid(logits), torch.full_like(logits, t))  # noqa: E731
        scales = lambda dis, x: dis.split(dis(x).logits)  # noqa: E731
        real, f1, f2 = scales(m.disA2, a_rand), scales(m.disA2, out["fake_A_random"]), scales(m.disA2, out["fake_A_random2"])
        disA2 = sum(2 * bce(r, 1) + bce(x1, 0) + bce(x2, 0) for r, x1, x2 in zip(real, f1, f2))  # backward_D twice
        assert float(d["disA2"]) == pytest.approx(float(disA2), rel=1e-5)
        c_a, c_b = m.disContent(out["z_c_a"]).logits, m.disContent(out["z_c_b"]).logits
        assert float(d["disContent"]) == pytest.approx(float(bce(c_b, 1) + bce(c_a, 0)), rel=1e-5)
    e = m.eg_step(batch, nets)
    with torch.no_grad():
        assert float(e["gan_content_a"]) == pytest.approx(float(bce(c_a, 0.5)), rel=1e-5)  # target 0.5
        mu, logvar = out["mu_a"], out["logvar_a"]
        kl = -0.5 * (1 + logvar - mu ** 2 - logvar.exp()).sum()  # summed over batch and dims
        assert float(e["kl_za_a"]) == pytest.approx(0.01 * float(kl), rel=1e-5)
        assert float(e["kl_zc_b"]) == pytest.approx(0.01 * float(out["z_c_b"].pow(2).mean()), rel=1e-5)
        assert float(e["cc_a"]) == pytest.approx(10 * float((out["fake_A_recon"] - a).abs().mean()), rel=1e-5)
        assert float(e["rec_bb"]) == pytest.approx(10 * float((out["fake_BB_encoded"] - b).abs().mean()), rel=1e-5)
        assert float(e["gan_a"]) == pytest.approx(float(sum(bce(s, 1) for s in scales(m.disA, out["fake_A_encoded"]))), rel=1e-5)
    g2 = m.g_alone_step(batch, nets)
    with torch.no_grad():
        dz = (out["z_random2"] - out["z_random"]).abs().mean()
        ratio = (out["fake_B_random2"] - out["fake_B_random"]).abs().mean() / dz
        assert float(g2["ms_ab"]) == pytest.approx(float(1 / (ratio + 1e-5)), rel=1e-4)
        mu2 = m.enc_a.forward_a(out["fake_A_random"])[0]  # latent regression on mu
        assert float(g2["latent_a"]) == pytest.approx(10 * float((mu2 - out["z_random"]).abs().mean()), rel=1e-4)


def test_mode_seeking_off_drops_its_terms_and_second_fake() -> None:
    m = tiny(mode_seeking=False).train()
    nets = nets_of(m)
    batch = batch_of(2)
    d = m.d_step(batch, nets)
    a, a_rand, b, _ = m.halves(batch)
    out = drit_forward(m, a, b, m._draws[id(batch)], "dis")
    assert "fake_A_random2" not in out and "z_random2" not in m._draws[id(batch)].tensors
    with torch.no_grad():
        bce = lambda logits, t: F.binary_cross_entropy(torch.sigmoid(logits), torch.full_like(logits, t))  # noqa: E731
        real = m.disA2.split(m.disA2(a_rand).logits)
        fake = m.disA2.split(m.disA2(out["fake_A_random"]).logits)
        assert float(d["disA2"]) == pytest.approx(float(sum(bce(r, 1) + bce(f, 0) for r, f in zip(real, fake))), rel=1e-5)
    m.eg_step(batch, nets)
    g2 = m.g_alone_step(batch, nets)
    assert set(g2) == {"loss", "gan2_a", "gan2_b", "latent_a", "latent_b"}


def test_content_discriminator_gradient_is_clipped_to_5() -> None:
    p = torch.nn.Parameter(torch.zeros(4))
    opt = ClippedAdam([p], max_norm=5.0, lr=1e-3)
    p.grad = torch.tensor([30.0, 40.0, 0.0, 0.0])
    opt.step()
    torch.testing.assert_close(p.grad, torch.tensor([3.0, 4.0, 0.0, 0.0]))
    m = tiny().train()
    opts = m.make_optimizers()
    nets = nets_of(m)
    loss = 1e4 * m.content_d_step(batch_of(2), nets)["loss"]
    loss.backward()
    opts["disContent"].step()
    norm = torch.linalg.vector_norm(torch.stack([q.grad.norm() for q in m.disContent.parameters()]))
    assert float(norm) == pytest.approx(5.0, rel=1e-4)


def test_step_two_reruns_the_forward_with_step_one_weights() -> None:
    """EG step 2 runs after step 1's optimiser step: its random-path translations use the updated weights
    and the same draws (the official code reused the stale graph, which current PyTorch refuses)."""
    m = tiny().train()
    nets, opts = nets_of(m), m.make_optimizers()
    batch = batch_of(2)
    a, _, b, _ = m.halves(batch)
    m.d_step(batch, nets)
    draws = m._draws[id(batch)]
    e = m.eg_step(batch, nets)
    e["loss"].backward()
    for name in ("enc_c", "enc_a", "gen"):
        opts[name].step()
        opts[name].zero_grad(set_to_none=True)
    with torch.no_grad():
        expected = drit_forward(m, a, b, draws, "random")["fake_B_random"]
    seen = {}
    original = m.gen.forward_b

    def spy(x, z):
        y = original(x, z)
        seen["fake_B"] = y.detach()
        return y

    m.gen.forward_b = spy
    try:
        m.g_alone_step(batch, nets)
    finally:
        del m.gen.forward_b
    torch.testing.assert_close(seen["fake_B"][:1], expected)
    assert id(batch) not in m._draws  # consumed


# ---- recipes ---------------------------------------------------------------------------------------------
def test_recipes_validate() -> None:
    y = load_recipe(ROOT / "recipes" / "drit_yosemite.yaml")
    assert y.method["epoch_iters"] == 615 and y.train.steps == 1200 * 615 and y.train.batch_size == 2
    assert (y.data.crop, y.data.new_size, y.data.flip) == (216, 256, True)
    for name in ("drit_cat2dog", "drit_portrait"):
        assert load_recipe(ROOT / "recipes" / f"{name}.yaml").method["concat"] == 0
    g = load_recipe(ROOT / "recipes" / "drit_glyphs.yaml")
    assert g.method["name"] == "drit" and g.train.batch_size % 2 == 0


def test_official_recipe_stops_before_training_naming_the_data(tmp_path: Path) -> None:
    out = run_cli(["-m", "i2ikit.cli", "train", str(ROOT / "recipes" / "drit_yosemite.yaml")], cwd=tmp_path, timeout=300)
    assert out.returncode == 2, out.stderr[-2000:]
    assert "data/yosemite" in out.stderr and "docs/datasets.md" in out.stderr and "Traceback" not in out.stderr
    assert not (tmp_path / "runs").exists()


@pytest.mark.slow
def test_glyph_recipe_trains_exports_and_translates(tmp_path: Path) -> None:
    run = tmp_path / "run"
    out = run_cli(["-m", "i2ikit.cli", "train", str(ROOT / "recipes" / "drit_glyphs.yaml"), "train.steps=6",
                   "train.sample_every=6", "train.save_every=6", f"train.run_dir={run}", "train.progress=false",
                   "train.trackers=none"], timeout=900)
    assert out.returncode == 0, out.stderr[-3000:]
    lines = [json.loads(line) for line in (run / "losses.jsonl").read_text().splitlines()]
    assert len(lines) == 6 and "dis_content/disContent" in lines[0] and "g_alone/ms_ab" in lines[2]
    assert any((run / "samples").iterdir())
    model = i2ikit.build(pretrained=run / "export")
    x = images(2)
    assert model.translate(x, num_styles=2, generator=torch.Generator().manual_seed(0)).shape == (2, 3, 64, 64)
    assert model.translate(x, direction="b2a").shape == (2, 3, 64, 64)


@pytest.mark.slow
def test_two_process_ddp_on_cpu(tmp_path: Path) -> None:
    """Real two-process DDP (gloo, find_unused_parameters=False): every EG parameter takes part in both EG
    steps, each D step calls each wrapped discriminator once."""
    import socket

    from conftest import make_image_folder, write_yaml

    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]
    folder = make_image_folder(tmp_path / "imgs", classes=2, per_class=4, size=64)
    run = tmp_path / "run"
    recipe = {"name": "drit_ddp", "method": {"name": "drit", **TINY},
              "data": {"train": {"type": "image_folder", "root": str(folder)},
                       "streams": {"source": {"classes": ["class_00"]}, "target": {"classes": ["class_01"]}},
                       "new_size": 64, "crop": 64, "num_workers": 0},
              "train": {"steps": 3, "batch_size": 2, "grad_accum": 2, "log_every": 1, "sample_every": 3, "save_every": 3,
                        "sample_count": 2, "run_dir": str(run), "trackers": "none", "progress": False}}
    path = write_yaml(tmp_path / "ddp.yaml", recipe)
    out = run_cli(["-m", "torch.distributed.run", "--nproc_per_node", "2", "--master_port", str(port),
                   "-m", "i2ikit.run", str(path)], env={"ACCELERATE_USE_CPU": "true"})
    assert out.returncode == 0, out.stderr[-4000:]
    assert len((run / "losses.jsonl").read_text().splitlines()) == 3
    assert (run / "export" / "gen.safetensors").exists()
