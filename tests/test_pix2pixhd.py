"""pix2pixHD, the method: the losses of the official ``Pix2PixHDModel.forward`` (pinned golden values and a hand
computation of the formulas), the step order and what each step changes, the epoch schedule and
``niter_fix_global``, ``load_pretrain``, official files through ``i2ikit.build``, the export, translation and its
errors, the official recipes stopping before training, ``i2ikit translate`` on label maps; slow: the glyph recipe.

The golden values were computed by the official NVIDIA/pix2pixHD code (``models/pix2pixHD_model.py`` and
``train.py``'s update order at 14b3b3c; CPU, ``.cuda()`` stubbed, torch 2.14.1) with the weights of the seeded
i2ikit models below copied into it, the inputs of :func:`_inputs` and the VGG19 of :func:`_vgg_file`; i2ikit's
losses matched them within 2.4e-7 over two iterations (docs/methods/pix2pixhd.md).
"""
from __future__ import annotations

import warnings
from pathlib import Path
from typing import Any

import numpy as np
import pytest
import torch
import torch.nn.functional as F
from PIL import Image

import i2ikit
from conftest import ROOT, run_cli, write_yaml
from i2ikit.cli import main as cli_main
from i2ikit.errors import CheckpointError, ConfigError
from i2ikit.nn.label_maps import LabelValueError, encode_label_map
from i2ikit_pix2pixhd import Pix2PixHD, label_colors, load_generator, palette, save_official

# Tiny settings (the official layout at small widths).
GLOBAL = dict(label_nc=4, ngf=8, n_downsample_global=2, n_blocks_global=1, ndf=8)
LOCAL_FEAT = dict(label_nc=4, netG="local", ngf=4, n_downsample_global=2, n_blocks_global=1, n_blocks_local=1, ndf=8,
                  num_D=3, n_layers_D=2, instance_feat=True, nef=4, n_downsample_E=2)
NAMES = ("G_GAN", "G_GAN_Feat", "G_VGG", "D_real", "D_fake")
# Official values for two iterations (losses of iteration 1, then of iteration 2 after one G and one D update).
GOLDEN = {
    "global": [(2.529283285140991, 11.548068046569824, 0.0664047971367836, 2.3676562309265137, 0.31571581959724426),
               (2.054696798324585, 10.198444366455078, 0.06598255038261414, 1.8978290557861328, 0.13923808932304382)],
    "local_feat_fix": [(3.025848865509033, 8.254865646362305, 0.06724360585212708, 3.0207624435424805, 0.24909639358520508),
                       (2.821535348892212, 7.9224395751953125, 0.06706120073795319, 2.7937917709350586, 0.22261331975460052)],
}


def _vgg_file(folder: Path) -> Path:
    """A torchvision-layout VGG19 file with seeded random weights (the real one is not needed to test the formula)."""
    from torchvision.models.vgg import cfgs, make_layers

    torch.manual_seed(1)
    feats = make_layers(cfgs["E"], batch_norm=False)
    file = folder / "vgg19-dcbb9e9d.pth"
    torch.save({f"features.{k}": v for k, v in feats.state_dict().items()}, file)
    return file


def _inputs(label_nc: int, b: int = 1, h: int = 32, w: int = 32, seed: int = 123) -> tuple[torch.Tensor, ...]:
    """Label ids, instance ids (4x4 blocks of 5 ids) and an image, seeded."""
    g = torch.Generator().manual_seed(seed)
    label = torch.randint(0, label_nc, (b, 1, h, w), generator=g).float()
    inst = torch.randint(0, 5, (b, 1, h, w), generator=g).float()
    inst = F.interpolate(inst[:, :, ::4, ::4], scale_factor=4, mode="nearest")
    image = torch.rand(b, 3, h, w, generator=g) * 2 - 1
    return label, inst, image


def _batch(label: torch.Tensor, inst: torch.Tensor | None, image: torch.Tensor) -> dict[str, Any]:
    parts = [image, label] + ([inst] if inst is not None else [])
    return {"pairs": (torch.cat(parts, 1), torch.zeros(image.shape[0], dtype=torch.long))}


