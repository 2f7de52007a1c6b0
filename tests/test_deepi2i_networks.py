"""Tests of the DeepI2I networks and checkpoint loading against the facts of the official code.

The key -> shape tables below are written from the reference description of BigGAN-PyTorch / DeepI2I
(shared/reference/deepi2i.md sections 1-2, docs/methods/deepi2i.md), not from the plugin's modules; the
synthetic checkpoint files are generated from these tables. Forward passes run at small widths only.
"""
from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest
import torch
import torch.nn.functional as F
from torch import nn

import i2ikit_deepi2i

from i2ikit_deepi2i.layers import ConditionalBatchNorm2d, DBlock, GBlock, SelfAttention, SNConv2d, SNLinear, SNSettings
from i2ikit_deepi2i import (
    Adaptor,
    Encoder,
    Generator,
    ProjectionDiscriminator,
    discriminator_arch,
    generator_arch,
    injection_channels,
    load_biggan_weights,
    load_deepi2i_weights,
    load_official_weights,
    read_state_dict,
    save_deepi2i_weights,
    translate,
)

BUFFER_SUFFIXES = (".u0", ".sv0", ".stored_mean", ".stored_var")


# ------------------------------------------------------------------------------------------------
# Official key tables at 128 px (reference sections 1.1-1.3 and 2), parametrised by the width ch
# ------------------------------------------------------------------------------------------------
def _sn(out: list, prefix: str, shape: list[int], bias: bool = True) -> None:
    """An ajbrock SN layer: weight, [bias], u0 (1, out), sv0 (1,)."""
    out.append((f"{prefix}.weight", shape))
    if bias:
        out.append((f"{prefix}.bias", [shape[0]]))
    out.append((f"{prefix}.u0", [1, shape[0]]))
    out.append((f"{prefix}.sv0", [1]))


