"""A catalogue of user mistakes: each ends in one message that names the culprit, a non-zero exit status
and no traceback (the commands), or a UserError naming it (the Python API).

Most cases call the commands' ``main`` in this process (fast); the few that need a real process (DataLoader
workers, ``accelerate launch``) start one.
"""
from __future__ import annotations

import contextlib
import io
import json
import os
import shutil
import subprocess
import sys
from pathlib import Path

import pytest
import torch
from PIL import Image

import i2ikit
from i2ikit.errors import CheckpointError, ConfigError, MissingFileError, UserError

from conftest import TINY_FUNIT, make_image_folder, run_cli, tiny_recipe, write_yaml


def call(entry: str, argv: list[str]) -> tuple[int, str]:
    """Run ``i2ikit <argv>`` (entry "cli") or ``python -m i2ikit.run <argv>`` (entry "run") in this process;
    return the exit status and everything printed."""
    from i2ikit.cli import main as cli_main
    from i2ikit.run import main as run_main

    out, err = io.StringIO(), io.StringIO()
    with contextlib.redirect_stdout(out), contextlib.redirect_stderr(err):
        try:
            code = (cli_main if entry == "cli" else run_main)(argv)
        except SystemExit as exc:  # argparse
            code = exc.code
    return code, out.getvalue() + err.getvalue()


def assert_user_error(code: int, text: str, *culprits: str, status: int = 2) -> None:
    assert code == status, text[-3000:]
    assert "Traceback" not in text, text[-3000:]
    for culprit in culprits:
        assert culprit in text, (culprit, text[-3000:])


@pytest.fixture(scope="module")
def world(tmp_path_factory):
    """Shared, read-only material: images, a tiny recipe, an export, a trained run folder."""
    tmp = tmp_path_factory.mktemp("bad")
    images = make_image_folder(tmp / "images")
    recipe = tiny_recipe(images, tmp / "run", steps=2, sample_every=100)
    from i2ikit.recipe import validate
    from i2ikit.train.trainer import Trainer

    Trainer(validate(recipe)).fit()
    from accelerate.state import AcceleratorState, GradientState, PartialState

    AcceleratorState._reset_state(True)
    GradientState._reset_state()
    PartialState._reset_state()
    shots = tmp / "shots"
    shots.mkdir()
    for i in range(2):
        Image.new("RGB", (32, 32), (i * 90, 40, 200)).save(shots / f"s{i}.png")
    return {"tmp": tmp, "images": images, "recipe": recipe, "run": tmp / "run", "export": tmp / "run" / "export",
            "shots": shots}


def recipe_file(world, tmp_path: Path, name: str = "r.yaml", **changes) -> Path:
    """The tiny recipe with sections replaced or updated: ``method={...}`` merges into method, etc."""
    data = json.loads(json.dumps(world["recipe"]))
    data["train"]["run_dir"] = str(tmp_path / "run")
    for section, value in changes.items():
        if isinstance(value, dict) and isinstance(data.get(section), dict):
            data[section].update(value)
        else:
            data[section] = value
    return write_yaml(tmp_path / name, data)


def copy_export(world, tmp_path: Path) -> Path:
    dst = tmp_path / "export"
    shutil.copytree(world["export"], dst)
    return dst


