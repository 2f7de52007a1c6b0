"""Resume checkpoints that are safe to load from anyone and that a kill at any moment never breaks.

Layout of ``<run>/state/``::

    step_00001000/          one complete checkpoint
        trainer_state.json  what is in it (step, networks, optimisers, ...); written last
        net_<name>.*        each trained network          (state_files: .json + .safetensors)
        optim_<name>.*      each optimiser
        ema_<target>.*      each EMA copy
        extra_<name>.*      other modules whose state changes in training
        scaler.*            the fp16 gradient scaler, when there is one
        rng_<rank>.*        every process's Python, NumPy, torch and device RNG states
    latest                  a one-line file naming the newest complete folder

Nothing is pickled (see :mod:`.state_files`): Accelerate's ``save_state`` pickles optimiser, RNG and
custom states and reloads some of them with ``weights_only=False``, so i2ikit writes and reads the run
state itself. A checkpoint is written into ``.tmp-step_N``, renamed into place, and only then is
``latest`` replaced (write + ``os.replace``). Leftovers of a kill (temporary folders and files) are
removed when the next run starts in that folder.
"""
from __future__ import annotations

import contextlib
import json
import os
import random
import re
import shutil
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Iterator

import numpy as np
import torch
from torch import nn

from ..errors import CheckpointError, ConfigError
from .state_files import load_tree, read_json, save_tree

FORMAT = "i2ikit-run-state"
VERSION = 1
STATE_FILE = "trainer_state.json"
_STEP_DIR = re.compile(r"^step_(\d{8})$")
# What Accelerate's save_state writes; such a folder is refused (it needs pickle), never read.
_ACCELERATE_FILES = ("custom_checkpoint_*.pkl", "random_states_*.pkl", "optimizer*.bin", "scheduler*.bin",
                     "sampler*.bin", "scaler.pt", "pytorch_model*.bin", "model*.safetensors")


def state_root(run_dir: Path) -> Path:
    return run_dir / "state"


def write_text_atomic(path: Path, text: str) -> None:
    tmp = path.with_name(f".{path.name}.tmp-{os.getpid()}")
    tmp.write_text(text)
    with open(tmp, "rb") as fh:
        os.fsync(fh.fileno())
    os.replace(tmp, path)


def _complete(root: Path) -> list[Path]:
    return sorted(p for p in root.glob("step_*") if _STEP_DIR.match(p.name) and (p / STATE_FILE).is_file())


@dataclass
class ResumePoint:
    """Where ``resume: auto`` continues, and what the user should be told about how it was found."""

    path: Path | None
    notes: list[str] = field(default_factory=list)


def find_resume_point(run_dir: Path) -> ResumePoint:
    """The checkpoint ``state/latest`` names; when it names a folder that is not there (or not complete),
    the newest complete one, and a note that says so. ``path`` is None when there is nothing to resume."""
    root = state_root(run_dir)
    pointer = root / "latest"
    complete = _complete(root)
    if not pointer.exists():
        if complete:
            return ResumePoint(complete[-1], [f"{pointer} is missing; resuming from {complete[-1].name}, the newest "
                                              "complete checkpoint"])
        return ResumePoint(None)
    name = pointer.read_text().strip()
    candidate = root / name
    if _STEP_DIR.match(name) and (candidate / STATE_FILE).is_file():
        return ResumePoint(candidate)
    why = "which does not exist" if not candidate.exists() else "which is incomplete"
    if complete:
        return ResumePoint(complete[-1], [f"{pointer} names {name!r}, {why}; resuming from {complete[-1].name}, the "
                                          "newest complete checkpoint, instead"])
    legacy = [p for p in sorted(root.glob("step_*")) if any(p.glob(g) for g in _ACCELERATE_FILES)]
    if legacy:
        return ResumePoint(legacy[-1])  # refused with an explanation when loaded
    return ResumePoint(None, [f"{pointer} names {name!r}, {why}, and no complete checkpoint is left in {root}; "
                              "starting from step 0"])


