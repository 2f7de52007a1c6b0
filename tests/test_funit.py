"""Tests of the FUNIT plugin against the facts of the official NVlabs/FUNIT code.

The key tables and the functional forward passes below are written from the reference description
(docs/methods/funit.md, shared/reference/funit.md), not from the plugin's code: they are the proof
that the plugin computes what the official code computes for the same weights and inputs.
"""
from __future__ import annotations

import copy
from typing import Any

import pytest
import torch
import torch.nn.functional as F
from torch import nn

import i2ikit
from i2ikit.nn import ActFirstResBlock, AdaptiveInstanceNorm2d, assign_adain_params
from i2ikit_funit import FUNIT, FewShotGen, GPPatchMcResDis, to_official, to_official_dis

TINY: dict[str, Any] = dict(nf=8, discriminator={"nf": 8}, num_classes=5, nf_mlp=32, latent_dim=16)


def _seed(s: int = 0) -> None:
    torch.manual_seed(s)


def _tiny(**kw: Any) -> FUNIT:
    _seed(0)
    return FUNIT(**{**TINY, **kw})


def _batch(b: int = 2, size: int = 32, num_classes: int = 5, seed: int = 1) -> dict[str, tuple[torch.Tensor, torch.Tensor]]:
    g = torch.Generator().manual_seed(seed)
    xa = torch.rand(b, 3, size, size, generator=g) * 2 - 1
    xb = torch.rand(b, 3, size, size, generator=g) * 2 - 1
    la = torch.randint(0, num_classes, (b,), generator=g)
    lb = torch.randint(0, num_classes, (b,), generator=g)
    return {"content": (xa, la), "class": (xb, lb)}


# ------------------------------------------------------------------------------------------------
# The official key tables (reference section 5), generated from the table's patterns
# ------------------------------------------------------------------------------------------------
def official_gen_shapes(nf: int = 64, latent: int = 64, nf_mlp: int = 256) -> list[tuple[str, list[int]]]:
    """gen/gen_test keys for n_downs_content=3, n_downs_class=4, n_res_blks=2, n_mlp_blks=3."""
    out: list[tuple[str, list[int]]] = []

    def conv(prefix: str, cout: int, cin: int, k: int) -> None:
        out.append((f"{prefix}.weight", [cout, cin, k, k]))
        out.append((f"{prefix}.bias", [cout]))

    cls = [3, nf, 2 * nf, 4 * nf, 4 * nf, 4 * nf]
    for i, k in enumerate([7, 4, 4, 4, 4]):
        conv(f"enc_class_model.model.{i}.conv", cls[i + 1], cls[i], k)
    conv("enc_class_model.model.6", latent, 4 * nf, 1)  # bare nn.Conv2d: no ".conv"
    con = [3, nf, 2 * nf, 4 * nf, 8 * nf]
    for i, k in enumerate([7, 4, 4, 4]):
        conv(f"enc_content.model.{i}.conv", con[i + 1], con[i], k)
    d = 8 * nf
    for j in range(2):
        for k in range(2):
            conv(f"enc_content.model.4.model.{j}.model.{k}.conv", d, d, 3)
    for j in range(2):
        for k in range(2):
            out.append((f"dec.model.0.model.{j}.model.{k}.norm.running_mean", [d]))
            out.append((f"dec.model.0.model.{j}.model.{k}.norm.running_var", [d]))
            conv(f"dec.model.0.model.{j}.model.{k}.conv", d, d, 3)
    conv("dec.model.2.conv", 4 * nf, 8 * nf, 5)
    conv("dec.model.4.conv", 2 * nf, 4 * nf, 5)
    conv("dec.model.6.conv", nf, 2 * nf, 5)
    conv("dec.model.7.conv", 3, nf, 7)
    out += [("mlp.model.0.fc.weight", [nf_mlp, latent]), ("mlp.model.0.fc.bias", [nf_mlp])]
    out += [("mlp.model.1.fc.weight", [nf_mlp, nf_mlp]), ("mlp.model.1.fc.bias", [nf_mlp])]
    out += [("mlp.model.2.fc.weight", [4 * 2 * d, nf_mlp]), ("mlp.model.2.fc.bias", [4 * 2 * d])]
    return out


def official_dis_shapes(num_classes: int, nf: int = 64, n_res_blks: int = 10) -> list[tuple[str, list[int]]]:
    out: list[tuple[str, list[int]]] = [("cnn_f.0.conv.weight", [nf, 3, 7, 7]), ("cnn_f.0.conv.bias", [nf])]
    idx, stages = 1, n_res_blks // 2
    for stage in range(stages):
        nf_out = min(2 * nf, 1024)
        for fin, fout in ((nf, nf), (nf, nf_out)):
            fhid = min(fin, fout)
            out += [(f"cnn_f.{idx}.conv_0.conv.weight", [fhid, fin, 3, 3]), (f"cnn_f.{idx}.conv_0.conv.bias", [fhid])]
            out += [(f"cnn_f.{idx}.conv_1.conv.weight", [fout, fhid, 3, 3]), (f"cnn_f.{idx}.conv_1.conv.bias", [fout])]
            if fin != fout:
                out.append((f"cnn_f.{idx}.conv_s.conv.weight", [fout, fin, 1, 1]))
            idx += 1
        if stage < stages - 1:
            idx += 2  # ReflectionPad2d + AvgPool2d
            nf = nf_out
    out += [("cnn_c.0.conv.weight", [num_classes, nf_out, 1, 1]), ("cnn_c.0.conv.bias", [num_classes])]
    return out


