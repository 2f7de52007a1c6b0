"""A run folder is easy to look at: the trainer keeps an index.html of its sample grids, and `i2ikit plot` draws the
loss curves (one panel per training step) and the evaluation metrics over steps as PNG."""
from __future__ import annotations

import json
import re
from pathlib import Path

from PIL import Image

from i2ikit.cli import main as cli_main
from i2ikit.recipe import validate
from i2ikit.train.report import read_eval, read_losses
from i2ikit.train.trainer import Trainer

from conftest import tiny_recipe


def test_training_keeps_an_index_of_the_sample_grids_and_plot_draws_the_curves(tmp_path: Path, image_folder, capsys) -> None:
    run = tmp_path / "run"
    Trainer(validate(tiny_recipe(image_folder, run, steps=4, sample_every=2))).fit()
    page = (run / "index.html").read_text()
    shown = re.findall(r'<img src="samples/(step_\d+\.png)"', page)
    assert shown == ["step_00000004.png", "step_00000002.png"]  # every grid, newest first
    assert all((run / "samples" / name).is_file() for name in shown)
    assert "Columns: " in page and "i2ikit plot" in page  # no curves yet: the page says how to draw them

    # two evaluations, as a recipe's eval: section writes them
    (run / "eval").mkdir()
    for step, fid in ((2, 80.0), (4, 60.0)):
        (run / "eval" / f"step_{step:08d}.json").write_text(json.dumps({"k1": {"mfid": fid, "num_content": 4.0}}))
    assert cli_main(["plot", str(run)]) == 0
    out = capsys.readouterr().out
    assert "plots/losses.png" in out and "plots/eval.png" in out and "index.html" in out
    for name in ("losses.png", "eval.png"):
        with Image.open(run / "plots" / name) as img:
            assert img.format == "PNG" and img.width > 300 and img.height > 150
    page = (run / "index.html").read_text()
    assert '<img src="plots/losses.png"' in page and '<img src="plots/eval.png"' in page
    assert "4 logged steps, last step 4" in page and 'href="export/"' in page
    assert read_eval(run) == [(2, {"k1": {"mfid": 80.0, "num_content": 4.0}}), (4, {"k1": {"mfid": 60.0, "num_content": 4.0}})]


def test_losses_are_read_once_per_step(tmp_path: Path) -> None:
    run = tmp_path / "run"
    run.mkdir()
    (run / "losses.jsonl").write_text("\n".join([
        json.dumps({"step": 1, "D/loss": 1.0}), json.dumps({"step": 2, "D/loss": 2.0}),
        json.dumps({"step": 2, "D/loss": 2.5}),  # logged again after a resume: the last line counts
        '{"step": 3, "D/lo',                      # cut by a kill
    ]) + "\n")
    assert read_losses(run) == [{"step": 1, "D/loss": 1.0}, {"step": 2, "D/loss": 2.5}]


def test_plot_names_a_folder_that_is_not_a_run(tmp_path: Path, capsys) -> None:
    assert cli_main(["plot", str(tmp_path / "nowhere")]) == 2
    assert "no such run folder" in capsys.readouterr().err
    (tmp_path / "empty").mkdir()
    assert cli_main(["plot", str(tmp_path / "empty")]) == 2
    err = capsys.readouterr().err
    assert "holds no losses.jsonl" in err and "Traceback" not in err
