"""The DeepI2I training method: phases and freezing through the real trainer, losses, translation,
BigGAN / DeepI2I folders, the official HDF5 data layout, recipes, and DDP on two CPU processes.

Networks are tiny (64 px, ch 8) so everything runs on the CPU in seconds.
"""
from __future__ import annotations

import json
import pickle
import socket
from pathlib import Path

import numpy as np
import pytest
import torch
import torch.nn.functional as F
from PIL import Image

import i2ikit
from i2ikit.data import DataSourceError
from i2ikit.recipe import load_recipe, validate
from i2ikit.train import checkpoint as ckpt
from i2ikit.train.trainer import Trainer
from i2ikit_deepi2i import DeepI2I, HDF5Images, feature_reconstruction_loss, official_class_order, save_deepi2i_weights, write_hdf5
from i2ikit_deepi2i import translate as network_translate

from conftest import ROOT, make_image_folder, run_cli, write_yaml

TINY = {"resolution": 64, "ch": 8, "num_classes": 3}
# Most tiny models here train without BigGAN weights on purpose; the warning is checked once below.
pytestmark = pytest.mark.filterwarnings("ignore:DeepI2I is training without BigGAN weights")


def tiny(**kw) -> DeepI2I:
    torch.manual_seed(0)
    return DeepI2I(**{**TINY, **kw})


def params(module: torch.nn.Module) -> dict[str, torch.Tensor]:
    return {k: v.detach().clone() for k, v in module.named_parameters()}


def changed(before: dict[str, torch.Tensor], after: dict[str, torch.Tensor]) -> list[str]:
    return [k for k in before if not torch.equal(before[k], after[k])]


def deepi2i_recipe(data_root: Path, run_dir: Path, method: dict | None = None, **train) -> dict:
    return {
        "name": "tiny_deepi2i",
        "method": {"name": "deepi2i", "resolution": 64, "ch": 8, "num_classes": "auto", **(method or {})},
        "data": {"train": {"type": "image_folder", "root": str(data_root)}, "new_size": 64, "crop": 64, "flip": False, "num_workers": 0},
        "train": {"steps": 4, "batch_size": 2, "log_every": 1, "sample_every": 2, "save_every": 100, "sample_count": 2,
                  "run_dir": str(run_dir), "trackers": "none", "progress": False, **train},
    }


@pytest.fixture
def folder64(tmp_path: Path) -> Path:
    return make_image_folder(tmp_path / "images", classes=3, per_class=4, size=64)


# ------------------------------------------------------------------------------------------------
# networks, freezing, schedule
# ------------------------------------------------------------------------------------------------
def test_registered_and_built_with_frozen_encoder_and_heads() -> None:
    assert "deepi2i" in i2ikit.list_models()
    assert i2ikit.get_registry().get("dataset", "hdf5").obj is HDF5Images
    m = tiny()
    nets = m.networks()
    assert set(nets) == {"G", "D", "A"}  # E is frozen: not handed to the trainer
    assert not any(p.requires_grad for p in m.E.parameters())
    for head in (m.A.linear, m.A.embed):
        assert not any(p.requires_grad for p in head.parameters())
    # the views share the networks' tensors and keys, without the unused heads
    assert set(nets["G"].state_dict()) == set(m.G.state_dict())
    assert set(nets["A"].state_dict()) == {k for k in m.A.state_dict() if k.startswith("blocks.")}
    view_params, own_params = list(nets["G"].parameters()), list(m.G.parameters())
    assert view_params and len(view_params) == len(own_params)
    assert all(a is b for a, b in zip(view_params, own_params))
    # nothing is saved twice: the export holds exactly G, D, E, A
    assert sorted(m.export_modules()) == ["A", "D", "E", "G"]
    s = tiny(from_scratch=True)
    assert set(s.networks()) == {"G", "D", "A", "E"}
    assert set(s.networks()["E"].state_dict()) == {k for k in s.E.state_dict() if k.startswith("blocks.")}
    assert not any(p.requires_grad for head in (s.E.linear, s.E.embed) for p in head.parameters())
    assert s.injection_weights == {4: 1.0, 8: 1.0, 16: 1.0, 32: 0.1} and m.injection_weights == {4: 0.1, 8: 0.1, 16: 0.1, 32: 0.1}
    assert m.feature_loss_weights == {4: 0.1, 8: 0.1, 16: 0.1, 32: 0.01}