def _iteration(model: Pix2PixHD, opts: dict, batch: dict, iteration: int) -> dict[str, float]:
    """One iteration as the trainer runs it: each step's networks trainable, backward, its optimisers stepped."""
    nets, logged = model.networks(), {}
    for step in model.training_steps(iteration):
        for name, net in nets.items():
            net.requires_grad_(name in step.trains)
        out = step.fn(batch, nets)
        out["loss"].backward()
        for name in step.optimizers:
            opts[name].step()
            opts[name].zero_grad(set_to_none=True)
        logged.update({k: float(v) for k, v in out.items() if k != "loss"})
    for net in nets.values():
        net.requires_grad_(True)
    return logged


# ---- the official losses ----------------------------------------------------------------------------------
@pytest.mark.parametrize("case", sorted(GOLDEN))
def test_two_iterations_give_the_official_losses(case: str, tmp_path: Path) -> None:
    cfg = GLOBAL if case == "global" else {**LOCAL_FEAT, "niter_fix_global": 1, "epoch_iters": 5}
    vgg = _vgg_file(tmp_path)
    torch.manual_seed(0)
    model = i2ikit.build("pix2pixhd", vgg_weights=str(vgg), **cfg)
    label, inst, image = _inputs(4, b=1 if case == "global" else 2)
    batch, opts = _batch(label, inst, image), model.make_optimizers()
    for it, want in enumerate(GOLDEN[case]):
        got = _iteration(model, opts, batch, it)
        torch.testing.assert_close(torch.tensor([got[k] for k in NAMES]), torch.tensor(want), rtol=2e-6, atol=1e-6)


def _scales(model: Pix2PixHD, x: torch.Tensor) -> list[list[torch.Tensor]]:
    """The official MultiscaleDiscriminator by hand: full resolution first, AvgPool2d(3, 2, 1, no pad count)."""
    out = []
    for k, scale in enumerate(model.netD.scales):
        if k:
            x = F.avg_pool2d(x, 3, 2, 1, count_include_pad=False)
        feats = []
        h = x
        for j in range(scale.n_layers + 2):
            h = getattr(scale, f"model{j}")(h)
            feats.append(h)
        out.append(feats)
    return out


def test_losses_are_the_official_formulas(tmp_path: Path) -> None:
    vgg_file = _vgg_file(tmp_path)
    torch.manual_seed(0)
    model = i2ikit.build("pix2pixhd", vgg_weights=str(vgg_file), num_D=3, n_layers_D=2, lambda_feat=7.0, **
                         {k: v for k, v in GLOBAL.items() if k not in ("num_D",)})
    label, inst, image = _inputs(4, b=2)
    batch = _batch(label, inst, image)
    nets = model.networks()
    with torch.no_grad():
        x = torch.cat([F.one_hot(label[:, 0].long(), 4).permute(0, 3, 1, 2).float(),
                       encode_label_map(label, 4, instance=inst)[:, 4:]], 1)
        fake = model.netG(x)
        pf, pr = _scales(model, torch.cat([x, fake], 1)), _scales(model, torch.cat([x, image], 1))
        gan = sum(((s[-1] - 1) ** 2).mean() for s in pf)
        w = 4.0 / (2 + 1) / 3 * 7.0
        fm = sum(w * (f - r).abs().mean() for sf, sr in zip(pf, pr) for f, r in zip(sf[:-1], sr[:-1]))
        from torchvision.models.vgg import cfgs, make_layers

        feats = make_layers(cfgs["E"], batch_norm=False)
        feats.load_state_dict({k[len("features."):]: v for k, v in torch.load(vgg_file).items()}, strict=False)
        a, b, vgg, start = fake, image, 0.0, 0
        for end, lw in zip((2, 7, 12, 21, 30), (1 / 32, 1 / 16, 1 / 8, 1 / 4, 1)):  # no ImageNet normalisation
            a, b = feats[start:end](a), feats[start:end](b)
            vgg, start = vgg + lw * (a - b).abs().mean(), end
        d_fake = sum((s[-1] ** 2).mean() for s in pf)
        d_real = sum(((s[-1] - 1) ** 2).mean() for s in pr)
    nets["D"].requires_grad_(False)
    g = model.g_step(batch, nets)
    nets["D"].requires_grad_(True)
    d = model.d_step(batch, nets)
    torch.testing.assert_close(g["G_GAN"], gan)
    torch.testing.assert_close(g["G_GAN_Feat"], fm)
    torch.testing.assert_close(g["G_VGG"], 7.0 * vgg)
    torch.testing.assert_close(g["loss"].detach(), gan + fm + 7.0 * vgg)
    torch.testing.assert_close(d["D_fake"], d_fake)
    torch.testing.assert_close(d["D_real"], d_real)
    torch.testing.assert_close(d["loss"].detach(), 0.5 * (d_fake + d_real))
    assert model.feat_weight() == pytest.approx(w)
    assert i2ikit.build("pix2pixhd", no_vgg_loss=True).feat_weight() == 5.0  # 4/(3+1) * 1/2 * 10