def latest_checkpoint(run_dir: Path) -> Path | None:
    """The newest complete checkpoint (as :func:`find_resume_point` chooses it), or None."""
    return find_resume_point(run_dir).path


def step_of(checkpoint: Path) -> int:
    return int(read_json(checkpoint / STATE_FILE, "checkpoint description")["step"])


def temp_dir_for(run_dir: Path, step: int) -> Path:
    return state_root(run_dir) / f".tmp-step_{step:08d}"


def publish(run_dir: Path, step: int, keep: int) -> Path:
    """Rename the finished temporary folder into place, point ``latest`` at it, prune old ones."""
    root = state_root(run_dir)
    tmp = temp_dir_for(run_dir, step)
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


def remove_leftovers(run_dir: Path) -> list[Path]:
    """Delete what a killed run leaves behind: unpublished checkpoints (``state/.tmp-step_*``), half-written
    exports (``.export.tmp-*``, ``.export.old-*``) and temporary files of atomic writes. Returns them."""
    patterns = [state_root(run_dir) / ".tmp-step_*", state_root(run_dir) / ".*.tmp-*", run_dir / ".*.tmp-*",
                run_dir / ".*.old-*"]
    removed = []
    for pattern in patterns:
        for path in sorted(pattern.parent.glob(pattern.name)):
            if path.is_dir() and not path.is_symlink():
                shutil.rmtree(path, ignore_errors=True)
            else:
                path.unlink(missing_ok=True)
            removed.append(path)
    return removed


