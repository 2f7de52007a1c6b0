"""SPADE networks: official counts and keys, the SPADE layer, official files, and outputs pinned from the
official NVlabs/SPADE modules (fecacc9, run on CPU with the same seeded weights and inputs)."""
from __future__ import annotations

import hashlib
import math
from pathlib import Path

import pytest
import torch
import torch.nn.functional as F
from torch import nn

import i2ikit
from i2ikit.discriminators import MultiScaleDiscriminator
from i2ikit.errors import CheckpointError, ConfigError
from i2ikit.nn.label_maps import encode_label_map
from i2ikit.nn.layers import legacy_spectral_norm_weight
from i2ikit.nn.spade import SPADE, SPADEResnetBlock, nonspade_norm_layer, parse_spade_config
from i2ikit.parts import PartSlot, build_part, contract_problems
from i2ikit_spade import (
    ConvEncoder,
    SPADEGenerator,
    SPADEPatchDiscriminator,
    dataset_settings,
    infer_generator_settings,
    latent_size,
    load_discriminator,
    load_encoder,
    load_generator,
    load_into,
    load_official,
    multiscale_discriminator,
    read_state_dict,
    save_official,
)

TINY_G = {"semantic_nc": 6, "ngf": 4, "crop_size": 64}


# ---- seeded weights and inputs (the same functions produced the official reference values) ------------
def seeded_state_dict(net: nn.Module, seed: int) -> dict[str, torch.Tensor]:
    """N(0, 0.05^2) parameters, positive running variances, and spectral-norm u/v after 5 power iterations
    on the drawn weight (so sigma is close to the top singular value, as in a trained file)."""
    g = torch.Generator().manual_seed(seed)
    out: dict[str, torch.Tensor] = {}
    for k, v in net.state_dict().items():
        if k.endswith("num_batches_tracked"):
            out[k] = torch.tensor(7)
        elif k.endswith("running_mean"):
            out[k] = torch.randn(v.shape, generator=g) * 0.1
        elif k.endswith("running_var"):
            out[k] = torch.rand(v.shape, generator=g) + 0.5
        elif k.endswith(("weight_u", "weight_v")):
            out[k] = F.normalize(torch.randn(v.shape, generator=g), dim=0)
        else:
            out[k] = torch.randn(v.shape, generator=g) * 0.05
    for k in [k for k in out if k.endswith("weight_orig")]:
        base = k[: -len("orig")]
        w = out[k].reshape(out[k].shape[0], -1)
        u = out[base + "u"]
        for _ in range(5):
            v = F.normalize(w.t() @ u, dim=0)
            u = F.normalize(w @ v, dim=0)
        out[base + "u"], out[base + "v"] = u, v
    return out


