"""Resume state is never unpickled: what the trainer writes, what it refuses, and how it says so."""
from __future__ import annotations

import pickle
import random
import shutil
from pathlib import Path

import numpy as np
import pytest
import torch

from i2ikit.errors import CheckpointError
from i2ikit.recipe import validate
from i2ikit.train import checkpoint as ckpt
from i2ikit.train.state_files import load_tree, save_tree
from i2ikit.train.trainer import Trainer

from conftest import run_cli, tiny_recipe, write_yaml


class _Payload:
    """Unpickling this creates ``marker``: the proof that a file was unpickled."""

    def __init__(self, marker: Path) -> None:
        self.marker = marker

    def __reduce__(self):
        return (Path.touch, (self.marker,))


def _plant(file: Path, marker: Path, how: str) -> None:
    if how == "torch":
        torch.save({"step": _Payload(marker)}, file)  # what a crafted torch checkpoint looks like
    else:
        file.write_bytes(pickle.dumps({"state": _Payload(marker)}))


def test_trees_round_trip_exactly():
    tree = {
        "state": {0: {"step": torch.tensor(3.0), "exp_avg": torch.randn(2, 3)}, 7: {"m": torch.zeros(0)}},
        "param_groups": [{"lr": 1e-4, "betas": (0.0, 0.999), "params": [0, 7], "foreach": None, "flag": True}],
        "bf16": torch.randn(4).bfloat16(), "bytes": torch.arange(5, dtype=torch.uint8), "nan": float("nan"),
        "inf": float("-inf"), "dotted.key": torch.ones(1), "dotted": {"key": torch.zeros(1)}, "__tensor__x": 1,
        "python": random.getstate(),
    }
    folder = Path(__import__("tempfile").mkdtemp())
    save_tree(tree, folder, "t")
    back = load_tree(folder, "t", "test tree")
    assert back["param_groups"][0]["betas"] == (0.0, 0.999) and isinstance(back["param_groups"][0]["betas"], tuple)
    assert set(back["state"]) == {0, 7} and torch.equal(back["state"][0]["exp_avg"], tree["state"][0]["exp_avg"])
    assert back["bf16"].dtype == torch.bfloat16 and torch.equal(back["bf16"], tree["bf16"])
    assert back["bytes"].dtype == torch.uint8 and back["state"][7]["m"].shape == (0,)
    assert np.isnan(back["nan"]) and back["inf"] == float("-inf")
    assert torch.equal(back["dotted.key"], torch.ones(1)) and torch.equal(back["dotted"]["key"], torch.zeros(1))
    assert back["python"] == tree["python"] and back["__tensor__x"] == 1
    with pytest.raises(TypeError, match="never pickled objects"):
        save_tree({"x": object()}, folder, "bad")
    shutil.rmtree(folder)


def test_rng_states_are_restored():
    random.seed(1), np.random.seed(2), torch.manual_seed(3)
    state = ckpt.rng_state()
    first = (random.random(), np.random.rand(), torch.rand(1).item())
    random.seed(9), np.random.seed(9), torch.manual_seed(9)
    ckpt.set_rng_state(state, "test")
    assert (random.random(), np.random.rand(), torch.rand(1).item()) == first


@pytest.fixture(scope="module")
def saved_run(tmp_path_factory):
    """A tiny FUNIT run that saved its state at step 2 (and a trainer to load it into)."""
    from conftest import make_image_folder

    tmp = tmp_path_factory.mktemp("state")
    data = make_image_folder(tmp / "images")
    recipe = tiny_recipe(data, tmp / "run", steps=2, sample_every=100)
    Trainer(validate(recipe)).fit()
    return tmp, recipe


def _fresh_trainer(recipe: dict) -> Trainer:
    from accelerate.state import AcceleratorState, GradientState

    AcceleratorState._reset_state(True)
    GradientState._reset_state()
    return Trainer(validate(recipe))


def test_a_checkpoint_holds_only_json_and_safetensors(saved_run):
    tmp, _ = saved_run
    files = sorted(p.name for p in (tmp / "run" / "state" / "step_00000002").iterdir())
    assert files and all(f.endswith((".json", ".safetensors")) for f in files), files
    assert {"trainer_state.json", "rng_0.json", "net_gen.safetensors", "net_dis.safetensors", "optim_gen.json",
            "ema_gen_ema.safetensors"} <= set(files)


@pytest.mark.parametrize("how", ["torch", "pickle"])
def test_a_pickle_planted_in_any_file_of_a_checkpoint_is_refused_and_never_runs(saved_run, tmp_path, how):
    tmp, recipe = saved_run
    trainer = _fresh_trainer({**recipe, "train": {**recipe["train"], "run_dir": str(tmp_path / "unused")}})
    original = tmp / "run" / "state" / "step_00000002"
    marker = tmp_path / "payload_ran"
    names = sorted(p.name for p in original.iterdir())
    assert {"trainer_state.json", "net_gen.safetensors", "optim_gen.json"} <= set(names)
    for name in names:
        planted = tmp_path / f"ckpt_{name}"
        shutil.copytree(original, planted)
        _plant(planted / name, marker, how)
        with pytest.raises(CheckpointError) as info:
            ckpt.load_run_state(planted, trainer.state_parts, rank=0, num_processes=1)
        assert name in str(info.value), (name, str(info.value))
        assert not marker.exists(), f"unpickled {name}"
        shutil.rmtree(planted)


