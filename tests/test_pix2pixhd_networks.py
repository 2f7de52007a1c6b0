"""pix2pixHD networks and official files: counts and keys at the official settings, official-format files,
behaviour (local enhancer, instance pooling, multi-scale discriminator) and outputs pinned from the official code.

The golden values were computed once by the official NVIDIA/pix2pixHD modules (``models/networks.py`` at
14b3b3c, CPU, torch 2.14.1) for the seeded weights and inputs below; i2ikit's modules matched them exactly
(max abs diff 0.0), see docs/methods/pix2pixhd.md.
"""
from __future__ import annotations

import math
from pathlib import Path

import pytest
import torch
import torch.nn.functional as F

from i2ikit.errors import CheckpointError, ConfigError
from i2ikit.nn.label_maps import encode_label_map, input_channels
from i2ikit.parts import PartSlot, build_part, contract_problems
from i2ikit.plugins import get_registry
from i2ikit_pix2pixhd import (
    Encoder,
    GlobalGenerator,
    LocalEnhancer,
    NLayerDiscriminator,
    discriminator_spec,
    discriminator_settings,
    discriminator_to_official,
    encoder_settings,
    generator_settings,
    load_discriminator,
    load_encoder,
    load_generator,
    load_pretrain,
    multiscale_discriminator,
    read_official,
    save_official,
)

