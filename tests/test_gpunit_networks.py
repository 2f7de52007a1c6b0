"""Tests of the GP-UNIT networks, checkpoint loading and inference against the facts of the official code.

The key -> shape tables below are written from the reference description of the official code
(shared/reference/gpunit.md sections 1.3, 2.2, 2.3, 2.5 and 3), not from the plugin's modules; the
synthetic checkpoint files are generated from these tables. Full-size networks are built once each
(meta device for counts, real tensors only for the file round trip); forward passes use tiny widths.
"""
from __future__ import annotations

import argparse
from pathlib import Path

import pytest
import torch
import torch.nn.functional as F
from torch import nn

import i2ikit_gpunit

from i2ikit.nn.layers import StyleAdaIN2d, grad_reverse, legacy_spectral_norm_weight
from i2ikit_gpunit import (
    ContentEncoder,
    Discriminator,
    DynamicSkipLayer,
    Generator,
    PriorAutoEncoder,
    Sampler,
    load_content_encoder,
    load_official,
    load_prior_autoencoder,
    load_translation_model,
    preprocess,
    save_content_encoder,
    save_translation_model,
    translate,
)

SN_BUFFERS = (".weight_u", ".weight_v", ".running_mean", ".running_var", ".num_batches_tracked")


# ------------------------------------------------------------------------------------------------
# Official key tables (reference sections 1.3, 2.2, 2.3, 2.5, 3)
# ------------------------------------------------------------------------------------------------
def _sn_conv(out: list, prefix: str, cout: int, cin: int, k: int, bias: bool = True) -> None:
    """Legacy torch spectral norm: bias, weight_orig (out, in, k, k), weight_u (out,), weight_v (in*k*k,)."""
    if bias:
        out.append((f"{prefix}.bias", [cout]))
    out += [(f"{prefix}.weight_orig", [cout, cin, k, k]), (f"{prefix}.weight_u", [cout]), (f"{prefix}.weight_v", [cin * k * k])]


def ref_encoder_table() -> list[tuple[str, list[int]]]:
    """Section 1.3 table: six stages of two 3x3 convs."""
    stages = [(3, 64, 64), (64, 64, 128), (128, 128, 256), (256, 256, 512), (512, 512, 512), (512, 512, 1)]
    out: list = []
    for i, (a, b, c) in enumerate(stages, start=1):
        _sn_conv(out, f"layer{i}.0.conv", b, a, 3)
        _sn_conv(out, f"layer{i}.1.conv", c, b, 3)
    return out


def _adares(out: list, prefix: str, fin: int, fout: int, style: int = 256) -> None:
    out += [(f"{prefix}.conv_0.weight", [fout, fin, 3, 3]), (f"{prefix}.conv_0.bias", [fout]),
            (f"{prefix}.conv_1.weight", [fout, fout, 3, 3]), (f"{prefix}.conv_1.bias", [fout])]
    if fin != fout:
        out.append((f"{prefix}.conv_s.weight", [fout, fin, 1, 1]))
    norms = [("norm_0", fin), ("norm_1", fout)] + ([("norm_s", fin)] if fin != fout else [])
    for name, c in norms:
        out += [(f"{prefix}.{name}.style.weight", [2 * c, style]), (f"{prefix}.{name}.style.bias", [2 * c])]