# ---- recipes ----------------------------------------------------------------------------------------
RECIPE_CASES = {
    "unknown top key": ({"trian": {"steps": 3}}, ["trian", "Did you mean 'train'"]),
    "unknown method": ({"method": {"name": "funt"}}, ["funt", "Did you mean 'funit'"]),
    "negative width": ({"method": {"nf": -4}}, ["method.nf", "'funit'", "nf must be >= 1", "-4"]),
    "width as text": ({"method": {"nf": "abc"}}, ["method.nf", "expected an integer", "'abc'"]),
    "negative learning rate": ({"method": {"lr_gen": -1}}, ["method.lr_gen", "'funit'", "> 0"]),
    "decay above one": ({"method": {"ema_decay": 2}}, ["method.ema_decay", "<= 1"]),
    "unknown method key": ({"method": {"nff": 4}}, ["nff", "Did you mean 'nf'"]),
    "zero steps": ({"train": {"steps": 0}}, ["train.steps must be >= 1"]),
    "crop above new_size": ({"data": {"crop": 64}}, ["data.crop (64) is larger than data.new_size"]),
    "missing data folder": ({"data": {"train": {"type": "image_folder", "root": "/nonexistent/images"}}},
                            ["/nonexistent/images", "does not exist"]),
    "unknown dataset type": ({"data": {"train": {"type": "image_foldr", "root": "x"}}}, ["image_foldr", "image_folder"]),
    "bad on_bad_image": ({"data": {"on_bad_image": "maybe"}}, ["data.on_bad_image", "'maybe'", "skip"]),
    "missing base": ({"base": "nonexistent_base.yaml"}, ["nonexistent_base.yaml", "does not exist"]),
    "bad mixed precision": ({"train": {"mixed_precision": "fp8"}}, ["train.mixed_precision", "'fp8'"]),
    "eval protocol of another task": ({"eval": {"targets": {"type": "image_folder", "root": "held_out"}, "protocol": "two_domain"}},
                                      ["eval.protocol", "'funit'", "two_domain", "its protocol is few_shot"]),
    "unknown part key": ({"method": {"discriminator": {"n_res_blk": 4}}}, ["method.discriminator", "'funit_patch'",
                                                                         "unknown key 'n_res_blk'", "n_res_blks"]),
}


@pytest.mark.parametrize("case", sorted(RECIPE_CASES))
def test_recipe_mistakes(world, tmp_path, case):
    changes, culprits = RECIPE_CASES[case]
    code, text = call("run", [str(recipe_file(world, tmp_path, **changes))])
    assert_user_error(code, text, "r.yaml", *culprits)
    assert not (tmp_path / "run").exists()  # nothing was created


def test_recipe_file_missing_not_yaml_or_not_a_mapping(tmp_path):
    assert_user_error(*call("run", [str(tmp_path / "none.yaml")]), "none.yaml", "does not exist")
    (tmp_path / "bad.yaml").write_text("method: {name: funit\ndata: [\n")
    assert_user_error(*call("run", [str(tmp_path / "bad.yaml")]), "bad.yaml", "not valid YAML")
    (tmp_path / "list.yaml").write_text("- a\n- b\n")
    assert_user_error(*call("run", [str(tmp_path / "list.yaml")]), "list.yaml", "a recipe is a mapping")


# ---- overrides ------------------------------------------------------------------------------------
OVERRIDE_CASES = {
    "unclosed list": ("train.steps=[1", ["train.steps=[1", "not valid YAML", "lists as [1, 2]"]),
    "no equals sign": ("trainsteps100", ["trainsteps100", "not of the form key=value"]),
    "text for a number": ("train.steps=abc", ["train.steps", "expected an integer", "'abc'"]),
    "empty key part": ("train..steps=3", ["train..steps", "not a dotted key"]),
    "negative width": ("method.nf=-4", ["method.nf", "nf must be >= 1"]),
    "unknown key": ("train.stpes=3", ["stpes", "Did you mean 'steps'"]),
}


@pytest.mark.parametrize("case", sorted(OVERRIDE_CASES))
def test_override_mistakes(world, tmp_path, case):
    override, culprits = OVERRIDE_CASES[case]
    code, text = call("run", [str(recipe_file(world, tmp_path)), override])
    assert_user_error(code, text, *culprits)