# Appendix A of the reference, in file order.
LOCAL_1024P_KEYS = [
    ('model.1.weight', (64, 36, 7, 7)), ('model.1.bias', (64,)),
    ('model.4.weight', (128, 64, 3, 3)), ('model.4.bias', (128,)),
    ('model.7.weight', (256, 128, 3, 3)), ('model.7.bias', (256,)),
    ('model.10.weight', (512, 256, 3, 3)), ('model.10.bias', (512,)),
    ('model.13.weight', (1024, 512, 3, 3)), ('model.13.bias', (1024,)),
    ('model.16.conv_block.1.weight', (1024, 1024, 3, 3)), ('model.16.conv_block.1.bias', (1024,)),
    ('model.16.conv_block.5.weight', (1024, 1024, 3, 3)), ('model.16.conv_block.5.bias', (1024,)),
    ('model.17.conv_block.1.weight', (1024, 1024, 3, 3)), ('model.17.conv_block.1.bias', (1024,)),
    ('model.17.conv_block.5.weight', (1024, 1024, 3, 3)), ('model.17.conv_block.5.bias', (1024,)),
    ('model.18.conv_block.1.weight', (1024, 1024, 3, 3)), ('model.18.conv_block.1.bias', (1024,)),
    ('model.18.conv_block.5.weight', (1024, 1024, 3, 3)), ('model.18.conv_block.5.bias', (1024,)),
    ('model.19.conv_block.1.weight', (1024, 1024, 3, 3)), ('model.19.conv_block.1.bias', (1024,)),
    ('model.19.conv_block.5.weight', (1024, 1024, 3, 3)), ('model.19.conv_block.5.bias', (1024,)),
    ('model.20.conv_block.1.weight', (1024, 1024, 3, 3)), ('model.20.conv_block.1.bias', (1024,)),
    ('model.20.conv_block.5.weight', (1024, 1024, 3, 3)), ('model.20.conv_block.5.bias', (1024,)),
    ('model.21.conv_block.1.weight', (1024, 1024, 3, 3)), ('model.21.conv_block.1.bias', (1024,)),
    ('model.21.conv_block.5.weight', (1024, 1024, 3, 3)), ('model.21.conv_block.5.bias', (1024,)),
    ('model.22.conv_block.1.weight', (1024, 1024, 3, 3)), ('model.22.conv_block.1.bias', (1024,)),
    ('model.22.conv_block.5.weight', (1024, 1024, 3, 3)), ('model.22.conv_block.5.bias', (1024,)),
    ('model.23.conv_block.1.weight', (1024, 1024, 3, 3)), ('model.23.conv_block.1.bias', (1024,)),
    ('model.23.conv_block.5.weight', (1024, 1024, 3, 3)), ('model.23.conv_block.5.bias', (1024,)),
    ('model.24.conv_block.1.weight', (1024, 1024, 3, 3)), ('model.24.conv_block.1.bias', (1024,)),
    ('model.24.conv_block.5.weight', (1024, 1024, 3, 3)), ('model.24.conv_block.5.bias', (1024,)),
    ('model.25.weight', (1024, 512, 3, 3)), ('model.25.bias', (512,)),
    ('model.28.weight', (512, 256, 3, 3)), ('model.28.bias', (256,)),
    ('model.31.weight', (256, 128, 3, 3)), ('model.31.bias', (128,)),
    ('model.34.weight', (128, 64, 3, 3)), ('model.34.bias', (64,)),
    ('model1_1.1.weight', (32, 36, 7, 7)), ('model1_1.1.bias', (32,)),
    ('model1_1.4.weight', (64, 32, 3, 3)), ('model1_1.4.bias', (64,)),
    ('model1_2.0.conv_block.1.weight', (64, 64, 3, 3)), ('model1_2.0.conv_block.1.bias', (64,)),
    ('model1_2.0.conv_block.5.weight', (64, 64, 3, 3)), ('model1_2.0.conv_block.5.bias', (64,)),
    ('model1_2.1.conv_block.1.weight', (64, 64, 3, 3)), ('model1_2.1.conv_block.1.bias', (64,)),
    ('model1_2.1.conv_block.5.weight', (64, 64, 3, 3)), ('model1_2.1.conv_block.5.bias', (64,)),
    ('model1_2.2.conv_block.1.weight', (64, 64, 3, 3)), ('model1_2.2.conv_block.1.bias', (64,)),
    ('model1_2.2.conv_block.5.weight', (64, 64, 3, 3)), ('model1_2.2.conv_block.5.bias', (64,)),
    ('model1_2.3.weight', (64, 32, 3, 3)), ('model1_2.3.bias', (32,)),
    ('model1_2.7.weight', (3, 32, 7, 7)), ('model1_2.7.bias', (3,)),
]
D_3SCALES_39_KEYS = [
    ('scale0_layer0.0.weight', (64, 39, 4, 4)), ('scale0_layer0.0.bias', (64,)),
    ('scale0_layer1.0.weight', (128, 64, 4, 4)), ('scale0_layer1.0.bias', (128,)),
    ('scale0_layer2.0.weight', (256, 128, 4, 4)), ('scale0_layer2.0.bias', (256,)),
    ('scale0_layer3.0.weight', (512, 256, 4, 4)), ('scale0_layer3.0.bias', (512,)),
    ('scale0_layer4.0.weight', (1, 512, 4, 4)), ('scale0_layer4.0.bias', (1,)),
    ('scale1_layer0.0.weight', (64, 39, 4, 4)), ('scale1_layer0.0.bias', (64,)),
    ('scale1_layer1.0.weight', (128, 64, 4, 4)), ('scale1_layer1.0.bias', (128,)),
    ('scale1_layer2.0.weight', (256, 128, 4, 4)), ('scale1_layer2.0.bias', (256,)),
    ('scale1_layer3.0.weight', (512, 256, 4, 4)), ('scale1_layer3.0.bias', (512,)),
    ('scale1_layer4.0.weight', (1, 512, 4, 4)), ('scale1_layer4.0.bias', (1,)),
    ('scale2_layer0.0.weight', (64, 39, 4, 4)), ('scale2_layer0.0.bias', (64,)),
    ('scale2_layer1.0.weight', (128, 64, 4, 4)), ('scale2_layer1.0.bias', (128,)),
    ('scale2_layer2.0.weight', (256, 128, 4, 4)), ('scale2_layer2.0.bias', (256,)),
    ('scale2_layer3.0.weight', (512, 256, 4, 4)), ('scale2_layer3.0.bias', (512,)),
    ('scale2_layer4.0.weight', (1, 512, 4, 4)), ('scale2_layer4.0.bias', (1,)),
]
ENCODER_KEYS = [
    ('model.1.weight', (16, 3, 7, 7)), ('model.1.bias', (16,)),
    ('model.4.weight', (32, 16, 3, 3)), ('model.4.bias', (32,)),
    ('model.7.weight', (64, 32, 3, 3)), ('model.7.bias', (64,)),
    ('model.10.weight', (128, 64, 3, 3)), ('model.10.bias', (128,)),
    ('model.13.weight', (256, 128, 3, 3)), ('model.13.bias', (256,)),
    ('model.16.weight', (256, 128, 3, 3)), ('model.16.bias', (128,)),
    ('model.19.weight', (128, 64, 3, 3)), ('model.19.bias', (64,)),
    ('model.22.weight', (64, 32, 3, 3)), ('model.22.bias', (32,)),
    ('model.25.weight', (32, 16, 3, 3)), ('model.25.bias', (16,)),
    ('model.29.weight', (3, 16, 7, 7)), ('model.29.bias', (3,)),
]



