"""GP-UNIT Stage II (the ``gpunit`` method): trainer runs, frozen encoder, loss recomputation, export and
official-file round trips. Tiny settings (64 px, width 8) so everything runs in seconds on a CPU."""
from __future__ import annotations

import json
from pathlib import Path

import pytest
import torch
import torch.nn.functional as F

import i2ikit
from i2ikit.recipe import load_recipe, validate
from i2ikit.train.trainer import Trainer
from i2ikit_gpunit import GPUNIT, save_content_encoder, save_translation_model

from conftest import ROOT, make_image_folder

TINY = {"img_size": 64, "nef": 8, "ngf": 8, "discriminator": {"nf": 8}, "style_nef": 8, "style_dim": 16, "noise_dim": 8}

pytestmark = pytest.mark.filterwarnings("ignore:GP-UNIT")


def tiny(**kw) -> GPUNIT:
    return GPUNIT(**{**TINY, **kw})


def images(n: int, seed: int = 0) -> torch.Tensor:
    g = torch.Generator().manual_seed(seed)
    return torch.rand(n, 3, 64, 64, generator=g) * 2 - 1


def recipe(data_root: Path, run_dir: Path, method: dict | None = None, **train) -> dict:
    return {
        "name": "gpunit_tiny",
        "method": {"name": "gpunit", **TINY, "sampler_epochs": 2, **(method or {})},  # short sampler fit at export
        "data": {"train": {"type": "image_folder", "root": str(data_root)}, "new_size": 64, "crop": 64, "num_workers": 0},
        "train": {"steps": 2, "batch_size": 4, "log_every": 1, "sample_every": 2, "save_every": 2, "sample_count": 2,
                  "run_dir": str(run_dir), "trackers": "none", "progress": False, **train},
    }


def test_registered_with_official_defaults() -> None:
    assert "gpunit" in i2ikit.list_models()
    cfg = GPUNIT.__init__.__wrapped__.__kwdefaults__
    assert cfg["lambda_style"] == 50.0 and cfg["lambda_content"] == 1.0 and cfg["lambda_mask"] == 1.0
    assert cfg["lambda_reconstruction"] == 1.0 and cfg["lr"] == 1e-4 and cfg["betas"] == (0.0, 0.99)
    assert cfg["weight_decay"] == 1e-4 and cfg["ema_decay"] == 0.999 and cfg["style_layer"] == 4
    m = tiny()
    opt = m.make_optimizers()["G"]
    assert opt.defaults["betas"] == (0.0, 0.99) and opt.defaults["weight_decay"] == 1e-4
    assert [s.name for s in m.training_steps(0)] == ["gen", "dis"]  # official order: G then D
    assert m.ema_specs()[0].decay == 0.999 and not m.ema_specs()[0].buffers


def test_trainer_runs_and_encoder_stays_frozen(tmp_path: Path) -> None:
    folder = make_image_folder(tmp_path / "imgs", classes=2, per_class=6, size=64)
    enc_file = save_content_encoder(tiny().content_encoder, tmp_path / "content_encoder.pt")
    before = {k: v.clone() for k, v in torch.load(enc_file).items()}
    trainer = Trainer(validate(recipe(folder, tmp_path / "run", {"content_encoder": str(enc_file)})))
    g0 = {k: v.clone() for k, v in trainer.method.G.state_dict().items()}
    run = trainer.fit()
    m = trainer.method
    for name, p in m.content_encoder.named_parameters():
        assert torch.equal(p.detach().cpu(), before[name]), name  # frozen weights (SN vectors may move)
        assert not p.requires_grad
    assert any(not torch.equal(g0[k], v) for k, v in m.G.state_dict().items())
    # the RGB convs of levels 0..4 get no gradient officially: unchanged, and equal in G and G_ema
    assert torch.equal(m.G.model[0].rgblayer.weight, g0["model.0.rgblayer.weight"])
    assert torch.equal(m.G.model[0].rgblayer.weight, m.G_ema.model[0].rgblayer.weight)
    assert not torch.equal(m.G.model[5].rgblayer.weight, m.G_ema.model[5].rgblayer.weight)
    logs = [json.loads(line) for line in (run / "losses.jsonl").read_text().splitlines()]
    assert len(logs) == 2
    for key in ("gen/loss", "gen/con", "gen/sty", "gen/msk", "gen/rec", "gen/g_adv", "dis/d_adv", "dis/r1"):
        assert all(torch.isfinite(torch.tensor(row[key])) for row in logs), key
    assert (run / "samples" / "step_00000002.png").exists()
    # the export rebuilds without the encoder path (init_only) and holds E's weights
    meta = json.loads((run / "export" / "config.json").read_text())
    assert meta["method"] == "gpunit" and "content_encoder.safetensors" in [f.name for f in (run / "export").iterdir()]
    rebuilt = i2ikit.build(pretrained=run / "export")
    x = images(2)
    torch.testing.assert_close(rebuilt.translate(x, x.flip(0)), m.cpu().eval().translate(x, x.flip(0)))


