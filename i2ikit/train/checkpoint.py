"""Resume checkpoints written so that a kill at any moment never leaves a broken ``latest``.

Layout: ``<run>/state/step_00001000/`` (``Accelerator.save_state`` output) and ``<run>/state/latest``,
a one-line file naming the newest complete folder. A checkpoint is written into a temporary folder,
renamed into place, and only then is ``latest`` replaced (write + ``os.replace``).
"""
from __future__ import annotations

import os
import re
import shutil
from pathlib import Path

_STEP_DIR = re.compile(r"^step_(\d{8})$")


def state_root(run_dir: Path) -> Path:
    return run_dir / "state"


def write_text_atomic(path: Path, text: str) -> None:
    tmp = path.with_name(f".{path.name}.tmp-{os.getpid()}")
    tmp.write_text(text)
    with open(tmp, "rb") as fh:
        os.fsync(fh.fileno())
    os.replace(tmp, path)


def latest_checkpoint(run_dir: Path) -> Path | None:
    """The newest complete checkpoint, or None. Falls back to scanning if ``latest`` is missing."""
    root = state_root(run_dir)
    pointer = root / "latest"
    if pointer.exists():
        candidate = root / pointer.read_text().strip()
        if candidate.is_dir():
            return candidate
    complete = sorted(p for p in root.glob("step_*") if _STEP_DIR.match(p.name) and (p / "trainer_step.txt").exists())
    return complete[-1] if complete else None


def step_of(checkpoint: Path) -> int:
    return int((checkpoint / "trainer_step.txt").read_text().strip())


def temp_dir_for(run_dir: Path, step: int) -> Path:
    return state_root(run_dir) / f".tmp-step_{step:08d}"


def publish(run_dir: Path, step: int, keep: int) -> Path:
    """Rename the finished temporary folder into place, point ``latest`` at it, prune old ones."""
    root = state_root(run_dir)
    tmp = temp_dir_for(run_dir, step)
    (tmp / "trainer_step.txt").write_text(f"{step}\n")
    final = root / f"step_{step:08d}"
    if final.exists():
        shutil.rmtree(final)
    os.replace(tmp, final)
    write_text_atomic(root / "latest", final.name + "\n")
    done = sorted(p for p in root.glob("step_*") if _STEP_DIR.match(p.name))
    for old in done[:-keep]:
        shutil.rmtree(old, ignore_errors=True)
    for stale in root.glob(".tmp-step_*"):
        shutil.rmtree(stale, ignore_errors=True)
    return final