@contextlib.contextmanager
def run_folder_lock(run_dir: Path) -> Iterator[None]:
    """Hold ``<run>/.lock`` while training, so a second run in the same folder stops at once instead of
    interleaving checkpoints and logs. The operating system drops the lock when the process dies."""
    try:
        import fcntl
    except ImportError:  # not POSIX: no lock
        yield
        return
    lock = run_dir / ".lock"
    fh = open(lock, "a+")
    try:
        try:
            fcntl.flock(fh, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except OSError:
            fh.seek(0)
            holder = fh.read().strip() or "another process"
            raise ConfigError(f"{run_dir} is in use by another i2ikit run ({holder}); wait for it to finish, stop it, "
                              "or give this run its own folder (train.run_dir=... or another recipe name)") from None
        fh.seek(0)
        fh.truncate()
        fh.write(f"process {os.getpid()}\n")
        fh.flush()
        yield
    finally:
        fh.close()


# ---- what a checkpoint holds ----------------------------------------------------------------------
@dataclass
class StateParts:
    """Everything a resume must restore, by name."""

    networks: dict[str, nn.Module]
    optimizers: dict[str, Any]
    ema: dict[str, nn.Module]
    extra: dict[str, nn.Module]
    scaler: Any | None = None
    method: str = ""

    def contents(self) -> dict[str, Any]:
        return {"networks": sorted(self.networks), "optimizers": sorted(self.optimizers), "ema": sorted(self.ema),
                "extra": sorted(self.extra), "scaler": self.scaler is not None}


def _device_rng() -> tuple[str | None, Any]:
    accel = getattr(torch, "accelerator", None)
    if accel is not None and accel.is_available():
        kind = accel.current_accelerator().type
        return kind, torch.get_device_module(kind)
    return None, None


def rng_state() -> dict[str, Any]:
    """This process's Python, NumPy, torch CPU and accelerator RNG states, as a saveable tree."""
    name, keys, pos, has_gauss, cached = np.random.get_state()
    state: dict[str, Any] = {
        "python": random.getstate(),
        "numpy": {"name": name, "keys": torch.from_numpy(keys.astype(np.int64)), "pos": int(pos),
                  "has_gauss": int(has_gauss), "cached_gaussian": float(cached)},
        "torch": torch.get_rng_state(),
    }
    kind, module = _device_rng()
    if kind is not None:
        states = module.get_rng_state_all() if hasattr(module, "get_rng_state_all") else [module.get_rng_state()]
        state["device"] = {"type": kind, "states": list(states)}
    return state


def set_rng_state(state: dict[str, Any], where: str) -> None:
    try:
        random.setstate(state["python"])
        n = state["numpy"]
        np.random.set_state((n["name"], n["keys"].numpy().astype(np.uint32), n["pos"], n["has_gauss"], n["cached_gaussian"]))
        torch.set_rng_state(state["torch"])
    except (KeyError, TypeError, ValueError, RuntimeError, AttributeError) as exc:
        raise CheckpointError(f"{where}: not a valid RNG state ({type(exc).__name__}: {exc}); the checkpoint is "
                              "damaged. Resume from another one or start afresh (train.resume=null).") from None
    kind, module = _device_rng()
    saved = state.get("device")
    if kind is not None and saved and saved.get("type") == kind:
        states = saved["states"]
        if hasattr(module, "set_rng_state_all") and len(states) == module.device_count():
            module.set_rng_state_all(states)
        elif states:
            module.set_rng_state(states[0])


def save_run_state(directory: Path, step: int, parts: StateParts, *, rank: int, num_processes: int,
                   is_main: bool) -> None:
    """Write this process's share of a checkpoint into ``directory``: every process its RNG state, the main
    process everything else. Call :func:`finish_run_state` on the main process once all have written."""
    directory.mkdir(parents=True, exist_ok=True)
    save_tree(rng_state(), directory, f"rng_{rank}")
    if not is_main:
        return
    for name, net in parts.networks.items():
        save_tree(net.state_dict(), directory, f"net_{name}")
    for name, opt in parts.optimizers.items():
        save_tree(opt.state_dict(), directory, f"optim_{name}")
    for name, module in parts.ema.items():
        save_tree(module.state_dict(), directory, f"ema_{name}")
    for name, module in parts.extra.items():
        save_tree(module.state_dict(), directory, f"extra_{name}")
    if parts.scaler is not None:
        save_tree(parts.scaler.state_dict(), directory, "scaler")


def finish_run_state(directory: Path, step: int, parts: StateParts, *, num_processes: int) -> None:
    """Write the description last: a folder without it is not a checkpoint."""
    from .. import __version__

    meta = {"format": FORMAT, "version": VERSION, "step": int(step), "num_processes": int(num_processes),
            "method": parts.method, "i2ikit_version": __version__, **parts.contents()}
    (directory / STATE_FILE).write_text(json.dumps(meta, indent=2) + "\n")


def _refuse_foreign(directory: Path) -> None:
    if (directory / STATE_FILE).is_file():
        return
    found = sorted({p.name for g in _ACCELERATE_FILES for p in directory.glob(g)})
    if found:
        raise CheckpointError(
            f"{directory} is in Accelerate's save_state format ({', '.join(found[:4])}{' ...' if len(found) > 4 else ''}), "
            "which i2ikit does not load: some of those files are pickles, and a crafted pickle runs code when it is "
            "read. Start the run afresh (train.resume=null, or delete the state/ folder); the run's export/, if any, "
            "loads safely.")
    raise CheckpointError(f"{directory} is not an i2ikit checkpoint (no {STATE_FILE}); give a folder "
                          "<run>/state/step_XXXXXXXX, or train.resume=null to start afresh")


def _load_module(module: nn.Module, directory: Path, name: str, what: str) -> None:
    from ..checkpoint_files import load_state_dict_checked

    state = load_tree(directory, name, what)
    if not isinstance(state, dict):
        raise CheckpointError(f"{directory / (name + '.json')}: expected a state dict, got {type(state).__name__}")
    load_state_dict_checked(module, state, source=str(directory / f"{name}.safetensors"), part=what,
                            hint="Was the recipe's method changed since this checkpoint was written?")


def load_run_state(directory: Path, parts: StateParts, *, rank: int, num_processes: int) -> tuple[int, list[str]]:
    """Restore ``parts`` and this process's RNG from ``directory``. Returns the step and notes for the user
    (e.g. a different process count). Anything missing, damaged or foreign is a :class:`CheckpointError`."""
    _refuse_foreign(directory)
    meta = read_json(directory / STATE_FILE, "checkpoint description")
    if not isinstance(meta, dict) or meta.get("format") != FORMAT or not isinstance(meta.get("step"), int):
        raise CheckpointError(f"{directory / STATE_FILE} is not an i2ikit run-state description")
    if meta.get("version", 0) > VERSION:
        raise CheckpointError(f"{directory} was written by a newer i2ikit ({meta.get('i2ikit_version')}, run-state "
                              f"format {meta['version']}); upgrade i2ikit to resume it")
    mine = {k: v for k, v in parts.contents().items() if k != "scaler"}  # precision may change on resume
    theirs = {k: meta.get(k) for k in mine}
    if theirs != mine:
        diff = "; ".join(f"{k}: checkpoint {theirs[k]} vs this run {mine[k]}" for k in mine if theirs[k] != mine[k])
        raise CheckpointError(f"{directory} was written for a different setup ({diff}). Was the recipe's method or "
                              "precision changed? Resume with the original recipe, or start afresh (train.resume=null).")
    for name, net in parts.networks.items():
        _load_module(net, directory, f"net_{name}", f"network {name}")
    for name, module in parts.ema.items():
        _load_module(module, directory, f"ema_{name}", f"EMA copy {name}")
    for name, module in parts.extra.items():
        _load_module(module, directory, f"extra_{name}", f"state of {name}")
    for name, opt in parts.optimizers.items():
        state = load_tree(directory, f"optim_{name}", f"optimiser {name}")
        try:
            opt.load_state_dict(state)
        except (KeyError, ValueError, TypeError, RuntimeError) as exc:
            raise CheckpointError(f"{directory / f'optim_{name}.json'} does not fit optimiser {name!r} ({exc}). Was the "
                                  "recipe's method changed since this checkpoint was written?") from None
    notes = []
    if parts.scaler is not None and meta.get("scaler"):
        parts.scaler.load_state_dict(load_tree(directory, "scaler", "gradient scaler"))
    elif parts.scaler is not None:
        notes.append(f"{directory.name} was not trained in fp16: the gradient scaler starts afresh")
    if meta.get("num_processes") != num_processes:
        notes.append(f"{directory.name} was written by {meta.get('num_processes')} process(es), this run has "
                     f"{num_processes}: training continues, but not with exactly the batches an uninterrupted run would see")
    if (directory / f"rng_{rank}.json").is_file():
        set_rng_state(load_tree(directory, f"rng_{rank}", f"RNG state of process {rank}"), str(directory / f"rng_{rank}.json"))
    else:
        notes.append(f"{directory.name} holds no RNG state for process {rank}; it continues with fresh random numbers")
    return int(meta["step"]), notes


# ---- logs ------------------------------------------------------------------------------------------
def trim_log(log_file: Path, last_step: int) -> int:
    """Keep only the records of ``losses.jsonl`` up to ``last_step`` (the step a run resumes from), so a
    resumed run logs every step exactly once; a torn last line (a kill mid-write) goes too. Returns the
    number of lines dropped."""
    if not log_file.exists():
        return 0
    kept, dropped = [], 0
    for line in log_file.read_text(errors="replace").splitlines():
        try:
            record = json.loads(line)
            keep = isinstance(record, dict) and int(record.get("step", 0)) <= last_step
        except (ValueError, TypeError):
            keep = False
        if keep:
            kept.append(line)
        else:
            dropped += 1
    if dropped or not log_file.read_bytes().endswith(b"\n") and kept:
        write_text_atomic(log_file, "".join(f"{line}\n" for line in kept))
    return dropped
