"""The SPADE method: one iteration's losses and updated weights pinned from the official ``Pix2PixTrainer``
(NVlabs/SPADE fecacc9, run on CPU with the same seeded weights, inputs and eps draws), the optimisers with and
without TTUR, the schedule, the step order, official files, export, translation (multi-modal) and the recipes."""
from __future__ import annotations

import json
from pathlib import Path

import pytest
import torch
import torch.nn.functional as F
from PIL import Image

import i2ikit
from conftest import ROOT, recorded_tolerance, run_cli
from i2ikit.cli import main as cli_main
from i2ikit.data import split_paired
from i2ikit.errors import ConfigError
from test_spade_networks import seeded_state_dict

TINY = dict(dataset_mode="custom", label_nc=3, contain_dontcare_label=True, crop_size=64, ngf=8, ndf=8)
"""The official network layout at tiny widths: 3 labels + don't-care + instance edges (semantic_nc 5), 64 px."""
SEED = 123  # the global RNG seed set before the iteration (the VAE's eps draws)


# ---- the inputs and weights the official reference values were computed from ---------------------------
def golden_inputs(batch: int = 2, size: int = 64) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
    """``(image, label ids, instance ids)``: 8x8-pixel label blocks in {0, 1, 2, 255}, 4x4-pixel instance blocks,
    and a smooth random image in [-1, 1]."""
    g = torch.Generator().manual_seed(7)
    label = torch.tensor([0, 1, 2, 255])[torch.randint(0, 4, (batch, 1, size // 8, size // 8), generator=g)].float()
    label = F.interpolate(label, size=(size, size), mode="nearest")
    instance = F.interpolate(torch.randint(0, 4, (batch, 1, size // 4, size // 4), generator=g).float(),
                             size=(size, size), mode="nearest")
    image = F.interpolate(torch.rand(batch, 3, size // 4, size // 4, generator=g) * 2 - 1, size=(size, size),
                          mode="bilinear", align_corners=False)
    return image, label, instance


def paired_batch(image: torch.Tensor, label: torch.Tensor, instance: torch.Tensor | None) -> dict:
    parts = [image, label] + ([instance] if instance is not None else [])
    return {"pairs": (torch.cat(parts, 1), torch.zeros(image.shape[0], dtype=torch.long))}


def write_vgg19(path: Path) -> Path:
    """A seeded torchvision VGG19 ``features`` state dict under the published file name (nothing downloads)."""
    from torchvision.models.vgg import cfgs, make_layers

    torch.manual_seed(0)
    features = make_layers(cfgs["E"], batch_norm=False)[:30]
    path.mkdir(parents=True, exist_ok=True)
    torch.save({f"features.{k}": v for k, v in features.state_dict().items()}, path / "vgg19-dcbb9e9d.pth")
    return path / "vgg19-dcbb9e9d.pth"


def seeded_model(**kwargs):
    """The method with seeded weights in every network (G seed 1, D seed 2, E seed 3)."""
    model = i2ikit.build("spade", **kwargs)
    for name, seed in (("netG", 1), ("netD", 2), ("netE", 3)):
        if hasattr(model, name):
            getattr(model, name).load_state_dict(seeded_state_dict(getattr(model, name), seed))
    return model


def run_iteration(model, batch: dict, iteration: int = 0, seed: int = SEED) -> dict[str, dict[str, float]]:
    """One iteration as the trainer runs it: lr factor, then each step with only its networks trainable,
    backward, its optimisers stepped and cleared. Returns each step's logged losses."""
    opts = model.make_optimizers()
    for opt in opts.values():
        for group in opt.param_groups:
            group["initial_lr"] = group["lr"]
            group["lr"] = group["initial_lr"] * model.lr_factor("", iteration)
    nets = model.networks()
    model.train()
    torch.manual_seed(seed)
    out = {}
    for step in model.training_steps(iteration):
        for name, net in nets.items():
            net.requires_grad_(name in step.trains)
        losses = step.fn(batch, nets)
        losses["loss"].backward()
        for name in step.optimizers:
            opts[name].step()
            opts[name].zero_grad(set_to_none=True)
        out[step.name] = {k: float(v.detach()) for k, v in losses.items()}
    for net in nets.values():
        net.requires_grad_(True)
    return out


# ---- one iteration against the official Pix2PixTrainer ---------------------------------------------------
@pytest.fixture(scope="module")
def vgg19_file(tmp_path_factory) -> Path:
    return write_vgg19(tmp_path_factory.mktemp("vgg"))


# Per case: the method's keywords, then what the official trainer logged (g_losses / d_losses) in one
# iteration with the same weights, inputs and seed. The official runs: `train.py --dataset_mode custom
# --label_nc 3 --contain_dontcare_label --crop_size 64 --ngf 8 --ndf 8 --batchSize 2 --gpu_ids -1` plus the
# case's flags (A: none; B: --use_vae --no_TTUR --no_vgg_loss; C: --gan_mode ls --no_ganFeat_loss
# --no_vgg_loss --num_D 3 --n_layers_D 3; D: --gan_mode original --use_vae --lambda_kld 0.5).
CASES = {
    "A": ({"vgg_weights": "VGG"},
          {"GAN": 0.07839099317789078, "GAN_Feat": 11.441686630249023, "VGG": 0.0432138592004776},
          {"D_Fake": 1.0150082111358643, "D_real": 1.1082983016967773}),
    "B": ({"use_vae": True, "no_TTUR": True, "no_vgg_loss": True},
          {"KLD": 29.439777374267578, "GAN": 0.06839210540056229, "GAN_Feat": 11.537851333618164},
          {"D_Fake": 1.016554355621338, "D_real": 1.1082983016967773}),
    "C": ({"gan_mode": "ls", "no_ganFeat_loss": True, "no_vgg_loss": True, "num_D": 3, "n_layers_D": 3},
          {"GAN": 1.2888941764831543},
          {"D_Fake": 0.4159247875213623, "D_real": 1.2574294805526733}),
    "D": ({"gan_mode": "original", "use_vae": True, "vgg_weights": "VGG", "lambda_kld": 0.5},
          {"KLD": 294.39776611328125, "GAN": 0.8323615193367004, "GAN_Feat": 11.537851333618164,
           "VGG": 0.04715894162654877},
          {"D_Fake": 0.7578991651535034, "D_real": 0.826434850692749}),
}

# The official networks after that iteration (their state dicts were bit-identical to these in A, B and C, and
# within 4e-8 in D): a few values of each, the batch-norm count (7 + two training-mode G forwards) and the
# spectral-norm u (one power iteration per forward).
AFTER = {
    "A": {"netG.conv_img.bias": [0.05736621469259262, 0.022768765687942505, -0.024947112426161766],
          "netG.head_0.norm_0.param_free_norm.running_mean": [-0.008379233069717884, 0.010603269562125206,
                                                              0.13017666339874268],
          "netD.scales.0.model0.0.bias": [-0.026955382898449898, 0.0008325668750330806, 0.06793233752250671],
          "netG.up_3.conv_0.weight_u": [0.38008227944374084, 0.2168557047843933]},
    "B": {"netG.conv_img.bias": [0.039115726947784424, -0.11698967963457108, -0.009287796914577484],
          "netG.head_0.norm_0.param_free_norm.running_mean": [-0.018529271706938744, -0.04718201607465744,
                                                              0.027791664004325867],
          "netD.scales.0.model0.0.bias": [-0.027155384421348572, 0.0002325676177861169, 0.06773234158754349],
          "netG.up_3.conv_0.weight_u": [-0.1926075667142868, -0.735410213470459],
          "netE.fc_mu.bias": [-0.020828448235988617, 0.00011000328959198669, -0.01084156520664692]},
}


@pytest.mark.parametrize("case", sorted(CASES))
def test_one_iteration_equals_the_official_trainer(case: str, vgg19_file: Path, one_thread) -> None:
    # one_thread: the official runs used one thread (with two, D_Fake of B came 7e-6 relative apart)
    kwargs, g_ref, d_ref = CASES[case]
    rel = recorded_tolerance(1e-6, 1e-4)  # the official numbers were recorded with AVX-512 kernels (conftest)
    kwargs = {k: (str(vgg19_file) if v == "VGG" else v) for k, v in kwargs.items()}
    model = seeded_model(**TINY, **kwargs)
    before = {k: v.clone() for k, v in model.state_dict().items()}
    losses = run_iteration(model, paired_batch(*golden_inputs()))
    assert list(losses) == ["G", "D"]  # the official order: generator step, then discriminator step
    for step, ref in (("G", g_ref), ("D", d_ref)):
        got = {k: v for k, v in losses[step].items() if k != "loss"}
        assert list(got) == list(ref)  # the official loss dict, in its order
        for key, value in ref.items():
            assert got[key] == pytest.approx(value, rel=rel, abs=1e-7), (step, key)
        assert losses[step]["loss"] == pytest.approx(sum(ref.values()), rel=rel)  # sum(g_losses.values())
    sd = model.state_dict()
    for key, ref in AFTER.get(case, {}).items():
        torch.testing.assert_close(sd[key][: len(ref)], torch.tensor(ref), rtol=0, atol=recorded_tolerance(1e-6, 1e-4))
    if case in AFTER:
        assert int(sd["netG.head_0.norm_0.param_free_norm.num_batches_tracked"]) == 9
    # Adam's first step moves each weight by about its learning rate: TTUR G lr/2, D 2 lr; no_TTUR lr for both
    g_lr, d_lr = (2e-4, 2e-4) if kwargs.get("no_TTUR") else (1e-4, 4e-4)
    dg = (sd["netG.fc.weight"] - before["netG.fc.weight"]).abs().median().item()
    dd = (sd["netD.scales.0.model0.0.weight"] - before["netD.scales.0.model0.0.weight"]).abs().median().item()
    assert dg == pytest.approx(g_lr, rel=1e-3) and dd == pytest.approx(d_lr, rel=1e-3)


def test_hinge_terms_are_the_official_ones() -> None:
    from i2ikit_spade import GAN_MODES

    x = torch.tensor([-2.0, -0.5, 0.3, 1.7])
    hinge, w = GAN_MODES["hinge"](), GAN_MODES["w"]()
    zero = torch.zeros(())
    # the official GANLoss: -mean(min(x - 1, 0)), -mean(min(-x - 1, 0)) and the generator's -mean(x)
    assert torch.equal(hinge.d_real(x), -torch.mean(torch.minimum(x - 1, zero)))
    assert torch.equal(hinge.d_fake(x), -torch.mean(torch.minimum(-x - 1, zero)))
    assert torch.equal(hinge.g(x), -x.mean())
    assert torch.equal(w.d_real(x), -x.mean()) and torch.equal(w.d_fake(x), x.mean()) and torch.equal(w.g(x), -x.mean())
    assert torch.equal(GAN_MODES["ls"]().d_fake(x), F.mse_loss(x, torch.zeros(4)))
    assert torch.equal(GAN_MODES["original"]().g(x), F.binary_cross_entropy_with_logits(x, torch.ones(4)))


# ---- optimisers, schedule, step order ------------------------------------------------------------------
def _tiny(**kw):
    torch.manual_seed(0)
    return i2ikit.build("spade", **{**TINY, "ngf": 4, "ndf": 4, "no_vgg_loss": True, **kw})


def test_optimisers_with_and_without_ttur() -> None:
    model = _tiny(use_vae=True)
    opts = model.make_optimizers()
    g, d = opts["G"].param_groups[0], opts["D"].param_groups[0]
    assert (g["lr"], d["lr"], g["betas"], d["betas"]) == (1e-4, 4e-4, (0.0, 0.9), (0.0, 0.9))  # TTUR, the default
    g_params = {id(p) for p in g["params"]}
    assert g_params == {id(p) for p in [*model.netG.parameters(), *model.netE.parameters()]}  # E trains with G
    assert {id(p) for p in d["params"]} == {id(p) for p in model.netD.parameters()}
    plain = _tiny(no_TTUR=True).make_optimizers()
    assert [(o.param_groups[0]["lr"], o.param_groups[0]["betas"]) for o in plain.values()] == [(2e-4, (0.5, 0.999))] * 2
    mixed = _tiny(no_TTUR=True, beta1=0.2, lr=1e-3)
    assert mixed.make_optimizers()["D"].param_groups[0]["betas"] == (0.2, 0.999)
    assert (mixed.config["beta1"], mixed.config["beta2"]) == (0.2, 0.999)  # the export records what was used
    assert model.config["label_nc"] == 3 and model.config["no_instance"] is False and model.config["crop_size"] == 64


def test_lr_schedule_is_the_official_per_epoch_linear_decay() -> None:
    model = _tiny(niter=2, niter_decay=4, epoch_iters=10)

    # the official trainer: after each (1-based) epoch e > niter, old_lr -= lr / niter_decay
    lr, official = 1.0, []
    for epoch in range(1, 7):
        official.append(lr)
        if epoch > 2:
            lr -= 1.0 / 4
    ours = [model.lr_factor("G", ep * 10 + 3) for ep in range(6)]
    assert ours == pytest.approx(official) == [1, 1, 1, 0.75, 0.5, 0.25]
    assert model.lr_factor("D", 59) == model.lr_factor("G", 59) == pytest.approx(0.25)
    assert model.lr_factor("G", 1000) == 0.0  # never below zero
    assert _tiny(niter_decay=4).lr_factor("G", 10 ** 6) == 1.0  # no epoch_iters: constant
    assert _tiny(epoch_iters=10).lr_factor("G", 10 ** 6) == 1.0  # niter_decay 0 (the default): constant


def test_step_order_and_what_each_step_changes() -> None:
    model = _tiny(use_vae=True)
    assert [s.name for s in model.training_steps(0)] == ["G", "D"]
    assert [(s.trains, s.optimizers) for s in model.training_steps(0)] == [(("G",), ("G",)), (("D",), ("D",))]
    every2 = _tiny(D_steps_per_G=2, epoch_iters=3)
    # train.py's `i % D_steps_per_G` runs on the index within the epoch (3 iterations an epoch)
    assert [[s.name for s in every2.training_steps(i)] for i in range(5)] == [["G", "D"], ["D"], ["G", "D"], ["G", "D"], ["D"]]

    batch = paired_batch(*golden_inputs(size=64))
    opts, nets = model.make_optimizers(), model.networks()
    model.train()
    snaps = [{k: v.clone() for k, v in model.state_dict().items()}]
    for step in model.training_steps(0):
        for name, net in nets.items():
            net.requires_grad_(name in step.trains)
        step.fn(batch, nets)["loss"].backward()
        for name in step.optimizers:
            opts[name].step()
            opts[name].zero_grad(set_to_none=True)
        snaps.append({k: v.clone() for k, v in model.state_dict().items()})
    params = {n for n, _ in model.named_parameters()}

    def changed(a: dict, b: dict, prefix: str, kind: str) -> bool:
        keys = [k for k in a if k.startswith(prefix) and ((k in params) == (kind == "params"))]
        return any(not torch.equal(a[k], b[k]) for k in keys)

    before, after_g, after_d = snaps
    assert changed(before, after_g, "netG.", "params") and changed(before, after_g, "netE.", "params")
    assert not changed(before, after_g, "netD.", "params")  # D only receives the generator's gradients' path
    assert changed(before, after_g, "netD.", "buffers")  # ... but runs in training mode: its spectral-norm u, v
    assert changed(after_g, after_d, "netD.", "params")
    assert not changed(after_g, after_d, "netG.", "params") and not changed(after_g, after_d, "netE.", "params")
    assert changed(after_g, after_d, "netG.", "buffers")  # the D step's G forward (training mode) updates BN stats


def test_spectral_norm_layers_keep_pytorchs_init_by_default() -> None:
    std = lambda m: m.netG.head_0.conv_0.weight_orig.std().item()  # noqa: E731
    assert std(_tiny()) > 1e-2  # kaiming-uniform (a = sqrt 5), as every official GPU run
    assert std(_tiny(sn_init="init_type")) < 1e-2  # xavier, gain 0.02, as an official CPU run
    assert _tiny().netG.fc.weight.std().item() < 1e-2 and _tiny().netG.fc.bias.abs().max().item() == 0


def test_dataset_modes_set_the_official_defaults() -> None:
    expect = {"cityscapes": (35, False, False, 512, 2.0, "more", 36), "ade20k": (150, True, True, 256, 1.0, "normal", 151),
              "coco": (182, True, False, 256, 1.0, "normal", 184), "facades": (13, False, True, 256, 1.0, "normal", 13),
              "custom": (13, False, False, 256, 1.0, "normal", 14)}
    from i2ikit_spade import SPADE

    with torch.device("meta"):
        for mode, (label_nc, dontcare, no_inst, crop, aspect, ups, nc) in expect.items():
            m = SPADE(dataset_mode=mode, ngf=2, ndf=2, no_vgg_loss=True)
            c = m.config
            assert (c["label_nc"], c["contain_dontcare_label"], c["no_instance"], c["crop_size"], c["aspect_ratio"],
                    c["num_upsampling_layers"], m.semantic_nc) == (label_nc, dontcare, no_inst, crop, aspect, ups, nc), mode
        assert SPADE(dataset_mode="cityscapes", ngf=2, ndf=2, no_vgg_loss=True).label_size == (256, 512)
    import inspect

    assert inspect.signature(SPADE).parameters["dataset_mode"].default == "coco"  # the official default


def test_vgg_term_needs_its_file_before_training(tmp_path: Path) -> None:
    from i2ikit_spade import SPADE

    with pytest.raises(FileNotFoundError, match="vgg19"):
        SPADE.check_inputs({"vgg_weights": str(tmp_path / "missing")})
    SPADE.check_inputs({"no_vgg_loss": True})
    with pytest.raises(ConfigError, match="no_vgg_loss"):
        SPADE(**TINY, vgg_weights=None)


# ---- official files and exports ----------------------------------------------------------------------------
ENCODING = dict(dataset_mode="custom", label_nc=3, contain_dontcare_label=True, crop_size=64)


@pytest.mark.parametrize("use_vae", [False, True])
def test_official_files_load_through_build_and_give_the_same_outputs(use_vae: bool, tmp_path: Path) -> None:
    from i2ikit_spade import save_official

    model = seeded_model(**TINY, use_vae=use_vae, no_vgg_loss=True).eval()
    folder = tmp_path / "checkpoints" / "tiny"
    for net in ("G", "D", "E"):
        if hasattr(model, f"net{net}"):
            save_official(getattr(model, f"net{net}"), folder / f"latest_net_{net}.pth")
            save_official(getattr(model, f"net{net}"), folder / f"10_net_{net}.pth")
    image, label, inst = golden_inputs()
    z = torch.randn(2, 256, generator=torch.Generator().manual_seed(3))
    for where, extra in ((folder, {}), (folder / "latest_net_G.pth", {}), (folder, {"which_epoch": 10})):
        loaded = i2ikit.build("spade", pretrained=where, **ENCODING, **extra)
        assert not loaded.training and loaded.config["ngf"] == 8 and loaded.config["ndf"] == 8
        assert loaded.use_vae == use_vae and loaded.official_info["files"]["D"] is not None
        for key, value in model.state_dict().items():
            assert torch.equal(loaded.state_dict()[key], value), key
        kw = {"z": z} if use_vae else {}
        assert torch.equal(loaded.translate(label, inst, **kw), model.translate(label, inst, **kw))
        if use_vae:
            gen = lambda: torch.Generator().manual_seed(5)  # noqa: E731
            assert torch.equal(loaded.translate(label, inst, style_image=image, generator=gen()),
                               model.translate(label, inst, style_image=image, generator=gen()))


def test_official_generator_alone_takes_its_dataset_mode_from_its_width(tmp_path: Path) -> None:
    from i2ikit_spade import SPADE, save_official

    torch.manual_seed(0)
    city = SPADE(dataset_mode="cityscapes", ngf=4, ndf=4, no_vgg_loss=True).eval()  # 36 channels, 512 x 256, `more`
    save_official(city.netG, tmp_path / "latest_net_G.pth")
    loaded = i2ikit.build("spade", pretrained=tmp_path / "latest_net_G.pth")
    assert loaded.dataset_mode == "cityscapes" and loaded.label_size == (256, 512)
    label = F.interpolate(torch.randint(0, 35, (1, 1, 8, 16)).float(), size=(256, 512))
    inst = torch.zeros_like(label)
    assert torch.equal(loaded.translate(label, inst), city.translate(label, inst))
    with pytest.raises(ConfigError, match="36-channel"):
        i2ikit.build("spade", pretrained=tmp_path / "latest_net_G.pth", dataset_mode="ade20k")
    tiny = tmp_path / "tiny"
    save_official(seeded_model(**TINY, no_vgg_loss=True).netG, tiny / "latest_net_G.pth")
    with pytest.raises(ConfigError, match="no official dataset mode"):
        i2ikit.build("spade", pretrained=tiny)
    with pytest.raises(FileNotFoundError, match="latest_net_G.pth"):
        i2ikit.build("spade", pretrained=tmp_path / "tiny", which_epoch=7)


def test_export_round_trip_and_its_official_files(tmp_path: Path) -> None:
    from i2ikit_spade import load_generator

    model = seeded_model(**TINY, use_vae=True, no_vgg_loss=True).eval()
    export = model.save_pretrained(tmp_path / "export")
    assert {"latest_net_G.pth", "latest_net_D.pth", "latest_net_E.pth", "netG.safetensors"} <= {p.name for p in export.iterdir()}
    again = i2ikit.build(pretrained=export)
    assert again.config == model.config and again.translate_modes == ("direct", "style", "num_styles")
    image, label, inst = golden_inputs()
    z = torch.randn(2, 256, generator=torch.Generator().manual_seed(1))
    assert torch.equal(again.translate(label, inst, z=z), model.translate(label, inst, z=z))
    g = load_generator(export / "latest_net_G.pth", crop_size=64)  # the official file the official test.py reads
    assert torch.equal(g(model.encode(label, inst), z), model.translate(label, inst, z=z))


# ---- translation -----------------------------------------------------------------------------------------
def test_translate_with_a_style_image_z_or_random_styles() -> None:
    model = seeded_model(**TINY, use_vae=True, no_vgg_loss=True)
    image, label, inst = golden_inputs()
    out = model.translate(label, inst)
    assert out.shape == (2, 3, 64, 64) and out.abs().max() <= 1 and model.training  # eval inside, mode restored
    assert torch.equal(model.translate(label.long(), inst.long(), z=torch.zeros(2, 256)),
                       model.translate(label, inst, z=torch.zeros(2, 256)))
    gen = lambda: torch.Generator().manual_seed(0)  # noqa: E731
    many = model.translate(label[:1], inst[:1], num_styles=3, generator=gen())
    assert many.shape == (3, 3, 64, 64) and torch.equal(many, model.translate(label[:1], inst[:1], num_styles=3, generator=gen()))
    assert (many[0] - many[1]).abs().mean() > 1e-4  # different styles, different images
    # a style image: mu + eps * sigma of the encoder, as the official inference (eps from the generator)
    model.eval()
    mu, logvar = model.netE(image)
    eps = torch.randn(mu.shape, generator=gen())
    ref = model.netG(model.encode(label, inst), eps * torch.exp(0.5 * logvar) + mu)
    model.train()
    torch.testing.assert_close(model.translate(label, inst, style_image=image, generator=gen()), ref)
    one_style = model.translate(label, inst, style_image=image[:1], generator=gen())  # one style for both maps
    assert one_style.shape == (2, 3, 64, 64)
    torch.testing.assert_close(model.translate(label, inst, z=torch.zeros(1, 256))[1],  # one z broadcast to both maps
                               model.translate(label[1:], inst[1:], z=torch.zeros(1, 256))[0])
    for kwargs, match in [({"z": torch.zeros(2, 8)}, "z must be N x 256"), ({"z": torch.zeros(2, 256), "num_styles": 2}, "one style source"),
                          ({"num_styles": 0}, "num_styles must be >= 1"), ({"z": torch.zeros(3, 256)}, "2 label maps and 3 styles")]:
        with pytest.raises(ConfigError, match=match):
            model.translate(label, inst, **kwargs)
    with pytest.raises(ConfigError, match="instance maps"):
        model.translate(label)
    with pytest.raises(ConfigError, match="B x 1 x H x W"):
        model.translate(label[:, 0])
    with pytest.raises(ValueError, match="label id 4 is outside 0..3"):  # 3 labels + the don't-care channel (255)
        model.translate(torch.full_like(label, 4.0), inst)


def test_a_model_without_the_encoder_has_one_image_per_label_map() -> None:
    model = seeded_model(**TINY, no_vgg_loss=True)
    image, label, inst = golden_inputs()
    assert model.translate_modes == ("direct",) and not hasattr(model, "netE")
    assert model.translate(label, inst).shape == (2, 3, 64, 64)
    for kwargs in ({"style_image": image}, {"num_styles": 2}, {"z": torch.zeros(2, 256)}):
        with pytest.raises(ConfigError, match=f"{next(iter(kwargs))} steer the style"):
            model.translate(label, inst, **kwargs)


def test_sample_columns_and_label_colours() -> None:
    from i2ikit_spade import label_colors, palette

    model = seeded_model(**TINY, use_vae=True, no_vgg_loss=True)
    image, label, inst = golden_inputs()
    cols = model.sample_columns(paired_batch(image, label, inst))
    assert [n for n, _ in cols] == ["input label", "synthesized image", "real image", "random style"]
    assert all(t.shape == (2, 3, 64, 64) for _, t in cols) and torch.equal(cols[2][1], image)
    # SPADE's visualiser: Colorize(label_nc + 2), the bits of id + 1 spread over R, G, B; 255 -> label_nc
    assert palette(5)[:4].tolist() == [[128, 0, 0], [0, 128, 0], [128, 128, 0], [0, 0, 128]]
    ids = torch.tensor([0.0, 1, 255, 9]).view(1, 1, 1, 4)
    rgb = ((label_colors(ids, 3) + 1) * 127.5).round()[0, :, 0].T.tolist()
    assert rgb == [[128, 0, 0], [0, 128, 0], [0, 0, 128], [0, 0, 0]]  # 255 drawn as id 3; 9 >= label_nc + 2: black
    plain = seeded_model(**TINY, no_vgg_loss=True)
    assert [n for n, _ in plain.sample_columns(paired_batch(image, label, inst))] == ["input label", "synthesized image", "real image"]


def test_training_batches_are_checked_against_the_model() -> None:
    model = seeded_model(**TINY, no_vgg_loss=True)
    image, label, inst = golden_inputs()
    nets = model.networks()
    with pytest.raises(ConfigError, match="no instance maps"):
        model.g_step(paired_batch(image, label, None), nets)
    small = [F.interpolate(t, size=(32, 32)) for t in (image, label, inst)]
    with pytest.raises(ConfigError, match="generator makes 64x64"):
        model.d_step(paired_batch(*small), nets)


def test_translate_command_synthesises_label_maps_with_random_styles(tmp_path: Path) -> None:
    seeded_model(**TINY, use_vae=True, no_vgg_loss=True).save_pretrained(tmp_path / "export")
    _, label, inst = golden_inputs(batch=1)
    (tmp_path / "labels").mkdir()
    (tmp_path / "inst").mkdir()
    Image.fromarray(label[0, 0].numpy().astype("uint8"), mode="L").save(tmp_path / "labels" / "a.png")
    Image.fromarray(inst[0, 0].numpy().astype("uint8"), mode="L").save(tmp_path / "inst" / "a.png")
    out = tmp_path / "out"
    assert cli_main(["translate", "--model", str(tmp_path / "export"), "--content", str(tmp_path / "labels"),
                     "--instance", str(tmp_path / "inst"), "--num-styles", "2", "--out", str(out)]) == 0
    assert sorted(p.name for p in out.glob("a_*.png")) == ["a_0.png", "a_1.png"]
    assert Image.open(out / "a_0.png").size == (64, 64)


# ---- recipes -----------------------------------------------------------------------------------------------
OFFICIAL = {"spade_cityscapes": "data/cityscapes/gtFine/train", "spade_ade20k": "data/ADEChallengeData2016",
            "spade_coco": "data/coco_stuff/train_label", "spade_facades": "data/facades/train_label"}


@pytest.mark.parametrize("recipe", sorted(OFFICIAL))
def test_official_recipes_stop_before_training_naming_the_folder(recipe: str, tmp_path: Path, monkeypatch, capsys) -> None:
    monkeypatch.chdir(tmp_path)
    assert cli_main(["train", str(ROOT / "recipes" / f"{recipe}.yaml")]) == 2
    err = capsys.readouterr().err
    assert f"'{OFFICIAL[recipe]}' does not exist" in err and "docs/datasets.md" in err and "Traceback" not in err
    assert not (tmp_path / "runs").exists()


@pytest.mark.parametrize("recipe, mode, batch, epoch_iters", [("spade_cityscapes", "cityscapes", 16, 185),
                         ("spade_ade20k", "ade20k", 1, 20210), ("spade_coco", "coco", 1, 118287), ("spade_facades", "facades", 1, 400)])
def test_official_recipes_hold_the_official_settings(recipe: str, mode: str, batch: int, epoch_iters: int) -> None:
    import yaml

    from i2ikit.recipe import validate

    r = validate(yaml.safe_load((ROOT / "recipes" / f"{recipe}.yaml").read_text()))
    m = r.method
    assert m["dataset_mode"] == mode and m["lr"] == 0.0002 and not m["no_TTUR"] and m["gan_mode"] == "hinge"
    assert (m["lambda_feat"], m["lambda_vgg"], m["niter"], m["niter_decay"], m["epoch_iters"]) == (10, 10, 50, 0, epoch_iters)
    assert r.train.batch_size == batch and r.train.steps == 50 * epoch_iters
    train = r.data.train
    crop = 512 if mode == "cityscapes" else 256
    assert train["crop_size"] == crop and train["flip"] is True
    assert train["preprocess"] == ("fixed" if mode == "cityscapes" else "resize_and_crop")


@pytest.mark.slow
def test_glyph_recipe_trains_end_to_end(tmp_path: Path) -> None:
    """The CPU recipe as written (300 iterations): samples, the export with the official files, and translation
    of a test glyph outline with random styles, with its own style and with the command line."""
    from i2ikit_glyphs import glyph_edges

    run = tmp_path / "run"
    out = run_cli(["-m", "i2ikit.run", str(ROOT / "recipes" / "spade_glyphs.yaml"), f"train.run_dir={run}",
                   "train.progress=false", "train.trackers=none"], timeout=900)
    assert out.returncode == 0, out.stderr[-3000:]
    assert len(list((run / "samples").glob("step_*.png"))) == 3
    logged = [json.loads(line) for line in (run / "losses.jsonl").read_text().splitlines()]
    assert len(logged) == 300 and all(k in logged[-1] for k in ("G/KLD", "G/GAN_Feat", "D/D_Fake"))
    assert {"latest_net_G.pth", "latest_net_D.pth", "latest_net_E.pth"} <= {p.name for p in (run / "export").iterdir()}
    model = i2ikit.build(pretrained=run / "export")
    test = glyph_edges(split="test", size=64)
    image, label, inst = split_paired(torch.stack([test.sample_item(i, None)[0] for i in range(2)]))
    styles = model.translate(label[:1], inst[:1], num_styles=3, generator=torch.Generator().manual_seed(0))
    assert styles.shape == (3, 3, 64, 64) and (styles[0] - styles[1]).abs().mean() > 1e-4
    own = model.translate(label, inst, style_image=image)
    # trained: the synthesised glyph is closer to its own real glyph than to the other one
    err = lambda a, b: (a - b).abs().mean().item()  # noqa: E731
    assert err(own[0], image[0]) < err(own[0], image[1]) and err(own[1], image[1]) < err(own[1], image[0])
    res = run_cli(["-m", "i2ikit.cli", "translate", "--model", str(run / "export"), "--content", str(test.pairs[0].label),
                   "--instance", str(Path(test.pairs[0].instance).parent), "--num-styles", "2", "--out", str(tmp_path / "tr")])
    assert res.returncode == 0, res.stderr[-2000:]
    assert len(list((tmp_path / "tr").glob(f"{test.pairs[0].label.stem}_*.png"))) == 2