def test_phase_schedule_and_optimizers() -> None:
    m = tiny(phase_one_iters=2)
    steps = {i: [(s.name, s.trains, s.optimizers) for s in m.training_steps(i)] for i in (0, 1, 2, 10)}
    phase_one = [("dis", ("D",), ("D",)), ("gen", ("A",), ("A",))]
    phase_two = [("dis", ("D",), ("D",)), ("gen", ("G", "A"), ("G", "A"))]
    assert steps[0] == steps[1] == phase_one and steps[2] == steps[10] == phase_two
    assert [s.trains for s in tiny(from_scratch=True, phase_one_iters=2).training_steps(0)] == [("D",), ("G", "A", "E")]
    assert tiny().in_phase_one(499) and not tiny().in_phase_one(500)  # the official 500 iterations
    opts = m.make_optimizers()
    assert sorted(opts) == ["A", "D", "G"]
    for name, lr in (("G", 1e-4), ("D", 4e-4), ("A", 4e-4)):
        group = opts[name].param_groups[0]
        assert isinstance(opts[name], torch.optim.Adam)
        assert (group["lr"], tuple(group["betas"]), group["eps"], group["weight_decay"]) == (lr, (0.0, 0.999), 1e-6, 0.0)
    a_params = {id(p) for p in opts["A"].param_groups[0]["params"]}
    assert a_params == {id(p) for p in m.A.blocks.parameters()}  # heads are not optimised
    assert tiny(from_scratch=True).make_optimizers()["E"].param_groups[0]["lr"] == 4e-4
    with pytest.raises(ValueError, match="exclude each other"):
        DeepI2I(**TINY, biggan="x", from_scratch=True)
    with pytest.raises(ValueError, match="class_map rows"):
        DeepI2I(**TINY, class_map=[0, 5])


def test_trainer_freezes_per_phase_and_switches_on_time(tmp_path: Path, folder64: Path) -> None:
    """Two phase-one iterations, then two phase-two iterations, run by the real trainer."""
    run = tmp_path / "run"
    trainer = Trainer(validate(deepi2i_recipe(folder64, run, {"phase_one_iters": 2})))
    method = trainer.method
    snaps: dict[int, dict[str, dict[str, torch.Tensor]]] = {}
    returned: dict[int, list[tuple[str, tuple[str, ...]]]] = {}
    original = method.training_steps

    def recording(i: int):
        snaps[i] = {n: params(getattr(method, n)) for n in "GDEA"}
        steps = original(i)
        returned[i] = [(s.name, s.trains) for s in steps]
        return steps

    method.training_steps = recording
    with pytest.warns(UserWarning, match="without BigGAN weights"):
        trainer.fit()
    final = {n: params(getattr(method, n)) for n in "GDEA"}
    assert returned[1] == [("dis", ("D",)), ("gen", ("A",))]
    assert returned[2] == [("dis", ("D",)), ("gen", ("G", "A"))]
    heads = lambda d: {k: v for k, v in d.items() if not k.startswith("blocks.")}  # noqa: E731
    # phase one (iterations 0, 1): G and E unchanged, D and the adaptor trained
    assert changed(snaps[0]["G"], snaps[2]["G"]) == [] and changed(snaps[0]["E"], snaps[2]["E"]) == []
    assert changed(snaps[0]["D"], snaps[2]["D"]) and changed(snaps[0]["A"], snaps[2]["A"])
    # phase two (iterations 2, 3): G trained too; E still unchanged; the adaptor's heads never change
    assert changed(snaps[2]["G"], final["G"]) and changed(snaps[2]["D"], final["D"]) and changed(snaps[2]["A"], final["A"])
    assert changed(snaps[0]["E"], final["E"]) == []
    assert changed(heads(snaps[0]["A"]), heads(final["A"])) == []
    # logs, sample grid, export
    logs = [json.loads(line) for line in (run / "losses.jsonl").read_text().splitlines()]
    assert [r["step"] for r in logs] == [1, 2, 3, 4]
    assert {"dis/d_real", "dis/d_fake", "gen/g_adv", "gen/g_feat"} <= set(logs[0])
    assert (run / "samples" / "columns.txt").read_text().strip() == "source | to class 0 | to class 1 | to class 2"
    assert sorted(p.name for p in (run / "samples").glob("*.png")) == ["step_00000002.png", "step_00000004.png"]
    model = i2ikit.build(pretrained=run / "export")
    x = torch.rand(2, 3, 64, 64) * 2 - 1
    z = torch.randn(2, model.G.dim_z)
    assert torch.allclose(model.translate(x, 1, z), method.translate(x, 1, z), atol=1e-6)