# ---- data -----------------------------------------------------------------------------------------
def test_one_class_dataset_for_funit_names_the_method_and_the_layout(tmp_path, world):
    root = tmp_path / "data"
    make_image_folder(root / "animals", classes=3, per_class=2)  # the root is one level above the classes
    code, text = call("run", [str(recipe_file(world, tmp_path, data={"train": {"type": "image_folder", "root": str(root)}}))])
    assert_user_error(code, text, "'funit' needs at least 2 classes", "one level too high", f"root: {root / 'animals'}")
    single = make_image_folder(tmp_path / "single", classes=1, per_class=3)
    code, text = call("run", [str(recipe_file(world, tmp_path, "s.yaml", data={"train": {"type": "image_folder", "root": str(single)}}))])
    assert_user_error(code, text, "needs at least 2 classes", str(single), "has 1 (class_00)")


def test_an_empty_class_folder_is_named(tmp_path, world):
    root = make_image_folder(tmp_path / "data", classes=2, per_class=2)
    (root / "empty_class").mkdir()
    code, text = call("run", [str(recipe_file(world, tmp_path, data={"train": {"type": "image_folder", "root": str(root)}}))])
    assert_user_error(code, text, "empty_class", "no usable images")


def _with_bad_image(tmp_path: Path) -> tuple[Path, Path]:
    root = make_image_folder(tmp_path / "data", classes=2, per_class=3)
    bad = root / "class_01" / "img_001.png"
    bad.write_bytes(bad.read_bytes()[:60])  # cut short, as by a failed copy
    return root, bad


@pytest.mark.parametrize("workers", [0, 2])
def test_an_unreadable_image_stops_training_naming_it_from_any_loader_worker(tmp_path, world, workers):
    root, bad = _with_bad_image(tmp_path)
    path = recipe_file(world, tmp_path, data={"train": {"type": "image_folder", "root": str(root)}, "num_workers": workers})
    out = run_cli(["-m", "i2ikit.run", str(path)])
    assert_user_error(out.returncode, out.stdout + out.stderr, f"cannot read image '{bad}'", "exclude")
    assert "DataLoader worker" not in out.stderr


def test_on_bad_image_skip_trains_and_names_the_skipped_file(tmp_path, world):
    root, bad = _with_bad_image(tmp_path)
    path = recipe_file(world, tmp_path, data={"train": {"type": "image_folder", "root": str(root)}, "on_bad_image": "skip",
                                              "num_workers": 2})
    out = run_cli(["-m", "i2ikit.run", str(path), "train.steps=4", "train.batch_size=4"])
    assert out.returncode == 0, out.stderr[-3000:]
    assert out.stderr.count(f"skipped an unreadable image (data.on_bad_image: skip): cannot read image '{bad}'") == 1


def test_images_much_smaller_than_the_crop_are_warned_about_once(tmp_path, world):
    root = make_image_folder(tmp_path / "data", classes=2, per_class=3)
    tiny = root / "class_00" / "img_000.png"
    Image.new("RGB", (1, 1), (255, 0, 0)).save(tiny)
    code, text = call("run", [str(recipe_file(world, tmp_path, data={"train": {"type": "image_folder", "root": str(root)}})),
                              "train.steps=6", "train.batch_size=4"])
    assert code == 0, text[-3000:]
    assert text.count(f"{tiny} is 1x1, much smaller than the 32px crop") == 1


# ---- run folders, training-time stops ---------------------------------------------------------------
def test_a_run_folder_inside_a_file_is_named_before_anything_is_built(tmp_path, world):
    (tmp_path / "afile").write_text("x")
    code, text = call("run", [str(recipe_file(world, tmp_path)), f"train.run_dir={tmp_path / 'afile' / 'run'}"])
    assert_user_error(code, text, str(tmp_path / "afile"), "is a file, not a folder", "train.run_dir")


def _make_unwritable(folder: Path) -> bool:
    """chmod works unless we are root; root is stopped by the immutable attribute (chattr +i) where it exists."""
    if os.geteuid() != 0:
        folder.chmod(0o555)
        return True
    done = subprocess.run(["chattr", "+i", str(folder)], capture_output=True)
    return done.returncode == 0


