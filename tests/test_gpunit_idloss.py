"""GP-UNIT's identity loss (``use_idloss``): the IR-SE50 state-dict layout of TreB1eN's ``model_ir_se50.pth``,
the loss itself (face crop, cosine, gradients), its place in the G step, and streams with datasets of their
own (``domains_from_streams``, the Dog -> Face recipe). The full IR-SE50 runs here (the official network has
no width option): batch 2 at 112 px takes about a second on one CPU thread."""
from __future__ import annotations

import json
from pathlib import Path

import pytest
import torch
import torch.nn.functional as F

from i2ikit.method import ExportData
from i2ikit.recipe import validate
from i2ikit.train.trainer import Trainer
from i2ikit_gpunit import GPUNIT
from i2ikit_gpunit.arcface import IDLoss, IRSE50, load_ir_se50

from conftest import ROOT, make_image_folder

TINY = {"img_size": 64, "nef": 8, "ngf": 8, "discriminator": {"nf": 8}, "style_nef": 8, "style_dim": 16, "noise_dim": 8}

pytestmark = pytest.mark.filterwarnings("ignore:GP-UNIT")


def official_ir_se50_shapes() -> dict[str, tuple[int, ...]]:
    """Key -> shape of TreB1eN's ``Backbone(112, 50, mode='ir_se')``, written out from the official
    ``model_irse.py`` / ``helpers.py`` structure independently of the plugin's module."""
    out: dict[str, tuple[int, ...]] = {}

    def bn(prefix: str, c: int) -> None:
        for k in ("weight", "bias", "running_mean", "running_var"):
            out[f"{prefix}.{k}"] = (c,)
        out[f"{prefix}.num_batches_tracked"] = ()

    out["input_layer.0.weight"] = (64, 3, 3, 3)
    bn("input_layer.1", 64)
    out["input_layer.2.weight"] = (64,)
    bn("output_layer.0", 512)
    out["output_layer.3.weight"] = (512, 512 * 7 * 7)
    out["output_layer.3.bias"] = (512,)
    bn("output_layer.4", 512)
    units = []
    for c_in, depth, n in ((64, 64, 3), (64, 128, 4), (128, 256, 14), (256, 512, 3)):
        units += [(c_in, depth)] + [(depth, depth)] * (n - 1)
    for i, (c_in, depth) in enumerate(units):
        p = f"body.{i}"
        if c_in != depth:
            out[f"{p}.shortcut_layer.0.weight"] = (depth, c_in, 1, 1)
            bn(f"{p}.shortcut_layer.1", depth)
        bn(f"{p}.res_layer.0", c_in)
        out[f"{p}.res_layer.1.weight"] = (depth, c_in, 3, 3)
        out[f"{p}.res_layer.2.weight"] = (depth,)
        out[f"{p}.res_layer.3.weight"] = (depth, depth, 3, 3)
        bn(f"{p}.res_layer.4", depth)
        out[f"{p}.res_layer.5.fc1.weight"] = (depth // 16, depth, 1, 1)
        out[f"{p}.res_layer.5.fc2.weight"] = (depth, depth // 16, 1, 1)
    return out


@pytest.fixture(scope="module")
def ir_se50_file(tmp_path_factory) -> Path:
    """A random model_ir_se50.pth with the official keys and shapes (running_var positive)."""
    g = torch.Generator().manual_seed(0)
    sd = {}
    for k, shape in official_ir_se50_shapes().items():
        if k.endswith("num_batches_tracked"):
            sd[k] = torch.tensor(7)
        elif k.endswith("running_var"):
            sd[k] = torch.rand(shape, generator=g) + 0.5
        elif k.endswith(".weight") and len(shape) > 1:
            fan_in = torch.tensor(shape[1:]).prod().item()
            sd[k] = torch.randn(shape, generator=g) / fan_in ** 0.5
        else:
            sd[k] = torch.randn(shape, generator=g) * 0.1 + (1.0 if k.endswith("weight") else 0.0)
    path = tmp_path_factory.mktemp("weights") / "model_ir_se50.pth"
    torch.save(sd, path)
    return path


def test_official_ir_se50_file_loads_strictly(ir_se50_file: Path, tmp_path: Path) -> None:
    shapes = official_ir_se50_shapes()
    # hand-checked samples of the official layout
    assert shapes["input_layer.0.weight"] == (64, 3, 3, 3) and shapes["output_layer.3.weight"] == (512, 25088)
    assert shapes["body.3.res_layer.5.fc1.weight"] == (8, 128, 1, 1) and shapes["body.23.res_layer.5.fc2.weight"] == (512, 32, 1, 1)
    assert "body.0.shortcut_layer.0.weight" not in shapes and shapes["body.21.shortcut_layer.0.weight"] == (512, 256, 1, 1)
    own = IRSE50().state_dict()
    assert list(own) == list(shapes)  # same names, same (official) order
    assert {k: tuple(v.shape) for k, v in own.items()} == shapes
    net = load_ir_se50(ir_se50_file)
    ref = torch.load(ir_se50_file, weights_only=True)
    assert all(torch.equal(v, ref[k]) for k, v in net.state_dict().items())
    # a file from before BatchNorm counted batches (no num_batches_tracked) loads too
    old = {k: v for k, v in ref.items() if not k.endswith("num_batches_tracked")}
    torch.save(old, tmp_path / "old.pth")
    load_ir_se50(tmp_path / "old.pth")
    # the wrong network is refused with a readable message
    torch.save({k: v for k, v in ref.items() if not k.startswith("body.23.")}, tmp_path / "bad.pth")
    with pytest.raises(ValueError, match="missing key"):
        load_ir_se50(tmp_path / "bad.pth")


def test_face_region_is_the_official_crop_and_pool() -> None:
    g = torch.Generator().manual_seed(1)
    x = torch.rand(1, 3, 256, 256, generator=g)
    region = IDLoss.face_region(x)
    assert region.shape == (1, 3, 112, 112)
    crop = x[:, :, 35:223, 32:220]  # 188 x 188
    for i, j in ((0, 0), (5, 77), (111, 111), (56, 3)):  # adaptive pooling windows [floor(i*188/112), ceil((i+1)*188/112))
        r0, r1 = (i * 188) // 112, -((-(i + 1) * 188) // 112)
        c0, c1 = (j * 188) // 112, -((-(j + 1) * 188) // 112)
        torch.testing.assert_close(region[0, :, i, j], crop[0, :, r0:r1, c0:c1].mean(dim=(1, 2)))
    # a 64 px image is first average-pooled up to 256, i.e. each pixel repeated 4 x 4
    small = torch.rand(2, 3, 64, 64, generator=g)
    big = small.repeat_interleave(4, 2).repeat_interleave(4, 3)
    torch.testing.assert_close(IDLoss.face_region(small), IDLoss.face_region(big))


def test_id_loss_values_and_gradients() -> None:
    torch.manual_seed(0)
    loss_fn = IDLoss(IRSE50())
    loss_fn.train()  # a parent switching to training mode leaves the face network in eval mode
    assert not loss_fn.facenet.training and not any(p.requires_grad for p in loss_fn.facenet.parameters())
    g = torch.Generator().manual_seed(2)
    y = (torch.rand(2, 3, 64, 64, generator=g) * 2 - 1).requires_grad_(True)
    assert loss_fn(y.detach().clone(), y.detach()).abs().item() < 1e-5
    yhat = (torch.rand(2, 3, 64, 64, generator=g) * 2 - 1).requires_grad_(True)
    loss = loss_fn(yhat, y)
    with torch.no_grad():
        a, b = loss_fn.facenet(IDLoss.face_region(yhat)), loss_fn.facenet(IDLoss.face_region(y))
        ref = (1 - F.cosine_similarity(a, b, dim=1)).mean()
    torch.testing.assert_close(loss.detach(), ref, rtol=1e-5, atol=1e-6)
    assert loss.item() > 1e-3
    loss.backward()
    assert yhat.grad is not None and yhat.grad.abs().sum() > 0
    assert y.grad is None  # the target's embedding is detached
    assert all(p.grad is None for p in loss_fn.facenet.parameters())


def test_g_step_adds_the_weighted_id_term_and_keeps_arcface_out_of_the_model(ir_se50_file: Path) -> None:
    torch.manual_seed(0)
    m = GPUNIT(**TINY, flip_style=False, use_idloss=True, lambda_id=2.0, id_weights=str(ir_se50_file)).eval()
    g = torch.Generator().manual_seed(3)
    x, y = torch.rand(2, 3, 64, 64, generator=g) * 2 - 1, torch.rand(2, 3, 64, 64, generator=g) * 2 - 1
    batch = {"source": (x, torch.tensor([0, 0])), "target": (y, torch.tensor([1, 1]))}
    losses = m.g_step(batch, {"G": m.networks()["G"], "D": m.D})
    with torch.no_grad():
        yhat, _ = m.G(m.content_encoder(x, get_feature=True), y)
        ref = 2.0 * m._idloss(yhat, y)  # identity of the target image y, not of the source x
    torch.testing.assert_close(losses["id"], ref, rtol=1e-4, atol=1e-6)
    others = sum(losses[k] for k in ("g_adv", "con", "sty", "msk", "rec"))
    torch.testing.assert_close(losses["loss"].detach(), others + losses["id"], rtol=1e-5, atol=1e-5)
    # the loss network is no part of the model: not exported, not checkpointed, never in training mode
    m.train()
    assert not m._idloss.module.facenet.training
    assert not any(k.startswith("_idloss") for k in m.state_dict()) and "_idloss" not in m.export_modules()


def test_id_weights_are_checked_before_training(tmp_path: Path, monkeypatch, ir_se50_file: Path) -> None:
    monkeypatch.setenv("I2IKIT_WEIGHTS", str(tmp_path / "weights"))
    monkeypatch.setenv("TORCH_HOME", str(tmp_path / "torch"))
    monkeypatch.setenv("HOME", str(tmp_path))
    GPUNIT.check_inputs({"use_idloss": False})
    with pytest.raises(FileNotFoundError, match="model_ir_se50.pth") as err:
        GPUNIT.check_inputs({"use_idloss": True})  # id_weights defaults to auto
    assert "drive.google.com" in str(err.value)
    GPUNIT.check_inputs({"use_idloss": True, "id_weights": str(ir_se50_file)})
    (tmp_path / "weights").mkdir()
    (tmp_path / "weights" / "model_ir_se50.pth").symlink_to(ir_se50_file)
    GPUNIT.check_inputs({"use_idloss": True, "id_weights": "auto"})
    with pytest.raises(ValueError, match="id_weights"):
        GPUNIT(**TINY, use_idloss=True, id_weights=None)


def test_domains_from_streams_takes_each_stream_whole() -> None:
    m = GPUNIT(**TINY, domains_from_streams=True, sampler_epochs=1)
    g = torch.Generator().manual_seed(4)
    a, b = torch.rand(3, 3, 64, 64, generator=g), torch.rand(4, 3, 64, 64, generator=g)
    zeros3, zeros4 = torch.zeros(3, dtype=torch.long), torch.zeros(4, dtype=torch.long)
    x, y = m.split_domains({"source": (a, zeros3), "target": (b, zeros4)})  # both label 0: no filtering
    assert torch.equal(x, a) and torch.equal(y, b[:3])
    # by label (the default) the same batch has no target-domain image
    with pytest.raises(ValueError, match="no image of the target domain"):
        GPUNIT(**TINY).split_domains({"source": (a, zeros3), "target": (b, zeros4)})
    # the latent sampler is fitted on every image of stream target
    seen = []

    def one_pass(stream: str):
        seen.append(stream)
        yield b[:2], zeros4[:2]
        yield b[2:], zeros4[2:]

    m.before_export(ExportData(step=1, seed=0, device=torch.device("cpu"), batch_size=2, one_pass=one_pass))
    assert seen == ["target"] and m.sampler_fit_info["codes"] == 4


def test_dog2face_recipe_checks_arcface_and_trains_on_own_streams(tmp_path: Path, monkeypatch, capsys,
                                                                   ir_se50_file: Path) -> None:
    from i2ikit.recipe import load_recipe
    from i2ikit.run import main

    monkeypatch.chdir(tmp_path)
    monkeypatch.setenv("I2IKIT_WEIGHTS", str(tmp_path / "weights"))
    monkeypatch.setenv("TORCH_HOME", str(tmp_path / "torch"))
    monkeypatch.setenv("HOME", str(tmp_path))
    dogs = make_image_folder(tmp_path / "afhq", classes=1, per_class=4, size=64)
    faces = make_image_folder(tmp_path / "faces", classes=2, per_class=3, size=64, seed=1)
    (tmp_path / "weights").mkdir()
    (tmp_path / "weights" / "vgg19-dcbb9e9d.pth").write_bytes(b"placeholder")  # only its presence is checked
    (tmp_path / "ce.pt").write_bytes(b"placeholder")
    data = [f"data.train.root={dogs}", "data.train.classes=[class_00]", "data.streams.source.classes=[class_00]",
            f"data.streams.target.root={faces}", "data.streams.target.classes=[class_01]"]
    recipe = str(ROOT / "recipes" / "gpunit_dog2face.yaml")
    assert main([recipe, "stages=null", "method.content_encoder=ce.pt", *data]) == 2
    err = capsys.readouterr().err
    assert "model_ir_se50.pth" in err and "drive.google.com" in err and "nothing was trained" in err
    (tmp_path / "weights" / "model_ir_se50.pth").symlink_to(ir_se50_file)
    assert main(["--check", recipe, "stages=null", "method.content_encoder=ce.pt", *data]) == 0

    # one tiny training step with the recipe's method settings: both streams' labels are 0
    r = load_recipe(recipe, ["stages=null", "method.content_encoder=null", "method.vgg_weights=null", *data])
    method = {**r.method, **TINY, "sampler_epochs": 1}
    assert method["use_idloss"] and method["domains_from_streams"] and method["style_layer"] == 5
    spec = r.to_dict()
    spec.update(method=method, stages={})
    spec["data"].update(new_size=64, crop=64, num_workers=0)
    spec["train"] = {"steps": 1, "batch_size": 2, "log_every": 1, "sample_every": 1, "save_every": 1,
                     "sample_count": 2, "run_dir": str(tmp_path / "run"), "trackers": "none", "progress": False}
    trainer = Trainer(validate(spec))
    assert [s.labels for s in (trainer.stream_sources["source"], trainer.stream_sources["target"])] == [[0] * 4, [0] * 3]
    run = trainer.fit()
    logs = [json.loads(line) for line in (run / "losses.jsonl").read_text().splitlines()]
    assert torch.isfinite(torch.tensor(logs[0]["gen/id"]))
    assert trainer.method.sampler_fit_info["codes"] == 3  # every face of stream target
    exported = {p.name for p in (run / "export").iterdir()}
    assert "G_ema.safetensors" in exported and not any("idloss" in n or "vgg" in n for n in exported)
