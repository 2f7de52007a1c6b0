"""Training loop: runs, samples, checkpoints, exact resume, export, 2-process DDP on the CPU."""
from __future__ import annotations

import json
import os
from pathlib import Path

import pytest
import torch

import i2ikit
from i2ikit.recipe import validate
from i2ikit.train import checkpoint as ckpt
from i2ikit.train.trainer import Trainer

from conftest import TINY_FUNIT, run_cli, tiny_recipe, write_yaml


def _losses(run: Path) -> list[dict]:
    return [json.loads(l) for l in (run / "losses.jsonl").read_text().splitlines()]


def test_train_writes_resolved_recipe_samples_checkpoints_and_export(tmp_path, image_folder):
    run = tmp_path / "run"
    Trainer(validate(tiny_recipe(image_folder, run))).fit()
    assert (run / "recipe.yaml").exists()
    resolved = (run / "recipe.yaml").read_text()
    assert "num_classes: 3" in resolved and "lr_gen: 0.0001" in resolved  # defaults and 'auto' resolved
    assert sorted(p.name for p in (run / "samples").glob("*.png")) == ["step_00000002.png", "step_00000004.png"]
    assert (run / "samples" / "columns.txt").read_text().strip() == "content | class | translation | reconstruction"
    assert ckpt.latest_checkpoint(run).name == "step_00000004"
    assert sorted(p.name for p in (run / "state").glob("step_*")) == ["step_00000002", "step_00000004"]
    steps = _losses(run)
    assert [s["step"] for s in steps] == [1, 2, 3, 4]
    assert all(torch.isfinite(torch.tensor(v)) for s in steps for k, v in s.items())
    model = i2ikit.build(pretrained=run / "export")
    assert model.config["num_classes"] == 3
    x = torch.rand(2, 3, 32, 32) * 2 - 1
    y = model.translate(x, x[:1])
    assert y.shape == x.shape and y.abs().max() <= 1


def test_resume_gives_the_same_losses_as_an_uninterrupted_run(tmp_path, image_folder):
    straight, resumed = tmp_path / "straight", tmp_path / "resumed"
    recipe = tiny_recipe(image_folder, straight, steps=6, save_every=3, sample_every=100)
    write_yaml(tmp_path / "a.yaml", recipe)
    assert run_cli(["-m", "i2ikit.run", str(tmp_path / "a.yaml")]).returncode == 0
    recipe["train"]["run_dir"] = str(resumed)
    write_yaml(tmp_path / "b.yaml", recipe)
    first = run_cli(["-m", "i2ikit.run", str(tmp_path / "b.yaml"), "train.steps=3"])
    assert first.returncode == 0, first.stderr[-2000:]
    second = run_cli(["-m", "i2ikit.run", str(tmp_path / "b.yaml")])
    assert second.returncode == 0, second.stderr[-2000:]
    assert "resumed from" in second.stdout + second.stderr
    a, b = _losses(straight), _losses(resumed)
    assert [s["step"] for s in a] == [s["step"] for s in b] == [1, 2, 3, 4, 5, 6]
    for sa, sb in zip(a, b):
        assert sa.keys() == sb.keys()
        for key in sa:
            assert sa[key] == pytest.approx(sb[key], rel=1e-5, abs=1e-6), (sa["step"], key)
    ea = i2ikit.build(pretrained=straight / "export")
    eb = i2ikit.build(pretrained=resumed / "export")
    for (n, p), (_, q) in zip(ea.gen_ema.state_dict().items(), eb.gen_ema.state_dict().items()):
        assert torch.allclose(p, q, atol=1e-6), n


def test_a_half_written_checkpoint_is_never_latest(tmp_path, image_folder):
    run = tmp_path / "run"
    Trainer(validate(tiny_recipe(image_folder, run, steps=2))).fit()
    # Simulate a kill during the next save: a temporary folder exists but was never published.
    (run / "state" / ".tmp-step_00000004").mkdir()
    (run / "state" / ".tmp-step_00000004" / "model.safetensors").write_bytes(b"partial")
    assert ckpt.latest_checkpoint(run).name == "step_00000002"