def test_an_unwritable_run_folder_is_named_before_the_model_is_built(tmp_path, world, monkeypatch):
    run = tmp_path / "ro_run"
    run.mkdir()
    if not _make_unwritable(run):
        # No way to make a folder unwritable for root here: make the write itself fail as a read-only disk would.
        import tempfile

        real = tempfile.NamedTemporaryFile

        def read_only(*args, dir=None, **kwargs):
            if dir is not None and Path(dir) == run:
                raise OSError(30, "Read-only file system", str(run))
            return real(*args, dir=dir, **kwargs)

        monkeypatch.setattr(tempfile, "NamedTemporaryFile", read_only)
    built = []
    import i2ikit.train.trainer as trainer_module

    def no_build(*a, **k):  # the trainer's own reference to build: patching i2ikit.api.build alone would not reach it
        built.append(1)
        raise AssertionError("the model was built before the run folder was checked")

    monkeypatch.setattr(i2ikit.api, "build", no_build)
    monkeypatch.setattr(trainer_module, "build", no_build)
    try:
        code, text = call("run", [str(recipe_file(world, tmp_path)), f"train.run_dir={run}"])
    finally:
        subprocess.run(["chattr", "-i", str(run)], capture_output=True)
        run.chmod(0o755)
    assert_user_error(code, text, f"cannot write to {run}", "train.run_dir")
    assert not built


def test_a_loss_that_becomes_infinite_stops_with_a_message(tmp_path, world):
    code, text = call("run", [str(recipe_file(world, tmp_path)), "method.gan_w=1e300"])
    assert_user_error(code, text, "step 1:", "dis/loss is inf", "Lower the learning rates")
    assert not (tmp_path / "run" / "losses.jsonl").exists() or not (tmp_path / "run" / "losses.jsonl").read_text()


def test_resume_from_a_missing_folder_or_a_damaged_checkpoint(tmp_path, world):
    code, text = call("run", [str(recipe_file(world, tmp_path)), f"train.resume={tmp_path / 'nope'}"])
    assert_user_error(code, text, "train.resume", str(tmp_path / "nope"), "not a checkpoint folder")
    run = tmp_path / "run"
    assert not run.exists()  # refused before anything was built
    shutil.copytree(world["run"], run)
    net = run / "state" / "step_00000002" / "net_gen.safetensors"
    net.write_bytes(net.read_bytes()[:100])
    code, text = call("run", [str(recipe_file(world, tmp_path)), "train.steps=3"])
    assert_user_error(code, text, str(net), "cannot be read as safetensors")
    (run / "state" / "step_00000002" / "trainer_state.json").write_text("{not json")
    code, text = call("run", [str(recipe_file(world, tmp_path)), "train.steps=3"])
    assert_user_error(code, text, "trainer_state.json is not valid JSON")


# ---- exports, official files and translate options ----------------------------------------------------------
def _translate(model: Path | str, world, *extra: str, steer: bool = True) -> list[str]:
    """``i2ikit translate`` arguments; without ``extra`` (and unless ``steer=False``) the few-shot option."""
    default = ("--class-images", str(world["shots"])) if steer else ()
    return ["translate", "--model", str(model), "--content", str(world["shots"]), "--out", str(world["tmp"] / "out"),
            "--size", "32", *(extra or default)]


def test_a_run_folder_given_as_a_model_points_to_its_export(world):
    assert_user_error(*call("cli", _translate(world["run"], world)), "is a run folder, not an export",
                      str(world["run"] / "export"))
    assert_user_error(*call("cli", _translate(world["run"] / "state", world)), "holds resume state, not an export")


def test_a_folder_that_is_not_an_export(tmp_path, world):
    code, text = call("cli", _translate(tmp_path, world))
    assert_user_error(code, text, str(tmp_path), "no config.json, so it is not an i2ikit export", "--method")
    assert "If it is an official checkpoint, say which method it belongs to" in text


def test_a_missing_model_path(tmp_path, world):
    assert_user_error(*call("cli", _translate(tmp_path / "missing", world)), str(tmp_path / "missing"), "no such file")


