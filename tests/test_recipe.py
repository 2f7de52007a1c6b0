"""Recipes: YAML float parsing, base merge, overrides, and clear errors before training starts."""
from __future__ import annotations


import pytest

from i2ikit.recipe import RecipeError, load_recipe, parse_value

from conftest import ROOT, run_cli, tiny_recipe, write_yaml


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
    for path in sorted((ROOT / "recipes").glob("*.yaml")):
        load_recipe(path)