def test_generator_losses_match_a_hand_recomputation() -> None:
    torch.manual_seed(0)
    m = tiny(flip_style=False).eval()  # eval: spectral norms fixed, so repeated calls agree
    x, y = images(2, 1), images(2, 2)
    batch = {"source": (x, torch.tensor([0, 0])), "target": (y, torch.tensor([1, 1]))}
    nets = {"G": m.networks()["G"], "D": m.D}
    losses = m.g_step(batch, nets)
    with torch.no_grad():
        cx, cy = m.content_encoder(x, get_feature=True), m.content_encoder(y, get_feature=True)
        yhat, masks = m.G(cx, y)
        ybar, _ = m.G(cy[0], y, use_skip=False)
        logits, _ = m.D(yhat)
        f_fake = m.D(yhat).features[3]  # the official D(x, layer=4): mean of model[0:4](x)
        f_real = m.D(y).features[3]
        assert f_fake.shape == (2, 64, 1, 1)  # nf 8 doubled by three blocks
        con = (m.content_encoder(yhat) - cx[0]).abs().mean()
        sty = 50 * (f_fake - f_real).abs().mean()
        msk = sum(mask.mean() for mask in masks)
        rec = (ybar - y).abs().mean()
        adv = F.binary_cross_entropy_with_logits(logits, torch.ones_like(logits))
    assert len(masks) == 2
    for name, ref in (("con", con), ("sty", sty), ("msk", msk), ("rec", rec), ("g_adv", adv)):
        torch.testing.assert_close(losses[name], ref, rtol=1e-5, atol=1e-6, msg=name)
    torch.testing.assert_close(losses["loss"].detach(), con + sty + msk + rec + adv, rtol=1e-5, atol=1e-6)


def test_discriminator_loss_and_r1_match_stargan_v2_form() -> None:
    torch.manual_seed(0)
    m = tiny(flip_style=False).eval()
    x, y = images(3, 1), images(3, 2)
    batch = {"source": (x, torch.zeros(3, dtype=torch.long)), "target": (y, torch.ones(3, dtype=torch.long))}
    losses = m.d_step(batch, {"G": m.G, "D": m.D})
    with torch.no_grad():
        yhat, _ = m.G(m.content_encoder(x, get_feature=True), y)
    yr = y.clone().requires_grad_(True)
    real, _ = m.D(yr)
    fake, _ = m.D(yhat)
    (grad,) = torch.autograd.grad(real.sum(), yr)
    r1 = 0.5 * grad.pow(2).reshape(3, -1).sum(1).mean()
    adv = F.binary_cross_entropy_with_logits(real, torch.ones_like(real)) + F.binary_cross_entropy_with_logits(fake, torch.zeros_like(fake))
    torch.testing.assert_close(losses["r1"], r1.detach(), rtol=1e-4, atol=1e-9)
    torch.testing.assert_close(losses["d_adv"], adv.detach(), rtol=1e-5, atol=1e-6)


def test_domains_are_picked_by_label() -> None:
    m = tiny(source_classes=[0, 2], target_classes=None)
    a, b = images(4, 1), images(4, 2)
    x, y = m.split_domains({"source": (a, torch.tensor([0, 1, 2, 1])), "target": (b, torch.tensor([1, 0, 3, 0]))})
    assert torch.equal(x, a[[0, 2]]) and torch.equal(y, b[[0, 2]])
    # a stream without its domain borrows from the other stream
    x, y = m.split_domains({"source": (a, torch.tensor([1, 1, 1, 1])), "target": (b, torch.tensor([0, 1, 1, 1]))})
    assert torch.equal(x, b[[0]]) and torch.equal(y, b[[1]])  # cut to the shorter batch
    with pytest.raises(ValueError, match="overlap"):
        tiny(source_classes=[0, 1], target_classes=[1])
    fresh = tiny()
    with pytest.raises(ValueError, match="no image of the source domain"):
        fresh.split_domains({"source": (a, torch.ones(4, dtype=torch.long)), "target": (b, torch.ones(4, dtype=torch.long))})


def test_translate_shapes_and_range() -> None:
    m = tiny().eval()
    x = images(2)
    out = m.translate(x, x.flip(0))
    assert out.shape == (2, 3, 64, 64) and out.abs().max() <= 1
    out = m.translate(x[:1], z=torch.randn(3, 8))  # one content, three sampled styles (batch statistics)
    assert out.shape == (3, 3, 64, 64)
    out = m.translate(images(2, 3)[:, :, :48, :48])  # resized to img_size; latent styles, one per content
    assert out.shape == (2, 3, 64, 64)
    assert m.training is False and m.content_encoder.training is False