def count(net: torch.nn.Module) -> int:
    return sum(p.numel() for p in net.parameters())


def shapes(state: dict) -> list[tuple[str, tuple[int, ...]]]:
    return [(k, tuple(v.shape)) for k, v in state.items()]


def seeded(state: dict, seed: int) -> dict[str, torch.Tensor]:
    """Deterministic weights for every key, in the given (official) order: N(0, 0.05^2)."""
    g = torch.Generator().manual_seed(seed)
    return {k: torch.randn(v.shape, generator=g) * 0.05 for k, v in state.items()}


def randn(shape: tuple[int, ...], seed: int) -> torch.Tensor:
    return torch.randn(*shape, generator=torch.Generator().manual_seed(seed))


# Tiny settings of the golden cases (the official modules were built with the same arguments).
TINY_GLOBAL = {"input_nc": 5, "output_nc": 3, "ngf": 8, "n_downsampling": 2, "n_blocks": 2}
TINY_LOCAL = {"input_nc": 5, "output_nc": 3, "ngf": 4, "n_downsample_global": 2, "n_blocks_global": 1,
              "n_local_enhancers": 1, "n_blocks_local": 2}
TINY_ENCODER = {"input_nc": 3, "output_nc": 3, "ngf": 4, "n_downsampling": 2}
TINY_D = {"input_nc": 6, "num_D": 2, "ndf": 8, "n_layers": 2}


# ---- the official settings: counts, keys, shapes (built on the meta device: nothing is allocated) -------
def test_parameter_counts_and_keys_at_the_official_settings() -> None:
    with torch.device("meta"):
        g512, g1024 = GlobalGenerator(input_channels(35, instance=True)), LocalEnhancer(36)
        counts = [count(GlobalGenerator(n)) for n in (39, 35, 3)] + [count(LocalEnhancer(39))]
        d2, d3, d6 = multiscale_discriminator(39, 2), multiscale_discriminator(39, 3), multiscale_discriminator(6, 2)
        enc = Encoder()
    assert count(g512) == 182_546_755 and count(g1024) == 182_857_059
    assert counts == [182_556_163, 182_543_619, 182_443_267, 182_871_171]
    assert (count(d2), count(d3), count(d6), count(enc)) == (5_603_202, 8_404_803, 5_535_618, 788_803)
    assert shapes(g1024.state_dict()) == LOCAL_1024P_KEYS
    model_keys = [kv for kv in LOCAL_1024P_KEYS if kv[0].startswith("model.")]
    assert shapes(g512.state_dict()) == model_keys + [("model.38.weight", (3, 64, 7, 7)), ("model.38.bias", (3,))]
    assert shapes(discriminator_to_official(d3.state_dict())) == D_3SCALES_39_KEYS
    assert len(d2.state_dict()) == 20 and list(d3.state_dict())[0] == "scales.0.model0.0.weight"
    assert shapes(enc.state_dict()) == ENCODER_KEYS
    # parts of the 1024p G (reference section 3)
    assert sum(v.numel() for k, v in g1024.state_dict().items() if k.startswith("model.")) == 182_537_344
    assert sum(v.numel() for k, v in g1024.state_dict().items() if k.startswith("model1_1.")) == 74_976
    assert sum(v.numel() for k, v in g1024.state_dict().items() if k.startswith("model1_2.")) == 244_739
    # the flat layout without getIntermFeat: layer{s}.{0,2,5,8,11}
    with torch.device("meta"):
        flat = discriminator_to_official(multiscale_discriminator(39, 2, get_interm_feat=False).state_dict())
    assert [k for k in flat if k.startswith("layer1.")] == [f"layer1.{i}.{p}" for i in (0, 2, 5, 8, 11) for p in ("weight", "bias")]
    assert [k for k in flat][:1] == ["layer0.0.weight"]