def test_no_lsgan_is_the_logistic_loss_and_flags_drop_terms() -> None:
    torch.manual_seed(0)
    model = i2ikit.build("pix2pixhd", no_lsgan=True, no_vgg_loss=True, no_ganFeat_loss=True, **GLOBAL)
    assert not model.netD.scales[0].get_interm_feat  # no feature matching: the official flat D layout
    label, inst, image = _inputs(4)
    nets = model.networks()
    nets["D"].requires_grad_(False)
    g = model.g_step(_batch(label, inst, image), nets)
    assert set(g) == {"loss", "G_GAN"}
    with torch.no_grad():
        x = encode_label_map(label, 4, instance=inst)
        out = model.netD(torch.cat([x, model.netG(x)], 1))
        want = sum(F.softplus(-part).mean() for part in model.netD.split(out.logits))  # BCE(sigmoid(x), 1)
    torch.testing.assert_close(g["G_GAN"], want)


# ---- step order, schedule, fixed global G -----------------------------------------------------------------
def test_g_step_then_d_step_on_the_g_steps_fake() -> None:
    torch.manual_seed(0)
    model = i2ikit.build("pix2pixhd", no_vgg_loss=True, **GLOBAL)
    steps = model.training_steps(0)
    assert [(s.name, s.trains, s.optimizers) for s in steps] == [("G", ("G",), ("G",)), ("D", ("D",), ("D",))]
    label, inst, image = _inputs(4, b=2)
    batch, opts = _batch(label, inst, image), model.make_optimizers()
    with torch.no_grad():  # the official loss_D: the fake of the one forward, before G's update
        x = encode_label_map(label, 4, instance=inst)
        out = model.netD(torch.cat([torch.cat([x, model.netG(x)], 1), torch.cat([x, image], 1)]))
        parts = model.netD.split(out.logits)
        want_d = 0.5 * (sum((p[:2] ** 2).mean() for p in parts) + sum(((p[2:] - 1) ** 2).mean() for p in parts))
    g0 = {k: v.clone() for k, v in model.netG.state_dict().items()}
    d0 = {k: v.clone() for k, v in model.netD.state_dict().items()}
    nets = model.networks()
    g_step, d_step = steps
    nets["D"].requires_grad_(False)
    g_step.fn(batch, nets)["loss"].backward()
    assert all(p.grad is None for p in model.netD.parameters())  # G's backward leaves D untouched
    opts["G"].step()
    opts["G"].zero_grad(set_to_none=True)
    assert any(not torch.equal(v, g0[k]) for k, v in model.netG.state_dict().items())
    assert all(torch.equal(v, d0[k]) for k, v in model.netD.state_dict().items())
    nets["D"].requires_grad_(True)
    nets["G"].requires_grad_(False)
    d = d_step.fn(batch, nets)
    torch.testing.assert_close(d["loss"].detach(), want_d)  # the updated G is not re-run
    d["loss"].backward()
    assert all(p.grad is None for p in model.netG.parameters())
    opts["D"].step()
    assert any(not torch.equal(v, d0[k]) for k, v in model.netD.state_dict().items())
    assert not model._fakes


def test_lr_schedule_is_the_official_per_epoch_decay() -> None:
    model = i2ikit.build("pix2pixhd", no_vgg_loss=True, niter=3, niter_decay=4, epoch_iters=10, **GLOBAL)
    lr, old = 2e-4, 2e-4  # train.py: update_learning_rate() after every epoch > niter
    for epoch in range(1, 3 + 4 + 1):
        for it in ((epoch - 1) * 10, epoch * 10 - 1):
            assert lr * model.lr_factor("G", it) == pytest.approx(old)
            assert model.lr_factor("D", it) == model.lr_factor("G", it)
        if epoch > 3:
            old -= lr / 4
    assert model.lr_factor("G", 69) == pytest.approx(1 / 4)  # the last epoch: lr0 / niter_decay
    assert model.lr_factor("G", 39) == 1.0 and model.lr_factor("G", 40) == pytest.approx(0.75)
    assert model.lr_factor("G", 10_000) == 0.0
    assert i2ikit.build("pix2pixhd", no_vgg_loss=True, **GLOBAL).lr_factor("G", 10 ** 7) == 1.0  # no epoch_iters