def ref_generator_table() -> list[tuple[str, list[int]]]:
    """Sections 2.2 and 3: style encoder, six layers, two dynamic skips."""
    out: list = []
    convs = [(64, 3, 7), (128, 64, 4), (256, 128, 4), (256, 256, 4), (256, 256, 4), (256, 256, 4)]
    for idx, (co, ci, k) in zip((0, 2, 4, 6, 8, 10), convs):
        out += [(f"style_encoder.model.{idx}.weight", [co, ci, k, k]), (f"style_encoder.model.{idx}.bias", [co])]
    for idx, (co, ci) in zip((0, 2, 4), [(64, 256), (256, 64), (256, 256)]):
        out += [(f"style_encoder.mlp.{idx}.weight", [co, ci]), (f"style_encoder.mlp.{idx}.bias", [co])]
    chans = [(1, 512), (512, 512), (512, 256), (256, 128), (128, 64), (64, 64)]
    for i, (fin, fout) in enumerate(chans):
        _adares(out, f"model.{i}.reslayer", fin, fout)
        if i == 0:
            _adares(out, "model.0.postlayer", 512, 512)
        out += [(f"model.{i}.rgblayer.weight", [3, fout, 7, 7]), (f"model.{i}.rgblayer.bias", [3])]
    for i, hidden, feat in ((1, 1, 512), (2, 512, 256)):
        out += [(f"model.{i}.skiplayer.trans.weight", [feat, hidden, 3, 3]), (f"model.{i}.skiplayer.trans.bias", [feat])]
        for name in ("reset", "mask", "update"):
            out += [(f"model.{i}.skiplayer.{name}.weight", [feat, 2 * feat, 3, 3]), (f"model.{i}.skiplayer.{name}.bias", [feat])]
    return out


def ref_sampler_table() -> list[tuple[str, list[int]]]:
    out: list = [("lin1.weight", [128, 128])]
    for bn in ("bn1", "bn2"):
        if bn == "bn2":
            out.append(("lin2.weight", [128, 128]))
        out += [(f"{bn}.weight", [128]), (f"{bn}.bias", [128]), (f"{bn}.running_mean", [128]),
                (f"{bn}.running_var", [128]), (f"{bn}.num_batches_tracked", [])]
    out.append(("lin_out.weight", [256, 128]))
    return out


def ref_discriminator_table() -> list[tuple[str, list[int]]]:
    out: list = []
    _sn_conv(out, "model.0", 64, 3, 3)
    chans = [64, 128, 256, 512, 512, 512, 512]
    for i in range(1, 7):
        fin, fout = chans[i - 1], chans[i]
        _sn_conv(out, f"model.{i}.conv_0", fin, fin, 3)
        _sn_conv(out, f"model.{i}.conv_1", fout, fin, 3)
        if fin != fout:
            _sn_conv(out, f"model.{i}.conv_s", fout, fin, 1, bias=False)
    _sn_conv(out, "model.8", 512, 512, 4)
    _sn_conv(out, "linear", 1, 512, 1)
    return out


def _n_params(table: list[tuple[str, list[int]]]) -> int:
    total = 0
    for key, shape in table:
        if not key.endswith(SN_BUFFERS):
            total += int(torch.tensor(shape).prod().item()) if shape else 1
    return total


def _random_sd(table: list[tuple[str, list[int]]], seed: int) -> dict[str, torch.Tensor]:
    g = torch.Generator().manual_seed(seed)
    sd = {}
    for key, shape in table:
        if key.endswith("num_batches_tracked"):
            sd[key] = torch.tensor(7, dtype=torch.long)
        elif key.endswith("running_var"):
            sd[key] = torch.rand(shape, generator=g) + 0.5
        else:
            sd[key] = torch.randn(shape, generator=g)
    return sd


def _shapes(module: nn.Module) -> dict[str, list[int]]:
    return {k: list(v.shape) for k, v in module.state_dict().items()}


def _n_model_params(module: nn.Module) -> int:
    return sum(p.numel() for p in module.parameters())


@pytest.fixture(scope="module")
def meta_models() -> dict[str, nn.Module]:
    with torch.device("meta"):
        return {"E": ContentEncoder(init="default"), "G": Generator(init="default"),
                "D": Discriminator(init="default"), "S": Sampler()}


# Tiny settings: encoder/generator width 4 at 64 px (c6 is 2x2), 16-d style codes.
TINY_G = dict(ngf=4, style_dim=16, style_nef=4, style_compress_dim=8)


def _tiny(seed: int = 0) -> tuple[ContentEncoder, Generator, Sampler]:
    torch.manual_seed(seed)
    e = ContentEncoder(4, input_size=64).eval()
    g = Generator(**TINY_G, init="default").eval()  # default init keeps the AdaIN gamma bias at 1 (non-degenerate)
    s = Sampler(noise_dim=8, style_dim=16)
    return e, g, s