def _shapes(module: nn.Module) -> list[tuple[str, list[int]]]:
    return [(k, list(v.shape)) for k, v in module.state_dict().items()]


@pytest.fixture(scope="module")
def default_funit() -> FUNIT:
    _seed(0)
    return FUNIT()


def test_default_parameter_counts(default_funit: FUNIT) -> None:
    n = lambda m: sum(p.numel() for p in m.parameters())  # noqa: E731
    g = default_funit.gen
    assert n(g.enc_class_model) == 2_779_328
    assert n(g.enc_content) == 12_202_112
    assert n(g.dec) == 13_749_891
    assert n(g.mlp) == 1_135_104
    assert n(g) == 29_866_435
    assert n(default_funit.dis.cnn_f) == 54_130_624
    assert n(default_funit.dis.cnn_c) == 121_975
    assert n(default_funit.dis) == 54_252_599
    assert [name for name, _ in g.named_children()] == ["enc_class_model", "enc_content", "dec", "mlp"]


def test_default_state_dict_keys_and_shapes(default_funit: FUNIT) -> None:
    gen = _shapes(default_funit.gen)
    assert len(gen) == 58 and sum(1 for k, _ in gen if "running_" in k) == 8
    assert gen == official_gen_shapes()  # same keys, shapes and order
    assert _shapes(default_funit.gen_ema) == gen
    dis = _shapes(default_funit.dis)
    assert len(dis) == 48
    assert dis == official_dis_shapes(119)
    assert {k.split(".")[1] for k, _ in dis if "conv_s" in k} == {"2", "6", "10", "14"}
    assert dict(dis)["cnn_f.17.conv_1.conv.weight"] == [1024, 1024, 3, 3]
    assert dict(dis)["cnn_c.0.conv.weight"] == [119, 1024, 1, 1]
    # running stats never change and are identity
    sd = default_funit.gen.state_dict()
    assert torch.all(sd["dec.model.0.model.1.model.1.norm.running_mean"] == 0)
    assert torch.all(sd["dec.model.0.model.1.model.1.norm.running_var"] == 1)


def test_default_config_matches_funit_animals(default_funit: FUNIT) -> None:
    c = default_funit.config
    assert (c["nf"], c["n_res_blks"], c["nf_mlp"], c["latent_dim"], c["n_mlp_blks"]) == (64, 2, 256, 64, 3)
    assert (c["n_downs_content"], c["n_downs_class"], c["num_classes"]) == (3, 4, 119)
    assert c["discriminator"] == {"name": "funit_patch"} and c["gan_loss"] == {"name": "hinge"}  # the official parts
    assert default_funit.dis.cnn_f[0].conv.out_channels == 64 and len(default_funit.dis.cnn_f) == 5 * 2 + 4 * 2 + 1
    assert (c["gan_w"], c["fm_w"], c["r_w"], c["r1_w"]) == (1, 1, 0.1, 10)
    assert (c["lr_gen"], c["lr_dis"], c["weight_decay"], c["ema_decay"], c["init"]) == (1e-4, 1e-4, 1e-4, 0.999, "kaiming")
    opt = default_funit.make_optimizers()
    assert isinstance(opt["gen"], torch.optim.RMSprop) and isinstance(opt["dis"], torch.optim.RMSprop)
    assert opt["gen"].defaults["lr"] == 1e-4 and opt["dis"].defaults["weight_decay"] == 1e-4
    assert opt["gen"].defaults["alpha"] == 0.99 and opt["gen"].defaults["momentum"] == 0
    # kaiming init: biases zero
    assert torch.all(default_funit.dis.cnn_c[0].conv.bias == 0)
    assert all(not p.requires_grad for p in default_funit.gen_ema.parameters())


# ------------------------------------------------------------------------------------------------
# AdaIN
# ------------------------------------------------------------------------------------------------
def test_adain_assignment_order() -> None:
    _seed(0)
    gen = FewShotGen(nf=8, nf_mlp=32, latent_dim=16)
    c = 64  # 8 * nf channels after three downsamplings
    params = torch.randn(2, 4 * 2 * c)
    assign_adain_params(params, gen.dec)
    names = [
        "model.0.model.0.model.0.norm",
        "model.0.model.0.model.1.norm",
        "model.0.model.1.model.0.norm",
        "model.0.model.1.model.1.norm",
    ]
    mods = dict(gen.dec.named_modules())
    assert [n for n, m in gen.dec.named_modules() if isinstance(m, AdaptiveInstanceNorm2d)] == names
    for i, name in enumerate(names):
        m = mods[name]
        assert torch.equal(m.bias, params[:, 2 * c * i : 2 * c * i + c].reshape(-1))  # first C: beta
        assert torch.equal(m.weight, params[:, 2 * c * i + c : 2 * c * (i + 1)].reshape(-1))  # next C: gamma