def test_two_process_ddp_on_cpu(tmp_path, image_folder):
    run = tmp_path / "run"
    path = write_yaml(tmp_path / "ddp.yaml", tiny_recipe(image_folder, run, steps=2, save_every=2, sample_every=2))
    import socket

    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]
    # Two real processes on the CPU (gloo): torchrun starts them, Accelerate picks MULTI_CPU from the env.
    out = run_cli(["-m", "torch.distributed.run", "--nproc_per_node", "2", "--master_port", str(port), "-m", "i2ikit.run", str(path)],
                  env={"ACCELERATE_USE_CPU": "true"})
    assert out.returncode == 0, out.stderr[-4000:]
    assert "2 process(es)" in out.stdout + out.stderr
    assert ckpt.latest_checkpoint(run).name == "step_00000002"
    assert len(_losses(run)) == 2
    assert (run / "export" / "gen_ema.safetensors").exists()
    assert {p.name for p in (run / "state" / "step_00000002").glob("rng_*.json")} == {"rng_0.json", "rng_1.json"}
    # Both processes resume from the checkpoint, each with its own RNG state.
    out = run_cli(["-m", "torch.distributed.run", "--nproc_per_node", "2", "--master_port", str(port), "-m", "i2ikit.run",
                   str(path), "train.steps=3"], env={"ACCELERATE_USE_CPU": "true"})
    assert out.returncode == 0, out.stderr[-4000:]
    assert "resumed from" in out.stdout + out.stderr and "warning" not in out.stdout + out.stderr
    assert [r["step"] for r in _losses(run)] == [1, 2, 3]


def _ddp_r1_worker(rank: int, world: int, port: int, out: str) -> None:
    import torch.distributed as dist
    from torch.nn.parallel import DistributedDataParallel as DDP

    os.environ.update(MASTER_ADDR="127.0.0.1", MASTER_PORT=str(port))
    dist.init_process_group("gloo", rank=rank, world_size=world)
    torch.manual_seed(0)
    model = i2ikit.build("funit", num_classes=3, **TINY_FUNIT)
    dis = DDP(model.dis)
    g = torch.Generator().manual_seed(1)
    xa, xb = torch.rand(4, 3, 32, 32, generator=g) * 2 - 1, torch.rand(4, 3, 32, 32, generator=g) * 2 - 1
    la, lb = torch.tensor([0, 1, 2, 0]), torch.tensor([1, 2, 0, 1])
    half = slice(rank * 2, rank * 2 + 2)
    model.gen.requires_grad_(False)
    losses = model.d_step({"content": (xa[half], la[half]), "class": (xb[half].clone(), lb[half])}, {"gen": model.gen, "dis": dis})
    losses["loss"].backward()
    if rank == 0:
        torch.save({n: p.grad.clone() for n, p in model.dis.named_parameters()}, out)
    dist.destroy_process_group()


def test_r1_penalty_gradients_are_right_under_ddp(tmp_path):
    """Under DDP each rank's D loss (R1 included, one backward) gives the mean of the per-rank gradients."""
    import socket

    import torch.multiprocessing as mp

    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]
    out = tmp_path / "ddp_grads.pt"
    mp.spawn(_ddp_r1_worker, args=(2, port, str(out)), nprocs=2, join=True)
    ddp_grads = torch.load(out)

    torch.manual_seed(0)
    model = i2ikit.build("funit", num_classes=3, **TINY_FUNIT)
    g = torch.Generator().manual_seed(1)
    xa, xb = torch.rand(4, 3, 32, 32, generator=g) * 2 - 1, torch.rand(4, 3, 32, 32, generator=g) * 2 - 1
    la, lb = torch.tensor([0, 1, 2, 0]), torch.tensor([1, 2, 0, 1])
    model.gen.requires_grad_(False)
    expected = {n: torch.zeros_like(p) for n, p in model.dis.named_parameters()}
    for rank in range(2):
        half = slice(rank * 2, rank * 2 + 2)
        model.dis.zero_grad(set_to_none=True)
        losses = model.d_step({"content": (xa[half], la[half]), "class": (xb[half].clone(), lb[half])}, {"gen": model.gen, "dis": model.dis})
        assert losses["r1"] > 0
        losses["loss"].backward()
        for n, p in model.dis.named_parameters():
            expected[n] += p.grad / 2
    for n in expected:
        assert torch.allclose(ddp_grads[n], expected[n], rtol=1e-4, atol=1e-7), n