# ------------------------------------------------------------------------------------------------
# Parameter counts and key names
# ------------------------------------------------------------------------------------------------
def test_reference_tables_match_documented_counts() -> None:
    e, g, d, s = ref_encoder_table(), ref_generator_table(), ref_discriminator_table(), ref_sampler_table()
    assert (len(e), len(g), len(d), len(s)) == (48, 114, 69, 13)
    assert round(_n_params(e) / 1e6, 2) == 9.45
    assert round(_n_params(g) / 1e6, 2) == 39.93
    assert round(_n_params(d) / 1e6, 2) == 20.85


def test_default_networks_match_reference_tables(meta_models: dict[str, nn.Module]) -> None:
    for name, table in (("E", ref_encoder_table()), ("G", ref_generator_table()),
                        ("D", ref_discriminator_table()), ("S", ref_sampler_table())):
        model = meta_models[name]
        assert _shapes(model) == dict(table), name
        assert _n_model_params(model) == _n_params(table), name
    assert _n_model_params(meta_models["G"]) == 39_926_358
    assert _n_model_params(meta_models["D"]) == 20_851_777
    assert _n_model_params(meta_models["E"]) == 9_446_529
    assert _n_model_params(meta_models["S"]) == 66_048


def test_hand_written_key_samples(meta_models: dict[str, nn.Module]) -> None:
    """Keys and shapes copied by hand from the reference text (section 3)."""
    e, g, d, s = (_shapes(meta_models[k]) for k in "EGDS")
    assert e["layer6.1.conv.weight_orig"] == [1, 512, 3, 3]
    assert e["layer1.0.conv.weight_v"] == [27] and e["layer1.0.conv.weight_u"] == [64]
    assert g["model.0.reslayer.conv_0.weight"] == [512, 1, 3, 3]
    assert g["model.0.reslayer.conv_s.weight"] == [512, 1, 1, 1] and "model.0.reslayer.conv_s.bias" not in g
    assert g["model.0.reslayer.norm_0.style.weight"] == [2, 256]
    assert g["model.1.skiplayer.trans.weight"] == [512, 1, 3, 3]
    assert g["model.1.skiplayer.reset.weight"] == [512, 1024, 3, 3]
    assert g["model.2.skiplayer.trans.weight"] == [256, 512, 3, 3] and g["model.2.skiplayer.update.weight"] == [256, 512, 3, 3]
    assert "model.1.reslayer.conv_s.weight" not in g and "model.5.reslayer.conv_s.weight" not in g
    assert "model.3.skiplayer.trans.weight" not in g and "model.1.postlayer.conv_0.weight" not in g
    assert g["style_encoder.model.10.weight"] == [256, 256, 4, 4] and g["style_encoder.mlp.0.weight"] == [64, 256]
    assert not any(k.endswith(("weight_orig", "weight_u")) for k in g)  # no spectral norm in G
    assert d["model.8.weight_orig"] == [512, 512, 4, 4] and d["linear.weight_orig"] == [1, 512, 1, 1]
    assert "model.1.conv_s.bias" not in d and "model.4.conv_s.weight_orig" not in d
    assert s["lin_out.weight"] == [256, 128] and "lin1.bias" not in s


def test_registration_hook() -> None:
    from i2ikit.registry import Registry

    registry = Registry()
    i2ikit_gpunit.i2ikit_register(registry.registrar("gpunit"))
    assert registry.get("encoder", "gpunit_content_encoder").obj is ContentEncoder
    assert registry.get("generator", "gpunit_generator").obj is Generator
    assert registry.get("discriminator", "gpunit_discriminator").obj is Discriminator
    assert registry.get("method", "gpunit_prior").obj.__name__ == "GPUNITPrior"
    assert registry.get("dataset", "gpunit_prior_images").obj.__name__ == "PriorImages"
    assert registry.get("generator", "gpunit_prior_autoencoder").obj is PriorAutoEncoder
    assert len(list(registry.entries(plugin="gpunit"))) == 7
    assert i2ikit_gpunit.__version__ == "0.1.0"