def test_parts_are_registered_and_build_as_the_official_discriminator() -> None:
    reg = get_registry()
    for kind, name, cls in (("generator", "pix2pixhd_global", GlobalGenerator), ("generator", "pix2pixhd_local", LocalEnhancer),
                            ("encoder", "pix2pixhd_encoder", Encoder), ("discriminator", "pix2pixhd_patch", NLayerDiscriminator)):
        assert reg.get(kind, name).obj is cls and reg.get(kind, name).plugin == "pix2pixhd"
        assert contract_problems(kind, cls) == []
    spec = discriminator_spec(**TINY_D)
    slot = PartSlot("discriminator", "multiscale", defaults={k: v for k, v in spec.items() if k != "name"})
    dis = build_part(slot, None, "method.discriminator")
    assert [type(s) for s in dis.scales] == [NLayerDiscriminator] * 2
    with pytest.raises(ConfigError, match="norm"):
        build_part(slot, {"discriminator": {"name": "pix2pixhd_patch", "norm": "layer"}}, "method.discriminator")


def test_initialisation_is_the_official_weights_init() -> None:
    torch.manual_seed(0)
    g = GlobalGenerator(**TINY_GLOBAL, norm="batch")
    conv, bn = g.model[4], g.model[5]
    assert abs(g.model[16].weight.std().item() - 0.02) < 0.004  # a transposed conv too
    assert abs(conv.weight.std().item() - 0.02) < 0.002
    bound = 1 / math.sqrt(conv.weight[0].numel())
    assert 0 < conv.bias.abs().max() <= bound  # biases keep PyTorch's default init, not 0
    assert abs(bn.weight.mean().item() - 1) < 0.01 and 0 < bn.weight.std() < 0.04 and bn.bias.abs().max() == 0


# ---- outputs pinned from the official modules ---------------------------------------------------------
def test_generators_equal_the_official_outputs() -> None:
    g = GlobalGenerator(**TINY_GLOBAL)
    g.load_state_dict(seeded(g.state_dict(), 1))
    with torch.no_grad():
        y = g(randn((1, 5, 32, 32), 100))
    expected = torch.tensor([[0.422856122, 0.14766109, -0.555077612, 0.104037374],
                             [-0.013382656, 0.486381173, 0.076277994, -0.02684469],
                             [0.383151352, 0.793258846, -0.618767321, 0.047554631]])
    assert torch.allclose(y[0, :, 0, :4], expected, atol=1e-6)
    assert math.isclose(y.mean().item(), -0.1137637123, abs_tol=1e-6)
    assert math.isclose(y.abs().mean().item(), 0.4021006525, abs_tol=1e-6)

    g = LocalEnhancer(**TINY_LOCAL)
    g.load_state_dict(seeded(g.state_dict(), 2))
    with torch.no_grad():
        y = g(randn((1, 5, 32, 64), 101))
    expected = torch.tensor([[-0.250454485, 0.043409046, 0.089286134, -0.064307854],
                             [-0.480845362, -0.064554431, -0.350260884, -0.061426129],
                             [-0.621203661, -0.098415695, -0.294404835, -0.483813316]])
    assert torch.allclose(y[0, :, 0, :4], expected, atol=1e-6)
    assert math.isclose(y.mean().item(), -0.2711768746, abs_tol=1e-6)
    assert math.isclose(y.abs().mean().item(), 0.3734047711, abs_tol=1e-6)


