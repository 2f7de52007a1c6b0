"""Recipes: YAML float parsing, base merge, overrides, and clear errors before training starts."""
from __future__ import annotations


import pytest

from i2ikit.recipe import RecipeError, load_recipe, parse_value

from conftest import ROOT, make_image_folder, run_cli, tiny_recipe, write_yaml


def test_floats_parse_as_yaml_1_2():
    assert parse_value("1e-4") == 1e-4 and isinstance(parse_value("1e-4"), float)
    assert parse_value("null") is None and parse_value("3") == 3 and parse_value("[1, 2]") == [1, 2]


def test_base_merge_and_overrides(tmp_path, image_folder):
    base = tiny_recipe(image_folder, tmp_path / "run")
    base["method"]["lr_gen"] = "placeholder"
    write_yaml(tmp_path / "base.yaml", base)
    (tmp_path / "child.yaml").write_text("base: base.yaml\nname: child\nmethod:\n  lr_gen: 1e-4\ntrain:\n  steps: 7\n")
    recipe = load_recipe(tmp_path / "child.yaml", ["train.batch_size=3", "method.lr_dis=2e-4"])
    assert recipe.name == "child" and recipe.train.steps == 7 and recipe.train.batch_size == 3
    assert recipe.method["lr_gen"] == 1e-4 and recipe.method["lr_dis"] == 2e-4
    assert recipe.method["nf"] == 8  # inherited from the base


@pytest.mark.parametrize(
    "override, message",
    [
        ("train.stpes=3", "unknown key 'stpes'. Did you mean 'steps'?"),
        ("train.batch_size=abc", "train.batch_size: expected an integer, got 'abc'"),
        ("method.nff=3", "unknown key 'nff'. Did you mean 'nf'?"),
        ("method.lr_gen=fast", "method.lr_gen: expected a number"),
        ("method.name=fnuit", "Did you mean 'funit'"),
        ("data.train.type=image_foldr", "Did you mean 'image_folder'?"),
        ("train.mixed_precision=fp12", "expected one of"),
        ("data.crop=64", "data.crop (64) is larger than data.new_size (36)"),
    ],
)
def test_bad_recipes_fail_with_the_key_named(tmp_path, image_folder, override, message):
    write_yaml(tmp_path / "r.yaml", tiny_recipe(image_folder, tmp_path / "run"))
    with pytest.raises(RecipeError) as exc:
        load_recipe(tmp_path / "r.yaml", [override])
    assert message in str(exc.value)
    assert str(tmp_path / "r.yaml") in str(exc.value)


def test_missing_data_is_an_error_before_training(tmp_path):
    path = write_yaml(tmp_path / "r.yaml", tiny_recipe(tmp_path / "no_such_folder", tmp_path / "run"))
    out = run_cli(["-m", "i2ikit.run", str(path)])
    assert out.returncode == 2
    assert "no_such_folder" in out.stderr and "Traceback" not in out.stderr
    assert not (tmp_path / "run" / "state").exists()


def test_shipped_recipes_validate():
    paths = sorted((ROOT / "recipes").glob("*.yaml"))
    assert {"quickstart.yaml", "gpunit_cat2dog.yaml", "deepi2i_animals.yaml"} <= {p.name for p in paths}
    for path in paths:
        load_recipe(path)


def test_stages_merge_their_base_substitute_run_paths_and_take_overrides(tmp_path):
    from i2ikit.recipe import RecipeError

    write_yaml(tmp_path / "first.yaml", tiny_recipe(tmp_path / "imgs", tmp_path / "first_run"))
    main = {
        "name": "second",
        "stages": {"first": {"base": "first.yaml", "train": {"steps": 1}}},
        "method": {"name": "gpunit", "content_encoder": "${stages.first.export}/content_encoder.pt"},
        "data": {"train": {"type": "image_folder", "root": str(tmp_path / "imgs")}},
        "train": {"run_dir": str(tmp_path / "second_run")},
    }
    path = write_yaml(tmp_path / "second.yaml", main)
    r = load_recipe(path, ["stages.first.train.batch_size=3"])
    first = r.stages["first"]
    assert first.name == "tiny" and first.train.steps == 1 and first.train.batch_size == 3
    assert r.method["content_encoder"] == str(tmp_path / "first_run" / "export" / "content_encoder.pt")
    assert r.to_dict()["stages"]["first"]["train"]["steps"] == 1 and "source" not in r.to_dict()["stages"]["first"]
    assert load_recipe(path, ["stages=null", "method.content_encoder=x.pt"]).stages == {}
    with pytest.raises(RecipeError, match=r"\$\{stages.prior.export\} names no stage; stages: first"):
        load_recipe(path, ["method.content_encoder=${stages.prior.export}/content_encoder.pt"])
    with pytest.raises(RecipeError, match="same run folder"):
        load_recipe(path, [f"train.run_dir={tmp_path / 'first_run'}"])


@pytest.mark.parametrize("name", ["gpunit_prior", "gpunit_cat2dog", "gpunit_male2female", "gpunit_bird2dog",
                                  "gpunit_bird2car", "gpunit_dog2face"])
def test_gpunit_paper_recipes_stop_before_training_and_say_what_to_prepare(name, tmp_path, monkeypatch, capsys):
    from i2ikit.run import main

    monkeypatch.chdir(tmp_path)
    monkeypatch.setenv("I2IKIT_WEIGHTS", str(tmp_path / "weights"))
    monkeypatch.setenv("TORCH_HOME", str(tmp_path / "torch"))
    monkeypatch.setenv("HOME", str(tmp_path))
    assert main([str(ROOT / "recipes" / f"{name}.yaml")]) == 2
    err = capsys.readouterr().err
    assert "data/ImageNet291/train" in err and "nothing was trained" in err and "docs/datasets.md" in err
    assert not (tmp_path / "runs").exists()
    if name != "gpunit_prior":  # without Stage I: the task's own data is checked next
        assert main([str(ROOT / "recipes" / f"{name}.yaml"), "stages=null", "method.content_encoder=ce.pt"]) == 2
        err = capsys.readouterr().err
        assert "data/" in err and "does not exist" in err
    # with the data in place, the missing VGG19 file is named with where it comes from
    make_image_folder(tmp_path / "x", classes=2, per_class=2)
    assert main([str(ROOT / "recipes" / "gpunit_cat2dog.yaml"), "stages=null", "method.content_encoder=ce.pt",
                 f"data.train.root={tmp_path / 'x'}", "data.train.classes=[class_00, class_01]",
                 "data.streams.source.classes=[class_00]", "data.streams.target.classes=[class_01]"]) == 2
    err = capsys.readouterr().err
    assert "vgg19-dcbb9e9d.pth" in err and "download.pytorch.org" in err
    assert not (tmp_path / "runs").exists()