def test_ema_follows_biggan_start_rule() -> None:
    m = tiny(ema_decay=0.9, ema_start=2)
    (spec,) = m.ema_specs()
    assert (spec.target, spec.source, spec.buffers) == ("G_ema", "G", True)
    m.training_steps(1)
    assert spec.decay == 0.0  # before ema_start the EMA copies G
    m.training_steps(2)
    assert spec.decay == 0.9
    assert tiny().ema_specs() == [] and not hasattr(tiny(), "G_ema")  # DeepI2I: no EMA


# ------------------------------------------------------------------------------------------------
# losses
# ------------------------------------------------------------------------------------------------
def test_feature_reconstruction_loss_intended_and_official_forms() -> None:
    g = torch.Generator().manual_seed(0)
    b = 3
    feats = {s: torch.randn(2 * b, 4, s, s, generator=g) for s in (4, 8, 16, 32)}
    w = {4: 0.1, 8: 0.1, 16: 0.1, 32: 0.01}
    intended = sum(w[s] * ((feats[s][:b] - feats[s][b:]) ** 2).mean() for s in w)
    official = sum(w[s] * ((feats[s][0] - feats[s][1]) ** 2).mean() for s in w)
    assert torch.allclose(feature_reconstruction_loss(feats, w), intended)
    assert torch.allclose(feature_reconstruction_loss(feats, w, "official"), official)
    # sizes without a weight are skipped, as the official loop over D_fea_w
    assert torch.allclose(feature_reconstruction_loss(feats, {4: 1.0}), ((feats[4][:b] - feats[4][b:]) ** 2).mean())


def _batch(b: int = 2, seed: int = 1) -> dict:
    g = torch.Generator().manual_seed(seed)
    return {"source": (torch.rand(b, 3, 64, 64, generator=g) * 2 - 1, torch.tensor([0, 2][:b])),
            "real": (torch.rand(b, 3, 64, 64, generator=g) * 2 - 1, torch.tensor([1, 1][:b]))}


def test_d_and_g_step_compute_the_official_losses() -> None:
    m = tiny(class_map=[2, 0, 1])
    m.eval()  # fixed BN statistics and SN vectors, so the reference computation below sees the same networks
    nets = m.networks()
    batch = _batch()
    (xs, ys), (xr, yr) = batch["source"], batch["real"]
    rows = m.class_rows

    torch.manual_seed(5)
    d = m.d_step(batch, nets)
    torch.manual_seed(5)
    target = torch.randint(3, (2,))
    z = torch.randn(2, m.G.dim_z)
    with torch.no_grad():
        fake = m.G(z, m.G.shared(rows[target]), m.A(m.E(xs)))
        out = m.D(torch.cat([fake, xr]), torch.cat([rows[target], rows[yr]])).logits
    assert torch.allclose(d["d_real"], F.relu(1 - out[2:]).mean(), atol=1e-5)
    assert torch.allclose(d["d_fake"], F.relu(1 + out[:2]).mean(), atol=1e-5)
    assert torch.allclose(d["loss"], d["d_real"] + d["d_fake"])

    torch.manual_seed(6)
    g = m.g_step(batch, nets)
    torch.manual_seed(6)
    target = torch.randint(3, (2,))
    z = torch.randn(2, m.G.dim_z)
    with torch.no_grad():
        fake = m.G(z, m.G.shared(rows[target]), m.A(m.E(xs)))
        out, feature_list = m.D(torch.cat([fake, xs]), torch.cat([rows[target], rows[ys]]))
        feats = {f.shape[-1]: f for f in feature_list}
    w = {4: 0.1, 8: 0.1, 16: 0.1, 32: 0.01}
    feat = sum(w[s] * F.mse_loss(feats[s][2:], feats[s][:2]) for s in w)  # each source vs its own translation
    assert torch.allclose(g["g_adv"], -out[:2].mean(), atol=1e-5)
    assert torch.allclose(g["g_feat"], feat, atol=1e-6)
    assert torch.allclose(g["loss"], g["g_adv"] + g["g_feat"])