def test_bf16_gradient_accumulation_and_tensorboard(tmp_path, image_folder):
    """Mixed precision and accumulation come from the recipe; D and G still step once per iteration."""
    run = tmp_path / "run"
    trainer = Trainer(validate(tiny_recipe(image_folder, run, steps=2, grad_accum=2, mixed_precision="bf16",
                                           trackers=["tensorboard"], sample_every=100, save_every=100)))
    assert trainer.accelerator.mixed_precision == "bf16" and trainer.accelerator.gradient_accumulation_steps == 2
    trainer.fit()
    for name in ("gen", "dis"):
        state = trainer.optimizers[name].optimizer.state
        assert state, name  # the optimiser stepped at all
        assert all(s["step"] == 2 for s in state.values()), name  # one optimiser step per iteration
    assert list(run.rglob("events.out.tfevents.*")), "no TensorBoard event file"
    assert len(_losses(run)) == 2


def test_gradient_accumulation_from_the_launcher_environment(tmp_path, image_folder, monkeypatch):
    monkeypatch.setenv("ACCELERATE_GRADIENT_ACCUMULATION_STEPS", "3")
    trainer = Trainer(validate(tiny_recipe(image_folder, tmp_path / "run", steps=1)))
    assert trainer.accelerator.gradient_accumulation_steps == 3


def test_data_streams_draw_only_their_classes_and_keep_labels(tmp_path, image_folder):
    recipe = tiny_recipe(image_folder, tmp_path / "run")
    recipe["data"]["streams"] = {"class": {"classes": ["class_02", "class_01"]}}
    trainer = Trainer(validate(recipe))
    loaders = trainer._loaders(0, 1)
    content = torch.cat([next(loaders["content"])[1] for _ in range(6)])
    classes = torch.cat([next(loaders["class"])[1] for _ in range(6)])
    assert set(content.tolist()) == {0, 1, 2}  # the unnamed stream draws from all of data.train
    assert set(classes.tolist()) == {1, 2}      # data.train's label numbers, not 0..1
    for loader in loaders.values():
        loader.close()
    sample_labels = set(trainer._fixed_sample_batch()["class"][1].tolist())
    assert sample_labels and sample_labels <= {1, 2}


def test_data_streams_are_checked(tmp_path, image_folder):
    from i2ikit.data import DataSourceError
    from i2ikit.recipe import RecipeError

    recipe = tiny_recipe(image_folder, tmp_path / "run")
    recipe["data"]["streams"] = {"clas": {"classes": ["class_01"]}}
    with pytest.raises(RecipeError, match="'clas' is not a data stream of this method.*class"):
        validate(recipe)
    recipe["data"]["streams"] = {"class": ["class_01"]}
    with pytest.raises(RecipeError, match=r"data.streams.class: expected \{classes:"):
        validate(recipe)
    recipe["data"]["streams"] = {"class": {"classes": ["class_1"]}}
    with pytest.raises(DataSourceError, match="class_1.*did you mean"):
        Trainer(validate(recipe))


def test_export_hooks_see_one_augmented_pass_per_stream(tmp_path, image_folder, monkeypatch):
    from i2ikit_funit import FUNIT

    seen: dict[str, list] = {}

    def before_export(self, data):
        for stream in self.data_streams:
            batches = list(data.one_pass(stream))
            seen[stream] = [(tuple(x.shape), y.tolist()) for x, y in batches]

    def write_export_files(self, directory):
        (directory / "extra.txt").write_text("written inside the atomic export\n")

    monkeypatch.setattr(FUNIT, "before_export", before_export)
    monkeypatch.setattr(FUNIT, "write_export_files", write_export_files)
    recipe = tiny_recipe(image_folder, tmp_path / "run", steps=2)
    recipe["data"]["streams"] = {"class": {"classes": ["class_01", "class_02"]}}
    run = Trainer(validate(recipe)).fit()
    assert sum(len(y) for _, y in seen["content"]) == 18 and seen["content"][0][0] == (2, 3, 32, 32)
    assert [lab for _, y in seen["class"] for lab in y] == [1] * 6 + [2] * 6
    assert (run / "export" / "extra.txt").exists()


def test_a_run_interrupted_while_exporting_its_last_step_exports_when_rerun(tmp_path, image_folder):
    import shutil

    from i2ikit.train.trainer import finished_export

    recipe = validate(tiny_recipe(image_folder, tmp_path / "run", steps=2, save_every=2, sample_every=100))
    Trainer(recipe).fit()
    shutil.rmtree(tmp_path / "run" / "export")  # the state of step 2 was published, its export never written
    assert finished_export(recipe) is None
    Trainer(recipe).fit()
    assert finished_export(recipe) == tmp_path / "run" / "export"
    assert len((tmp_path / "run" / "losses.jsonl").read_text().splitlines()) == 2  # nothing was trained again