def test_pickles_beside_a_good_checkpoint_are_never_read(saved_run, tmp_path):
    tmp, recipe = saved_run
    trainer = _fresh_trainer({**recipe, "train": {**recipe["train"], "run_dir": str(tmp_path / "unused")}})
    folder = tmp_path / "ckpt"
    shutil.copytree(tmp / "run" / "state" / "step_00000002", folder)
    marker = tmp_path / "payload_ran"
    for name in ("custom_checkpoint_0.pkl", "custom_checkpoint_1.pkl", "random_states_0.pkl", "optimizer.bin",
                 "scaler.pt", "pytorch_model.bin"):
        _plant(folder / name, marker, "torch")
    step, notes = ckpt.load_run_state(folder, trainer.state_parts, rank=0, num_processes=1)
    assert step == 2 and notes == [] and not marker.exists()


def test_resuming_an_accelerate_pickle_checkpoint_stops_with_a_message(tmp_path, image_folder):
    """End to end: ``resume: auto`` on a run folder whose checkpoint is Accelerate's format (pickles)."""
    run = tmp_path / "run"
    folder = run / "state" / "step_00000002"
    folder.mkdir(parents=True)
    (run / "state" / "latest").write_text("step_00000002\n")
    marker = tmp_path / "payload_ran"
    for name in ("custom_checkpoint_0.pkl", "random_states_0.pkl", "optimizer.bin", "optimizer_1.bin"):
        _plant(folder / name, marker, "torch")
    path = write_yaml(tmp_path / "r.yaml", tiny_recipe(image_folder, run, steps=4))
    out = run_cli(["-m", "i2ikit.run", str(path)])
    assert out.returncode == 2, out.stderr[-3000:]
    assert "Accelerate's save_state format" in out.stderr and "custom_checkpoint_0.pkl" in out.stderr
    assert "Traceback" not in out.stderr and not marker.exists()


def test_a_truncated_checkpoint_file_is_named(saved_run, tmp_path):
    tmp, recipe = saved_run
    trainer = _fresh_trainer({**recipe, "train": {**recipe["train"], "run_dir": str(tmp_path / "unused")}})
    folder = tmp_path / "ckpt"
    shutil.copytree(tmp / "run" / "state" / "step_00000002", folder)
    data = (folder / "net_gen.safetensors").read_bytes()
    (folder / "net_gen.safetensors").write_bytes(data[: len(data) // 2])
    with pytest.raises(CheckpointError, match=r"net_gen.safetensors \(\d+ bytes\) cannot be read as safetensors"):
        ckpt.load_run_state(folder, trainer.state_parts, rank=0, num_processes=1)
    (folder / "net_gen.safetensors").write_bytes(data)
    (folder / "trainer_state.json").write_text('{"format": "i2ikit-run-state", "version": 1, "step": 2, "networks": ["gen"]')
    with pytest.raises(CheckpointError, match="trainer_state.json is not valid JSON"):
        ckpt.load_run_state(folder, trainer.state_parts, rank=0, num_processes=1)


def test_a_checkpoint_of_another_setup_is_named(saved_run, tmp_path):
    tmp, recipe = saved_run
    other = {**recipe, "method": {**recipe["method"], "nf": 16}, "train": {**recipe["train"], "run_dir": str(tmp_path / "x")}}
    trainer = _fresh_trainer(other)
    with pytest.raises(CheckpointError, match="(?s)net_gen.safetensors does not fit.*shape mismatch"):
        ckpt.load_run_state(tmp / "run" / "state" / "step_00000002", trainer.state_parts, rank=0, num_processes=1)


def test_any_parts_round_trip_through_a_checkpoint_folder(tmp_path):
    """Networks, optimisers, EMA, extra modules and a gradient scaler, outside any method."""
    torch.manual_seed(0)
    net, ema, extra = torch.nn.Linear(3, 2), torch.nn.Linear(3, 2), torch.nn.BatchNorm1d(2)
    opt = torch.optim.Adam(net.parameters(), lr=1e-3, betas=(0.5, 0.99))
    net(torch.randn(4, 3)).sum().backward()
    opt.step()
    extra(torch.randn(5, 2))
    scaler = torch.amp.GradScaler("cpu", init_scale=1024.0)
    parts = ckpt.StateParts(networks={"net": net}, optimizers={"opt": opt}, ema={"ema": ema}, extra={"bn": extra},
                            scaler=scaler, method="test")
    folder = tmp_path / "step"
    ckpt.save_run_state(folder, 7, parts, rank=0, num_processes=1, is_main=True)
    ckpt.finish_run_state(folder, 7, parts, num_processes=1)

    torch.manual_seed(1)
    net2, ema2, extra2 = torch.nn.Linear(3, 2), torch.nn.Linear(3, 2), torch.nn.BatchNorm1d(2)
    opt2 = torch.optim.Adam(net2.parameters(), lr=1.0)
    scaler2 = torch.amp.GradScaler("cpu", init_scale=2.0)
    parts2 = ckpt.StateParts(networks={"net": net2}, optimizers={"opt": opt2}, ema={"ema": ema2}, extra={"bn": extra2},
                             scaler=scaler2, method="test")
    step, notes = ckpt.load_run_state(folder, parts2, rank=0, num_processes=2)
    assert step == 7 and "written by 1 process(es), this run has 2" in notes[0]
    for a, b in [(net, net2), (ema, ema2), (extra, extra2)]:
        for (k, x), (_, y) in zip(a.state_dict().items(), b.state_dict().items()):
            assert torch.equal(x, y), k
    assert opt2.state_dict()["param_groups"][0]["betas"] == (0.5, 0.99)
    assert torch.equal(opt2.state_dict()["state"][0]["exp_avg"], opt.state_dict()["state"][0]["exp_avg"])
    assert scaler2.state_dict() == scaler.state_dict()