def test_adain_forward_is_raw_affine_instance_norm() -> None:
    _seed(0)
    m = AdaptiveInstanceNorm2d(4)
    x = torch.randn(3, 4, 5, 6, dtype=torch.float64)
    gamma, beta = torch.randn(3, 4, dtype=torch.float64), torch.randn(3, 4, dtype=torch.float64)
    m.weight, m.bias = gamma.reshape(-1), beta.reshape(-1)
    mean = x.mean((2, 3), keepdim=True)
    var = x.var((2, 3), unbiased=False, keepdim=True)
    ref = (x - mean) / torch.sqrt(var + 1e-5) * gamma[..., None, None] + beta[..., None, None]
    torch.testing.assert_close(m(x), ref)
    m.eval()
    torch.testing.assert_close(m(x), ref)
    assert torch.all(m.running_mean == 0) and torch.all(m.running_var == 1)


# ------------------------------------------------------------------------------------------------
# In-place quirks, against literal in-place functional code
# ------------------------------------------------------------------------------------------------
def _fconv(x: torch.Tensor, sd: dict[str, torch.Tensor], prefix: str, stride: int = 1, pad: int = 0) -> torch.Tensor:
    if pad:
        x = F.pad(x, (pad,) * 4, mode="reflect")
    return F.conv2d(x, sd[prefix + ".weight"], sd.get(prefix + ".bias"), stride)


def _actfirst_official(h: torch.Tensor, sd: dict[str, torch.Tensor], p: str, quirks: bool) -> torch.Tensor:
    """The official ActFirstResBlock, literally: the shortcut aliases x, conv_0's LeakyReLU runs in place."""
    # conv_s reads x through ZeroPad2d(0), a copy, before the in-place activation; the identity shortcut is x itself
    xs = F.conv2d(h.clone(), sd[p + ".conv_s.conv.weight"]) if p + ".conv_s.conv.weight" in sd else h
    a = F.leaky_relu_(h, 0.2) if quirks else F.leaky_relu(h, 0.2)
    d = _fconv(a, sd, p + ".conv_0.conv", 1, 1)
    d = _fconv(F.leaky_relu_(d, 0.2), sd, p + ".conv_1.conv", 1, 1)
    return xs + d


@pytest.mark.parametrize("quirk", [True, False])
@pytest.mark.parametrize("fout", [6, 10])
def test_actfirst_block_quirk(quirk: bool, fout: int) -> None:
    _seed(0)
    blk = ActFirstResBlock(6, fout, inplace_quirk=quirk).double()
    for p in blk.parameters():
        nn.init.normal_(p, 0, 0.3)
    sd = {f"b.{k}": v for k, v in blk.state_dict().items()}
    x = torch.randn(2, 6, 9, 9, dtype=torch.float64)
    with torch.no_grad():
        ref = _actfirst_official(x.clone(), sd, "b", quirks=quirk)
    out = blk(x)
    torch.testing.assert_close(out, ref, rtol=1e-10, atol=1e-10)
    # explicit form of the semantics
    f = blk.conv_1(blk.conv_0(x))
    if fout == 6:
        torch.testing.assert_close(out, (F.leaky_relu(x, 0.2) if quirk else x) + f)
    else:
        torch.testing.assert_close(out, blk.conv_s(x) + f)  # raw x in the shortcut either way


def _dis_official(sd: dict[str, torch.Tensor], x: torch.Tensor, y: torch.Tensor, n_res_blks: int,
                  quirks: bool) -> tuple[torch.Tensor, torch.Tensor]:
    h = _fconv(x, sd, "cnn_f.0.conv", 1, 3)
    idx, stages = 1, n_res_blks // 2
    for stage in range(stages):
        for _ in range(2):
            h = _actfirst_official(h, sd, f"cnn_f.{idx}", quirks)
            idx += 1
        if stage < stages - 1:
            h = F.avg_pool2d(F.pad(h, (1, 1, 1, 1), mode="reflect"), 3, 2)
            idx += 2
    feat = h
    a = F.leaky_relu_(feat, 0.2) if quirks else F.leaky_relu(feat, 0.2)  # official: overwrites feat in place
    out = F.conv2d(a, sd["cnn_c.0.conv.weight"], sd["cnn_c.0.conv.bias"])
    return out[torch.arange(out.shape[0]), y], feat