def golden_instances() -> torch.Tensor:
    inst = torch.zeros(1, 1, 32, 32)
    inst[..., 4:20, 6:30] = 26001
    inst[..., 22:, :] = 7
    return inst


def test_encoder_equals_the_official_output() -> None:
    e = Encoder(**TINY_ENCODER)
    e.load_state_dict(seeded(e.state_dict(), 4))
    with torch.no_grad():
        y = e(randn((1, 3, 32, 32), 102), golden_instances())
    expected = torch.tensor([[-0.13260223, -0.272293121, -0.073138975],    # instance 0, at (0, 0)
                             [-0.099287629, -0.314061195, -0.038636152],   # instance 26001, at (10, 10)
                             [-0.112642266, -0.264709443, -0.005991348]])  # instance 7, at (30, 3)
    got = torch.stack([y[0, :, 0, 0], y[0, :, 10, 10], y[0, :, 30, 3]])
    assert torch.allclose(got, expected, atol=1e-6)


def test_discriminator_equals_the_official_outputs(tmp_path: Path) -> None:
    """The official file names scales in reverse (scale1 sees the full resolution when num_D is 2); loading the
    seeded official-order state dict through the name mapping must give the official outputs at each scale."""
    with torch.device("meta"):
        order = discriminator_to_official(multiscale_discriminator(**TINY_D).state_dict())
    file = tmp_path / "latest_net_D.pth"
    torch.save(seeded(order, 3), file)
    d = load_discriminator(file)
    with torch.no_grad():
        out = d(randn((1, 6, 32, 32), 103))
    assert [tuple(f.shape) for f in out.features] == [(1, 8, 17, 17), (1, 16, 9, 9), (1, 32, 10, 10),
                                                      (1, 8, 9, 9), (1, 16, 5, 5), (1, 32, 6, 6)]
    full, half = d.split(out.logits)
    assert full.shape == (1, 1, 11, 11) and half.shape == (1, 1, 7, 7)
    assert torch.allclose(full[0, 0, 0, :4], torch.tensor([-0.130013973, -0.303201377, 0.314107865, -0.162326008]), atol=1e-6)
    assert torch.allclose(half[0, 0, 0, :4], torch.tensor([0.116813332, -0.294543624, -0.364536703, -0.216085553]), atol=1e-6)
    assert math.isclose(full.mean().item(), -0.1495521218, abs_tol=1e-6)
    assert math.isclose(half.mean().item(), 0.2526964843, abs_tol=1e-6)
    means = [f.mean().item() for f in out.features]
    assert means == pytest.approx([0.156533346, 0.317058653, 0.310977101, 0.040088218, 0.314418226, 0.31470871], abs=1e-6)


# ---- behaviour ----------------------------------------------------------------------------------------
def test_local_enhancer_shape_and_size_multiple() -> None:
    torch.manual_seed(0)
    g = LocalEnhancer(**{**TINY_LOCAL, "n_downsample_global": 3})
    with torch.device("meta"):
        assert LocalEnhancer().size_multiple == 32 and GlobalGenerator().size_multiple == 16  # official --resize_or_crop none
    assert g.size_multiple == 16
    with torch.no_grad():
        y = g(torch.randn(2, 5, 64, 128))
    assert y.shape == (2, 3, 64, 128) and y.abs().max() <= 1
    with pytest.raises(ConfigError, match="multiple of 16"):
        g(torch.randn(1, 5, 64, 72))
    # the global part runs on the 3x3 / stride 2 average-pooled input (padding excluded)
    x = torch.randn(1, 5, 32, 32)
    seen = []
    g.model.register_forward_hook(lambda m, i, o: seen.append(i[0]))
    g(x)
    assert torch.equal(seen[0], F.avg_pool2d(x, 3, 2, 1, count_include_pad=False))


