"""A run killed at any moment and resumed leaves the logs an uninterrupted run would: every step once."""
from __future__ import annotations

import json
import shutil
from pathlib import Path

import pytest

from i2ikit.train import checkpoint as ckpt

from conftest import ROOT, make_image_folder, run_cli, tiny_recipe, write_yaml

HARNESS = str(ROOT / "tests" / "kill_harness.py")


def _losses(run: Path) -> list[dict]:
    return [json.loads(line) for line in (run / "losses.jsonl").read_text().splitlines()]


def _tensorboard_steps(run: Path, tag: str) -> list[int]:
    from tensorboard.backend.event_processing.event_accumulator import EventAccumulator

    acc = EventAccumulator(str(run / "tiny"))
    acc.Reload()
    return [event.step for event in acc.Scalars(tag)]


@pytest.fixture(scope="module")
def straight(tmp_path_factory):
    tmp = tmp_path_factory.mktemp("logs")
    data = make_image_folder(tmp / "images")
    recipe = tiny_recipe(data, tmp / "straight", steps=6, save_every=2, sample_every=100, trackers=["tensorboard"])
    path = write_yaml(tmp / "straight.yaml", recipe)
    out = run_cli(["-m", "i2ikit.run", str(path)])
    assert out.returncode == 0, out.stderr[-3000:]
    return tmp, recipe


@pytest.mark.parametrize("moment, at, resumes_from", [
    ("step", 5, 4),          # steps 1-5 logged, the checkpoint of step 4 is the newest
    ("checkpoint", 4, 2),    # killed while the checkpoint of step 4 was half written
    ("export", 4, 4),        # killed while the export after the checkpoint of step 4 was half written
])
def test_killed_and_resumed_logs_equal_an_uninterrupted_run(straight, moment, at, resumes_from):
    tmp, recipe = straight
    run = tmp / f"killed_{moment}"
    path = write_yaml(tmp / f"{moment}.yaml", {**recipe, "train": {**recipe["train"], "run_dir": str(run)}})
    killed = run_cli([HARNESS, moment, str(at), str(path)])
    assert killed.returncode == -9, killed.stderr[-3000:]
    leftovers = sorted(p.name for p in [*run.glob(".*.tmp-*"), *(run / "state").glob(".tmp-*")])
    if moment == "step":
        with (run / "losses.jsonl").open("a") as fh:  # as if the kill had come in the middle of a write
            fh.write('{"step": 6, "dis/loss": 0.12')
    else:
        assert leftovers, "the kill should have left a temporary folder behind"
    resumed = run_cli(["-m", "i2ikit.run", str(path)])
    assert resumed.returncode == 0, resumed.stderr[-3000:]
    said = resumed.stdout + resumed.stderr
    assert f"resumed from {run / 'state' / f'step_{resumes_from:08d}'} at step {resumes_from}" in said
    if leftovers:
        assert "leftover(s) of an interrupted run" in said
    assert not [*run.glob(".*.tmp-*"), *(run / "state").glob(".tmp-*")]

    a, b = _losses(tmp / "straight"), _losses(run)
    assert [r["step"] for r in a] == [r["step"] for r in b] == [1, 2, 3, 4, 5, 6]
    for ra, rb in zip(a, b):
        assert ra.keys() == rb.keys()
        for key in ra:
            assert ra[key] == pytest.approx(rb[key], rel=1e-5, abs=1e-6), (ra["step"], key)
    for tag in ("gen/loss", "dis/loss", "images_per_second"):
        assert _tensorboard_steps(run, tag) == [1, 2, 3, 4, 5, 6], tag
    assert json.loads((run / "export" / "config.json").read_text())["step"] == 6


def test_a_dangling_latest_is_reported_with_the_fallback(tmp_path):
    root = tmp_path / "run" / "state"
    for step in (2, 4):
        (root / f"step_{step:08d}").mkdir(parents=True)
        (root / f"step_{step:08d}" / ckpt.STATE_FILE).write_text(json.dumps({"step": step}))
    (root / "latest").write_text("step_00000006\n")
    point = ckpt.find_resume_point(tmp_path / "run")
    assert point.path == root / "step_00000004"
    assert "names 'step_00000006', which does not exist; resuming from step_00000004" in point.notes[0]
    # latest behind the newest folder (killed between the rename and the pointer update): latest wins
    (root / "latest").write_text("step_00000002\n")
    assert ckpt.find_resume_point(tmp_path / "run").path == root / "step_00000002"
    shutil.rmtree(root / "step_00000002")
    shutil.rmtree(root / "step_00000004")
    point = ckpt.find_resume_point(tmp_path / "run")
    assert point.path is None and "no complete checkpoint is left" in point.notes[0] and "starting from step 0" in point.notes[0]


def test_a_dangling_latest_is_said_when_training_resumes(tmp_path, image_folder):
    run = tmp_path / "run"
    path = write_yaml(tmp_path / "r.yaml", tiny_recipe(image_folder, run, steps=2, sample_every=100))
    assert run_cli(["-m", "i2ikit.run", str(path)]).returncode == 0
    (run / "state" / "latest").write_text("step_00000009\n")
    out = run_cli(["-m", "i2ikit.run", str(path), "train.steps=3"])
    assert out.returncode == 0, out.stderr[-2000:]
    said = out.stdout + out.stderr
    assert "warning:" in said and "names 'step_00000009', which does not exist; resuming from step_00000002" in said
    assert [r["step"] for r in _losses(run)] == [1, 2, 3]


def test_trim_log_keeps_whole_records_up_to_the_step(tmp_path):
    log = tmp_path / "losses.jsonl"
    log.write_text('{"step": 1, "a": 1}\n{"step": 2, "a": 2}\n{"step": 3, "a": 3}\n{"step": 4, "a"')
    assert ckpt.trim_log(log, 2) == 2
    assert log.read_text() == '{"step": 1, "a": 1}\n{"step": 2, "a": 2}\n'
    assert ckpt.trim_log(log, 2) == 0 and ckpt.trim_log(tmp_path / "none.jsonl", 3) == 0


def test_a_second_run_in_the_same_folder_is_refused(tmp_path):
    from i2ikit.errors import ConfigError

    with ckpt.run_folder_lock(tmp_path):
        with pytest.raises(ConfigError, match=f"{tmp_path} is in use by another i2ikit run"):
            with ckpt.run_folder_lock(tmp_path):
                pass
    with ckpt.run_folder_lock(tmp_path):  # released when the first run ends
        pass