@pytest.mark.parametrize("quirks", [True, False])
def test_discriminator_matches_official_semantics(quirks: bool) -> None:
    _seed(0)
    d = GPPatchMcResDis(num_classes=7, nf=8, n_res_blks=10, inplace_quirks=quirks).double()
    for p in d.parameters():
        nn.init.normal_(p, 0, 0.1)
    sd = d.state_dict()
    x = torch.randn(3, 3, 32, 32, dtype=torch.float64)
    y = torch.tensor([6, 0, 3])
    with torch.no_grad():
        ref_logits, ref_feat = _dis_official(sd, x.clone(), y, 10, quirks)
    logits, (feat,) = d(x, y)
    assert logits.shape == (3, 2, 2) and feat.shape == (3, 256, 2, 2)
    torch.testing.assert_close(logits, ref_logits, rtol=1e-9, atol=1e-9)
    torch.testing.assert_close(feat, ref_feat, rtol=1e-9, atol=1e-9)
    if quirks:
        torch.testing.assert_close(feat, F.leaky_relu(d.cnn_f(x), 0.2))


def test_discriminator_gradients_match_literal_inplace_code() -> None:
    """First- and second-order (R1) gradients equal those of the literal in-place official computation."""
    _seed(0)
    d = GPPatchMcResDis(num_classes=7, nf=8, n_res_blks=10).double()
    for p in d.parameters():
        nn.init.normal_(p, 0, 0.1)
    ref_params = {k: v.detach().clone().requires_grad_(True) for k, v in d.state_dict().items()}
    x = torch.randn(3, 3, 32, 32, dtype=torch.float64)
    y = torch.tensor([6, 0, 3])

    def d_loss(logits: torch.Tensor, feat: torch.Tensor, inp: torch.Tensor) -> torch.Tensor:
        fm = feat.mean(3).mean(2).abs().mean()
        return F.relu(1 - logits).mean() + 10 * i2ikit.losses.r1_penalty(logits, inp) + fm

    x_ref = x.clone().requires_grad_(True)
    d_loss(*_dis_official(ref_params, x_ref, y, 10, quirks=True), x_ref).backward()
    x_ours = x.clone().requires_grad_(True)
    logits, (feat,) = d(x_ours, y)
    d_loss(logits, feat, x_ours).backward()
    for name, p in d.named_parameters():
        torch.testing.assert_close(p.grad, ref_params[name].grad, rtol=1e-9, atol=1e-12)


# ------------------------------------------------------------------------------------------------
# The whole generator against an independent functional implementation
# ------------------------------------------------------------------------------------------------
def _inorm(x: torch.Tensor) -> torch.Tensor:
    return (x - x.mean((2, 3), keepdim=True)) / torch.sqrt(x.var((2, 3), unbiased=False, keepdim=True) + 1e-5)


def _gen_official(sd: dict[str, torch.Tensor], xa: torch.Tensor, xb: torch.Tensor) -> torch.Tensor:
    """dec(Ec(xa), Ey(xb)) for n_downs_content=3, n_downs_class=4, n_res_blks=2, n_mlp_blks=3."""
    h = F.relu(_fconv(xb, sd, "enc_class_model.model.0.conv", 1, 3))
    for i in range(1, 5):
        h = F.relu(_fconv(h, sd, f"enc_class_model.model.{i}.conv", 2, 1))
    z = F.conv2d(h.mean((2, 3), keepdim=True), sd["enc_class_model.model.6.weight"], sd["enc_class_model.model.6.bias"])
    c = F.relu(_inorm(_fconv(xa, sd, "enc_content.model.0.conv", 1, 3)))
    for i in range(1, 4):
        c = F.relu(_inorm(_fconv(c, sd, f"enc_content.model.{i}.conv", 2, 1)))
    for j in range(2):
        r = F.relu(_inorm(_fconv(c, sd, f"enc_content.model.4.model.{j}.model.0.conv", 1, 1)))
        c = c + _inorm(_fconv(r, sd, f"enc_content.model.4.model.{j}.model.1.conv", 1, 1))
    v = z.flatten(1)
    for i in range(3):
        v = F.linear(v, sd[f"mlp.model.{i}.fc.weight"], sd[f"mlp.model.{i}.fc.bias"])
        v = F.relu(v) if i < 2 else v
    ch, col, h = c.shape[1], 0, c
    for j in range(2):
        r = h
        for k in range(2):
            beta, gamma = v[:, col : col + ch], v[:, col + ch : col + 2 * ch]  # [beta_i gamma_i] per layer
            col += 2 * ch
            r = _inorm(_fconv(r, sd, f"dec.model.0.model.{j}.model.{k}.conv", 1, 1)) * gamma[..., None, None] + beta[..., None, None]
            r = F.relu(r) if k == 0 else r
        h = h + r
    for u in range(3):
        h = F.interpolate(h, scale_factor=2, mode="nearest")
        h = F.relu(_inorm(_fconv(h, sd, f"dec.model.{2 + 2 * u}.conv", 1, 2)))
    return torch.tanh(_fconv(h, sd, "dec.model.7.conv", 1, 3))