def test_save_pretrained_roundtrip(tmp_path: Path) -> None:
    m = tiny().eval()
    with torch.no_grad():
        for p in m.G_ema.parameters():
            p.add_(0.01 * torch.randn_like(p))
    m.save_pretrained(tmp_path / "export")
    again = i2ikit.build("gpunit", pretrained=tmp_path / "export")
    x = images(2)
    torch.testing.assert_close(again.translate(x, x.flip(0)), m.translate(x, x.flip(0)))
    z = torch.randn(2, 8)
    torch.testing.assert_close(again.translate(x, z=z), m.translate(x, z=z))


def test_load_official_files_and_folder(tmp_path: Path) -> None:
    src = tiny().eval()
    save_content_encoder(src.content_encoder, tmp_path / "release" / "content_encoder.pt")
    save_translation_model(src.G_ema, src.sampler, tmp_path / "release" / "cat2dog.pt")
    x = images(2)
    ref = src.translate(x, x.flip(0))
    for model in (
        i2ikit.build("gpunit", pretrained=tmp_path / "release", img_size=64, style_dim=None),
        i2ikit.build("gpunit", pretrained=tmp_path / "release" / "cat2dog.pt", img_size=64,
                     content_encoder=str(tmp_path / "release" / "content_encoder.pt")),
    ):
        assert model.G.ngf == 8 and model.G.style_dim == 16
        torch.testing.assert_close(model.translate(x, x.flip(0)), ref)
        torch.testing.assert_close(model.G.state_dict(), model.G_ema.state_dict())
    with pytest.raises(ValueError, match="content_encoder"):
        i2ikit.build("gpunit", pretrained=tmp_path / "release" / "cat2dog.pt")


def test_glyph_recipe_validates() -> None:
    rec = load_recipe(ROOT / "recipes" / "gpunit_glyphs.yaml")
    assert rec.method["name"] == "gpunit"


def test_two_process_ddp_on_cpu(tmp_path: Path) -> None:
    """Real two-process DDP (gloo, find_unused_parameters=False) with gradient accumulation: the generator
    view runs both G calls in one DDP forward, the D step takes R1 through the wrapped D."""
    import socket

    from conftest import run_cli, write_yaml
    from i2ikit.train import checkpoint as ckpt

    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]
    folder = make_image_folder(tmp_path / "imgs", classes=2, per_class=6, size=64)
    run = tmp_path / "run"
    path = write_yaml(tmp_path / "ddp.yaml", recipe(folder, run, steps=2, grad_accum=2))
    out = run_cli(["-m", "torch.distributed.run", "--nproc_per_node", "2", "--master_port", str(port),
                   "-m", "i2ikit.run", str(path)], env={"ACCELERATE_USE_CPU": "true"})
    assert out.returncode == 0, out.stderr[-4000:]
    assert ckpt.latest_checkpoint(run).name == "step_00000002"
    assert len((run / "losses.jsonl").read_text().splitlines()) == 2
    assert (run / "export" / "G_ema.safetensors").exists()


# ---- declared constraints, class needs and translation modes -------------------------------------
def test_declared_constraints_min_classes_and_translate_modes() -> None:
    import inspect

    from i2ikit.recipe import check_method_kwargs

    check_method_kwargs(GPUNIT, {}, "x")  # the defaults satisfy the constraints
    check_method_kwargs(GPUNIT, dict(TINY), "x")
    assert set(GPUNIT.constraints) <= set(inspect.signature(GPUNIT.__init__).parameters)
    assert set(GPUNIT.min_classes) <= set(GPUNIT.data_streams)
    assert GPUNIT.min_classes == {"source": 1, "target": 1}  # each stream is one domain
    assert GPUNIT.translate_modes == ("style", "num_styles")


@pytest.mark.parametrize("key,bad", [("img_size", 100), ("style_layer", 0), ("lambda_style", -1.0), ("lr", 0.0),
                                     ("ema_decay", 1.01), ("source_classes", [-1])])
def test_out_of_range_values_fail_before_building(key, bad, monkeypatch) -> None:
    from i2ikit.errors import ConfigError
    import i2ikit.parts

    def boom(*a, **k):
        raise AssertionError("a network was built")

    monkeypatch.setattr(i2ikit.parts, "build_part", boom)  # every network of a method is built through it
    with pytest.raises(ConfigError, match=f"'gpunit'.*{key}") as err:
        i2ikit.build("gpunit", **{**TINY, key: bad})
    assert key in str(err.value)


def test_constructor_checks_are_config_errors(tmp_path: Path) -> None:
    from i2ikit.errors import ConfigError, MissingFileError

    with pytest.raises(ConfigError, match="'gpunit'.*img_size.*power of two"):
        GPUNIT(**{**TINY, "img_size": 96})
    with pytest.raises(ConfigError, match="'gpunit'.*nef"):
        GPUNIT(**{**TINY, "ngf": 16})
    with pytest.raises(MissingFileError, match="content_encoder"):
        GPUNIT.check_inputs({"content_encoder": str(tmp_path / "missing.pt")})