def test_g_step_gradients_reach_the_adaptor_but_not_frozen_networks() -> None:
    m = tiny()
    nets = m.networks()
    nets["G"].requires_grad_(False)  # phase one, as the trainer sets it
    nets["D"].requires_grad_(False)
    m.g_step(_batch(), nets)["loss"].backward()
    assert all(p.grad is not None and p.grad.abs().sum() > 0 for p in m.A.blocks.parameters())
    assert all(p.grad is None for p in [*m.G.parameters(), *m.D.parameters(), *m.E.parameters(), *m.A.linear.parameters()])


def test_batch_checks_name_the_fix() -> None:
    m = tiny(class_map=[0, 1])
    with pytest.raises(ValueError, match="class_map entry per dataset class"):
        m.d_step(_batch(), m.networks())  # label 2 but only two dataset classes
    with pytest.raises(ValueError, match="data.crop"):
        tiny().g_step({"source": (torch.zeros(2, 3, 32, 32), torch.zeros(2, dtype=torch.long))}, tiny().networks())


# ------------------------------------------------------------------------------------------------
# translation
# ------------------------------------------------------------------------------------------------
def test_translate_many_classes_with_noise() -> None:
    m = tiny(class_map=[2, 0, 1])
    m.train()
    x = torch.rand(3, 3, 64, 64) * 2 - 1
    z = torch.randn(3, m.G.dim_z)
    y = m.translate(x, 1, z)
    assert y.shape == x.shape and y.abs().max() <= 1 and m.G.training  # modes restored
    # dataset class 1 -> BigGAN row 0; the networks' translate in eval mode is the reference
    for net in (m.G, m.E, m.A):
        net.eval()
    with torch.no_grad():
        ref = network_translate(m.G, m.E, m.A, x, 0, z)
    assert torch.allclose(y, ref, atol=1e-6)
    per_sample = m.translate(x, torch.tensor([1, 1, 1]), z)
    assert torch.allclose(per_sample, y, atol=1e-6)
    mixed = m.translate(x, torch.tensor([0, 1, 2]), z)
    assert torch.allclose(mixed[1], y[1], atol=1e-6) and not torch.allclose(mixed[0], y[0])
    assert not torch.allclose(m.translate(x, 1), m.translate(x, 1))  # z sampled: diverse outputs
    gen = lambda: torch.Generator().manual_seed(3)  # noqa: E731
    assert torch.equal(m.translate(x, 1, generator=gen()), m.translate(x, 1, generator=gen()))
    with pytest.raises(ValueError, match=r"0\.\.2"):
        m.translate(x, 3)
    assert m.sample_target_classes() == [0, 1, 2]
    cols = m.sample_columns({"source": (x, torch.zeros(3, dtype=torch.long))})
    assert [c for c, _ in cols] == ["source", "to class 0", "to class 1", "to class 2"]


def test_translate_uses_the_ema_generator() -> None:
    m = tiny(ema_decay=0.999)
    x, z = torch.rand(2, 3, 64, 64) * 2 - 1, torch.randn(2, 120)
    before = m.translate(x, 0, z)
    with torch.no_grad():
        m.G.output_layer[2].bias.add_(0.5)  # changing G does not change the EMA copy's output
    assert torch.allclose(m.translate(x, 0, z), before)
    with torch.no_grad():
        m.G_ema.output_layer[2].bias.add_(0.5)
    assert not torch.allclose(m.translate(x, 0, z), before)


# ------------------------------------------------------------------------------------------------
# official folders
# ------------------------------------------------------------------------------------------------
def _biggan_folder(path: Path) -> tuple[Path, DeepI2I]:
    """A tiny BigGAN-PyTorch run: G.pth, G_ema.pth, D.pth and the two Adam files."""
    src = tiny(from_scratch=True)  # ortho-initialised G and D stand in for BigGAN's
    path.mkdir(parents=True)
    # clones: the Adam step below changes the parameters in place
    torch.save({k: v.clone() for k, v in src.G.state_dict().items()}, path / "G.pth")
    ema = {k: v + 0.01 if v.is_floating_point() else v for k, v in src.G.state_dict().items()}
    torch.save(ema, path / "G_ema.pth")
    torch.save({k: v.clone() for k, v in src.D.state_dict().items()}, path / "D.pth")
    for name, module in (("G", src.G), ("D", src.D)):
        opt = torch.optim.Adam(module.parameters(), lr=1.0, betas=(0.0, 0.999), eps=1e-6)
        for p in module.parameters():
            p.grad = torch.ones_like(p)
        opt.step()
        torch.save(opt.state_dict(), path / f"{name}_optim.pth")
    return path, src