def test_generator_matches_functional_reimplementation() -> None:
    _seed(0)
    gen = FewShotGen(nf=8, nf_mlp=32, latent_dim=16).double()
    for p in gen.parameters():
        nn.init.normal_(p, 0, 0.2 if p.dim() > 1 else 0.5)
    sd = gen.state_dict()
    xa = torch.rand(2, 3, 48, 32, dtype=torch.float64) * 2 - 1  # non-square, multiple of 16
    xb = torch.rand(2, 3, 48, 32, dtype=torch.float64) * 2 - 1
    ref_t = _gen_official(sd, xa, xb)
    ref_r = _gen_official(sd, xa, xa)
    assert ref_t.std() > 0.05  # the check is not vacuous (outputs are not saturated/constant)
    torch.testing.assert_close(gen(xa, xb), ref_t, rtol=1e-9, atol=1e-9)
    xt, xr = gen(xa, xb, reconstruct=True)
    torch.testing.assert_close(xt, ref_t, rtol=1e-9, atol=1e-9)
    torch.testing.assert_close(xr, ref_r, rtol=1e-9, atol=1e-9)
    assert gen.encode_class(xb).shape == (2, 16, 1, 1)
    torch.testing.assert_close(gen.decode(gen.encode_content(xa), gen.encode_class(xb)), ref_t)
    copy.deepcopy(gen)  # no autograd graph left on AdaIN layers after a forward


# ------------------------------------------------------------------------------------------------
# Training steps
# ------------------------------------------------------------------------------------------------
def test_d_step_and_g_step_finite_with_grads_on_trained_net_only() -> None:
    m = _tiny()
    batch = _batch()
    xb_before = batch["class"][0].clone()
    steps = m.training_steps(0)
    assert [(s.name, s.trains, s.optimizers) for s in steps] == [("dis", ("dis",), ("dis",)), ("gen", ("gen",), ("gen",))]

    # discriminator step (the trainer hands the other network with gradients disabled)
    m.gen.requires_grad_(False)
    out = steps[0].fn(batch, {"gen": m.gen, "dis": m.dis})
    assert set(out) == {"loss", "d_real", "d_fake", "r1", "d_acc"}
    assert all(torch.isfinite(v) for v in out.values())
    assert all(not v.requires_grad for k, v in out.items() if k != "loss")
    torch.testing.assert_close(out["loss"], out["d_real"] + 10 * out["r1"] + out["d_fake"])
    out["loss"].backward()  # includes the R1 double backward
    assert all(p.grad is not None and torch.isfinite(p.grad).all() for p in m.dis.parameters())
    assert all(p.grad is None for p in m.gen.parameters())
    assert torch.equal(batch["class"][0], xb_before) and not batch["class"][0].requires_grad
    m.gen.requires_grad_(True)
    m.dis.zero_grad(set_to_none=True)

    # generator step
    m.dis.requires_grad_(False)
    out = steps[1].fn(batch, {"gen": m.gen, "dis": m.dis})
    assert set(out) == {"loss", "g_adv", "g_rec", "g_fm", "g_acc"}
    assert all(torch.isfinite(v) for v in out.values())
    torch.testing.assert_close(out["loss"], out["g_adv"] + 0.1 * out["g_rec"] + out["g_fm"])
    out["loss"].backward()
    assert all(p.grad is not None and torch.isfinite(p.grad).all() for p in m.gen.parameters())
    assert all(p.grad is None for p in m.dis.parameters())
    assert all(p.grad is None for p in m.gen_ema.parameters())


def test_r1_double_backward_reaches_discriminator() -> None:
    m = _tiny()
    xb, lb = _batch()["class"]
    xb = xb.requires_grad_(True)
    logits, _ = m.dis(xb, lb)
    r1 = i2ikit.losses.r1_penalty(logits, xb)
    r1.backward()
    # every weight is reached (biases of the last conv do not affect the input gradient)
    grads = [p.grad for p in m.dis.parameters() if p.dim() > 1]
    assert all(g is not None and torch.isfinite(g).all() for g in grads)
    assert any(g.abs().sum() > 0 for g in grads)


def test_ema_spec_and_networks() -> None:
    m = _tiny()
    assert m.ema_specs() == [i2ikit.EMASpec("gen_ema", "gen", 0.999)]
    assert m.networks() == {"gen": m.gen, "dis": m.dis}
    assert FUNIT.values_from_data(num_classes=12) == {"num_classes": 12}
    assert FUNIT.data_streams == ("content", "class") and FUNIT.method_name == "funit"