@pytest.mark.parametrize("damage", ["truncated", "empty", "text"])
def test_a_damaged_export_weight_file_is_named(tmp_path, world, damage):
    export = copy_export(world, tmp_path)
    file = export / "gen_ema.safetensors"
    data = file.read_bytes()
    file.write_bytes({"truncated": data[: len(data) // 3], "empty": b"", "text": b"not a weight file\n"}[damage])
    assert_user_error(*call("cli", _translate(export, world)), str(file), "cannot be read as safetensors")


def test_a_damaged_or_tampered_export_config(tmp_path, world):
    export = copy_export(world, tmp_path)
    config = json.loads((export / "config.json").read_text())
    (export / "config.json").write_text(json.dumps({**config, "config": {**config["config"], "nf": -4}}))
    assert_user_error(*call("cli", _translate(export, world)), "config.json", "nf must be >= 1")
    (export / "config.json").write_text("{")
    assert_user_error(*call("cli", _translate(export, world)), "config.json", "not valid JSON")
    (export / "gen.safetensors").unlink()
    (export / "config.json").write_text(json.dumps(config))
    assert_user_error(*call("cli", _translate(export, world)), "gen.safetensors is missing")


def test_official_checkpoints_that_are_damaged_or_need_pickle(tmp_path, world):
    from i2ikit_funit import to_official

    model = i2ikit.build("funit", num_classes=3, **TINY_FUNIT)
    torch.save(to_official(model), tmp_path / "gen.pt")
    data = (tmp_path / "gen.pt").read_bytes()
    (tmp_path / "cut.pt").write_bytes(data[: len(data) // 2])
    assert_user_error(*call("cli", _translate(tmp_path / "cut.pt", world, "--class-images", str(world["shots"]),
                                              "--method", "funit")), "cut.pt", "truncated, damaged")
    marker = tmp_path / "ran"

    class Payload:
        def __reduce__(self):
            return (Path.touch, (marker,))

    torch.save({"gen": Payload()}, tmp_path / "evil.pt")
    assert_user_error(*call("cli", _translate(tmp_path / "evil.pt", world, "--class-images", str(world["shots"]),
                                              "--method", "funit")), "evil.pt", "needs pickle")
    assert not marker.exists()
    assert_user_error(*call("cli", _translate(tmp_path / "gen.pt", world)), "gen.pt", "file is not an i2ikit export", "--method")


@pytest.mark.parametrize("option, culprit", [
    (["--target-class", "3"], "--target-class"), (["--all-classes"], "--target-class / --all-classes"),
    (["--style", "STYLE"], "--style"), (["--num-styles", "2"], "--num-styles"),
    ([], "--content alone"),  # no steering option: a FUNIT model needs its K class images
])
def test_translate_options_that_a_few_shot_model_cannot_use(world, option, culprit):
    option = [str(world["shots"]) if o == "STYLE" else o for o in option]
    code, text = call("cli", _translate(world["export"], world, *option, steer=bool(option)))
    assert_user_error(code, text, f"cannot translate with {culprit}", "it translates with --class-images")


def test_translate_inputs_that_are_missing_or_empty(tmp_path, world):
    args = _translate(world["export"], world, "--class-images", str(tmp_path))
    assert_user_error(*call("cli", args), str(tmp_path), "holds no images")
    args = _translate(world["export"], world)
    args[args.index("--content") + 1] = str(tmp_path / "nope")
    assert_user_error(*call("cli", args), str(tmp_path / "nope"), "does not exist")
    assert_user_error(*call("cli", _translate(world["export"], world) + ["--size", "0"]), "--size", "must be >= 1")


def test_eval_with_a_protocol_the_model_does_not_have(world):
    code, text = call("cli", ["eval", str(world["export"]), "--data", str(world["images"]), "--protocol", "many_class",
                              "--out", str(world["tmp"] / "ev")])
    assert_user_error(code, text, "--protocol many_class", "few_shot")


# ---- listing commands -----------------------------------------------------------------------------------
def test_listing_commands_name_what_exists(capsys):
    code, text = call("cli", ["models", "--kind", "encodr"])
    assert_user_error(code, text, "encodr", "discriminator", "method")
    code, text = call("cli", ["models", "nothing*"])
    assert_user_error(code, text, "no method matches 'nothing*'", "funit", status=1)
    code, text = call("cli", ["data", "nope"])
    assert_user_error(code, text, "unknown data command 'nope'", "glyphs")


# ---- the Python API ---------------------------------------------------------------------------------------
API_CASES = {
    "negative width": (dict(name="funit", nf=-4), ConfigError, ["'funit'", "nf", "-4", ">= 1"]),
    "width as text": (dict(name="funit", nf="abc"), ConfigError, ["nf", "expected an integer", "'abc'"]),
    "negative learning rate": (dict(name="funit", lr_gen=-1), ConfigError, ["'funit'", "lr_gen", "> 0"]),
    "unknown key": (dict(name="funit", n_f=8), ConfigError, ["n_f", "Did you mean 'nf'"]),
    "unknown method": (dict(name="funt"), KeyError, ["funt", "Did you mean 'funit'"]),
    "missing pretrained": (dict(name="funit", pretrained="/nonexistent/gen.pt"), MissingFileError, ["/nonexistent/gen.pt"]),
    "no method for an official file": (dict(pretrained=__file__), ConfigError, ["not an i2ikit export", "name its method"]),
}


@pytest.mark.parametrize("case", sorted(API_CASES))
def test_build_mistakes(case):
    kwargs, error, culprits = API_CASES[case]
    with pytest.raises(error) as info:
        i2ikit.build(**kwargs)
    assert isinstance(info.value, UserError)
    for culprit in culprits:
        assert culprit in str(info.value), (culprit, str(info.value))


def test_build_from_a_run_folder_or_a_plain_folder(world, tmp_path):
    with pytest.raises(ConfigError, match="is a run folder, not an export: its export is"):
        i2ikit.build(pretrained=world["run"])
    with pytest.raises(ConfigError, match="no config.json"):
        i2ikit.build(pretrained=tmp_path)
    with pytest.raises(CheckpointError, match="cannot read checkpoint"):
        (tmp_path / "empty.pt").write_bytes(b"")
        i2ikit.build("funit", pretrained=tmp_path / "empty.pt")


# ---- --debug, bugs and accelerate launch ------------------------------------------------------------------
def test_debug_shows_the_traceback_of_a_user_error(tmp_path, monkeypatch):
    code, text = call("run", [str(tmp_path / "none.yaml"), "--debug"])
    assert code == 2 and "Traceback" in text and "does not exist" in text
    monkeypatch.setenv("I2IKIT_DEBUG", "1")
    code, text = call("cli", ["translate", "--model", str(tmp_path / "x"), "--content", "c", "--class-images", "c", "--out", "o"])
    assert code == 2 and "Traceback" in text


def test_a_bug_keeps_its_traceback_and_says_it_is_a_bug(monkeypatch):
    import i2ikit.cli as cli

    def broken(args):
        raise RuntimeError("internal invariant broken")

    monkeypatch.setattr(cli, "cmd_recipes", broken)
    code, text = call("cli", ["recipes"])
    assert code == 1 and "Traceback" in text and "internal invariant broken" in text and "This is a bug" in text


def test_accelerate_launch_prints_the_same_message(tmp_path, world):
    path = recipe_file(world, tmp_path, method={"nf": -4})
    accelerate = Path(sys.executable).with_name("accelerate")
    out = subprocess.run([str(accelerate), "launch", "-q", "--cpu", "--num_processes", "1", "-m", "i2ikit.run", str(path)],
                         capture_output=True, text=True, timeout=300, env={**os.environ, "OMP_NUM_THREADS": "1"})
    assert out.returncode != 0
    assert "Traceback" not in out.stdout + out.stderr, out.stderr[-3000:]
    assert "method.nf: method 'funit' cannot use nf=-4" in out.stderr