def test_biggan_folder_initialises_g_d_e_and_optimizers(tmp_path: Path) -> None:
    folder, _ = _biggan_folder(tmp_path / "BigGAN_weights")
    ema, d_sd = torch.load(folder / "G_ema.pth"), torch.load(folder / "D.pth")
    m = DeepI2I(**TINY, biggan=str(folder))
    for k, v in ema.items():
        assert torch.equal(m.G.state_dict()[k], v), k  # G_ema.pth preferred, as the README says
    for k, v in d_sd.items():
        assert torch.equal(m.D.state_dict()[k], v) and torch.equal(m.E.state_dict()[k], v), k
    opts = m.make_optimizers()
    g_state = torch.load(folder / "G_optim.pth")
    assert torch.equal(opts["G"].state[m.G.shared.weight]["exp_avg"], g_state["state"][0]["exp_avg"])
    assert opts["G"].param_groups[0]["lr"] == 1e-4 and opts["D"].param_groups[0]["lr"] == 4e-4  # the method's lr
    assert not tiny().make_optimizers()["G"].state  # without a folder: fresh Adam
    assert m.config["biggan"] == str(folder) and "biggan" in DeepI2I.init_only
    # an export rebuilds without the folder (init_only)
    out = m.save_pretrained(tmp_path / "export")
    for f in folder.iterdir():
        f.unlink()
    folder.rmdir()
    rebuilt = i2ikit.build(pretrained=out)
    assert rebuilt.biggan is None and torch.equal(rebuilt.G.shared.weight, m.G.shared.weight)


def test_missing_biggan_folder_names_the_doc(tmp_path: Path) -> None:
    with pytest.raises(FileNotFoundError, match="docs/weights.md"):
        DeepI2I(**TINY, biggan=str(tmp_path / "nope"))
    (tmp_path / "partial").mkdir()
    with pytest.raises(FileNotFoundError, match="docs/weights.md"):
        DeepI2I(**TINY, biggan=str(tmp_path / "partial"))


def test_load_official_deepi2i_release_and_biggan_folders(tmp_path: Path) -> None:
    src = tiny(class_map=[2, 0, 1])
    with torch.no_grad():
        for p in src.A.parameters():
            p.add_(0.01)
    release = tmp_path / "DeepI2I_animals"
    save_deepi2i_weights({"G": src.G, "D": src.D, "E": src.E, "A": src.A}, release)
    m = DeepI2I.load_official(release, class_map=[2, 0, 1])
    assert (m.G.resolution, m.G.ch, m.G.dim_z, m.G.num_classes) == (64, 8, 120, 3)
    for name in "GDEA":
        own, ref = getattr(m, name).state_dict(), getattr(src, name).state_dict()
        assert all(torch.equal(own[k], ref[k]) for k in ref), name
    x, z = torch.rand(2, 3, 64, 64) * 2 - 1, torch.randn(2, 120)
    assert torch.allclose(m.translate(x, 2, z), src.translate(x, 2, z), atol=1e-6)
    folder, _ = _biggan_folder(tmp_path / "BigGAN_weights")
    b = DeepI2I.load_official(folder)
    assert b.config["biggan"] == str(folder) and b.config["num_classes"] == 3
    with pytest.raises(FileNotFoundError, match="not a folder"):
        DeepI2I.load_official(folder / "G.pth")
    built = i2ikit.build("deepi2i", pretrained=release)
    assert torch.equal(built.A.blocks[0][0].conv1.weight, src.A.blocks[0][0].conv1.weight)


# ------------------------------------------------------------------------------------------------
# data: the official HDF5 layout
# ------------------------------------------------------------------------------------------------
def _official_h5(path: Path, labels: list[int], size: int = 16, seed: int = 0) -> np.ndarray:
    import h5py

    imgs = np.random.default_rng(seed).integers(0, 256, (len(labels), 3, size, size), dtype=np.uint8)
    with h5py.File(path, "w") as f:
        f.create_dataset("imgs", data=imgs)
        f.create_dataset("labels", data=np.asarray(labels, dtype=np.int64))
    return imgs