# ------------------------------------------------------------------------------------------------
# Inference
# ------------------------------------------------------------------------------------------------
def test_translate_k_shot() -> None:
    m = _tiny()
    xa = _batch(b=2)["content"][0]
    shots = torch.rand(3, 3, 32, 32) * 2 - 1
    y1 = m.translate(xa, shots[:1])
    y3 = m.translate(xa, shots)
    assert y1.shape == y3.shape == (2, 3, 32, 32)
    assert y3.abs().max() <= 1 and not y3.requires_grad
    g = m.gen_ema
    with torch.no_grad():
        code = g.encode_class(shots).mean(0, keepdim=True)  # arithmetic mean of the K codes
        torch.testing.assert_close(y3, g.decode(g.encode_content(xa), code.expand(2, -1, -1, -1)))
        torch.testing.assert_close(y1, g.decode(g.encode_content(xa), g.encode_class(shots[:1]).expand(2, -1, -1, -1)))
    # per-content groups of k consecutive class images
    per = torch.rand(6, 3, 32, 32) * 2 - 1
    yk = m.translate(xa, per, k=3)
    with torch.no_grad():
        codes = g.encode_class(per)
        ref = g.decode(g.encode_content(xa), torch.stack([codes[:3].mean(0), codes[3:].mean(0)]))
    torch.testing.assert_close(yk, ref)
    with pytest.raises(ValueError, match="k=3"):
        m.translate(xa, per[:5], k=3)
    cols = m.sample_columns(_batch())
    assert [n for n, _ in cols] == ["content", "class", "translation", "reconstruction"]
    assert all(t.shape == (2, 3, 32, 32) for _, t in cols)


# ------------------------------------------------------------------------------------------------
# Registry, build, export, official checkpoints
# ------------------------------------------------------------------------------------------------
def test_registered_parts() -> None:
    reg = i2ikit.get_registry()
    assert reg.get("method", "funit").obj is FUNIT
    assert reg.get("generator", "funit_generator").obj is FewShotGen
    assert reg.get("discriminator", "funit_patch").obj is GPPatchMcResDis
    assert "funit" in i2ikit.list_models("*unit*")


def test_build_drops_none() -> None:
    _seed(0)
    m = i2ikit.build("funit", nf=16, num_classes=10, init=None)
    assert m.config["init"] == "kaiming" and m.config["nf"] == 16
    assert m.dis.cnn_c[0].conv.out_channels == 10


def test_swap_discriminator_and_gan_loss_by_name() -> None:
    from i2ikit.errors import ConfigError
    from i2ikit.parts import DiscriminatorOutput

    class TinyDis(nn.Module):
        labels = "required"

        def __init__(self, num_classes: int, width: int = 4) -> None:
            super().__init__()
            self.body = nn.Conv2d(3, width, 3, 2, 1)
            self.head = nn.Conv2d(width, num_classes, 1)

        def forward(self, x: torch.Tensor, y: torch.Tensor) -> DiscriminatorOutput:
            f = F.leaky_relu(self.body(x), 0.2)
            out = self.head(f)
            return DiscriminatorOutput(out[torch.arange(x.shape[0]), y], [f])

    reg = i2ikit.get_registry()
    reg.add("discriminator", "test_tiny_dis", TinyDis, plugin="tests")
    try:
        m = _tiny(discriminator={"name": "test_tiny_dis", "width": 6}, gan_loss="nonsaturating")
        assert m.config["discriminator"] == {"name": "test_tiny_dis", "width": 6}
        assert isinstance(m.dis, TinyDis) and m.dis.body.out_channels == 6
        assert type(m.adv_loss) is i2ikit.losses.NonSaturatingLoss
        assert type(_tiny().adv_loss) is i2ikit.losses.HingeLoss  # the default, so the swap changed something
        batch = _batch()
        steps = m.training_steps(0)
        assert [s.name for s in steps] == ["dis", "gen"]
        for step in steps:
            out = step.fn(batch, {"gen": m.gen, "dis": m.dis})
            assert torch.isfinite(out["loss"])
            out["loss"].backward()
    finally:
        reg._entries.pop(("discriminator", "test_tiny_dis"), None)
    with pytest.raises(ConfigError, match="unknown discriminator 'funit_ptach'.*Did you mean 'funit_patch'"):
        _tiny(discriminator="funit_ptach")


def test_save_pretrained_roundtrip(tmp_path: Any) -> None:
    m = _tiny()
    with torch.no_grad():
        for p in m.gen_ema.parameters():  # make gen_ema differ from gen, so both must be saved
            p.add_(0.01 * torch.randn_like(p))
    m.save_pretrained(tmp_path / "export")
    m2 = i2ikit.build(pretrained=tmp_path / "export")
    assert isinstance(m2, FUNIT) and m2.config == m.config
    for name in ("gen", "dis", "gen_ema"):
        a, b = getattr(m, name).state_dict(), getattr(m2, name).state_dict()
        assert a.keys() == b.keys() and all(torch.equal(a[k], b[k]) for k in a)
    xa = _batch()["content"][0]
    shots = _batch()["class"][0]
    assert torch.equal(m.translate(xa, shots), m2.translate(xa, shots))