def test_niter_fix_global_trains_only_the_local_enhancer_then_everything_with_a_fresh_adam() -> None:
    torch.manual_seed(0)
    model = i2ikit.build("pix2pixhd", no_vgg_loss=True, niter_fix_global=2, epoch_iters=3, **LOCAL_FEAT)
    opts = model.make_optimizers()
    local = {id(p) for n, p in model.netG.named_parameters() if n.startswith("model1")}
    assert {id(p) for p in opts["G_local"].param_groups[0]["params"]} == local | {id(p) for p in model.netE.parameters()}
    assert [s.optimizers for s in model.training_steps(5)][0] == ("G_local",)
    assert [s.optimizers for s in model.training_steps(6)][0] == ("G",)
    label, inst, image = _inputs(4, b=2)
    batch = _batch(label, inst, image)
    before = {n: p.detach().clone() for n, p in model.netG.named_parameters()}
    e_before = [p.detach().clone() for p in model.netE.parameters()]
    _iteration(model, opts, batch, 0)
    changed = {n.split(".")[0] for n, p in model.netG.named_parameters() if not torch.equal(p, before[n])}
    assert changed == {"model1_1", "model1_2"}
    assert any(not torch.equal(a, b) for a, b in zip(model.netE.parameters(), e_before))  # E trains with G
    assert all(p.grad is None for p in model.netG.parameters())  # nothing stale for the full Adam
    assert not opts["G"].state
    _iteration(model, opts, batch, 6)
    assert {n.split(".")[0] for n, p in model.netG.named_parameters() if not torch.equal(p, before[n])} == {"model", "model1_1", "model1_2"}
    assert len(opts["G"].state) == len(list(model.netG.parameters())) + len(list(model.netE.parameters()))
    with pytest.raises(ConfigError, match="netG: local"):
        i2ikit.build("pix2pixhd", niter_fix_global=1, epoch_iters=3)
    with pytest.raises(ConfigError, match="epoch_iters"):
        i2ikit.build("pix2pixhd", netG="local", niter_fix_global=1)


# ---- official files, load_pretrain, export -------------------------------------------------------------------
def test_official_files_load_through_build_and_translate_as_the_networks(tmp_path: Path) -> None:
    torch.manual_seed(0)
    src = i2ikit.build("pix2pixhd", no_vgg_loss=True, num_D=3, **{k: v for k, v in LOCAL_FEAT.items() if k != "num_D"})
    folder = tmp_path / "checkpoints" / "label2city"
    save_official(src.netG, folder / "latest_net_G.pth")
    save_official(src.netD, folder / "latest_net_D.pth")
    save_official(src.netE, folder / "latest_net_E.pth")
    label, inst, image = _inputs(4, b=2)
    model = i2ikit.build("pix2pixhd", pretrained=folder, label_nc=4, instance_feat=True)
    assert (model.netG_kind, model.num_D, model.n_layers_D) == ("local", 3, 2) and not model.training
    direct = load_generator(folder / "latest_net_G.pth").eval()
    with torch.no_grad():
        want = direct(torch.cat([encode_label_map(label, 4, instance=inst), src.netE(image, inst)], 1))
    torch.testing.assert_close(model.translate(label, inst, style_image=image), want, rtol=0, atol=0)
    # One generator file, as the brief's build("pix2pixhd", pretrained="latest_net_G.pth", netG="local", ngf=4, ...).
    one = i2ikit.build("pix2pixhd", pretrained=folder / "latest_net_G.pth", netG="local", ngf=4, label_nc=4,
                       instance_feat=True)
    assert sorted(one.official_info["loaded"]) == ["D", "E", "G"]
    with pytest.raises(CheckpointError, match=r"takes 8 input channels.*make 9"):
        i2ikit.build("pix2pixhd", pretrained=folder, label_nc=5, instance_feat=True)
    with pytest.raises(CheckpointError, match="read from the official files"):
        i2ikit.build("pix2pixhd", pretrained=folder, label_nc=4, instance_feat=True, netG="global")
    with pytest.raises(i2ikit.errors.MissingFileError, match="latest_net_G.pth"):
        i2ikit.build("pix2pixhd", pretrained=tmp_path)