def test_hdf5_dataset_reads_the_official_layout(tmp_path: Path) -> None:
    path = tmp_path / "ILSVRC128.hdf5"
    imgs = _official_h5(path, [0, 2, 1, 2, 0])
    ds = HDF5Images(str(path))
    assert len(ds) == 5 and ds.labels == [0, 2, 1, 2, 0] and ds.classes == ["0", "1", "2"]
    img, label = ds[3]
    assert label == 2 and img.mode == "RGB" and img.size == (16, 16)
    assert np.array_equal(np.asarray(img).transpose(2, 0, 1), imgs[3])
    assert "[imgs][3]" in ds.path(3)
    clone = pickle.loads(pickle.dumps(ds))  # DataLoader workers get a copy without the open handle
    assert np.array_equal(np.asarray(clone.load(1)), np.asarray(ds.load(1)))
    # class names in label order from a file: text, JSON, or the official pickle (no code executed)
    (tmp_path / "names.txt").write_text("cat\ndog\nfox\n")
    assert HDF5Images(str(path), classes=str(tmp_path / "names.txt")).classes == ["cat", "dog", "fox"]
    (tmp_path / "c.json").write_text(json.dumps({"fox": 2, "cat": 0, "dog": 1}))
    assert HDF5Images(str(path), classes=str(tmp_path / "c.json")).classes == ["cat", "dog", "fox"]
    (tmp_path / "I128_imgs.pickle").write_bytes(pickle.dumps({"dog": 1, "cat": 0, "fox": 2}))
    assert HDF5Images(str(path), classes=str(tmp_path / "I128_imgs.pickle")).classes == ["cat", "dog", "fox"]
    (tmp_path / "evil.pickle").write_bytes(pickle.dumps({"a": Path("x")}))
    with pytest.raises(DataSourceError, match="refusing"):
        HDF5Images(str(path), classes=str(tmp_path / "evil.pickle"))
    with pytest.raises(DataSourceError, match="149 classes"):
        HDF5Images(str(path), dataset="animals", classes=["a", "b", "c"])


def test_hdf5_errors_say_how_to_prepare(tmp_path: Path) -> None:
    with pytest.raises(DataSourceError) as err:
        HDF5Images(str(tmp_path / "data" / "ILSVRC128.hdf5"))
    assert "docs/datasets.md" in str(err.value) and "python -m i2ikit_deepi2i.data" in str(err.value)
    import h5py

    with h5py.File(tmp_path / "bad.hdf5", "w") as f:
        f.create_dataset("imgs", data=np.zeros((2, 16, 16, 3), dtype=np.uint8))
        f.create_dataset("labels", data=np.zeros(2, dtype=np.int64))
    with pytest.raises(DataSourceError, match="N x 3 x H x W"):
        HDF5Images(str(tmp_path / "bad.hdf5"))


def test_official_class_orders() -> None:
    foods = official_class_order("foods")
    assert len(foods) == 256 and foods[:5] == ["1", "10", "100", "101", "102"] and foods[-1] == "99"
    birds = [f"{i:04d}" for i in range(295, 295 + 554)] + ["1010"]
    assert official_class_order("nabirds", reversed(birds)) == sorted(birds)
    with pytest.raises(ValueError, match="149"):
        official_class_order("animals", ["n02085620"])


def test_write_hdf5_from_an_image_folder(tmp_path: Path) -> None:
    root = tmp_path / "ImageNet"
    for cls, colour in (("b", (255, 0, 0)), ("a", (0, 0, 255))):
        (root / cls).mkdir(parents=True)
        img = Image.new("RGB", (48, 32), (0, 255, 0))  # a wide image: the centre 32 x 32 square is kept
        img.paste(colour, (8, 0, 40, 32))
        img.save(root / cls / "0.png")
    out = write_hdf5(root, tmp_path / "ILSVRC128.hdf5", size=16)
    ds = HDF5Images(str(out))
    assert ds.classes == ["a", "b"] and ds.labels == [0, 1]  # sorted folder order, names stored in the file
    assert np.asarray(ds.load(0))[8, 8].tolist() == [0, 0, 255]
    assert np.asarray(ds.load(1)).reshape(-1, 3).min(0).tolist() == [255, 0, 0]  # no green border: long edge cropped