def test_kaiming_init_zeroes_adain_gamma_bias() -> None:
    g = Generator(**TINY_G, init="kaiming")
    bias = g.model[0].reslayer.norm_0.style.bias
    assert torch.equal(bias, torch.zeros_like(bias))
    g = Generator(**TINY_G, init="default")
    b = g.model[1].reslayer.norm_1.style.bias
    assert torch.equal(b[:32], torch.ones(32)) and torch.equal(b[32:], torch.zeros(32))


def test_init_weights_reaches_spectral_norm_weights() -> None:
    """``init_weights('kaiming')`` (official train scripts) initialises SN layers' ``weight_orig`` with
    Kaiming-normal (fan_in) and sets every conv/linear bias to 0."""
    torch.manual_seed(0)
    e = ContentEncoder(16, input_size=64, init="kaiming")
    w = e.layer5[1].conv.weight_orig  # fan_in = 128 * 9
    assert abs(w.std().item() / (2 / (128 * 9)) ** 0.5 - 1) < 0.05
    assert all(torch.equal(m.conv.bias, torch.zeros_like(m.conv.bias)) for layer in (e.layer1, e.layer6) for m in layer)
    d = Discriminator(8, 32, img_size=32, init="kaiming")
    assert torch.equal(d.linear.bias, torch.zeros(1))