def test_export_round_trip_holds_the_official_files_and_seeds_load_pretrain(tmp_path: Path) -> None:
    torch.manual_seed(0)
    model = i2ikit.build("pix2pixhd", no_vgg_loss=True, **GLOBAL)
    label, inst, _ = _inputs(4, b=2)
    model.save_pretrained(tmp_path / "export")
    assert {p.name for p in (tmp_path / "export").iterdir()} >= {"config.json", "netG.safetensors", "netD.safetensors",
                                                                 "latest_net_G.pth", "latest_net_D.pth"}
    back = i2ikit.build(pretrained=tmp_path / "export")
    torch.testing.assert_close(back.translate(label, inst), model.translate(label, inst), rtol=0, atol=0)
    official = Pix2PixHD.load_official(tmp_path / "export", label_nc=4)  # the export's latest_net_{G,D}.pth
    torch.testing.assert_close(official.translate(label, inst), model.translate(label, inst), rtol=0, atol=0)
    # --load_pretrain: the 512p-like global G seeds a local G's global part, a 2-scale D two of 3 scales.
    local_cfg = {**GLOBAL, "netG": "local", "ngf": 4, "num_D": 3, "n_blocks_local": 1}
    with warnings.catch_warnings():
        warnings.simplefilter("error")  # G and D files are both there: nothing left at its initialisation
        local = i2ikit.build("pix2pixhd", no_vgg_loss=True, load_pretrain=str(tmp_path / "export"), **local_cfg)
    assert local.official_info["load_pretrain"]["G"]["untouched"] == ["model1_1", "model1_2"]
    g_file = torch.load(tmp_path / "export" / "latest_net_G.pth", weights_only=True)
    assert all(torch.equal(v, g_file[k]) for k, v in local.netG.state_dict().items() if k.startswith("model."))
    torch.testing.assert_close(local.netD.scales[1].state_dict(), model.netD.scales[0].state_dict())
    torch.testing.assert_close(local.netD.scales[2].state_dict(), model.netD.scales[1].state_dict())
    local.save_pretrained(tmp_path / "local")
    rebuilt = i2ikit.build(pretrained=tmp_path / "local")  # load_pretrain is init_only: the export holds the weights
    assert rebuilt.config["load_pretrain"] is None and rebuilt.official_info == {}


# ---- translation ------------------------------------------------------------------------------------------
def test_translate_shapes_and_errors() -> None:
    torch.manual_seed(0)
    model = i2ikit.build("pix2pixhd", no_vgg_loss=True, **GLOBAL)
    label, inst, image = _inputs(4, b=3, h=16, w=24)
    out = model.translate(label, inst)
    assert out.shape == (3, 3, 16, 24) and out.min() >= -1 and out.max() <= 1
    torch.testing.assert_close(model.translate(label.long(), inst.long()), out)
    with pytest.raises(LabelValueError, match=r"label id 7 is outside 0\.\.3.*label_nc"):
        model.translate(torch.full_like(label, 7.0), inst)
    with pytest.raises(ConfigError, match="--instance"):
        model.translate(label)
    with pytest.raises(ConfigError, match="not multiples of 4"):
        model.translate(label[..., :15, :], inst[..., :15, :])
    with pytest.raises(ConfigError, match="no feature encoder"):
        model.translate(label, inst, style_image=image)
    with pytest.raises(ConfigError, match="B x 1 x H x W"):
        model.translate(label[:, 0], inst)
    plain = i2ikit.build("pix2pixhd", no_vgg_loss=True, no_instance=True, **GLOBAL)
    assert plain.translate(label).shape == (3, 3, 16, 24)
    feat = i2ikit.build("pix2pixhd", no_vgg_loss=True, **{**LOCAL_FEAT, "netG": "global", "num_D": 2})
    assert feat.translate_modes == ("style",) and model.translate_modes == ("direct",)
    label, inst, image = _inputs(4, b=2)
    assert feat.translate(label, inst, style_image=image[:1]).shape == (2, 3, 32, 32)
    assert feat.translate(label, inst, features=torch.zeros(2, 3, 32, 32)).shape == (2, 3, 32, 32)
    with pytest.raises(ConfigError, match="cluster"):
        feat.translate(label, inst)
    with pytest.raises(ConfigError, match="needs the instance maps"):
        i2ikit.build("pix2pixhd", instance_feat=True, no_instance=True)