def _attention(out: list, prefix: str, c: int) -> None:
    _sn(out, f"{prefix}.theta", [c // 8, c, 1, 1], bias=False)
    _sn(out, f"{prefix}.phi", [c // 8, c, 1, 1], bias=False)
    _sn(out, f"{prefix}.g", [c // 2, c, 1, 1], bias=False)
    _sn(out, f"{prefix}.o", [c, c // 2, 1, 1], bias=False)
    out.append((f"{prefix}.gamma", []))


def ref_g_table(ch: int = 96, num_classes: int = 1000, shared: int = 128, chunk: int = 20) -> list[tuple[str, list[int]]]:
    """G_arch[128]: blocks 16ch->16ch->8ch->4ch->2ch->ch (4x4 -> 128x128), attention after block 3."""
    out: list[tuple[str, list[int]]] = [("shared.weight", [num_classes, shared])]
    _sn(out, "linear", [16 * ch * 16, chunk])
    cond = shared + chunk
    chans = [16 * ch, 16 * ch, 8 * ch, 4 * ch, 2 * ch, ch]
    for i in range(5):
        cin, cout = chans[i], chans[i + 1]
        p = f"blocks.{i}.0"
        _sn(out, f"{p}.conv1", [cout, cin, 3, 3])
        _sn(out, f"{p}.conv2", [cout, cout, 3, 3])
        _sn(out, f"{p}.conv_sc", [cout, cin, 1, 1])
        for bn, c in (("bn1", cin), ("bn2", cout)):
            _sn(out, f"{p}.{bn}.gain", [c, cond], bias=False)
            _sn(out, f"{p}.{bn}.bias", [c, cond], bias=False)
            out += [(f"{p}.{bn}.stored_mean", [c]), (f"{p}.{bn}.stored_var", [c])]
    _attention(out, "blocks.3.1", 2 * ch)
    out += [("output_layer.0.gain", [ch]), ("output_layer.0.bias", [ch]),
            ("output_layer.0.stored_mean", [ch]), ("output_layer.0.stored_var", [ch])]
    _sn(out, "output_layer.2", [3, ch, 3, 3])
    return out


def ref_d_table(ch: int = 96, num_classes: int = 1000) -> list[tuple[str, list[int]]]:
    """D_arch[128] (= E_arch): wide DBlocks 3->ch->2ch->4ch->8ch->16ch->16ch, attention after block 0."""
    out: list[tuple[str, list[int]]] = []
    chans = [3, ch, 2 * ch, 4 * ch, 8 * ch, 16 * ch, 16 * ch]
    for i in range(6):
        cin, cout = chans[i], chans[i + 1]
        p = f"blocks.{i}.0"
        _sn(out, f"{p}.conv1", [cout, cin, 3, 3])
        _sn(out, f"{p}.conv2", [cout, cout, 3, 3])
        if i < 5:  # block 5: 1536 -> 1536 without downsampling, identity shortcut
            _sn(out, f"{p}.conv_sc", [cout, cin, 1, 1])
        if i == 0:
            _attention(out, "blocks.0.1", ch)
    _sn(out, "linear", [1, 16 * ch])
    _sn(out, "embed", [num_classes, 16 * ch], bias=False)
    return out


def ref_a_table(ch: int = 96, num_classes: int = 1000) -> list[tuple[str, list[int]]]:
    """Alignment: A_arch (= D_arch) blocks 2..5 as blocks.0..3, plus D's unused linear and embed."""
    out: list[tuple[str, list[int]]] = []
    for i, (cin, cout) in enumerate([(2 * ch, 4 * ch), (4 * ch, 8 * ch), (8 * ch, 16 * ch), (16 * ch, 16 * ch)]):
        p = f"blocks.{i}.0"
        _sn(out, f"{p}.conv1", [cout, cin, 3, 3])
        _sn(out, f"{p}.conv2", [cout, cout, 3, 3])
        if cin != cout:
            _sn(out, f"{p}.conv_sc", [cout, cin, 1, 1])
    _sn(out, "linear", [1, 16 * ch])
    _sn(out, "embed", [num_classes, 16 * ch], bias=False)
    return out


def _n_params(table: list[tuple[str, list[int]]]) -> int:
    total = 0
    for k, shape in table:
        if not k.endswith(BUFFER_SUFFIXES):
            n = 1
            for s in shape:
                n *= s
            total += n
    return total


def _random_sd(table: list[tuple[str, list[int]]], seed: int) -> dict[str, torch.Tensor]:
    g = torch.Generator().manual_seed(seed)
    return {k: torch.randn(shape, generator=g) for k, shape in table}


def _shapes(module: nn.Module) -> dict[str, list[int]]:
    return {k: list(v.shape) for k, v in module.state_dict().items()}


def _n_model_params(module: nn.Module) -> int:
    return sum(p.numel() for p in module.parameters())


@pytest.fixture(scope="module")
def meta_models() -> dict[str, nn.Module]:
    """The default 128 px, ch 96 networks, built on the meta device (no memory, no init cost)."""
    with torch.device("meta"):
        return {"G": Generator(init="default"), "D": ProjectionDiscriminator(init="default"),
                "E": Encoder(init="default"), "A": Adaptor(init="default")}


# ------------------------------------------------------------------------------------------------
# Parameter counts and key names
# ------------------------------------------------------------------------------------------------
def test_reference_tables_match_documented_counts() -> None:
    g, d, a = ref_g_table(), ref_d_table(), ref_a_table()
    assert (len(g), _n_params(g)) == (166, 70_433_988)
    assert (len(d), _n_params(d)) == (88, 87_982_370)
    assert _n_params(a) == 87_368_065


def test_default_parameter_counts(meta_models: dict[str, nn.Module]) -> None:
    assert _n_model_params(meta_models["G"]) == 70_433_988
    assert _n_model_params(meta_models["D"]) == 87_982_370
    assert _n_model_params(meta_models["E"]) == 87_982_370
    assert _n_model_params(meta_models["A"]) == 87_368_065
    assert len(meta_models["G"].state_dict()) == 166
    assert len(meta_models["D"].state_dict()) == len(meta_models["E"].state_dict()) == 88


def test_state_dict_keys_and_shapes_match_reference(meta_models: dict[str, nn.Module]) -> None:
    assert _shapes(meta_models["G"]) == dict(ref_g_table())
    assert _shapes(meta_models["D"]) == dict(ref_d_table())
    assert _shapes(meta_models["E"]) == dict(ref_d_table())
    assert _shapes(meta_models["A"]) == dict(ref_a_table())


def test_hand_written_key_samples(meta_models: dict[str, nn.Module]) -> None:
    """Keys and shapes copied by hand from the reference text."""
    g, d, a = (_shapes(meta_models[k]) for k in "GDA")
    assert g["shared.weight"] == [1000, 128]
    assert g["linear.weight"] == [24576, 20] and g["linear.u0"] == [1, 24576] and g["linear.sv0"] == [1]
    assert g["blocks.0.0.bn1.gain.weight"] == [1536, 148]
    assert "blocks.0.0.bn1.gain.bias" not in g  # ccbn linears have no bias
    assert g["blocks.3.1.gamma"] == [] and "blocks.3.1.theta.weight" in g
    assert g["output_layer.2.weight"] == [3, 96, 3, 3]
    assert "output_layer.0.gain" in g and "output_layer.0.stored_var" in g
    assert not any(k.endswith(("weight_orig", "weight_u", "num_batches_tracked")) for k in g)
    assert d["blocks.0.1.theta.weight"] == [12, 96, 1, 1] and d["blocks.0.1.g.weight"] == [48, 96, 1, 1]
    assert d["linear.weight"] == [1, 1536] and d["embed.weight"] == [1000, 1536] and d["embed.u0"] == [1, 1000]
    assert "blocks.5.0.conv_sc.weight" not in d and "blocks.4.0.conv_sc.weight" in d
    assert "shared.u0" not in g  # G's class embedding is not spectrally normalised
    # adaptor channels: 192->384 @32, 384->768 @16, 768->1536 @8, 1536->1536 @4 (identity shortcut)
    assert a["blocks.0.0.conv1.weight"] == [384, 192, 3, 3]
    assert a["blocks.1.0.conv1.weight"] == [768, 384, 3, 3]
    assert a["blocks.2.0.conv1.weight"] == [1536, 768, 3, 3]
    assert a["blocks.3.0.conv1.weight"] == [1536, 1536, 3, 3] and "blocks.3.0.conv_sc.weight" not in a


# ------------------------------------------------------------------------------------------------
# Checkpoint files
# ------------------------------------------------------------------------------------------------
SMALL = dict(resolution=128, ch=8, num_classes=1000, init="default")


def _small_parts() -> dict[str, nn.Module]:
    return {"G": Generator(**SMALL), "D": ProjectionDiscriminator(**SMALL), "E": Encoder(**SMALL), "A": Adaptor(**SMALL)}


def _assert_loaded(module: nn.Module, sd: dict[str, torch.Tensor]) -> None:
    own = module.state_dict()
    assert set(own) == set(sd)
    for k, v in sd.items():
        assert torch.equal(own[k], v), k


def test_biggan_folder_loads_strictly(tmp_path: Path) -> None:
    folder = tmp_path / "BigGAN_weights"
    folder.mkdir()
    g_sd, g_ema_sd, d_sd = _random_sd(ref_g_table(8), 1), _random_sd(ref_g_table(8), 2), _random_sd(ref_d_table(8), 3)
    torch.save(g_sd, folder / "G.pth")
    torch.save(g_ema_sd, folder / "G_ema.pth")
    torch.save(d_sd, folder / "D.pth")
    # BigGAN-PyTorch's training state: pickles nn.ReLU objects; never read.
    torch.save({"itr": 138000, "config": {"G_activation": nn.ReLU(inplace=True)}}, folder / "state_dict.pth")
    parts = _small_parts()
    a_before = {k: v.clone() for k, v in parts["A"].state_dict().items()}
    done = load_biggan_weights(parts, folder)
    assert set(done) == {"G", "D", "E"} and done["G"].endswith("G_ema.pth") and done["E"].endswith("D.pth")
    _assert_loaded(parts["G"], g_ema_sd)  # G_ema.pth preferred
    _assert_loaded(parts["D"], d_sd)
    _assert_loaded(parts["E"], d_sd)  # the encoder starts as a copy of BigGAN's D
    _assert_loaded(parts["A"], a_before)  # the adaptor is not loaded
    load_biggan_weights({"generator": parts["G"]}, folder, generator_file="G.pth")
    _assert_loaded(parts["G"], g_sd)
    (folder / "G_ema.pth").unlink()
    assert load_biggan_weights({"G": parts["G"]}, folder)["G"].endswith("G.pth")
    assert load_official_weights(parts, folder)["E"].endswith("D.pth")  # no E1.pth: a BigGAN folder


def test_deepi2i_folder_loads_strictly_and_round_trips(tmp_path: Path) -> None:
    folder = tmp_path / "DeepI2I_animals"
    folder.mkdir()
    sds = {"G.pth": _random_sd(ref_g_table(8), 4), "D.pth": _random_sd(ref_d_table(8), 5),
           "E1.pth": _random_sd(ref_d_table(8), 6), "A1.pth": _random_sd(ref_a_table(8), 7)}
    for name, sd in sds.items():
        torch.save(sd, folder / name)
    parts = _small_parts()
    done = load_deepi2i_weights(parts, folder)
    assert {k: Path(v).name for k, v in done.items()} == {"G": "G.pth", "D": "D.pth", "E": "E1.pth", "A": "A1.pth"}
    for part, name in (("G", "G.pth"), ("D", "D.pth"), ("E", "E1.pth"), ("A", "A1.pth")):
        _assert_loaded(parts[part], sds[name])
    # DataParallel-prefixed files load too; auto-detection picks the DeepI2I layout.
    torch.save({f"module.{k}": v for k, v in sds["A1.pth"].items()}, folder / "A1.pth")
    assert Path(load_official_weights({"A1": parts["A"]}, folder)["A"]).name == "A1.pth"
    # export in the official layout and read it back
    out = tmp_path / "export"
    save_deepi2i_weights(parts, out)
    assert sorted(p.name for p in out.iterdir()) == ["A1.pth", "D.pth", "E1.pth", "G.pth"]
    fresh = _small_parts()
    load_deepi2i_weights(fresh, out)
    for part in "GDEA":
        _assert_loaded(fresh[part], parts[part].state_dict())


def test_full_size_files_load_strictly(tmp_path: Path, meta_models: dict[str, nn.Module]) -> None:
    """The real 128 px / ch 96 shapes: synthetic G_ema.pth and D.pth into G, D and E on the CPU."""
    g_sd = _random_sd(ref_g_table(96), 8)
    torch.save(g_sd, tmp_path / "G_ema.pth")
    del g_sd
    d_sd = _random_sd(ref_d_table(96), 9)
    torch.save(d_sd, tmp_path / "D.pth")
    try:
        parts = {"G": Generator(init="default"), "D": ProjectionDiscriminator(init="default"), "E": Encoder(init="default")}
        load_biggan_weights(parts, tmp_path)
        assert torch.equal(parts["E"].state_dict()["blocks.4.0.conv2.weight"], d_sd["blocks.4.0.conv2.weight"])
        assert torch.equal(parts["D"].embed.weight, d_sd["embed.weight"])
    finally:
        for f in tmp_path.glob("*.pth"):
            f.unlink()  # ~600 MB; do not leave it in pytest's kept tmp dirs


def test_pickle_files_are_refused(tmp_path: Path) -> None:
    torch.save({"itr": 138000, "config": {"D_activation": nn.ReLU(inplace=True)}}, tmp_path / "state_dict.pth")
    with pytest.raises(ValueError, match="weights_only") as err:
        read_state_dict(tmp_path / "state_dict.pth")
    assert "itr" in str(err.value) and "not needed" in str(err.value)
    # any other file that needs pickle
    torch.save({"weight": torch.zeros(1), "act": nn.ReLU()}, tmp_path / "G.pth")
    with pytest.raises(ValueError, match="pickle"):
        load_biggan_weights({"G": Generator(**SMALL)}, tmp_path, generator_file="G.pth")
    # a full training snapshot instead of a state dict
    torch.save({"G": {"w": torch.zeros(1)}, "itr": 5}, tmp_path / "D.pth")
    with pytest.raises(ValueError, match="not a plain state_dict"):
        read_state_dict(tmp_path / "D.pth")


def test_mismatch_names_file_and_config(tmp_path: Path) -> None:
    torch.save(_random_sd(ref_d_table(8), 0), tmp_path / "D.pth")
    with pytest.raises(ValueError) as err:
        load_biggan_weights({"D": ProjectionDiscriminator(**{**SMALL, "ch": 16})}, tmp_path)
    msg = str(err.value)
    assert "D.pth" in msg and "shape mismatch" in msg and "'ch': 8" in msg
    with pytest.raises(FileNotFoundError, match="G.pth"):
        load_biggan_weights({"G": Generator(**SMALL)}, tmp_path)
    g_cfg = i2ikit_deepi2i.infer_generator_config(_random_sd(ref_g_table(8, num_classes=149), 0))
    assert g_cfg == {"resolution": 128, "ch": 8, "num_classes": 149, "shared_dim": 128, "hier": True,
                     "dim_z": 120, "attention": "64"}


# ------------------------------------------------------------------------------------------------
# Spectral norm, layers
# ------------------------------------------------------------------------------------------------
def _one_power_step(w: torch.Tensor, u: torch.Tensor, eps: float) -> tuple[torch.Tensor, torch.Tensor]:
    v = F.normalize(u @ w, eps=eps)
    u_new = F.normalize(v @ w.t(), eps=eps)
    return u_new, (v @ w.t() @ u_new.t()).squeeze()


def test_spectral_norm_power_iteration_train_vs_eval() -> None:
    torch.manual_seed(0)
    layer = SNLinear(6, 5, sn=SNSettings(eps=1e-6))
    x = torch.randn(3, 6)
    assert layer.u0.shape == (1, 5) and layer.sv0.shape == (1,)
    u_before = layer.u0.clone()
    u_next, sigma = _one_power_step(layer.weight.detach(), u_before, 1e-6)
    layer.eval()
    y = layer(x)
    assert torch.equal(layer.u0, u_before) and torch.equal(layer.sv0, torch.ones(1))  # eval: no update
    torch.testing.assert_close(y, F.linear(x, layer.weight / sigma, layer.bias))
    layer.train()
    y = layer(x)
    torch.testing.assert_close(layer.u0, u_next)  # train: u updated in place
    torch.testing.assert_close(layer.sv0, sigma.reshape(1))
    torch.testing.assert_close(y, F.linear(x, layer.weight / sigma, layer.bias))
    for _ in range(50):
        layer(x)
    torch.testing.assert_close(layer.sv0[0], torch.linalg.matrix_norm(layer.weight.detach(), 2), rtol=1e-4, atol=1e-5)
    # the gradient flows through sigma
    layer.zero_grad()
    layer(x).sum().backward()
    assert layer.weight.grad is not None and torch.isfinite(layer.weight.grad).all()


def test_spectral_norm_conv_and_generator_buffers() -> None:
    torch.manual_seed(0)
    conv = SNConv2d(4, 6, 3, padding=1, sn=SNSettings(num_svs=2))
    assert {k for k in conv.state_dict()} == {"weight", "bias", "u0", "sv0", "u1", "sv1"}
    conv.eval()
    x = torch.randn(1, 4, 5, 5)
    _, sigma = _one_power_step(conv.weight.detach().view(6, -1), conv.u0, 1e-12)
    torch.testing.assert_close(conv(x), F.conv2d(x, conv.weight / sigma, conv.bias, padding=1))
    g = Generator(resolution=64, ch=8, num_classes=5, init="default")
    u = g.linear.u0.clone()
    z, y = g.sample_z(2), g.shared(torch.tensor([0, 1]))
    g.eval()
    with torch.no_grad():
        g(z, y)
    assert torch.equal(g.linear.u0, u)
    g.train()
    with torch.no_grad():
        g(z, y)
    assert not torch.equal(g.linear.u0, u)


def test_conditional_bn_and_attention_formulas() -> None:
    torch.manual_seed(0)
    bn = ConditionalBatchNorm2d(4, 6, eps=1e-5).eval()
    bn.stored_mean.uniform_(-1, 1)
    bn.stored_var.uniform_(0.5, 2)
    x, y = torch.randn(2, 4, 3, 3), torch.randn(2, 6)
    gain = F.linear(y, bn.gain.sn_weight()).view(2, 4, 1, 1)
    bias = F.linear(y, bn.bias.sn_weight()).view(2, 4, 1, 1)
    x_hat = (x - bn.stored_mean.view(1, 4, 1, 1)) / torch.sqrt(bn.stored_var.view(1, 4, 1, 1) + 1e-5)
    torch.testing.assert_close(bn(x, y), x_hat * (1 + gain) + bias)
    mean0, var0 = bn.stored_mean.clone(), bn.stored_var.clone()
    bn.train()
    bn(x, y)  # batch statistics, running stats updated with momentum 0.1 (unbiased variance)
    torch.testing.assert_close(bn.stored_mean, 0.9 * mean0 + 0.1 * x.mean(dim=(0, 2, 3)))
    torch.testing.assert_close(bn.stored_var, 0.9 * var0 + 0.1 * x.var(dim=(0, 2, 3), unbiased=True))
    assert "num_batches_tracked" not in bn.state_dict()

    att = SelfAttention(16).eval()
    with torch.no_grad():
        att.gamma.fill_(0.7)
    x = torch.randn(2, 16, 4, 6)
    w = {n: getattr(att, n).sn_weight().flatten(1) for n in ("theta", "phi", "g", "o")}
    q = torch.einsum("oc,bchw->bohw", w["theta"], x).flatten(2)  # B x 2 x 24
    k = F.max_pool2d(torch.einsum("oc,bchw->bohw", w["phi"], x), 2).flatten(2)  # B x 2 x 6
    v = F.max_pool2d(torch.einsum("oc,bchw->bohw", w["g"], x), 2).flatten(2)  # B x 8 x 6
    a = torch.softmax(torch.einsum("bcq,bck->bqk", q, k), dim=-1)
    o = torch.einsum("bck,bqk->bcq", v, a).view(2, 8, 4, 6)
    torch.testing.assert_close(att(x), x + 0.7 * torch.einsum("oc,bchw->bohw", w["o"], o))


def test_gblock_and_dblock_formulas() -> None:
    torch.manual_seed(0)
    sn = lambda m: m.sn_weight()  # noqa: E731
    blk = GBlock(4, 6, 5).eval()
    x, y = torch.randn(2, 4, 3, 3), torch.randn(2, 5)
    up = lambda t: F.interpolate(t, scale_factor=2, mode="nearest")  # noqa: E731
    h = F.conv2d(up(F.relu(blk.bn1(x, y))), sn(blk.conv1), blk.conv1.bias, padding=1)
    h = F.conv2d(F.relu(blk.bn2(h, y)), sn(blk.conv2), blk.conv2.bias, padding=1)
    torch.testing.assert_close(blk(x, y), h + F.conv2d(up(x), sn(blk.conv_sc), blk.conv_sc.bias))
    for pre in (True, False):
        d = DBlock(4, 6, preactivation=pre, downsample=True).eval()
        x = torch.randn(2, 4, 6, 6)
        h = F.conv2d(F.relu(x) if pre else x, sn(d.conv1), d.conv1.bias, padding=1)
        h = F.avg_pool2d(F.conv2d(F.relu(h), sn(d.conv2), d.conv2.bias, padding=1), 2)
        sc = F.conv2d(x, sn(d.conv_sc), d.conv_sc.bias)
        torch.testing.assert_close(d(x), h + F.avg_pool2d(sc, 2))  # 1x1 conv and avg-pool commute


# ------------------------------------------------------------------------------------------------
# Encoder features, discriminator, translation
# ------------------------------------------------------------------------------------------------
def _block_outputs(net: nn.Module) -> dict[int, torch.Tensor]:
    outs: dict[int, torch.Tensor] = {}
    for i, stage in enumerate(net.blocks):
        stage[0].register_forward_hook(lambda m, inp, out, i=i: outs.__setitem__(i, out.detach().clone()))
    return outs


def test_encoder_features_and_post_relu_quirk() -> None:
    torch.manual_seed(0)
    e = Encoder(**SMALL).eval()
    outs = _block_outputs(e)
    x = torch.rand(2, 3, 128, 128) * 2 - 1
    with torch.no_grad():
        feats = e(x)
    assert {s: tuple(f.shape) for s, f in feats.items()} == {32: (2, 16, 32, 32), 16: (2, 32, 16, 16), 8: (2, 64, 8, 8), 4: (2, 128, 4, 4)}
    # 32/16/8: pre-activation outputs of blocks 1/2/3; 4: block 5's output after the in-place ReLU
    for size, block in ((32, 1), (16, 2), (8, 3)):
        torch.testing.assert_close(feats[size], outs[block])
        assert feats[size].min() < 0
    assert outs[5].min() < 0 and feats[4].min() >= 0
    torch.testing.assert_close(feats[4], F.relu(outs[5]))
    plain = Encoder(**SMALL, relu_quirk=False).eval()
    plain.load_state_dict(e.state_dict())
    with torch.no_grad():
        torch.testing.assert_close(plain(x)[4], outs[5])


def test_projection_discriminator_output_and_features() -> None:
    torch.manual_seed(0)
    d = ProjectionDiscriminator(**SMALL).eval()
    x, y = torch.rand(3, 3, 128, 128) * 2 - 1, torch.tensor([0, 7, 999])
    with torch.no_grad():
        out, feature_list = d(x, y)
        feats = {f.shape[-1]: f for f in feature_list}
        pooled = feats[4].sum(dim=(2, 3))  # the 4x4 feature is relu(h)
        expected = d.linear(pooled) + (d.embed(y) * pooled).sum(1, keepdim=True)
    assert out.shape == (3, 1) and sorted(feats) == [4, 8, 16, 32]
    torch.testing.assert_close(out, expected)


def test_translation_forward_shapes_range_and_injection() -> None:
    torch.manual_seed(0)
    kw: dict[str, Any] = dict(resolution=64, ch=8, num_classes=5)
    g, e, a = Generator(**kw), Encoder(**kw), Adaptor(**kw)
    for m in (g, e, a):
        m.eval()
    x = torch.rand(3, 3, 64, 64) * 2 - 1
    z = g.sample_z(3)
    captured: dict[str, torch.Tensor] = {}
    def grab(m: nn.Module, args: tuple) -> None:
        captured["h4"], captured["cond"] = args[0].clone(), args[1].clone()

    g.blocks[0][0].register_forward_pre_hook(grab)
    with torch.no_grad():
        out = translate(g, e, a, x, 2, z)
        feats = a(e(x))
        assert {s: f.shape[1] for s, f in feats.items()} == g.injection_channels() == {4: 128, 8: 128, 16: 64, 32: 32}
        h4 = g.linear(z[:, : g.z_chunk_size]).view(3, -1, 4, 4)
        torch.testing.assert_close(captured["h4"], h4 + 0.1 * feats[4])  # injection weight 0.1 at 4x4
        y_emb = g.shared(torch.full((3,), 2))
        # hierarchical z: 5 chunks of 24 at 64 px; block 0 gets cat(shared(y), chunk 1)
        assert g.z_chunk_size == 24
        torch.testing.assert_close(captured["cond"], torch.cat([y_emb, z[:, 24:48]], dim=1))
        torch.testing.assert_close(out, g(z, y_emb, feats))
        plain = g(z, y_emb)
        torch.testing.assert_close(g(z, y_emb, feats, {4: 0.0, 8: 0.0, 16: 0.0, 32: 0.0}), plain)
        torch.testing.assert_close(g(z, y_emb, {s: torch.zeros_like(f) for s, f in feats.items()}), plain)
        assert not torch.allclose(out, plain)
    assert out.shape == (3, 3, 64, 64) and out.min() >= -1 and out.max() <= 1 and torch.isfinite(out).all()
    # training path: gradients reach the adaptor and the generator
    for m in (g, a):
        m.train()
    out = translate(g, e, a, x, torch.tensor([0, 1, 4]))
    out.square().mean().backward()
    assert a.blocks[0][0].conv1.weight.grad is not None and g.linear.weight.grad is not None


@pytest.mark.parametrize("resolution", [64, 128, 256])
def test_arch_tables_build(resolution: int) -> None:
    ga, da = generator_arch(96, resolution), discriminator_arch(96, resolution)
    assert ga.resolution[-1] == resolution and da.in_channels[0] == 3
    assert sum(ga.attention) == 1 and ga.resolution[ga.attention.index(True)] == 64
    with torch.device("meta"):
        g = Generator(resolution=resolution, init="default")
        e = Encoder(resolution=resolution, init="default")
        a = Adaptor(resolution=resolution, init="default")
    assert g.dim_z == {64: 120, 128: 120, 256: 119}[resolution]  # hier: len(blocks)+1 equal chunks
    assert g.injection_channels() == {s: cout for s, _, cout in a.plan}
    assert {s: cin for s, cin, _ in a.plan} == {s: e.arch.channels_at(s) for s in (4, 8, 16, 32)}


def test_arch_tables_values() -> None:
    assert generator_arch(96, 256).out_channels == (1536, 768, 768, 384, 192, 96)
    assert generator_arch(96, 64).out_channels == (1536, 768, 384, 192)
    assert discriminator_arch(96, 256).out_channels == (96, 192, 384, 768, 768, 1536, 1536)
    assert discriminator_arch(64, 64).downsample == (True, True, True, True, False)
    assert injection_channels(128) == [(32, 192, 384), (16, 384, 768), (8, 768, 1536), (4, 1536, 1536)]
    with pytest.raises(ValueError, match="resolution 100"):
        generator_arch(96, 100)


def test_registration_hook() -> None:
    from i2ikit.registry import Registry

    registry = Registry()
    i2ikit_deepi2i.i2ikit_register(registry.registrar("deepi2i"))
    assert registry.get("generator", "deepi2i_generator").obj is Generator
    assert registry.get("discriminator", "biggan_projection").obj is ProjectionDiscriminator
    assert registry.get("encoder", "deepi2i_encoder").obj is Encoder
    assert len(list(registry.entries(plugin="deepi2i"))) == 5
    assert i2ikit_deepi2i.__version__ == "0.1.0"