def test_hdf5_trains_through_a_recipe(tmp_path: Path) -> None:
    path = tmp_path / "ILSVRC128.hdf5"
    _official_h5(path, [0, 1, 2, 0, 1, 2], size=64)
    recipe = deepi2i_recipe(tmp_path, tmp_path / "run", {"from_scratch": True, "class_map": [0, 1, 2]}, steps=1, sample_every=1)
    recipe["data"]["train"] = {"type": "hdf5", "path": str(path)}
    run = Trainer(validate(recipe)).fit()
    assert (run / "samples" / "step_00000001.png").exists()


# ------------------------------------------------------------------------------------------------
# recipes
# ------------------------------------------------------------------------------------------------
@pytest.mark.parametrize("name", ["animals", "birds", "foods"])
def test_paper_recipes_validate_and_stop_without_data(name: str, capsys) -> None:
    path = ROOT / "recipes" / f"deepi2i_{name}.yaml"
    recipe = load_recipe(path)
    m = recipe.method
    n = {"animals": 149, "birds": 555, "foods": 256}[name]
    assert m["class_map"] == list(range(n)) and m["num_classes"] == 1000 and m["phase_one_iters"] == 500
    assert recipe.train.batch_size * recipe.train.grad_accum == 32
    assert recipe.data.train["type"] == "hdf5" and m["biggan"]
    if Path(recipe.data.train["path"]).exists():
        pytest.skip("the dataset is present here")
    from i2ikit.run import main

    assert main([str(path), f"train.run_dir={ROOT / 'runs' / 'never'}"]) == 2
    err = capsys.readouterr().err
    assert recipe.data.train["path"] in err and "docs/datasets.md" in err
    assert not (ROOT / "runs" / "never").exists()


def test_missing_weights_stop_before_training(tmp_path: Path, folder64: Path, capsys) -> None:
    recipe = deepi2i_recipe(folder64, tmp_path / "run", {"num_classes": 1000, "class_map": [0, 1, 2], "biggan": str(tmp_path / "BigGAN")})
    path = write_yaml(tmp_path / "r.yaml", recipe)
    from i2ikit.run import main

    assert main([str(path)]) == 2
    err = capsys.readouterr().err
    assert str(tmp_path / "BigGAN") in err and "docs/weights.md" in err
    assert not (tmp_path / "run" / "state").exists()


def test_glyph_recipe_validates() -> None:
    recipe = load_recipe(ROOT / "recipes" / "deepi2i_glyphs.yaml")
    assert recipe.method["from_scratch"] is True and recipe.method["biggan"] is None
    assert recipe.method["resolution"] == 64 == recipe.data.crop and recipe.data.train == {"type": "glyphs", "split": "train", "size": 64}


# ------------------------------------------------------------------------------------------------
# end to end (slow), DDP, resume
# ------------------------------------------------------------------------------------------------
@pytest.mark.slow
def test_glyph_recipe_trains_end_to_end(tmp_path: Path) -> None:
    run = tmp_path / "run"
    out = run_cli(["-m", "i2ikit.run", "recipes/deepi2i_glyphs.yaml", "train.steps=3", "train.sample_every=3", "train.save_every=3",
                   "train.batch_size=4", "train.sample_count=4", f"train.run_dir={run}", "train.trackers=none", "train.progress=false"])
    assert out.returncode == 0, out.stderr[-3000:]
    assert (run / "samples" / "step_00000003.png").exists()
    assert (run / "samples" / "columns.txt").read_text().startswith("source | to class 0 |")
    model = i2ikit.build(pretrained=run / "export")
    y = model.translate(torch.rand(2, 3, 64, 64) * 2 - 1, torch.tensor([0, model.num_target_classes - 1]))
    assert y.shape == (2, 3, 64, 64) and torch.isfinite(y).all()


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


@pytest.mark.parametrize("from_scratch", [False, pytest.param(True, marks=pytest.mark.slow)])
def test_two_process_ddp_on_cpu(tmp_path: Path, folder64: Path, from_scratch: bool) -> None:
    """Real two-process DDP (gloo) with find_unused_parameters=False across the phase switch.

    ``accelerate launch --cpu --num_processes 2`` starts a single process (its simple launcher), so
    torchrun is used with ACCELERATE_USE_CPU, which makes Accelerate wrap the networks in DDP. An
    unused parameter inside a wrapped network (e.g. the adaptor's heads) fails this test.
    """
    run = tmp_path / "run"
    recipe = deepi2i_recipe(folder64, run, {"phase_one_iters": 1, "from_scratch": from_scratch}, steps=3, grad_accum=2,
                            sample_every=3, save_every=3)
    path = write_yaml(tmp_path / "ddp.yaml", recipe)
    out = run_cli(["-m", "torch.distributed.run", "--nproc_per_node", "2", "--master_port", str(_free_port()),
                   "-m", "i2ikit.run", str(path)], env={"ACCELERATE_USE_CPU": "true"})
    assert out.returncode == 0, out.stderr[-4000:]
    assert ckpt.latest_checkpoint(run).name == "step_00000003"
    assert len((run / "losses.jsonl").read_text().splitlines()) == 3
    assert (run / "export" / "A.safetensors").exists()