def test_generator_input_is_the_label_map_encoding() -> None:
    label = torch.randint(0, 4, (1, 1, 32, 32)).float()
    inst = torch.randint(0, 3, (1, 1, 32, 32))
    x = encode_label_map(label, 4, instance=inst)
    assert x.shape[1] == input_channels(4, instance=True) == 5
    with torch.no_grad():
        assert GlobalGenerator(**TINY_GLOBAL)(x).shape == (1, 3, 32, 32)


def test_encoder_pools_each_instance_to_its_mean() -> None:
    torch.manual_seed(0)
    e = Encoder(**TINY_ENCODER)
    img = torch.randn(2, 3, 32, 32)
    inst = torch.zeros(2, 1, 32, 32, dtype=torch.int16)
    inst[0, :, :16] = 24001
    inst[1, :, :, 8:20] = -32000  # a wrapped 16-bit id
    inst[1, :, 30:] = 24001
    with torch.no_grad():
        raw, pooled = e.model(img), e(img, inst)
    for b in range(2):
        for value in inst[b].unique():
            mask = inst[b, 0] == value
            for c in range(3):
                inside = pooled[b, c][mask]
                assert torch.all(inside == inside[0]) and torch.isclose(inside[0], raw[b, c][mask].mean(), atol=1e-6)
    # the official rule: only whole-number ids are pooled (a normalised instance map keeps raw features)
    frac = torch.full((1, 1, 32, 32), 0.5)
    frac[..., :8, :] = 2.0
    with torch.no_grad():
        out, raw = e(img[:1], frac), e.model(img[:1])
    assert torch.equal(out[0, :, 8:], raw[0, :, 8:]) and torch.all(out[0, 0, :8] == out[0, 0, 0, 0])
    with pytest.raises(ConfigError, match="instance map"):
        e(img, inst[:1])


def test_discriminator_features_and_the_wrappers_downsampling() -> None:
    torch.manual_seed(0)
    d = multiscale_discriminator(6, num_D=3, ndf=8, n_layers=3)
    x = torch.randn(2, 6, 64, 128)
    with torch.no_grad():
        out = d(x)
        one = d.scales[0](x)
        coarser = d.scales[2](F.avg_pool2d(F.avg_pool2d(x, 3, 2, 1, count_include_pad=False), 3, 2, 1, count_include_pad=False))
    assert len(out.features) == 3 * 4  # n_layers + 1 per scale, finest scale first
    # the reference's full-resolution shapes at 64 x 128 (ndf 8 here, 64 there)
    assert [tuple(f.shape[1:]) for f in one.features] == [(8, 33, 65), (16, 17, 33), (32, 9, 17), (64, 10, 18)]
    assert one.logits.shape == (2, 1, 11, 19)
    logits = d.split(out.logits)
    assert torch.equal(logits[0], one.logits) and torch.equal(logits[2], coarser.logits)
    assert all(torch.equal(a, b) for a, b in zip(out.features[8:], coarser.features))
    # pooling equals the official nn.AvgPool2d(3, stride=2, padding=[1, 1], count_include_pad=False)
    official_pool = torch.nn.AvgPool2d(3, stride=2, padding=[1, 1], count_include_pad=False)
    assert torch.equal(F.avg_pool2d(x, 3, 2, 1, count_include_pad=False), official_pool(x))
    # the flat layout computes the same
    flat = multiscale_discriminator(6, num_D=3, ndf=8, n_layers=3, get_interm_feat=False)
    flat.load_state_dict({k.replace(".model0.0.", ".model.0.").replace(".model1.0.", ".model.2.").replace(".model2.0.", ".model.5.")
                          .replace(".model3.0.", ".model.8.").replace(".model4.0.", ".model.11."): v
                          for k, v in d.state_dict().items()})
    with torch.no_grad():
        other = flat(x)
    assert torch.equal(other.logits, out.logits) and all(torch.equal(a, b) for a, b in zip(other.features, out.features))