def test_training_pairs_without_instance_maps_are_named() -> None:
    model = i2ikit.build("pix2pixhd", no_vgg_loss=True, **GLOBAL)
    label, _, image = _inputs(4)
    with pytest.raises(ConfigError, match="no_instance: true"):
        model.g_step(_batch(label, None, image), model.networks())


def test_sample_columns_and_label_colours() -> None:
    torch.manual_seed(0)
    model = i2ikit.build("pix2pixhd", no_vgg_loss=True, **GLOBAL)
    label, inst, image = _inputs(4, b=2)
    cols = model.sample_columns(_batch(label, inst, image))
    assert [name for name, _ in cols] == ["input label", "synthesized image", "real image"]
    assert all(t.shape == (2, 3, 32, 32) for _, t in cols)
    assert palette(35)[7].tolist() == [128, 64, 128]  # Cityscapes road
    assert palette(4).tolist() == [[0, 0, 0], [128, 0, 0], [0, 128, 0], [128, 128, 0]]
    ids = torch.tensor([[[[0.0, 1.0, 255.0]]]])
    assert label_colors(ids, 4)[0, :, 0, 1].tolist() == pytest.approx([128 / 127.5 - 1, -1, -1], abs=1e-6)
    assert label_colors(ids, 4)[0, :, 0, 2].tolist() == [-1, -1, -1]  # outside label_nc: black


# ---- recipes and the command line -----------------------------------------------------------------------------
@pytest.mark.parametrize("recipe, folder", [("pix2pixhd_cityscapes_512p", "data/cityscapes/gtFine/train"),
                                            ("pix2pixhd_cityscapes_1024p", "data/cityscapes/gtFine/train"),
                                            ("pix2pixhd_ade20k", "data/ADEChallengeData2016"),
                                            ("pix2pixhd_facades", "data/facades/train_label")])
def test_official_recipes_stop_before_training_naming_the_folder(recipe: str, folder: str, tmp_path: Path, monkeypatch,
                                                                 capsys) -> None:
    monkeypatch.chdir(tmp_path)
    assert cli_main(["train", str(ROOT / "recipes" / f"{recipe}.yaml")]) == 2
    err = capsys.readouterr().err
    assert f"'{folder}' does not exist" in err and "docs/datasets.md" in err and "Traceback" not in err
    assert not (tmp_path / "runs").exists()


def test_official_recipes_hold_the_official_settings() -> None:
    from i2ikit.recipe import load_recipe

    r512 = load_recipe(ROOT / "recipes" / "pix2pixhd_cityscapes_512p.yaml")
    model_defaults = {k: v.default for k, v in __import__("inspect").signature(Pix2PixHD.__init__).parameters.items()
                      if k != "self"}
    assert all(model_defaults[k] == v for k, v in r512.method.items() if k not in ("name", "epoch_iters"))
    assert r512.train.steps == 200 * 2975 and r512.train.batch_size == 1
    r1024 = load_recipe(ROOT / "recipes" / "pix2pixhd_cityscapes_1024p.yaml")
    m = r1024.method
    assert (m["netG"], m["ngf"], m["num_D"], m["niter"], m["niter_decay"], m["niter_fix_global"]) == ("local", 32, 3, 50, 50, 10)
    assert m["load_pretrain"] == str(r1024.stages["512p"].run_dir / "export")
    assert r1024.data.train["preprocess"] == "none" and r1024.train.steps == 100 * 2975


