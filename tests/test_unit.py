"""UNIT (master): official architecture, keys and counts, official files, translation, losses, weight sharing."""
from __future__ import annotations

import math
from pathlib import Path

import pytest
import torch

import i2ikit
from i2ikit.errors import CheckpointError, ConfigError
from munit_family_keys import UNIT_GEN_KEYS
from test_munit import TINY_DIS, count, official_weights

TINY_GEN = {"dim": 8, "n_res": 2}


def test_parameter_counts_and_keys_at_the_official_configs() -> None:
    m = i2ikit.build("unit")
    g = m.gen_a
    assert (count(g), count(g.enc), count(g.dec)) == (11_140_483, 5_385_856, 5_754_627)
    assert count(m.dis_a) == 8_271_171 and count(m) == 38_823_308
    assert [(k, tuple(v.shape)) for k, v in g.state_dict().items()] == UNIT_GEN_KEYS  # no buffers, official order
    # UNIT's encoder/decoder are MUNIT's content encoder/decoder (keys renamed, AdaIN buffers gone)
    munit = i2ikit.build("munit").gen_a.state_dict()
    assert {k.replace("enc_content.", "enc."): tuple(v.shape) for k, v in munit.items()
            if k.startswith(("enc_content.", "dec.")) and "running" not in k} == dict(UNIT_GEN_KEYS)


def test_outputs_equal_the_official_networks_for_the_same_weights(tmp_path: Path) -> None:
    """Reference values from the official mingyuliutw/UNIT VAEGen (28d5982) on CPU for these weights: the
    latent mean of x through gen_a, decoded by gen_b (test.py --a2b 1)."""
    m = i2ikit.build("unit")
    a, b = official_weights(m.gen_a, 10), official_weights(m.gen_b, 11)
    a["enc.model.1.norm.running_mean"] = torch.zeros(128)  # a PyTorch 0.3 file: IN statistics, dropped as test.py does
    file = tmp_path / "unit_gta2city.pt"
    torch.save({"a": a, "b": b}, file)
    model = i2ikit.build("unit", pretrained=file)
    g = torch.Generator().manual_seed(1)
    x = torch.rand(1, 3, 32, 32, generator=g) * 2 - 1
    out = model.translate(x)
    expected = torch.tensor([[0.033964857, 0.017158568, 0.029079778, 0.035799123],
                             [-0.161399692, -0.145404726, -0.153014109, -0.188277274],
                             [-0.236356303, -0.282151401, -0.283030391, -0.260616273]])
    assert torch.allclose(out[0, :, 0, :4], expected, atol=1e-5)
    assert math.isclose(out.mean().item(), -0.134515002, abs_tol=1e-6)
    assert math.isclose(out.abs().mean().item(), 0.136517420, abs_tol=1e-6)
    assert torch.equal(model.translate(x), out)  # the mean only: deterministic
    with pytest.raises(CheckpointError, match="unit_gta2city.pt"):  # a MUNIT file is not a UNIT one
        i2ikit.build("munit", pretrained=file)


def test_translation_and_losses() -> None:
    torch.manual_seed(0)
    m = i2ikit.build("unit", generator=TINY_GEN, discriminator=TINY_DIS)
    x, y = torch.rand(2, 3, 32, 32) * 2 - 1, torch.rand(2, 3, 32, 32) * 2 - 1
    assert torch.allclose(m.translate(x), m.gen_b.dec(m.gen_a.enc(x)))
    assert torch.allclose(m.translate(y, direction="b2a"), m.gen_a.dec(m.gen_b.enc(y)))
    with pytest.raises(ConfigError, match="no style"):
        m.translate(x, y)
    batch = {"source": (x, torch.zeros(2)), "target": (y, torch.zeros(2))}
    g = m.gen_update(batch, m.networks())
    assert set(g) == {"loss", "loss_gen_recon_x", "loss_gen_recon_kl", "loss_gen_recon_kl_cyc", "loss_gen_gan",
                      "loss_gen_cyc_x"}
    total = g["loss_gen_gan"] + 10 * g["loss_gen_recon_x"] + 0.01 * g["loss_gen_recon_kl"] + 10 * g["loss_gen_cyc_x"] \
        + 0.01 * g["loss_gen_recon_kl_cyc"]
    assert torch.allclose(g["loss"].detach(), total)
    h = m.gen_a.enc(x)
    from i2ikit_unit import kl

    assert torch.allclose(kl(h), (h ** 2).mean())  # the reduced VAE's "KL": mean of mu squared
    d = m.dis_update(batch, m.networks())
    assert torch.isfinite(d["loss"]) and [s.name for s in m.training_steps(0)] == ["dis", "gen"]
    assert m.lr_factor("gen", 99_999) == 0.5


def test_the_papers_weight_sharing_is_an_option() -> None:
    plain = i2ikit.build("unit", generator=TINY_GEN, discriminator=TINY_DIS)
    shared = i2ikit.build("unit", generator=TINY_GEN, discriminator=TINY_DIS, shared_blocks=1)
    assert shared.gen_b.enc.model[3].model[1] is shared.gen_a.enc.model[3].model[1]  # the encoders' last block
    assert shared.gen_b.dec.model[0].model[0] is shared.gen_a.dec.model[0].model[0]  # the decoders' first block
    assert shared.gen_b.enc.model[3].model[0] is not shared.gen_a.enc.model[3].model[0]
    per_block = count(plain.gen_a.enc.model[3].model[1]) + count(plain.gen_a.dec.model[0].model[0])
    assert count(shared) == count(plain) - per_block  # parameters() counts a shared tensor once
    n_opt = sum(p.numel() for p in shared.make_optimizers()["gen"].param_groups[0]["params"])
    assert n_opt == count(shared.gen_a) + count(shared.gen_b) - per_block
    with pytest.raises(ConfigError, match="shared_blocks=3"):
        i2ikit.build("unit", generator=TINY_GEN, discriminator=TINY_DIS, shared_blocks=3)