# ---- official files -----------------------------------------------------------------------------------
@pytest.mark.parametrize("module_prefix", [False, True])
def test_official_files_round_trip(tmp_path: Path, module_prefix: bool) -> None:
    torch.manual_seed(0)
    nets = {"G": LocalEnhancer(**TINY_LOCAL), "E": Encoder(**TINY_ENCODER), "D": multiscale_discriminator(**TINY_D)}
    loaders = {"G": load_generator, "E": load_encoder, "D": load_discriminator}
    x = {"G": torch.randn(1, 5, 32, 64), "E": torch.randn(1, 3, 32, 32), "D": torch.randn(1, 6, 32, 32)}
    for kind, net in nets.items():
        file = save_official(net, tmp_path / f"latest_net_{kind}.pth")
        state = torch.load(file, weights_only=True)
        assert all(not k.startswith("scales.") for k in state)
        if module_prefix:  # as a DataParallel-wrapped save would have it
            torch.save({f"module.{k}": v for k, v in state.items()}, file)
        loaded = loaders[kind](file)
        assert type(loaded) is type(net)
        with torch.no_grad():
            args = (x[kind], golden_instances()) if kind == "E" else (x[kind],)
            a, b = net(*args), loaded(*args)
        if kind == "D":
            assert torch.equal(a.logits, b.logits) and all(torch.equal(p, q) for p, q in zip(a.features, b.features))
        else:
            assert torch.equal(a, b)
    assert list(torch.load(tmp_path / "latest_net_D.pth", weights_only=True))[:2] == [
        "module.scale0_layer0.0.weight" if module_prefix else "scale0_layer0.0.weight",
        "module.scale0_layer0.0.bias" if module_prefix else "scale0_layer0.0.bias"]


def test_settings_are_read_from_the_file() -> None:
    with torch.device("meta"):
        g = GlobalGenerator(7, 3, 8, 3, 2, norm="batch")
        local = LocalEnhancer(36, 3, 4, 2, 1, 2, 1)
        d = multiscale_discriminator(9, 3, 8, 2, get_interm_feat=False)
        e = Encoder(3, 5, 4, 3)
    assert generator_settings(g.state_dict()) == {"name": "pix2pixhd_global", "input_nc": 7, "output_nc": 3, "ngf": 8,
                                                  "n_downsampling": 3, "n_blocks": 2, "norm": "batch"}
    assert generator_settings(local.state_dict()) == {
        "name": "pix2pixhd_local", "input_nc": 36, "output_nc": 3, "ngf": 4, "n_downsample_global": 2,
        "n_blocks_global": 1, "n_local_enhancers": 2, "n_blocks_local": 1, "norm": "instance"}
    assert discriminator_settings(discriminator_to_official(d.state_dict())) == {
        "input_nc": 9, "num_D": 3, "ndf": 8, "n_layers": 2, "norm": "instance", "get_interm_feat": False}
    assert encoder_settings(e.state_dict()) == {"input_nc": 3, "output_nc": 5, "ngf": 4, "n_downsampling": 3,
                                                "norm": "instance"}