def seg_input(semantic_nc: int, size: tuple[int, int] = (64, 64), batch: int = 2, seed: int = 0,
              instance: bool = True) -> torch.Tensor:
    """A label-map encoding: 8x8-pixel label blocks, 4x4-pixel instance blocks (edges between them)."""
    g = torch.Generator().manual_seed(seed)
    label_nc = semantic_nc - int(instance)
    label = torch.randint(0, label_nc, (batch, 1, size[0] // 8, size[1] // 8), generator=g)
    label = F.interpolate(label.float(), size=size, mode="nearest")
    inst = torch.randint(0, 3, (batch, 1, size[0] // 4, size[1] // 4), generator=g)
    inst = F.interpolate(inst.float(), size=size, mode="nearest")
    return encode_label_map(label, label_nc, instance=inst if instance else None)


def image_input(size: tuple[int, int] = (64, 64), batch: int = 2, seed: int = 1) -> torch.Tensor:
    g = torch.Generator().manual_seed(seed)
    return torch.rand(batch, 3, *size, generator=g) * 2 - 1


def count(net: nn.Module) -> int:
    return sum(p.numel() for p in net.parameters())


def keys(net: nn.Module) -> list[tuple[str, tuple[int, ...]]]:
    return [(k, tuple(v.shape)) for k, v in net.state_dict().items()]


def key_hash(items: list[tuple[str, tuple[int, ...]]]) -> str:
    return hashlib.sha256(repr(items).encode()).hexdigest()[:16]


def loaded(net: nn.Module, seed: int) -> nn.Module:
    net.load_state_dict(seeded_state_dict(net, seed))
    return net.eval()


# ---- counts and keys (reference §3, Appendix A and B); built on the meta device, never run -----------
MODES = {
    "cityscapes": dict(semantic_nc=36, crop_size=512, aspect_ratio=2.0, num_upsampling_layers="more"),
    "ade20k": dict(semantic_nc=151),
    "coco": dict(semantic_nc=184),
    "facades": dict(semantic_nc=13),
}


@pytest.mark.parametrize("mode, use_vae, g_params, d_params", [
    ("cityscapes", False, 93_048_003, 5_601_410),
    ("ade20k", False, 96_492_483, 5_836_930),
    ("coco", False, 97_480_899, 5_904_514),
    ("facades", False, 92_359_107, 5_554_306),
    ("cityscapes", True, 101_136_579, 5_601_410),
    ("ade20k", True, 111_942_595, 5_836_930),
    ("coco", True, 112_626_883, 5_904_514),
])
def test_parameter_counts_at_the_official_dataset_defaults(mode: str, use_vae: bool, g_params: int, d_params: int) -> None:
    settings = {k: v for k, v in dataset_settings(mode).items() if k in ("semantic_nc", "crop_size", "aspect_ratio",
                                                                       "num_upsampling_layers")}
    assert settings == {**{"crop_size": 256, "aspect_ratio": 1.0, "num_upsampling_layers": "normal"}, **MODES[mode]}
    with torch.device("meta"):
        g = SPADEGenerator(use_vae=use_vae, **settings)
        d = multiscale_discriminator(num_D=2, input_dim=settings["semantic_nc"] + 3)
        e = ConvEncoder()
    assert (count(g), len(g.state_dict())) == (g_params, 234)
    assert (count(d), len(d.state_dict())) == (d_params, 26)
    assert (count(e), len(e.state_dict())) == (10_463_424, 22)


def test_parameter_count_of_most_at_crop_512() -> None:
    with torch.device("meta"):
        g = SPADEGenerator(semantic_nc=151, num_upsampling_layers="most", crop_size=512)
    assert (count(g), len(g.state_dict())) == (97_412_579, 272)
    assert g.state_dict()["conv_img.weight"].shape == (3, 32, 3, 3)
    assert g.state_dict()["up_4.conv_s.weight_orig"].shape == (32, 64, 1, 1)


GEN_BLOCKS = [("head_0", 1024, 1024), ("G_middle_0", 1024, 1024), ("G_middle_1", 1024, 1024),
              ("up_0", 1024, 512), ("up_1", 512, 256), ("up_2", 256, 128), ("up_3", 128, 64)]


def appendix_a(sem: int) -> list[tuple[str, tuple[int, ...]]]:
    """Appendix A's rule, written out: fc, then per block conv_0, conv_1, [conv_s], norm_0, norm_1, [norm_s]."""
    out: list[tuple[str, tuple[int, ...]]] = [("fc.weight", (1024, sem, 3, 3)), ("fc.bias", (1024,))]
    for b, fin, fout in GEN_BLOCKS:
        fmid = min(fin, fout)
        for conv, cin, cout in (("conv_0", fin, fmid), ("conv_1", fmid, fout)):
            out += [(f"{b}.{conv}.bias", (cout,)), (f"{b}.{conv}.weight_orig", (cout, cin, 3, 3)),
                    (f"{b}.{conv}.weight_u", (cout,)), (f"{b}.{conv}.weight_v", (cin * 9,))]
        if fin != fout:
            out += [(f"{b}.conv_s.weight_orig", (fout, fin, 1, 1)), (f"{b}.conv_s.weight_u", (fout,)),
                    (f"{b}.conv_s.weight_v", (fin,))]
        for norm, c in [("norm_0", fin), ("norm_1", fmid)] + ([("norm_s", fin)] if fin != fout else []):
            p = f"{b}.{norm}."
            out += [(p + "param_free_norm.running_mean", (c,)), (p + "param_free_norm.running_var", (c,)),
                    (p + "param_free_norm.num_batches_tracked", ()), (p + "mlp_shared.0.weight", (128, sem, 3, 3)),
                    (p + "mlp_shared.0.bias", (128,)), (p + "mlp_gamma.weight", (c, 128, 3, 3)), (p + "mlp_gamma.bias", (c,)),
                    (p + "mlp_beta.weight", (c, 128, 3, 3)), (p + "mlp_beta.bias", (c,))]
    return out + [("conv_img.weight", (3, 64, 3, 3)), ("conv_img.bias", (3,))]


def test_generator_keys_equal_appendix_a_in_order() -> None:
    with torch.device("meta"):
        city = SPADEGenerator(**MODES["cityscapes"])
        coco = SPADEGenerator(**MODES["coco"])
        vae = SPADEGenerator(use_vae=True, **MODES["cityscapes"])
    got = keys(city)
    assert got == appendix_a(36) and len(got) == 234
    assert key_hash(got) == "93bea1237c2d2269"  # [(key, shape)] of the official module, same settings
    assert got[:6] == [("fc.weight", (1024, 36, 3, 3)), ("fc.bias", (1024,)), ("head_0.conv_0.bias", (1024,)),
                       ("head_0.conv_0.weight_orig", (1024, 1024, 3, 3)), ("head_0.conv_0.weight_u", (1024,)),
                       ("head_0.conv_0.weight_v", (9216,))]
    assert got[-4:] == [("up_3.norm_s.mlp_beta.weight", (128, 128, 3, 3)), ("up_3.norm_s.mlp_beta.bias", (128,)),
                        ("conv_img.weight", (3, 64, 3, 3)), ("conv_img.bias", (3,))]
    assert keys(coco) == appendix_a(184) and key_hash(keys(coco)) == "88ea2767ee270256"
    v = dict(keys(vae))
    assert v["fc.weight"] == (32768, 256) and v["fc.bias"] == (32768,) and key_hash(keys(vae)) == "2aca16f24a412a8c"
    assert [k for k, _ in keys(vae)] == [k for k, _ in got]


def test_discriminator_and_encoder_keys_equal_appendix_b() -> None:
    with torch.device("meta"):
        d = multiscale_discriminator(input_dim=39)
        e = ConvEncoder()
    one = [("model0.0.weight", (64, 39, 4, 4)), ("model0.0.bias", (64,))]
    for n, (cin, cout) in enumerate([(64, 128), (128, 256), (256, 512)], start=1):
        one += [(f"model{n}.0.0.weight_orig", (cout, cin, 4, 4)), (f"model{n}.0.0.weight_u", (cout,)),
                (f"model{n}.0.0.weight_v", (cin * 16,))]
    one += [("model4.0.weight", (1, 512, 4, 4)), ("model4.0.bias", (1,))]
    assert keys(d) == [(f"scales.{s}.{k}", shape) for s in (0, 1) for k, shape in one]
    from i2ikit_spade import discriminator_keys_to_official

    official = [(k, tuple(v.shape)) for k, v in discriminator_keys_to_official(d.state_dict()).items()]
    assert official[0] == ("discriminator_0.model0.0.weight", (64, 39, 4, 4)) and key_hash(official) == "e1265928cb72cf99"
    widths = [3, 64, 128, 256, 512, 512, 512]
    enc = []
    for i in range(6):
        enc += [(f"layer{i + 1}.0.weight_orig", (widths[i + 1], widths[i], 3, 3)), (f"layer{i + 1}.0.weight_u", (widths[i + 1],)),
                (f"layer{i + 1}.0.weight_v", (widths[i] * 9,))]
    enc += [("fc_mu.weight", (256, 8192)), ("fc_mu.bias", (256,)), ("fc_var.weight", (256, 8192)), ("fc_var.bias", (256,))]
    assert keys(e) == enc and key_hash(enc) == "b45a61afaacc897c"


# ---- the SPADE layer and block ------------------------------------------------------------------------
def test_spade_config_parsing_and_the_param_free_norm() -> None:
    assert parse_spade_config("spadesyncbatch3x3") == ("syncbatch", 3)
    assert parse_spade_config("spectralspadeinstance5x5") == ("instance", 5)
    inst, batch, sync = SPADE(8, 5, "spadeinstance3x3"), SPADE(8, 5, "spadebatch3x3"), SPADE(8, 5)
    assert type(inst.param_free_norm) is nn.InstanceNorm2d and not inst.param_free_norm.affine
    assert not any("param_free_norm" in k for k in inst.state_dict())
    for s in (batch, sync):  # sync-batch is plain batch norm in one process: the official keys, no affine
        assert type(s.param_free_norm) is nn.BatchNorm2d and not s.param_free_norm.affine
        assert [k for k in s.state_dict() if "param_free" in k] == [
            "param_free_norm.running_mean", "param_free_norm.running_var", "param_free_norm.num_batches_tracked"]
    assert sync.mlp_shared[0].out_channels == 128 and sync.mlp_shared[0].kernel_size == (3, 3)
    assert SPADE(8, 5, "spadebatch5x5").mlp_gamma.kernel_size == (5, 5)
    for bad in ("spadegroup3x3", "spadebatch3x5", "spadebatch4x4", "instance", "spectralinstance"):
        with pytest.raises(ConfigError, match=r"spade<norm><k>x<k>"):
            SPADE(8, 5, bad)


def test_spade_modulates_with_gamma_and_beta_from_the_resized_label_map() -> None:
    torch.manual_seed(0)
    layer = SPADE(8, 5, "spadeinstance3x3")
    nn.init.normal_(layer.mlp_gamma.weight, 0, 0.1)
    nn.init.normal_(layer.mlp_beta.weight, 0, 0.1)
    x = torch.randn(2, 8, 12, 16)
    seg = torch.zeros(2, 5, 48, 64)
    seg[:, 2] = 1  # one class everywhere, at 4x the feature size
    gamma, beta = layer.modulation(x, seg)
    assert gamma.shape == beta.shape == x.shape
    # spatially constant away from the 2-pixel border the two zero-padded 3x3 convs see
    for t in (gamma, beta):
        inner = t[..., 2:-2, 2:-2]
        assert torch.allclose(inner, inner[..., :1, :1].expand_as(inner), atol=1e-6)
        assert not torch.allclose(t[..., :1, :1], inner[..., :1, :1])  # the border does differ (zero padding)
    assert torch.allclose(layer(x, seg), F.instance_norm(x) * (1 + gamma) + beta, atol=1e-6)
    # the label map is resized with nearest neighbours: a map already at 12 x 16 gives the same modulation
    small = F.interpolate(seg, size=(12, 16), mode="nearest")
    assert torch.equal(layer.modulation(x, small)[0], gamma)


def test_resnet_block_shortcut_and_spectral_norm_placement() -> None:
    same, down = SPADEResnetBlock(16, 16, 5), SPADEResnetBlock(16, 8, 5)
    assert not same.learned_shortcut and not hasattr(same, "conv_s") and not hasattr(same, "norm_s")
    assert down.learned_shortcut and down.conv_s.bias is None and down.norm_s.mlp_gamma.out_channels == 16
    assert down.conv_0.out_channels == 8 and down.norm_1.mlp_gamma.out_channels == 8  # fmiddle = min(fin, fout)
    sd = down.state_dict()
    assert all(f"{c}.weight_orig" in sd for c in ("conv_0", "conv_1", "conv_s"))
    assert not any(k.endswith("weight_orig") for k in sd if k.startswith("norm_"))  # SPADE convs: no SN
    plain = SPADEResnetBlock(16, 8, 5, norm_G="spadeinstance3x3")
    assert "conv_0.weight" in plain.state_dict() and not any("weight_orig" in k for k in plain.state_dict())
    x, seg = torch.randn(2, 16, 8, 8), torch.rand(2, 5, 8, 8)
    with torch.no_grad():
        same.eval()
        dx = same.conv_1(F.leaky_relu(same.norm_1(same.conv_0(F.leaky_relu(same.norm_0(x, seg), 0.2)), seg), 0.2))
        assert torch.allclose(same(x, seg), x + dx)


def test_nonspade_norm_layer_variants() -> None:
    def conv() -> nn.Conv2d:
        return nn.Conv2d(3, 8, 3)

    si = nonspade_norm_layer(conv())
    assert isinstance(si, nn.Sequential) and isinstance(si[1], nn.InstanceNorm2d) and not si[1].affine
    assert list(si.state_dict()) == ["0.weight_orig", "0.weight_u", "0.weight_v"]  # bias dropped
    sb = nonspade_norm_layer(conv(), "spectralbatch")
    assert isinstance(sb[1], nn.BatchNorm2d) and sb[1].affine and sb[0].bias is None
    assert list(nonspade_norm_layer(conv(), "spectral").state_dict()) == ["bias", "weight_orig", "weight_u", "weight_v"]
    assert list(nonspade_norm_layer(conv(), "spectralnone").state_dict())[0] == "bias"
    plain = nonspade_norm_layer(conv(), "instance")  # officially an UnboundLocalError
    assert list(plain.state_dict()) == ["0.weight"]
    with pytest.raises(ConfigError, match="'spectralgroup'.*spectralinstance"):
        nonspade_norm_layer(conv(), "spectralgroup")


def test_initialisation_is_the_official_one() -> None:
    torch.manual_seed(0)
    g = SPADEGenerator(semantic_nc=6, ngf=16, crop_size=64)
    xavier = 0.02 * math.sqrt(2 / (2 * 256 * 9))
    w_fc = g.fc.weight
    assert abs(w_fc.std().item() / (0.02 * math.sqrt(2 / ((6 + 256) * 9))) - 1) < 0.05
    assert g.fc.bias.abs().max() == 0 and g.head_0.conv_0.bias.abs().max() == 0
    assert abs(g.head_0.norm_0.mlp_gamma.weight.std().item() / (0.02 * math.sqrt(2 / ((128 + 256) * 9))) - 1) < 0.05
    # spectral-norm weights: PyTorch's default (kaiming-uniform, a = sqrt 5) as in official GPU runs ...
    default = 1 / math.sqrt(256 * 9) / math.sqrt(3)
    assert abs(g.head_0.conv_0.weight_orig.std().item() / default - 1) < 0.05
    # ... or the init_type, as in an official CPU run
    torch.manual_seed(0)
    cpu = SPADEGenerator(semantic_nc=6, ngf=16, crop_size=64, sn_init="init_type")
    assert abs(cpu.head_0.conv_0.weight_orig.std().item() / xavier - 1) < 0.05
    bn = nonspade_norm_layer(nn.Conv2d(3, 512, 3), "spectralbatch")
    from i2ikit.nn.spade import spade_init_weights

    spade_init_weights(bn)
    assert abs(bn[1].weight.mean().item() - 1) < 0.01 and abs(bn[1].weight.std().item() - 0.02) < 0.004
    with pytest.raises(ConfigError, match="sn_init"):
        SPADEGenerator(semantic_nc=6, ngf=4, crop_size=64, sn_init="cuda")


# ---- generator, encoder and discriminator behaviour ------------------------------------------------
def test_generator_sizes_inputs_and_vae_sampling() -> None:
    assert latent_size(256) == (8, 8) and latent_size(512, 2.0, "more") == (8, 4) and latent_size(512, 1.0, "most") == (4, 4)
    with pytest.raises(ConfigError, match="crop_size must be at least 64"):
        latent_size(32, 1.0, "more")
    with pytest.raises(ConfigError, match="num_upsampling_layers 'many'"):
        latent_size(256, 1.0, "many")
    g = loaded(SPADEGenerator(semantic_nc=6, ngf=4, crop_size=128, aspect_ratio=2.0, num_upsampling_layers="more"), 1)
    assert g.output_size == (64, 128)
    with torch.no_grad():
        assert g(seg_input(6, size=(64, 128))).shape == (2, 3, 64, 128)
        assert g(seg_input(6, size=(32, 32))).shape == (2, 3, 64, 128)  # the crop settings fix the output size
        with pytest.raises(ValueError, match="B x 6 x H x W"):
            g(torch.zeros(1, 5, 64, 128))
        vae = loaded(SPADEGenerator(use_vae=True, z_dim=16, **TINY_G), 2)
        torch.manual_seed(3)
        a = vae(seg_input(6))  # z ~ N(0, I) drawn on the input's device (officially CUDA only)
        assert a.shape == (2, 3, 64, 64) and a.abs().max() <= 1
        z = torch.randn(2, 16)
        assert torch.equal(vae(seg_input(6), z), vae(seg_input(6), z)) and not torch.equal(vae(seg_input(6), z), a)


def test_multiscale_wrapper_downsamples_as_spade_and_exposes_the_features() -> None:
    d = loaded(multiscale_discriminator(num_D=2, input_dim=9, ndf=8), 40)
    x = torch.cat([seg_input(6), image_input()], 1)
    with torch.no_grad():
        out = d(x)
        s0, s1 = d.scales[0](x), d.scales[1](F.avg_pool2d(x, 3, stride=2, padding=1, count_include_pad=False))
        with_pad = d.scales[1](F.avg_pool2d(x, 3, stride=2, padding=1, count_include_pad=True))
    assert [tuple(f.shape) for f in s0.features] == [(2, 8, 33, 33), (2, 16, 17, 17), (2, 32, 9, 9), (2, 64, 10, 10)]
    assert s0.logits.shape == (2, 1, 11, 11) and s1.logits.shape == (2, 1, 7, 7)
    per_scale = d.split(out.logits)
    assert torch.equal(per_scale[0], s0.logits) and torch.equal(per_scale[1], s1.logits)  # scale 0 = full resolution
    assert not torch.allclose(per_scale[1], with_pad.logits)
    assert len(out.features) == 8 and all(torch.equal(a, b) for a, b in zip(out.features, [*s0.features, *s1.features]))
    lone = loaded(SPADEPatchDiscriminator(input_dim=9, ndf=8, no_ganFeat_loss=True), 40)
    with torch.no_grad():
        assert len(lone(x).features) == 1 and torch.equal(lone(x).features[0], s0.features[-1])


def test_parts_are_registered_and_fit_their_contracts() -> None:
    reg = i2ikit.get_registry()
    assert reg.get("generator", "spade_generator").obj is SPADEGenerator
    assert reg.get("encoder", "spade_encoder").obj is ConvEncoder
    assert reg.get("discriminator", "spade_patch").obj is SPADEPatchDiscriminator
    for kind, name in (("generator", "spade_generator"), ("encoder", "spade_encoder"), ("discriminator", "spade_patch")):
        assert contract_problems(kind, reg.get(kind, name).obj) == []
    slot = PartSlot("discriminator", "multiscale", "test")
    d = build_part(slot, {"num_scales": 2, "discriminator": {"name": "spade_patch", "input_dim": 9, "ndf": 8}}, "x")
    assert isinstance(d, MultiScaleDiscriminator) and list(d.state_dict())[0] == "scales.0.model0.0.weight"
    with pytest.raises(ConfigError, match="norm_D.*'spectralgroup'"):
        SPADEPatchDiscriminator(norm_D="spectralgroup")


# ---- official files ---------------------------------------------------------------------------------
def test_official_files_from_random_tensors_load_safely_and_reproduce_the_outputs(tmp_path: Path) -> None:
    seg, img = seg_input(6), image_input()
    g = loaded(SPADEGenerator(**TINY_G), 10)
    folder = tmp_path / "checkpoints" / "tiny"
    folder.mkdir(parents=True)
    torch.save(seeded_state_dict(g, 10), folder / "latest_net_G.pth")  # as the official trainer writes it
    d = loaded(multiscale_discriminator(input_dim=9, ndf=8), 40)
    save_official(d, folder / "latest_net_D.pth", module_prefix=True)  # with DataParallel's prefix
    assert next(iter(torch.load(folder / "latest_net_D.pth", weights_only=True))) == "module.discriminator_0.model0.0.weight"
    nets = load_official(folder, dataset_mode=None, crop_size=64)
    assert set(nets) == {"G", "D"} and not nets["G"].training
    with torch.no_grad():
        assert torch.equal(nets["G"](seg), g(seg))
        x = torch.cat([seg, img], 1)
        assert torch.equal(nets["D"](x).logits, d(x).logits)
    # eval mode runs no power iteration: u/v and the output stay; one training forward updates u
    before = nets["G"].up_3.conv_s.weight_u.clone()
    with torch.no_grad():
        again = nets["G"](seg)
        assert torch.equal(nets["G"].up_3.conv_s.weight_u, before) and torch.equal(again, g(seg))
        conv = nets["G"].up_3.conv_s
        assert torch.allclose(conv.weight, legacy_spectral_norm_weight(conv.weight_orig, conv.weight_u, conv.weight_v))
        nets["G"].train()(seg)
    assert not torch.equal(nets["G"].up_3.conv_s.weight_u, before)
    # VAE generator and encoder: settings read from the shapes
    vae = loaded(SPADEGenerator(use_vae=True, z_dim=16, **TINY_G), 13)
    enc = loaded(ConvEncoder(ngf=4, z_dim=16), 30)
    save_official(vae, tmp_path / "vae" / "latest_net_G.pth")
    save_official(enc, tmp_path / "vae" / "latest_net_E.pth", module_prefix=True)
    got = load_official(tmp_path / "vae", crop_size=64)
    assert isinstance(got["E"], ConvEncoder) and got["G"].use_vae and got["G"].z_dim == 16
    with torch.no_grad():
        mu, logvar = got["E"](img)
        assert torch.equal(mu, enc(img)[0]) and mu.shape == (2, 16)
        assert torch.equal(got["G"](seg, mu), vae(seg, mu))
        assert torch.equal(load_encoder(tmp_path / "vae" / "latest_net_E.pth")(img)[1], logvar)
    found = infer_generator_settings(read_state_dict(tmp_path / "vae" / "latest_net_G.pth"))
    assert found == {"semantic_nc": 6, "ngf": 4, "use_vae": True, "norm_G": "spectralspadesyncbatch3x3", "z_dim": 16,
                     "latent_cells": 4}
    # a file written with the newer parametrization API of spectral norm reads as the legacy keys
    renamed = {k.replace("weight_orig", "parametrizations.weight.original").replace("weight_u", "parametrizations.weight.0._u")
               .replace("weight_v", "parametrizations.weight.0._v"): v for k, v in seeded_state_dict(g, 10).items()}
    torch.save(renamed, tmp_path / "new_net_G.pth")
    with torch.no_grad():
        assert torch.equal(load_generator(tmp_path / "new_net_G.pth", crop_size=64)(seg), g(seg))
    most = SPADEGenerator(semantic_nc=6, ngf=4, crop_size=128, num_upsampling_layers="most")
    save_official(most, tmp_path / "most_net_G.pth")
    assert load_generator(tmp_path / "most_net_G.pth", crop_size=128).num_upsampling_layers == "most"


def test_official_settings_follow_the_dataset_mode_and_bad_files_name_themselves(tmp_path: Path) -> None:
    assert {m: dataset_settings(m)["semantic_nc"] for m in ("cityscapes", "ade20k", "coco", "facades")} == {
        "cityscapes": 36, "ade20k": 151, "coco": 184, "facades": 13}
    city = SPADEGenerator(semantic_nc=36, ngf=2, **{k: v for k, v in MODES["cityscapes"].items() if k != "semantic_nc"})
    save_official(city, tmp_path / "city_net_G.pth")
    g = load_generator(tmp_path / "city_net_G.pth", dataset_mode="cityscapes")
    assert (g.num_upsampling_layers, g.sh, g.sw, g.output_size) == ("more", 4, 8, (256, 512))
    with pytest.raises(CheckpointError, match=r"city_net_G.pth takes a 36-channel label map, but dataset_mode 'ade20k' encodes 151"):
        load_generator(tmp_path / "city_net_G.pth", dataset_mode="ade20k")
    with pytest.raises(ConfigError, match="dataset_mode 'kitti'"):
        load_generator(tmp_path / "city_net_G.pth", dataset_mode="kitti")
    # a D file given as G, a G file into a network of other settings, a non-dict file, a pickle file
    save_official(multiscale_discriminator(input_dim=9, ndf=8), tmp_path / "latest_net_D.pth")
    with pytest.raises(CheckpointError, match=r"latest_net_D.pth has no 'head_0.norm_0.mlp_shared.0.weight'.*generator"):
        load_generator(tmp_path / "latest_net_D.pth")
    small = SPADEGenerator(**TINY_G)
    with pytest.raises(CheckpointError, match=r"(?s)city_net_G.pth does not fit the SPADEGenerator.*shape mismatch.*"
                                              r"fc.weight.*'semantic_nc': 36"):
        load_into(small, tmp_path / "city_net_G.pth")
    with pytest.raises(CheckpointError, match=r"(?s)latest_net_D.pth does not fit.*missing key"):
        load_into(multiscale_discriminator(num_D=3, input_dim=9, ndf=8), tmp_path / "latest_net_D.pth")
    torch.save([torch.zeros(1)], tmp_path / "list_net_G.pth")
    with pytest.raises(CheckpointError, match=r"list_net_G.pth holds a list.*plain \{key: tensor\} dicts"):
        load_generator(tmp_path / "list_net_G.pth")
    torch.save({"opt": nn.Conv2d(1, 1, 1)}, tmp_path / "pickle_net_G.pth")
    with pytest.raises(CheckpointError, match="pickle_net_G.pth needs pickle"):
        load_generator(tmp_path / "pickle_net_G.pth")
    with pytest.raises(FileNotFoundError, match=r"latest_net_G.pth does not exist.*this one has"):
        load_official(tmp_path)
    assert load_discriminator(tmp_path / "latest_net_D.pth").scales[1].model0[0].in_channels == 9


# ---- outputs of the official modules ----------------------------------------------------------------
# Reference values: NVlabs/SPADE fecacc9 SPADEGenerator, ConvEncoder and NLayerDiscriminator, on CPU
# (torch 2.14, sync_batchnorm replaced by BatchNorm2d), with seeded_state_dict weights and these inputs.
def test_generator_output_equals_the_official_one() -> None:
    g = loaded(SPADEGenerator(**TINY_G), 10)
    seg = seg_input(6)
    with torch.no_grad():
        out = g(seg)
    expected = torch.tensor([[-0.111127868, -0.114145897, -0.119571239, -0.107677184],
                             [-0.073333673, -0.062776975, -0.054207865, -0.073956132],
                             [0.056768350, 0.051314157, 0.066143014, 0.053524680]])
    assert out.shape == (2, 3, 64, 64) and torch.allclose(out[0, :, 0, :4], expected, atol=1e-5)
    assert math.isclose(out.mean().item(), -0.076790459, abs_tol=1e-6)
    assert math.isclose(out.abs().mean().item(), 0.097077049, abs_tol=1e-6)
    # training mode: batch statistics and one power iteration, as officially
    with torch.no_grad():
        out = g.train()(seg)
    assert torch.allclose(out[0, :, 0, :4], torch.tensor([[-0.115948446, -0.120693065, -0.105618827, -0.114273481],
                                                          [-0.085554607, -0.029658834, -0.033048935, -0.030326692],
                                                          [0.033585612, 0.027647525, 0.027622009, 0.025464354]]), atol=1e-5)
    assert math.isclose(out.mean().item(), -0.048341077, abs_tol=1e-6)
    assert torch.allclose(g.up_3.conv_s.weight_u[:3], torch.tensor([0.886483252, 0.012100269, 0.191474542]), atol=1e-5)
    assert torch.allclose(g.head_0.norm_0.param_free_norm.running_mean[:3],
                          torch.tensor([-0.012932586, 0.125467211, 0.131988481]), atol=1e-5)


def test_vae_generator_and_encoder_outputs_equal_the_official_ones() -> None:
    g = loaded(SPADEGenerator(use_vae=True, z_dim=16, **TINY_G), 13)
    z = torch.randn(2, 16, generator=torch.Generator().manual_seed(5))
    with torch.no_grad():
        out = g(seg_input(6), z)
    assert torch.allclose(out[1, :, 5, :4], torch.tensor([[0.039587487, 0.034752578, 0.080510385, 0.108166181],
                                                          [0.082003109, 0.120742746, 0.268163919, 0.321477205],
                                                          [-0.162580758, -0.211131111, -0.172729924, -0.178722113]]),
                          atol=1e-5)
    assert math.isclose(out.mean().item(), 0.063181616, abs_tol=1e-6)
    assert math.isclose(out.abs().mean().item(), 0.166764855, abs_tol=1e-6)
    e = loaded(ConvEncoder(ngf=4), 30)
    with torch.no_grad():
        mu, logvar = e(image_input())  # 64 x 64, resized to 256 x 256 inside
    assert mu.shape == logvar.shape == (2, 256)
    assert torch.allclose(mu[0, :4], torch.tensor([0.862635434, -2.324612141, 0.418794870, 1.500336409]), atol=1e-5)
    assert torch.allclose(logvar[1, :4], torch.tensor([0.867723882, -0.578762650, -0.092977256, -0.098135516]), atol=1e-5)
    assert math.isclose(mu.mean().item(), 0.092801265, abs_tol=1e-6)
    assert math.isclose(logvar.abs().mean().item(), 0.703895092, abs_tol=1e-6)


@pytest.mark.parametrize("mode, logits, feats", [
    ("eval", [0.147708118, -0.481607884, -0.277009159, -0.860349715], [0.172577858, 0.475797653, 0.475288719, 0.471511543]),
    ("train", [0.147708461, -0.481607199, -0.277009279, -0.860349774], [0.172577858, 0.475795716, 0.475288451, 0.471511334]),
])
def test_discriminator_scale_outputs_equal_the_official_ones(mode: str, logits: list[float], feats: list[float]) -> None:
    d = loaded(SPADEPatchDiscriminator(input_dim=9, ndf=8), 40)
    getattr(d, mode)()
    with torch.no_grad():
        out = d(torch.cat([seg_input(6), image_input()], 1))
    assert [tuple(f.shape) for f in out.features] == [(2, 8, 33, 33), (2, 16, 17, 17), (2, 32, 9, 9), (2, 64, 10, 10)]
    assert out.logits.shape == (2, 1, 11, 11)
    assert torch.allclose(out.logits[0, 0, 0, :4], torch.tensor(logits), atol=1e-5)
    assert math.isclose(out.logits.mean().item(), 0.111039795, abs_tol=1e-6)
    assert torch.allclose(torch.stack([f.abs().mean() for f in out.features]), torch.tensor(feats), atol=1e-5)
