"""Training on the CPU keeps freed memory in the process (i2ikit.train.allocator): it applies on Linux with
glibc, can be switched off, and changes no number: the same seeded run gives the same losses either way."""
from __future__ import annotations

import json
import sys

import pytest

from conftest import run_cli, tiny_recipe, write_yaml

pytestmark = pytest.mark.skipif(not sys.platform.startswith("linux"), reason="glibc's mallopt")


def test_it_applies_once_and_can_be_switched_off() -> None:
    code = "from i2ikit.train.allocator import keep_freed_memory as k; print(k(), k())"
    assert run_cli(["-c", code]).stdout.split() == ["True", "True"]
    assert run_cli(["-c", code], env={"I2IKIT_SYSTEM_MALLOC": "1"}).stdout.split() == ["False", "False"]


def test_the_same_run_gives_the_same_losses_with_either_allocator(tmp_path, image_folder) -> None:
    """Two processes train the same seeded recipe, one with glibc's allocator left as it is."""
    logs = []
    for name, env in (("kept", {}), ("system", {"I2IKIT_SYSTEM_MALLOC": "1"})):
        recipe = write_yaml(tmp_path / f"{name}.yaml", tiny_recipe(image_folder, tmp_path / name, steps=3, save_every=3,
                                                                   sample_every=3))
        code = ("import sys; from i2ikit.train.allocator import keep_freed_memory; from i2ikit.run import main; "
                "rc = main([sys.argv[1]]); print('applied', keep_freed_memory()); sys.exit(rc)")
        out = run_cli(["-c", code, str(recipe)], env=env, timeout=300)
        assert out.returncode == 0, out.stderr[-2000:]
        assert f"applied {name == 'kept'}" in out.stdout
        logs.append([json.loads(line) for line in (tmp_path / name / "losses.jsonl").read_text().splitlines()])
    assert len(logs[0]) == 3 and logs[0] == logs[1]