def test_wrong_files_give_a_clear_error(tmp_path: Path) -> None:
    torch.manual_seed(0)
    g = GlobalGenerator(**TINY_GLOBAL)
    file = save_official(g, tmp_path / "latest_net_G.pth")
    with pytest.raises(CheckpointError, match=r"named as pix2pixHD's generator file .* latest_net_D\.pth"):
        load_discriminator(file)
    other = GlobalGenerator(**{**TINY_GLOBAL, "n_blocks": 3})
    with pytest.raises(CheckpointError) as info:
        load_generator(file, other)
    text = str(info.value)
    assert str(file) in text and "10 missing key(s)" in text and "6 unexpected key(s)" in text
    assert "model.12.conv_block.1.weight" in text and "'n_blocks': 2" in text  # what the file was built with
    # a D file given as a generator under another name; a non-state-dict file
    d_file = save_official(multiscale_discriminator(**TINY_D), tmp_path / "weights.pth")
    with pytest.raises(CheckpointError, match="not a pix2pixHD generator"):
        load_generator(d_file)
    torch.save({"epoch": 3}, tmp_path / "bad.pth")
    with pytest.raises(CheckpointError, match="not an official pix2pixHD encoder file"):
        read_official(tmp_path / "bad.pth", "E")
    # the encoder of issue #15 (older layout: last conv at model.28)
    sd = Encoder(**TINY_ENCODER).state_dict()
    last = max(int(k.split(".")[1]) for k in sd)
    old = {(k.replace(f"model.{last}.", f"model.{last - 1}.")): v for k, v in sd.items()}
    torch.save(old, tmp_path / "latest_net_E.pth")
    with pytest.raises(CheckpointError, match="issue #15"):
        load_encoder(tmp_path / "latest_net_E.pth", Encoder(**TINY_ENCODER))


def test_pytorch03_instance_norm_statistics_are_dropped(tmp_path: Path) -> None:
    torch.manual_seed(0)
    g = GlobalGenerator(**TINY_GLOBAL)
    state = dict(g.state_dict())
    state["model.2.running_mean"], state["model.2.running_var"] = torch.zeros(8), torch.ones(8)
    torch.save(state, tmp_path / "latest_net_G.pth")
    loaded = load_generator(tmp_path / "latest_net_G.pth")
    assert "model.2.running_mean" not in loaded.state_dict()
    bn = GlobalGenerator(**TINY_GLOBAL, norm="batch")  # BatchNorm statistics are kept
    save_official(bn, tmp_path / "bn_net_G.pth")
    assert "model.2.running_mean" in load_generator(tmp_path / "bn_net_G.pth").state_dict()


def test_load_pretrain_seeds_1024p_from_512p(tmp_path: Path) -> None:
    torch.manual_seed(0)
    g512 = GlobalGenerator(5, 3, 8, 2, 1)
    local = LocalEnhancer(5, 3, 4, 2, 1, 1, 1)
    file = save_official(g512, tmp_path / "latest_net_G.pth")
    assert load_pretrain(local, file, "G") == ["model1_1", "model1_2"]
    assert all(torch.equal(v, g512.state_dict()[k]) for k, v in local.state_dict().items() if k.startswith("model."))
    # a 2-scale D into a 3-scale one: official scales 0-1 keep their resolutions (i2ikit scales.0 -> scales.1)
    d2, d3 = multiscale_discriminator(6, 2, 8, 2), multiscale_discriminator(6, 3, 8, 2)
    before = d3.scales[0].model0[0].weight.clone()
    file = save_official(d2, tmp_path / "latest_net_D.pth")
    assert load_pretrain(d3, file, "D") == ["scale2_layer0", "scale2_layer1", "scale2_layer2", "scale2_layer3"]
    assert torch.equal(d3.scales[1].model0[0].weight, d2.scales[0].model0[0].weight)
    assert torch.equal(d3.scales[2].model3[0].weight, d2.scales[1].model3[0].weight)
    assert torch.equal(d3.scales[0].model0[0].weight, before)
    with pytest.raises(CheckpointError, match="shape mismatch"):
        load_pretrain(LocalEnhancer(5, 3, 8, 2, 1, 1, 1), tmp_path / "latest_net_G.pth", "G")
