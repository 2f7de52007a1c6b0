"""GP-UNIT Stage I (``gpunit_prior``): the image+mask / cross-class pair data, the losses of
``prior_distillation.py``, a trainer run whose export feeds Stage II, and official snapshot loading.
Tiny settings (128 px, width 4) so everything runs in seconds on a CPU."""
from __future__ import annotations

import random
from pathlib import Path

import numpy as np
import pytest
import torch
import torch.nn.functional as F
from PIL import Image

import i2ikit
from i2ikit.data import DataSourceError, TrainTransform
from i2ikit.recipe import validate
from i2ikit.train.trainer import Trainer
from i2ikit_gpunit import GPUNITPrior, PriorImages, load_content_encoder
from i2ikit_gpunit.prior_data import mask_from_image, split_item

pytestmark = pytest.mark.filterwarnings("ignore:GP-UNIT")

TINY = {"img_size": 128, "nf": 4, "embed_dim": 8}
CLASSES = ["7_bird", "10_bird", "158_dog"]


def write_pairs(root: Path, mask_root: Path | None, *, names=("0", "1", "2", "10"), size=128, seed=0) -> Path:
    """Each class folder holds the same file names; image k of every class shares one layout (a block at the
    same place, as if rendered from one latent code) in a class-specific colour. Masks mirror the layout."""
    rng = np.random.default_rng(seed)
    layouts = {n: (int(rng.integers(8, size // 2)), int(rng.integers(8, size // 2))) for n in names}
    for c, cls in enumerate(CLASSES):
        (root / cls).mkdir(parents=True, exist_ok=True)
        if mask_root is not None:
            (mask_root / cls).mkdir(parents=True, exist_ok=True)
        for n in names:
            y, x = layouts[n]
            img = np.full((size, size, 3), 20 * c, np.uint8)
            img[y:y + size // 3, x:x + size // 3] = (200, 60 + 60 * c, 255 - 70 * c)
            Image.fromarray(img).save(root / cls / f"{n}.png")
            if mask_root is not None:
                mask = np.zeros((size, size, 3), np.uint8)
                mask[y:y + size // 3, x:x + size // 3] = 255
                Image.fromarray(mask).save(mask_root / cls / f"{n}.jpg", quality=100)
    return root


def test_classes_are_natural_sorted_and_pairs_share_file_names(tmp_path: Path) -> None:
    root = write_pairs(tmp_path / "syn", tmp_path / "syn_mask")
    ds = PriorImages(str(root), str(tmp_path / "syn_mask"), paired=True, per_class=3)
    assert ds.classes == CLASSES  # natural order: 7 < 10 < 158, as the official labels
    assert [Path(f).name for f in ds.files[:3]] == ["0.png", "1.png", "2.png"]  # "10" cut by per_class (natural)
    assert ds.channels == 12
    transform = TrainTransform(new_size=143, crop=128, flip=True)
    for index in range(len(ds)):
        x, label = ds.sample_item(index, random.Random(index), transform)
        assert x.shape == (12, 128, 128) and label.shape == (2,)
        a, ma, b, mb = split_item(x[None], paired=True)
        partner = Path(ds.files[index]).name
        assert label[0] == ds.labels[index] and partner in {Path(ds.files[i]).name for i in ds._partners[index]}
        # image, mask and partner got the same resize, crop and flip: the block sits where the mask says
        fg = (ma[0, 0] > 0)
        assert fg.any() and torch.equal(fg, mb[0, 0] > 0)
        assert (a[0, 0][fg].mean() - a[0, 0][~fg].mean()) > 0.5 and (b[0, 0][fg].mean() - b[0, 0][~fg].mean()) > 0.5


def test_missing_masks_and_unpaired_names_say_what_to_do(tmp_path: Path) -> None:
    root = write_pairs(tmp_path / "syn", None)
    with pytest.raises(DataSourceError, match="needs mask_root.*synImageNet291_mask"):
        PriorImages(str(root))
    (tmp_path / "masks").mkdir()
    with pytest.raises(DataSourceError, match=r"12 of 12 images have no mask.*7_bird/0\.jpg"):
        PriorImages(str(root), str(tmp_path / "masks"))
    lone = tmp_path / "lone"
    for i, cls in enumerate(CLASSES):
        (lone / cls).mkdir(parents=True)
        Image.new("RGB", (8, 8)).save(lone / cls / f"{i}.png")
    with pytest.raises(DataSourceError, match="no file name occurs in two class folders"):
        PriorImages(str(lone), masks="none", paired=True)


def test_mask_from_image_marks_the_ink() -> None:
    img = np.full((32, 32, 3), 250, np.uint8)
    img[8:20, 10:14] = 10
    mask = np.asarray(mask_from_image(Image.fromarray(img)))
    assert mask.shape == (32, 32, 3) and (mask[8:20, 10:14] == 255).all() and mask.sum() == 255 * 3 * 12 * 4


def _batch(n: int = 2, seed: int = 0, num_classes: int = 3) -> dict:
    g = torch.Generator().manual_seed(seed)
    img = lambda: torch.rand(n, 3, 128, 128, generator=g) * 2 - 1  # noqa: E731
    mask = lambda: (torch.rand(n, 3, 128, 128, generator=g) > 0.5).float() * 2 - 1  # noqa: E731
    unpaired = torch.cat([img(), mask()], 1)
    paired = torch.cat([img(), mask(), img(), mask()], 1)
    return {"unpaired": (unpaired, torch.randint(0, num_classes, (n,), generator=g)),
            "paired": (paired, torch.randint(0, num_classes, (n, 2), generator=g))}


def test_losses_match_prior_distillation() -> None:
    torch.manual_seed(0)
    m = GPUNITPrior(**TINY, num_classes=3)
    batch = _batch()
    start = {k: v.clone() for k, v in m.autoencoder.state_dict().items()}  # spectral-norm vectors move per call
    torch.manual_seed(1)
    got = m.ae_step(batch, {"AE": m.networks()["AE"]})

    # by hand, in the order of prior_distillation.py, with the same random draws
    ae = m.autoencoder
    ae.load_state_dict(start)
    x, l = batch["unpaired"]
    p, pl = batch["paired"]
    imgs = torch.cat([x[:, :3], p[:, :3], p[:, 6:9]])
    masks = torch.cat([x[:, 3:], p[:, 3:6], p[:, 9:]])
    labels = torch.cat([l, pl[:, 0], pl[:, 1]])
    masks16 = F.interpolate(masks, size=8, mode="bilinear")  # 2 x the 4 x 4 code at 128 px
    torch.manual_seed(1)
    noisy, content, style = ae.encode(imgs, 0.5)
    emb = ae.embed(labels)
    rec, rec_m = ae.decode(style, emb, noisy)
    style2 = [[s[0][2:6], s[1][2:6]] for s in style]
    _, trans_m = ae.decode(style2, emb[2:6], torch.cat([noisy[4:6], noisy[2:4]]))
    pred = ae.C(content)
    arec = F.mse_loss(rec, imgs)
    srec = F.l1_loss(rec_m, masks16) * 5
    fdist = F.l1_loss(content[2:4], content[4:6])
    sdist = F.l1_loss(trans_m, masks16[2:6]) * 5
    reg = torch.norm(content, p=2) * 0.001 + F.cross_entropy(pred, labels)
    for key, want in {"arec": arec, "srec": srec, "fdist": fdist, "sdist": sdist, "reg": reg}.items():
        torch.testing.assert_close(got[key], want.detach(), msg=key)
    torch.testing.assert_close(got["loss"].detach(), (arec + srec + fdist + sdist + reg).detach())


def test_gradient_reversal_makes_the_encoder_fool_the_classifier() -> None:
    torch.manual_seed(0)
    m = GPUNITPrior(**TINY, num_classes=3, lambda_app_rec=0, lambda_shape_rec=0, lambda_shape_dist=0,
                    lambda_feat_dist=0, lambda_reg=0)
    batch = _batch()
    start = {k: v.clone() for k, v in m.autoencoder.state_dict().items()}
    m.ae_step(batch, {"AE": m.networks()["AE"]})["loss"].backward()
    enc = m.autoencoder.contentE.layer6[1].conv.weight_orig
    cls = m.autoencoder.C.fc3.weight
    with_grl = (enc.grad.clone(), cls.grad.clone())
    m.zero_grad()
    m.autoencoder.load_state_dict(start)
    # the same cross-entropy without the reversal layer: the classifier gradient is the same, the encoder's flips
    imgs, labels, _, _ = m._unpack(batch)
    F.cross_entropy(m.autoencoder.C(m.autoencoder.contentE(imgs)), labels).backward()
    assert enc.grad.abs().sum() > 0
    torch.testing.assert_close(with_grl[0], -enc.grad)
    torch.testing.assert_close(with_grl[1], cls.grad)


def test_defaults_are_official() -> None:
    cfg = GPUNITPrior.__init__.__wrapped__.__kwdefaults__
    assert (cfg["lambda_app_rec"], cfg["lambda_shape_rec"], cfg["lambda_feat_dist"], cfg["lambda_shape_dist"]) == (1.0, 5.0, 1.0, 5.0)
    assert (cfg["lambda_reg"], cfg["lambda_class"], cfg["lr"], cfg["betas"]) == (0.001, 1.0, 2e-4, (0.9, 0.999))
    assert (cfg["img_size"], cfg["nf"], cfg["num_classes"], cfg["noise"]) == (256, 64, 292, 0.2)
    m = GPUNITPrior(**TINY)
    assert m.make_optimizers()["AE"].defaults["betas"] == (0.9, 0.999) and m.ema_specs() == []


def test_no_masks_is_refused_unless_the_shape_losses_are_off() -> None:
    m = GPUNITPrior(**TINY, num_classes=3)
    b = _batch()
    nomask = {"unpaired": (b["unpaired"][0][:, :3], b["unpaired"][1]),
              "paired": (torch.cat([b["paired"][0][:, :3], b["paired"][0][:, 6:9]], 1), b["paired"][1])}
    with pytest.raises(ValueError, match="no shape masks.*mask_root.*lambda_shape_rec=0"):
        m.ae_step(nomask, m.networks())
    m2 = GPUNITPrior(**TINY, num_classes=3, lambda_shape_rec=0, lambda_shape_dist=0)
    out = m2.ae_step(nomask, m2.networks())
    assert "srec" not in out and torch.isfinite(out["loss"])


def test_trainer_run_exports_a_content_encoder_for_stage_two(tmp_path: Path) -> None:
    syn = write_pairs(tmp_path / "syn", tmp_path / "syn_mask")
    real = write_pairs(tmp_path / "real", tmp_path / "real_mask", names=("a", "b"), seed=1)
    recipe = {
        "name": "prior_tiny",
        "method": {"name": "gpunit_prior", **TINY, "num_classes": "auto"},
        "data": {"train": {"type": "gpunit_prior_images", "root": str(real), "mask_root": str(tmp_path / "real_mask")},
                 "streams": {"paired": {"type": "gpunit_prior_images", "root": str(syn),
                                        "mask_root": str(tmp_path / "syn_mask"), "paired": True}},
                 "new_size": 143, "crop": 128, "num_workers": 0},
        "train": {"steps": 2, "batch_size": 2, "log_every": 1, "sample_every": 2, "save_every": 2, "sample_count": 2,
                  "run_dir": str(tmp_path / "run"), "trackers": "none", "progress": False},
    }
    trainer = Trainer(validate(recipe))
    assert trainer.method.config["num_classes"] == 3
    e0 = {k: v.clone() for k, v in trainer.method.content_encoder.state_dict().items()}
    run = trainer.fit()
    export = run / "export"
    assert sorted(p.name for p in export.iterdir()) == ["autoencoder.safetensors", "config.json", "content_encoder.pt"]
    enc = load_content_encoder(export / "content_encoder.pt", input_size=128)
    assert any(not torch.equal(e0[k], v) for k, v in enc.state_dict().items())
    assert (run / "samples" / "step_00000002.png").exists()
    # Stage II starts from it
    g = i2ikit.build("gpunit", img_size=128, nef=4, ngf=4, discriminator={"nf": 4}, style_nef=4, style_dim=8, noise_dim=4,
                     content_encoder=str(export / "content_encoder.pt"))
    for k, v in enc.state_dict().items():
        assert torch.equal(g.content_encoder.state_dict()[k], v), k
    # and the export rebuilds
    again = i2ikit.build(pretrained=export)
    assert isinstance(again, GPUNITPrior)


def test_load_official_stage_one_snapshot(tmp_path: Path) -> None:
    src = GPUNITPrior(**TINY, num_classes=5)
    file = tmp_path / "prior_distillation-45000.pt"
    torch.save({"ae_ema": src.autoencoder.state_dict(), "ae_optim": {}}, file)
    m = GPUNITPrior.load_official(file, img_size=128)
    assert m.config["num_classes"] == 5 and m.config["nf"] == 4
    for k, v in src.autoencoder.state_dict().items():
        assert torch.equal(m.autoencoder.state_dict()[k], v), k
    with pytest.raises(ValueError, match="not a GP-UNIT Stage-I snapshot"):
        torch.save(src.content_encoder.state_dict(), tmp_path / "content_encoder.pt")
        GPUNITPrior.load_official(tmp_path / "content_encoder.pt")


def two_stage_recipe(tmp_path: Path) -> Path:
    """A tiny Stage I + Stage II recipe (task.yaml, with the stage in prior.yaml) on data written here."""
    syn = write_pairs(tmp_path / "syn", None)
    images = write_pairs(tmp_path / "real", None, names=("a", "b", "c"), seed=1)
    prior = {
        "name": "prior", "method": {"name": "gpunit_prior", **TINY, "num_classes": "auto", "lambda_shape_rec": 0,
                                    "lambda_shape_dist": 0},
        "data": {"train": {"type": "gpunit_prior_images", "root": str(images), "masks": "none"},
                 "streams": {"paired": {"type": "gpunit_prior_images", "root": str(syn), "masks": "none", "paired": True}},
                 "new_size": 128, "crop": 128, "num_workers": 0},
        "train": {"steps": 2, "batch_size": 2, "sample_every": 2, "save_every": 2, "sample_count": 2,
                  "run_dir": str(tmp_path / "runs" / "prior"), "trackers": "none", "progress": False},
    }
    import yaml

    (tmp_path / "prior.yaml").write_text(yaml.safe_dump(prior))
    task = {
        "name": "task",
        "stages": {"prior": {"base": "prior.yaml"}},
        "method": {"name": "gpunit", "img_size": 128, "nef": 4, "ngf": 4, "discriminator": {"nf": 4}, "style_nef": 4, "style_dim": 8,
                   "noise_dim": 4, "sampler_epochs": 2, "content_encoder": "${stages.prior.export}/content_encoder.pt",
                   "source_classes": 0, "target_classes": 2},
        "data": {"train": {"type": "image_folder", "root": str(images), "classes": CLASSES},
                 "streams": {"source": {"classes": ["7_bird"]}, "target": {"classes": ["158_dog"]}},
                 "new_size": 128, "crop": 128, "num_workers": 0},
        "train": {"steps": 2, "batch_size": 2, "sample_every": 2, "save_every": 2, "sample_count": 2,
                  "run_dir": str(tmp_path / "runs" / "task"), "trackers": "none", "progress": False},
    }
    (tmp_path / "task.yaml").write_text(yaml.safe_dump(task))
    return tmp_path / "task.yaml"


def test_two_stage_recipe_runs_stage_one_then_two_and_skips_a_finished_stage(tmp_path: Path, capsys) -> None:
    from i2ikit.run import main

    two_stage_recipe(tmp_path)
    # a missing dataset of the last stage stops everything before the first stage trains
    assert main([str(tmp_path / "task.yaml"), f"data.train.root={tmp_path / 'nowhere'}"]) == 2
    assert "nowhere" in capsys.readouterr().err and not (tmp_path / "runs").exists()
    assert main([str(tmp_path / "task.yaml")]) == 0
    out = capsys.readouterr().out
    assert "stage prior: training" in out
    enc = load_content_encoder(tmp_path / "runs" / "prior" / "export" / "content_encoder.pt", input_size=128)
    model = i2ikit.build(pretrained=tmp_path / "runs" / "task" / "export")
    for k, v in enc.state_dict().items():
        if not k.endswith(("weight_u", "weight_v")):  # Stage II keeps the encoder in training mode: u, v move
            assert torch.equal(model.content_encoder.state_dict()[k], v), k
    assert (tmp_path / "runs" / "task" / "export" / "translation_model.pt").exists()
    # a second run skips the finished stage and finds the task finished too
    assert main([str(tmp_path / "task.yaml")]) == 0
    assert "already holds step 2; skipped" in capsys.readouterr().out


def test_vgg_term_uses_the_local_file_and_stays_out_of_the_export(tmp_path: Path) -> None:
    from torchvision.models.vgg import cfgs, make_layers

    torch.manual_seed(0)
    features = make_layers(cfgs["E"], batch_norm=False)
    file = tmp_path / "vgg19-dcbb9e9d.pth"
    torch.save({f"features.{k}": v for k, v in features.state_dict().items()}, file)
    with_vgg = GPUNITPrior(**TINY, num_classes=3, vgg_weights=str(file))
    plain = GPUNITPrior(**TINY, num_classes=3, vgg_weights=None)
    plain.load_state_dict(with_vgg.state_dict())
    batch = _batch()
    torch.manual_seed(1)
    a = with_vgg.ae_step(batch, with_vgg.networks())["arec"]
    torch.manual_seed(1)
    b = plain.ae_step(batch, plain.networks())["arec"]
    assert a > b  # MSE + VGG vs MSE alone, same draws
    assert not any("vgg" in k or "features" in k for k in with_vgg.state_dict())
    GPUNITPrior.check_inputs({"vgg_weights": str(file)})
    with pytest.raises(FileNotFoundError, match="vgg19-dcbb9e9d.pth"):
        GPUNITPrior.check_inputs({"vgg_weights": str(tmp_path / "nope.pth")})


def test_two_stage_recipe_under_two_process_ddp(tmp_path: Path) -> None:
    """Both stages in one torchrun launch: Stage I must not tear down the process group Stage II needs."""
    import socket

    from conftest import run_cli

    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port = sock.getsockname()[1]
    task = two_stage_recipe(tmp_path)
    out = run_cli(["-m", "torch.distributed.run", "--nproc_per_node", "2", "--master_port", str(port),
                   "-m", "i2ikit.run", str(task)], env={"ACCELERATE_USE_CPU": "true", "OMP_NUM_THREADS": "1"})
    assert out.returncode == 0, out.stderr[-4000:]
    assert out.stdout.count("stage prior: training") == 1  # printed by rank 0 only
    for run in ("prior", "task"):
        assert len((tmp_path / "runs" / run / "losses.jsonl").read_text().splitlines()) == 2, run
    assert (tmp_path / "runs" / "task" / "export" / "translation_model.pt").exists()


# ---- declared constraints, class needs and translation modes -------------------------------------
def test_declared_constraints_min_classes_and_translate_modes() -> None:
    import inspect

    from i2ikit.recipe import check_method_kwargs

    check_method_kwargs(GPUNITPrior, {}, "x")  # the defaults satisfy the constraints
    check_method_kwargs(GPUNITPrior, dict(TINY), "x")
    assert set(GPUNITPrior.constraints) <= set(inspect.signature(GPUNITPrior.__init__).parameters)
    assert set(GPUNITPrior.min_classes) <= set(GPUNITPrior.data_streams)
    assert GPUNITPrior.min_classes["paired"] == 2  # cross-class pairs
    assert GPUNITPrior.translate_modes == ()  # Stage I does not translate


@pytest.mark.parametrize("key,bad", [("img_size", 64), ("flip_ratio", 1.5), ("lambda_shape_rec", -5.0), ("nf", 0),
                                     ("betas", [0.9, 1.0])])
def test_out_of_range_values_fail_before_building(key, bad, monkeypatch) -> None:
    from i2ikit.errors import ConfigError
    import i2ikit_gpunit.prior as prior_module

    def boom(*a, **k):
        raise AssertionError("a network was built")

    monkeypatch.setattr(prior_module, "PriorAutoEncoder", boom)
    with pytest.raises(ConfigError, match=f"'gpunit_prior'.*{key}") as err:
        i2ikit.build("gpunit_prior", **{**TINY, key: bad})
    assert key in str(err.value)


def test_init_from_a_damaged_export_names_the_file(tmp_path: Path) -> None:
    from i2ikit.errors import CheckpointError, ConfigError, MissingFileError

    with pytest.raises(ConfigError, match="'gpunit_prior'.*img_size"):
        GPUNITPrior(**{**TINY, "img_size": 192})
    export = tmp_path / "export"
    export.mkdir()
    with pytest.raises(MissingFileError, match="autoencoder.safetensors"):
        GPUNITPrior(**TINY, init_from=str(export))
    (export / "autoencoder.safetensors").write_bytes(b"\x10\x00\x00\x00\x00\x00\x00\x00{\"a\": 1")  # cut short
    with pytest.raises(CheckpointError, match="autoencoder.safetensors"):
        GPUNITPrior(**TINY, init_from=str(export))