def test_resume_gives_the_same_losses(tmp_path: Path, folder64: Path, capsys) -> None:
    from accelerate.state import AcceleratorState, GradientState, PartialState

    def fit(run: str, steps: int) -> None:
        recipe = deepi2i_recipe(folder64, tmp_path / run, {"phase_one_iters": 2, "from_scratch": True}, steps=steps, save_every=2, sample_every=100)
        Trainer(validate(recipe)).fit()
        AcceleratorState._reset_state(True)
        GradientState._reset_state()
        PartialState._reset_state()

    fit("straight", 4)
    fit("resumed", 2)
    capsys.readouterr()
    fit("resumed", 4)
    assert f"resumed from {tmp_path / 'resumed' / 'state' / 'step_00000002'} at step 2" in capsys.readouterr().out
    read = lambda run: [json.loads(line) for line in (tmp_path / run / "losses.jsonl").read_text().splitlines()]  # noqa: E731
    straight, resumed = read("straight"), read("resumed")
    assert [r["step"] for r in straight] == [r["step"] for r in resumed] == [1, 2, 3, 4]
    for a, b in zip(straight, resumed):
        assert a.keys() == b.keys()
        for key in a:
            assert a[key] == pytest.approx(b[key], rel=1e-5, abs=1e-6), (a["step"], key)


# ------------------------------------------------------------------------------------------------
# declared constraints, class needs and translation modes
# ------------------------------------------------------------------------------------------------
def test_declared_constraints_min_classes_and_translate_modes() -> None:
    import inspect

    from i2ikit.recipe import check_method_kwargs

    check_method_kwargs(DeepI2I, {}, "x")  # the defaults satisfy the constraints
    check_method_kwargs(DeepI2I, dict(TINY), "x")
    assert set(DeepI2I.constraints) <= set(inspect.signature(DeepI2I.__init__).parameters)
    assert set(DeepI2I.min_classes) <= set(DeepI2I.data_streams)
    assert DeepI2I.min_classes.get("real") == 2
    assert DeepI2I.translate_modes == ("target_class",)


@pytest.mark.parametrize("key,bad", [("ch", 0), ("resolution", 32), ("lr_dis", -1e-4), ("betas", [0.0, 1.0]),
                                     ("feature_loss", "paper"), ("class_map", [0, -1])])
def test_out_of_range_values_fail_before_building(key: str, bad, monkeypatch) -> None:
    from i2ikit.errors import ConfigError
    import i2ikit_deepi2i.method as deepi2i_method

    def boom(*a, **k):
        raise AssertionError("a network was built")

    monkeypatch.setattr(deepi2i_method, "Generator", boom)
    with pytest.raises(ConfigError, match=f"'deepi2i'.*{key}") as err:
        i2ikit.build("deepi2i", **{**TINY, key: bad})
    assert key in str(err.value)


def test_constructor_checks_are_config_errors(tmp_path: Path) -> None:
    from i2ikit.errors import ConfigError, MissingFileError

    with pytest.raises(ConfigError, match="resolution must be one of 64, 128, 256"):
        DeepI2I(resolution=32, ch=8, num_classes=3)  # BigGAN has a 32 px table, DeepI2I's injection does not fit it
    with pytest.raises(ConfigError, match="ch=4.*d_attention"):
        DeepI2I(resolution=64, ch=4, num_classes=3, d_attention="32")  # attention needs 8 channels
    with pytest.raises(ConfigError, match="g_attention / d_attention"):
        DeepI2I(**TINY, g_attention="sixty-four")
    with pytest.raises(MissingFileError, match="not a folder"):
        DeepI2I.load_official(tmp_path / "nowhere")
    with pytest.raises(ConfigError, match=r"0\.\.2"):
        tiny().translate(torch.zeros(1, 3, 64, 64), 3)