def _official_gen_random(nf: int, latent: int, nf_mlp: int, seed: int) -> dict[str, torch.Tensor]:
    g = torch.Generator().manual_seed(seed)
    sd = {}
    for key, shape in official_gen_shapes(nf, latent, nf_mlp):
        if key.endswith("running_mean"):
            sd[key] = torch.zeros(shape)
        elif key.endswith("running_var"):
            sd[key] = torch.ones(shape)
        else:
            sd[key] = torch.randn(shape, generator=g) * 0.1
    return sd


def test_official_checkpoint_loading(tmp_path: Any) -> None:
    gen = _official_gen_random(8, 16, 32, seed=1)
    gen_test = _official_gen_random(8, 16, 32, seed=2)
    path = tmp_path / "gen_00001000.pt"
    torch.save({"gen": gen, "gen_test": gen_test}, path)

    m = i2ikit.build("funit", pretrained=path, nf=8, latent_dim=16, nf_mlp=32, discriminator={"nf": 8}, num_classes=3)
    assert not m.training
    assert all(torch.equal(m.gen_ema.state_dict()[k], v) for k, v in gen_test.items())
    assert all(torch.equal(m.gen.state_dict()[k], v) for k, v in gen.items())

    # the hyper-parameters are inferred from the shapes when not given
    m2 = i2ikit.build("funit", pretrained=path, discriminator={"nf": 8})
    assert (m2.config["nf"], m2.config["latent_dim"], m2.config["nf_mlp"]) == (8, 16, 32)

    # writing back gives the official format
    off = to_official(m)
    assert set(off) == {"gen", "gen_test"} and list(off["gen_test"]) == [k for k, _ in official_gen_shapes(8, 16, 32)]
    assert all(torch.equal(off["gen_test"][k], v) for k, v in gen_test.items())
    torch.save(off, tmp_path / "again.pt")
    m3 = FUNIT.load_official(tmp_path / "again.pt", discriminator={"nf": 8})
    assert all(torch.equal(m3.gen.state_dict()[k], v) for k, v in gen.items())

    # only gen_test, or a bare state dict: both generators get it
    torch.save({"gen_test": gen_test}, tmp_path / "only_test.pt")
    torch.save(gen_test, tmp_path / "bare.pt")
    for name in ("only_test.pt", "bare.pt"):
        mm = FUNIT.load_official(tmp_path / name, discriminator={"nf": 8})
        assert all(torch.equal(mm.gen.state_dict()[k], v) and torch.equal(mm.gen_ema.state_dict()[k], v)
                   for k, v in gen_test.items())

    # a mismatch names the file and the first offending key
    with pytest.raises(ValueError) as err:
        i2ikit.build("funit", pretrained=path, nf=16, discriminator={"nf": 8})
    assert str(path) in str(err.value) and "enc_class_model.model.0.conv.weight" in str(err.value)
    broken = dict(gen_test)
    del broken["mlp.model.1.fc.bias"]
    torch.save({"gen": gen, "gen_test": broken}, tmp_path / "broken.pt")
    with pytest.raises(ValueError, match="mlp.model.1.fc.bias"):
        FUNIT.load_official(tmp_path / "broken.pt", discriminator={"nf": 8})

    # optional discriminator checkpoint {'dis': sd}
    dis = {k: torch.randn(s) * 0.1 for k, s in official_dis_shapes(4, nf=8)}
    torch.save({"dis": dis}, tmp_path / "dis_00001000.pt")
    md = FUNIT.load_official(path, dis_checkpoint=tmp_path / "dis_00001000.pt")
    assert md.config["num_classes"] == 4 and md.config["discriminator"] == {"name": "funit_patch", "nf": 8, "n_res_blks": 10}
    assert all(torch.equal(md.dis.state_dict()[k], v) for k, v in dis.items())
    assert set(to_official_dis(md)) == {"dis"}


class _NotATensor:
    pass


def test_pickle_needing_checkpoint_is_refused(tmp_path: Any) -> None:
    path = tmp_path / "pickled.pt"
    torch.save({"gen_test": _official_gen_random(8, 16, 32, 0), "opts": _NotATensor()}, path)
    with pytest.raises(ValueError, match="pickle"):
        i2ikit.build("funit", pretrained=path, discriminator={"nf": 8})


# ---------------------------------------------------------------------------------------------------
# Declared constraints, class needs and translation modes
# ---------------------------------------------------------------------------------------------------
def test_declared_constraints_min_classes_and_translate_modes() -> None:
    import inspect

    from i2ikit.recipe import check_method_kwargs

    check_method_kwargs(FUNIT, {}, "x")  # the defaults satisfy the constraints
    assert set(FUNIT.constraints) <= set(inspect.signature(FUNIT.__init__).parameters)
    assert set(FUNIT.min_classes) <= set(FUNIT.data_streams)
    assert FUNIT.min_classes == {"content": 2, "class": 2}
    assert FUNIT.translate_modes == ("class_images",)
    # the tiny settings the tests use pass too
    check_method_kwargs(FUNIT, {**TINY, "n_res_blks": 1, "n_downs_content": 2, "n_downs_class": 2,
                               "discriminator": {"nf": 8, "n_res_blks": 4}}, "x")