# ------------------------------------------------------------------------------------------------
# Official checkpoint files
# ------------------------------------------------------------------------------------------------
def test_official_full_size_files_load_strict(tmp_path: Path) -> None:
    enc_sd = _random_sd(ref_encoder_table(), 1)
    g_sd, s_sd = _random_sd(ref_generator_table(), 2), _random_sd(ref_sampler_table(), 3)
    torch.save(enc_sd, tmp_path / "content_encoder.pt")
    torch.save({"g_ema": g_sd, "sampler": s_sd}, tmp_path / "cat2dog.pt")
    parts = load_official(tmp_path / "content_encoder.pt", tmp_path / "cat2dog.pt")
    assert set(parts) == {"content_encoder", "generator", "sampler"}
    e, g, s = parts["content_encoder"], parts["generator"], parts["sampler"]
    assert not e.training and not g.training and s.training  # official modes
    assert e.nef == 64 and g.ngf == 64 and g.style_dim == 256 and (s.noise_dim, s.style_dim) == (128, 256)
    for module, sd in ((e, enc_sd), (g, g_sd), (s, s_sd)):
        own = module.state_dict()
        assert set(own) == set(sd)
        for key in list(sd)[:: max(1, len(sd) // 9)]:
            assert torch.equal(own[key], sd[key]), key


def test_state_dict_with_metadata_and_variants_load(tmp_path: Path) -> None:
    """A real ``module.state_dict()`` (OrderedDict with metadata), a DataParallel prefix, torch's newer
    spectral-norm parametrisation names, and a Stage-I snapshot all load into the content encoder."""
    src = ContentEncoder(4, input_size=64)
    x = torch.rand(1, 3, 64, 64) * 2 - 1
    ref = src.eval()(x)
    save_content_encoder(src, tmp_path / "e.pt")
    torch.save(src.state_dict(), tmp_path / "e_meta.pt")
    sd = src.state_dict()
    torch.save({"module." + k: v for k, v in sd.items()}, tmp_path / "e_dp.pt")
    renamed = {k.replace("weight_orig", "parametrizations.weight.original").replace("weight_u", "parametrizations.weight.0._u")
               .replace("weight_v", "parametrizations.weight.0._v"): v for k, v in sd.items()}
    torch.save(renamed, tmp_path / "e_param.pt")
    for name in ("e.pt", "e_meta.pt", "e_dp.pt", "e_param.pt"):
        e = load_content_encoder(tmp_path / name, input_size=64)
        assert e.nef == 4 and torch.allclose(e(x), ref, atol=1e-6), name
    # Stage-I snapshot {'ae_ema', 'ae_optim'}: the content encoder is ae_ema's contentE part
    ae = PriorAutoEncoder(4, ncls=5)
    opt = torch.optim.Adam(ae.parameters(), lr=2e-4)
    torch.save({"ae_ema": ae.state_dict(), "ae_optim": opt.state_dict()}, tmp_path / "prior_distillation-30000.pt")
    e = load_content_encoder(tmp_path / "prior_distillation-30000.pt")
    assert torch.equal(e.layer3[1].conv.weight_orig, ae.contentE.layer3[1].conv.weight_orig)
    ae2 = load_prior_autoencoder(tmp_path / "prior_distillation-30000.pt")
    assert torch.equal(ae2.embed.weight, ae.embed.weight) and ae2.C.fc3.out_features == 5


def test_pickle_is_refused_and_mismatch_named(tmp_path: Path) -> None:
    g = Generator(**TINY_G)
    path = tmp_path / "male2female.pt"
    torch.save({"g_ema": g.state_dict(), "args": argparse.Namespace(task="male2female")}, path)
    with pytest.raises(ValueError, match="male2female.pt.*pickle"):
        load_translation_model(path)
    bad = tmp_path / "dog2cat.pt"
    torch.save({"g_ema": g.state_dict(), "sampler": Sampler().state_dict()}, bad)
    with pytest.raises(ValueError, match=r"(?s)dog2cat.pt \['g_ema'\] does not fit the Generator.*'ngf': 4"):
        load_translation_model(bad, generator=Generator(ngf=8, style_dim=16, style_nef=4, style_compress_dim=8))
    with pytest.raises(ValueError, match="not the content encoder"):
        load_content_encoder(bad)


def test_translation_file_round_trip(tmp_path: Path) -> None:
    e, g, s = _tiny(1)
    save_translation_model(g, s, tmp_path / "t.pt")
    g2, s2 = load_translation_model(tmp_path / "t.pt")  # sizes read from the file
    assert g2.ngf == 4 and g2.style_dim == 16 and s2 is not None and s2.noise_dim == 8
    x, z = torch.rand(1, 3, 64, 64) * 2 - 1, torch.randn(3, 8)
    with torch.no_grad():
        assert torch.equal(translate(g, e, x, z=z, sampler=s), translate(g2, e, x, z=z, sampler=s2))
    save_translation_model(g, None, tmp_path / "g_only.pt")
    assert load_translation_model(tmp_path / "g_only.pt")[1] is None


# ------------------------------------------------------------------------------------------------
# Content encoder: coarse code and spectral norm, against independent computations
# ------------------------------------------------------------------------------------------------
def test_content_encoder_features_and_coarse_code() -> None:
    torch.manual_seed(0)
    e = ContentEncoder(4, input_size=128).eval()
    x = torch.rand(3, 3, 128, 128) * 2 - 1
    with torch.no_grad():
        feats = e(x, get_feature=True)
        c6 = e(x)
    assert [tuple(f.shape[1:]) for f in feats] == [(1, 4, 4), (32, 4, 4), (32, 8, 8), (16, 16, 16), (8, 32, 32), (4, 64, 64)]
    assert torch.equal(c6, feats[0])
    # c6 = lrelu_0.2(IN(conv)): undoing the LeakyReLU gives per-map mean 0 and biased variance ~1
    pre = torch.where(c6 >= 0, c6, c6 / 0.2).flatten(1)
    assert torch.allclose(pre.mean(1), torch.zeros(3), atol=1e-5)
    var = pre.var(1, unbiased=False)
    assert (var - 1).abs().max() < 1e-3  # var_x / (var_x + eps), eps = 1e-5
    assert (c6 < 0).any() and not torch.all((c6 == 0) | (c6 == 1))  # continuous, not binarised
    # another size is resized bilinearly (align_corners=False) to input_size first
    y = torch.rand(1, 3, 96, 96)
    with torch.no_grad():
        assert torch.allclose(e(y), e(F.interpolate(y, size=(128, 128), mode="bilinear", align_corners=False)), atol=1e-6)


def test_spectral_norm_block_matches_functional() -> None:
    """Eval-mode conv block = reflect pad -> conv with W_orig / (u . W_orig v) -> IN -> LeakyReLU."""
    torch.manual_seed(0)
    e = ContentEncoder(4, input_size=64).eval()
    block = e.layer1[1]  # 4 -> 4, stride 2
    conv = block.conv
    x = torch.randn(2, 4, 16, 16)
    w_orig, u, v = conv.weight_orig.detach(), conv.weight_u, conv.weight_v
    sigma = torch.dot(u, w_orig.reshape(4, -1) @ v)
    expected = F.conv2d(F.pad(x, (1, 1, 1, 1), mode="reflect"), w_orig / sigma, conv.bias.detach(), stride=2)
    mu = expected.mean((2, 3), keepdim=True)
    var = expected.var((2, 3), keepdim=True, unbiased=False)
    expected = F.leaky_relu((expected - mu) / torch.sqrt(var + 1e-5), 0.2)
    with torch.no_grad():
        assert torch.allclose(block(x), expected, atol=1e-5)
    assert torch.allclose(legacy_spectral_norm_weight(w_orig, u, v), w_orig / sigma)
    # eval mode leaves the power-iteration vectors alone; training mode updates them (official Stage II)
    u0 = conv.weight_u.clone()
    with torch.no_grad():
        e(torch.randn(1, 3, 64, 64))
    assert torch.equal(conv.weight_u, u0)
    e.train()
    with torch.no_grad():
        e(torch.randn(1, 3, 64, 64))
    assert not torch.equal(conv.weight_u, u0)


# ------------------------------------------------------------------------------------------------
# Generator pieces against independent computations
# ------------------------------------------------------------------------------------------------
def test_dynamic_skip_layer_matches_functional() -> None:
    torch.manual_seed(0)
    layer = DynamicSkipLayer(3, 5)
    for conv in (layer.mask,):  # shift the mask pre-activation so that both zero and non-zero m occur
        nn.init.normal_(conv.bias, 0.0, 0.5)
    f_dec, f_enc, h = torch.randn(2, 5, 8, 8), torch.randn(2, 5, 8, 8), torch.randn(2, 3, 4, 4)

    def conv(m: nn.Conv2d, t: torch.Tensor) -> torch.Tensor:
        return F.conv2d(F.pad(t, (1, 1, 1, 1), mode="reflect"), m.weight, m.bias)

    up = h.repeat_interleave(2, dim=2).repeat_interleave(2, dim=3)
    hh = F.leaky_relu(conv(layer.trans, up), 0.2)
    r = torch.sigmoid(conv(layer.reset, torch.cat([hh, f_enc], 1)))
    h_new = r * hh
    m = torch.tanh(torch.clamp(conv(layer.mask, torch.cat([hh, f_enc], 1)), min=0))
    fe = conv(layer.update, torch.cat([h_new, f_enc], 1))
    expected = (1 - m) * f_dec + m * fe
    with torch.no_grad():
        out, state, mask = layer(f_dec, f_enc, h)
    assert torch.allclose(out, expected, atol=1e-5)
    assert torch.allclose(state, h_new, atol=1e-6) and torch.allclose(mask, m, atol=1e-6)
    assert (mask == 0).any() and (mask > 0).any() and (mask < 1).all()


def test_style_adain_gamma_then_beta() -> None:
    layer = StyleAdaIN2d(2, 3)
    with torch.no_grad():
        layer.style.weight.zero_()
        layer.style.bias.copy_(torch.tensor([2.0, 3.0, 4.0, -1.0, 0.5, 0.0]))
    x = torch.randn(2, 3, 5, 5)
    xn = (x - x.mean((2, 3), keepdim=True)) / torch.sqrt(x.var((2, 3), keepdim=True, unbiased=False) + 1e-5)
    expected = torch.tensor([2.0, 3.0, 4.0]).view(1, 3, 1, 1) * xn + torch.tensor([-1.0, 0.5, 0.0]).view(1, 3, 1, 1)
    assert torch.allclose(layer(x, torch.randn(2, 2)), expected, atol=1e-5)


def test_generator_skips_scales_and_broadcast() -> None:
    e, g, _ = _tiny(2)
    x, y = torch.rand(2, 3, 64, 64) * 2 - 1, torch.rand(2, 3, 64, 64) * 2 - 1
    with torch.no_grad():
        feats = e(x, get_feature=True)
        out, masks = g(feats, y)
        assert out.shape == (2, 3, 64, 64) and out.abs().max() <= 1
        assert [tuple(m.shape) for m in masks] == [(2, 32, 4, 4), (2, 16, 8, 8)]
        no_skip, none = g(feats, y, use_skip=False)
        assert none == [] and not torch.allclose(no_skip, out)
        assert torch.equal(g(feats[0], y, use_skip=False)[0], no_skip)  # only c6 matters without skips
        for k in range(6):
            assert g(feats, y, scale=k)[0].shape[-1] == 2 * 2**k
        # with the skip masks forced to 0 the skips are exact no-ops: output = the no-skip output
        for i in (1, 2):
            g.model[i].skiplayer.mask.weight.zero_()
            g.model[i].skiplayer.mask.bias.fill_(-1.0)
        zero_mask, masks0 = g(feats, y)
        assert torch.allclose(zero_mask, no_skip, atol=1e-6) and all(torch.equal(m, torch.zeros_like(m)) for m in masks0)
        # content batch 1 broadcasts against N style codes (official latent-guided inference)
        codes = torch.rand(3, 16)
        one = [f[:1] for f in feats]
        many, _ = g(one, codes, use_z=True)
        assert many.shape == (3, 3, 64, 64)
        assert torch.allclose(many[1:2], g(one, codes[1:2], use_z=True)[0], atol=1e-5)
    with pytest.raises(ValueError, match="feature list"):
        g(feats[0], y)


# ------------------------------------------------------------------------------------------------
# Sampler, discriminator
# ------------------------------------------------------------------------------------------------
def test_sampler_batch_statistics() -> None:
    torch.manual_seed(0)
    s = Sampler(noise_dim=8, style_dim=16)
    with torch.no_grad():
        s.bn1.running_mean.normal_()
        s.bn2.running_var.uniform_(0.5, 2)
    z = torch.randn(5, 8)
    buffers = {k: v.clone() for k, v in s.state_dict().items()}
    with torch.no_grad():
        batch = s(z, batch_stats=True)
        assert all(torch.equal(v, buffers[k]) for k, v in s.state_dict().items())  # buffers untouched
        assert torch.allclose(batch, s.train()(z), atol=1e-6)  # = official train-mode BatchNorm
        s.load_state_dict(buffers)
        assert torch.allclose(s(z, batch_stats=False), s.eval()(z), atol=1e-6)
    with pytest.raises(ValueError, match="at least 2"):
        s(z[:1], batch_stats=True)


def test_discriminator_logits_features_and_r1() -> None:
    torch.manual_seed(0)
    d = Discriminator(8, 32, img_size=32)
    assert len(d.model) == 7  # conv, 3 blocks (32 -> 4), lrelu, conv4x4, lrelu
    x = (torch.rand(2, 3, 32, 32) * 2 - 1).requires_grad_()
    d.eval()
    out, feats = d(x)
    assert out.shape == (2,) and len(feats) == len(d.model) == 7
    # features[i] is the spatial mean of model[0:i+1](x): the official D(x, layer=i+1) style feature
    assert [tuple(f.shape) for f in feats] == [(2, 8, 1, 1), (2, 16, 1, 1), (2, 32, 1, 1), (2, 32, 1, 1),
                                               (2, 32, 1, 1), (2, 32, 1, 1), (2, 32, 1, 1)]
    assert torch.allclose(feats[1].flatten(1), d.model[0:2](x).mean((2, 3)), atol=1e-6)
    assert torch.allclose(out, d.linear(d.model(x)).reshape(-1), atol=1e-6)
    assert torch.equal(d(x, torch.tensor([0, 1])).logits, out)  # unconditional: labels are ignored
    (grad,) = torch.autograd.grad(out.sum(), x, create_graph=True)
    grad.pow(2).sum().backward()  # R1 needs double backward through legacy spectral norm
    assert d.model[0].weight_orig.grad is not None


# ------------------------------------------------------------------------------------------------
# Inference (inference.py)
# ------------------------------------------------------------------------------------------------
def test_translate_exemplar_and_latent() -> None:
    e, g, s = _tiny(3)
    x, y = torch.rand(1, 3, 80, 80) * 2 - 1, torch.rand(2, 3, 64, 64) * 2 - 1
    with torch.no_grad():
        ex = translate(g, e, x, y)
        assert ex.shape == (2, 3, 64, 64) and ex.min() >= -1 and ex.max() <= 1
        assert torch.equal(ex, translate(g, e, x, y))
        feats = e(preprocess(x, 64), get_feature=True)
        assert torch.allclose(ex, g(feats, y)[0], atol=1e-6)
        z = torch.randn(4, 8)
        lat = translate(g, e, x, z=z, sampler=s)
        assert lat.shape == (4, 3, 64, 64) and lat.abs().max() <= 1
        assert torch.equal(lat, translate(g, e, x, z=z, sampler=s))
        assert torch.allclose(lat, translate(g, e, x, style_code=s(z, batch_stats=True)), atol=1e-6)
        assert not torch.allclose(lat[0], lat[1])  # multimodal
        rng = torch.Generator().manual_seed(5)
        a = translate(g, e, x, sampler=s, num_styles=3, generator_rng=rng)
        b = translate(g, e, x, sampler=s, num_styles=3, generator_rng=torch.Generator().manual_seed(5))
        assert a.shape == (3, 3, 64, 64) and torch.equal(a, b)
        assert translate(g, e, x, use_skip=False, z=z, sampler=s).shape == (4, 3, 64, 64)
    with pytest.raises(ValueError, match="at most one"):
        translate(g, e, x, y, z=z, sampler=s)
    with pytest.raises(ValueError, match="needs the sampler"):
        translate(g, e, x)
    with pytest.raises(ValueError, match="at least 2"):
        translate(g, e, x, z=z[:1], sampler=s)
    with pytest.raises(ValueError, match="batches must match"):
        translate(g, e, torch.rand(2, 3, 64, 64), z=torch.randn(3, 8), sampler=s)


# ------------------------------------------------------------------------------------------------
# Stage-I auto-encoder (networks only; the Stage-I method is a later slice)
# ------------------------------------------------------------------------------------------------
def test_prior_autoencoder_forward_and_gradient_reversal() -> None:
    torch.manual_seed(0)
    ae = PriorAutoEncoder(4, ncls=5)
    x, labels = torch.rand(2, 3, 256, 256) * 2 - 1, torch.tensor([0, 4])
    recon, c6, mask = ae(x, labels, ratio=0.5)
    assert recon.shape == (2, 3, 256, 256) and c6.shape == (2, 1, 8, 8) and mask.shape == (2, 3, 16, 16)
    assert recon.abs().max() <= 1 and mask.abs().max() <= 1
    stats = ae.styleE(x)
    assert [tuple(m.shape) for m, _ in stats] == [(2, c, 1, 1) for c in (4, 8, 16, 32, 32, 32)]
    ae.C.eval()  # fixed spectral-norm vectors, so both passes use the same weights
    c = c6.detach().requires_grad_()
    ae.classify(c).sum().backward()
    c2 = c6.detach().requires_grad_()
    ae.C(c2).sum().backward()
    assert torch.allclose(c.grad, -c2.grad)  # gradient reversal with lambda 1
    t = torch.ones(3, requires_grad=True)
    grad_reverse(t, 0.5).sum().backward()
    assert torch.equal(t.grad, torch.full((3,), -0.5))