def _paired_folder(root: Path, n: int = 4, size: int = 32, label_nc: int = 3) -> Path:
    rng = np.random.default_rng(0)
    for sub in ("train_label", "train_img", "train_inst"):
        (root / sub).mkdir(parents=True, exist_ok=True)
    for i in range(n):
        ids = np.kron(rng.integers(0, label_nc, (size // 8, size // 8)), np.ones((8, 8), int)).astype(np.uint8)
        Image.fromarray(ids, mode="L").save(root / "train_label" / f"p{i}.png")
        Image.fromarray((ids * 100).astype(np.uint8)).convert("RGB").save(root / "train_img" / f"p{i}.png")
        Image.fromarray((ids.astype(np.uint16) * 1000 + 1)).save(root / "train_inst" / f"p{i}.png")
    return root


def test_a_staged_recipe_seeds_the_local_stage_from_the_global_export(tmp_path: Path) -> None:
    """The 1024p chain at toy size: stage 1 trains a global G, stage 2 a local G with load_pretrain its export."""
    from i2ikit.run import main as run_main

    data = _paired_folder(tmp_path / "data")
    tiny = {"label_nc": 3, "ngf": 8, "n_downsample_global": 2, "n_blocks_global": 1, "ndf": 8, "no_vgg_loss": True}
    train = {"steps": 2, "batch_size": 2, "log_every": 1, "sample_every": 2, "save_every": 2, "sample_count": 2,
             "trackers": "none", "progress": False}
    dataset = {"type": "paired", "root": str(data), "label_nc": 3, "preprocess": "none", "flip": True}
    first = {"name": "p2p_low", "method": {"name": "pix2pixhd", **tiny},
             "data": {"train": dataset, "new_size": 32, "crop": 32, "num_workers": 0},
             "train": {**train, "run_dir": str(tmp_path / "low")}}
    write_yaml(tmp_path / "low.yaml", first)
    second = {"name": "p2p_high", "stages": {"low": {"base": "low.yaml"}},
              "method": {"name": "pix2pixhd", **tiny, "netG": "local", "ngf": 4, "n_blocks_local": 1, "num_D": 3,
                         "niter_fix_global": 1, "epoch_iters": 2, "niter": 1, "niter_decay": 1,
                         "load_pretrain": "${stages.low.export}"},
              "data": {"train": dataset, "new_size": 32, "crop": 32, "num_workers": 0},
              "train": {**train, "run_dir": str(tmp_path / "high")}}
    recipe = write_yaml(tmp_path / "high.yaml", second)
    assert run_main([str(recipe)]) == 0
    low = i2ikit.build(pretrained=tmp_path / "low" / "export")
    high = i2ikit.build(pretrained=tmp_path / "high" / "export")
    assert high.netG_kind == "local" and (tmp_path / "high" / "samples").is_dir()
    # Both iterations were in the fixed-global epoch: the global part is still the first stage's, the enhancer trained.
    assert all(torch.equal(v, low.netG.state_dict()[k]) for k, v in high.netG.state_dict().items() if k.startswith("model."))


def test_translate_command_writes_images_for_label_maps(tmp_path: Path, capsys) -> None:
    torch.manual_seed(0)
    model = i2ikit.build("pix2pixhd", no_vgg_loss=True, **{**GLOBAL, "label_nc": 3})
    model.save_pretrained(tmp_path / "export")
    data = _paired_folder(tmp_path / "data", n=2)
    # Cityscapes-style names: *_labelIds pairs with the *_instanceIds of the same frame.
    (tmp_path / "inst").mkdir()
    for f in sorted((data / "train_inst").iterdir()):
        f.rename(tmp_path / "inst" / f"x_000000_00000{f.stem[1]}_gtFine_instanceIds.png")
    for f in sorted((data / "train_label").iterdir()):
        f.rename(data / "train_label" / f"x_000000_00000{f.stem[1]}_gtFine_labelIds.png")
    out = tmp_path / "out"
    assert cli_main(["translate", "--model", str(tmp_path / "export"), "--content", str(data / "train_label"),
                     "--instance", str(tmp_path / "inst"), "--out", str(out)]) == 0
    written = sorted(p.name for p in out.glob("x_*.png"))
    assert written == ["x_000000_000000_gtFine_labelIds.png", "x_000000_000001_gtFine_labelIds.png"]
    assert Image.open(out / written[0]).size == (32, 32) and Image.open(out / "grid.png").size[0] >= 2 * 32
    label = torch.from_numpy(np.asarray(Image.open(data / "train_label" / written[0]), dtype=np.float32))[None, None]
    inst = torch.from_numpy(np.asarray(Image.open(tmp_path / "inst" / written[0].replace("labelIds", "instanceIds")),
                                       dtype=np.float32))[None, None]
    want = ((model.translate(label, inst).clamp(-1, 1) + 1) / 2 * 255).round().byte()[0].permute(1, 2, 0).numpy()
    assert np.abs(np.asarray(Image.open(out / written[0])).astype(int) - want).max() <= 1
    # --size scales the width, keeping the aspect, then each side is rounded to a multiple of 4 (this G).
    assert cli_main(["translate", "--model", str(tmp_path / "export"), "--content", str(data / "train_label" / written[0]),
                     "--instance", str(tmp_path / "inst"), "--size", "50", "--out", str(tmp_path / "o2")]) == 0
    assert Image.open(tmp_path / "o2" / written[0]).size == (48, 48)  # round(50 / 4) = 12, as the official round()
    # An id the model cannot hold names the file; a colour label map is refused; no instance map is named.
    bad = tmp_path / "bad" / "b.png"
    bad.parent.mkdir()
    Image.fromarray(np.full((32, 32), 9, np.uint8), mode="L").save(bad)
    Image.fromarray(np.zeros((32, 32), np.uint16)).save(tmp_path / "bad_inst.png")
    capsys.readouterr()
    assert cli_main(["translate", "--model", str(tmp_path / "export"), "--content", str(bad), "--instance",
                     str(tmp_path / "bad_inst.png"), "--out", str(tmp_path / "o3")]) == 2
    err = capsys.readouterr().err
    assert str(bad) in err and "label id 9 is outside 0..2" in err and "Traceback" not in err
    Image.new("RGB", (32, 32)).save(tmp_path / "rgb.png")
    assert cli_main(["translate", "--model", str(tmp_path / "export"), "--content", str(tmp_path / "rgb.png"),
                     "--out", str(tmp_path / "o4")]) == 2
    assert "colour image" in capsys.readouterr().err
    assert cli_main(["translate", "--model", str(tmp_path / "export"), "--content", str(data / "train_label"),
                     "--out", str(tmp_path / "o5")]) == 2
    assert "--instance" in capsys.readouterr().err
    assert cli_main(["translate", "--model", str(tmp_path / "export"), "--content", str(data / "train_label"),
                     "--instance", str(tmp_path / "inst"), "--num-styles", "2", "--out", str(tmp_path / "o6")]) == 2
    assert "--content alone" in capsys.readouterr().err


def test_translate_command_encodes_a_style_image_for_feature_models(tmp_path: Path) -> None:
    torch.manual_seed(0)
    model = i2ikit.build("pix2pixhd", no_vgg_loss=True, **{**LOCAL_FEAT, "label_nc": 3, "netG": "global", "num_D": 2})
    model.save_pretrained(tmp_path / "export")
    data = _paired_folder(tmp_path / "data", n=2)
    out = tmp_path / "out"
    assert cli_main(["translate", "--model", str(tmp_path / "export"), "--content", str(data / "train_label"),
                     "--instance", str(data / "train_inst"), "--style", str(data / "train_img" / "p1.png"),
                     "--out", str(out)]) == 0
    assert sorted(p.name for p in out.glob("p*.png")) == ["p0_to_p1.png", "p1_to_p1.png"]


# ---- slow: the glyph recipe ---------------------------------------------------------------------------------
@pytest.mark.slow
def test_glyph_recipe_trains_end_to_end(tmp_path: Path) -> None:
    """The whole CPU recipe (1,500 iterations, about 2.5 minutes): grids are written, and on the unseen test faces
    the synthesised glyphs are far closer to the real ones than the outline drawn as ink is."""
    from i2ikit.data import split_paired
    from i2ikit_glyphs import glyph_edges

    run = tmp_path / "run"
    out = run_cli(["-m", "i2ikit.run", str(ROOT / "recipes" / "pix2pixhd_glyphs.yaml"), f"train.run_dir={run}",
                   "train.progress=false", "train.trackers=none"], timeout=900)
    assert out.returncode == 0, out.stderr[-3000:]
    assert len(list((run / "samples").glob("step_*.png"))) == 3
    model = i2ikit.build(pretrained=run / "export")
    test = glyph_edges(split="test", size=64)
    idx = torch.linspace(0, len(test) - 1, 32).long().tolist()
    image, label, inst = split_paired(torch.stack([test.sample_item(i, None)[0] for i in idx]))
    fake = model.translate(label, inst)
    l1, outline = (fake - image).abs().mean().item(), ((1 - 2 * label) - image).abs().mean().item()
    assert l1 < 0.08 and l1 < outline / 2, (l1, outline)