@pytest.mark.parametrize("key,bad", [("nf", 0), ("lr_gen", 0.0), ("ema_decay", 1.5), ("init", "zeros"),
                                     ("n_downs_class", 1), ("r1_w", -1.0)])
def test_out_of_range_values_fail_before_building(key: str, bad: Any, monkeypatch: pytest.MonkeyPatch) -> None:
    from i2ikit.errors import ConfigError
    import i2ikit.parts

    def boom(*a: Any, **k: Any) -> None:
        raise AssertionError("a network was built")

    monkeypatch.setattr(i2ikit.parts, "build_part", boom)  # every network of a method is built through it
    with pytest.raises(ConfigError, match=f"'funit'.*{key}") as err:
        i2ikit.build("funit", **{**TINY, key: bad})
    assert key in str(err.value) and "funit" in str(err.value)


def test_constructor_checks_name_the_key() -> None:
    from i2ikit.errors import ConfigError

    with pytest.raises(ConfigError, match="'funit_patch'.*n_res_blks"):  # odd: only the constructor can tell
        _tiny(discriminator={"n_res_blks": 3})
    with pytest.raises(ConfigError, match="init='zeros'"):
        FUNIT(init="zeros")
    with pytest.raises(ConfigError, match="ema_decay"):
        FUNIT(ema_decay=2.0)


@pytest.mark.parametrize("scheme", ["kaiming", "gaussian", "xavier", "orthogonal", "default"])
def test_init_schemes_match_the_official_weights_init(scheme: str) -> None:
    """FUNIT's ``init`` values go through the core's init_weights and give what the official
    ``weights_init`` gives: the same draws, in the same order, on exactly the plain convs and linears."""
    import math

    from i2ikit_funit.method import init_weights

    def official(m: nn.Module) -> None:
        name = type(m).__name__
        if (name.find("Conv") == 0 or name.find("Linear") == 0) and hasattr(m, "weight"):
            if scheme == "gaussian":
                nn.init.normal_(m.weight.data, 0.0, 0.02)
            elif scheme == "xavier":
                nn.init.xavier_normal_(m.weight.data, gain=math.sqrt(2))
            elif scheme == "kaiming":
                nn.init.kaiming_normal_(m.weight.data, a=0, mode="fan_in")
            elif scheme == "orthogonal":
                nn.init.orthogonal_(m.weight.data, gain=math.sqrt(2))
            if hasattr(m, "bias") and m.bias is not None:
                nn.init.constant_(m.bias.data, 0.0)

    _seed(0)
    ours = FewShotGen(nf=8, nf_mlp=16, latent_dim=8, n_downs_content=2, n_downs_class=2)
    theirs = FewShotGen(nf=8, nf_mlp=16, latent_dim=8, n_downs_content=2, n_downs_class=2)
    theirs.load_state_dict(ours.state_dict())
    torch.manual_seed(5)
    init_weights(ours, scheme)
    torch.manual_seed(5)
    theirs.apply(official)
    for (k, a), b in zip(ours.state_dict().items(), theirs.state_dict().values()):
        assert torch.equal(a, b), k


def _train_a_few_steps(batched: bool, monkeypatch: pytest.MonkeyPatch, steps: int = 3) -> list[dict[str, float]]:
    """Seeded D and G steps with RMSprop, as the trainer runs them; ``batched=False`` calls D once per input."""
    monkeypatch.setattr(GPPatchMcResDis, "batch_independent", batched)
    m = _tiny()
    opts = m.make_optimizers()
    logs = []
    for i in range(steps):
        batch = _batch(b=3, seed=10 + i)
        row = {}
        for step in m.training_steps(i):
            for name, net in m.networks().items():
                net.requires_grad_(name in step.trains)
            out = step.fn(batch, m.networks())
            out["loss"].backward()
            for name in step.optimizers:
                opts[name].step()
                opts[name].zero_grad(set_to_none=True)
            row.update({f"{step.name}/{k}": float(v.detach()) for k, v in out.items()})
        logs.append(row)
    logs.append({k: float(v.sum()) for k, v in m.gen.state_dict().items()})
    return logs


def test_g_step_calls_the_discriminator_on_one_batch_with_the_same_numbers(monkeypatch: pytest.MonkeyPatch) -> None:
    """The G step's four discriminator calls run as two on concatenated batches (funit_patch has no batch
    statistics): losses and the trained generator's weights are bit for bit those of one call per input."""
    assert _train_a_few_steps(True, monkeypatch) == _train_a_few_steps(False, monkeypatch)
    calls = []
    monkeypatch.setattr(GPPatchMcResDis, "batch_independent", True)
    m = _tiny()
    m.dis.register_forward_hook(lambda mod, args, out: calls.append(args[0].shape[0]))
    m.g_step(_batch(b=3), m.networks())
    assert calls == [6, 6]
