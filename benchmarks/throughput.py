"""Shared timing for the per-method benchmark scripts: one full training iteration as the trainer runs
it (every TrainStep of the method, backward, optimiser steps, EMA) and one translation batch, per
precision, with the first precision as the baseline measured in the same run. The device comes from
Accelerate (CUDA when present, else the CPU); batches are random tensors already on the device, so
data loading is excluded."""
from __future__ import annotations

import argparse
import resource
import tempfile
import time
from collections.abc import Callable, Mapping
from pathlib import Path
from typing import Any

import torch


def peak_memory_mb(device: torch.device) -> float:
    if device.type == "cuda":
        return torch.cuda.max_memory_allocated(device) / 2**20
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024  # process high-water mark (Linux: KiB)


def _sync_and_reset(device: torch.device, reset: bool) -> None:
    if device.type == "cuda":
        torch.cuda.synchronize(device)
        if reset:
            torch.cuda.reset_peak_memory_stats(device)


def add_common_arguments(p: argparse.ArgumentParser, *, size: int, batch: int, classes: int) -> None:
    p.add_argument("--size", type=int, default=size)
    p.add_argument("--batch", type=int, default=batch, help="per-step batch")
    p.add_argument("--precision", nargs="+", default=["no", "bf16"], choices=["no", "fp16", "bf16"])
    p.add_argument("--steps", type=int, default=10)
    p.add_argument("--warmup", type=int, default=2)
    p.add_argument("--classes", type=int, default=classes)
    p.add_argument("--tiny", action="store_true", help="small widths instead of the official defaults")


def _trainer(method: dict[str, Any], precision: str, args: argparse.Namespace, train_data: dict[str, Any],
             size: int, run_dir: Path) -> Any:
    """A fresh Trainer for ``method`` at ``precision`` (Accelerate's singletons reset first)."""
    from accelerate.state import AcceleratorState, GradientState, PartialState

    from i2ikit.recipe import validate
    from i2ikit.train.trainer import Trainer

    AcceleratorState._reset_state(True)
    GradientState._reset_state()
    PartialState._reset_state()
    return Trainer(validate({
        "name": "bench", "method": method,
        "data": {"train": train_data, "new_size": size, "crop": size, "num_workers": 0},
        "train": {"batch_size": args.batch, "mixed_precision": precision, "trackers": "none", "progress": False,
                  "run_dir": str(run_dir)},
    }))


def time_trainer(trainer: Any, precision: str, batch: dict, translate: Callable[[], Any],
                 args: argparse.Namespace) -> dict[str, Any]:
    """Images per second and peak memory of a training iteration (every TrainStep on ``batch``) and of
    ``translate()`` (under the trainer's autocast), after ``args.warmup`` untimed calls of each."""
    dev = trainer.accelerator.device

    def train_iter(i: int) -> None:
        for step in trainer.method.training_steps(i):
            trainer._run_step(step, [batch])

    def timed(fn: Callable[[int], Any], n: int) -> tuple[float, float]:
        for i in range(args.warmup):
            fn(i)
        _sync_and_reset(dev, reset=True)
        t0 = time.perf_counter()
        for i in range(n):
            fn(args.warmup + i)
        _sync_and_reset(dev, reset=False)
        return n * args.batch / (time.perf_counter() - t0), peak_memory_mb(dev)

    train_ips, train_mem = timed(train_iter, args.steps)
    with trainer.accelerator.autocast():
        translate_ips, translate_mem = timed(lambda i: translate(), args.steps)
    return {
        "precision": precision, "train_ips": train_ips, "train_mem": train_mem,
        "translate_ips": translate_ips, "translate_mem": translate_mem,
        "device": str(dev) + (f" ({torch.cuda.get_device_name(dev)})" if dev.type == "cuda" else ""),
    }


def print_table(title: str, rows: list[dict[str, Any]], translate_name: str = "translate") -> None:
    """The rows as a Markdown table, the first row the baseline of the ratios."""
    base = rows[0]
    print(f"\n{title}, device: {base['device']}, torch {torch.__version__}")
    print(f"| precision | train img/s | vs base | train peak MiB | {translate_name} img/s | vs base | "
          f"{translate_name} peak MiB |")
    print("|---|---|---|---|---|---|---|")
    for r in rows:
        print(f"| {r['precision']} | {r['train_ips']:.2f} | {r['train_ips'] / base['train_ips']:.2f}x | {r['train_mem']:.0f} | "
              f"{r['translate_ips']:.1f} | {r['translate_ips'] / base['translate_ips']:.2f}x | {r['translate_mem']:.0f} |")
    if base["device"].startswith("cpu"):
        print("(CPU peak memory is the process high-water mark, so later rows include earlier ones.)")


def bench_one(method: dict[str, Any], precision: str, args: argparse.Namespace, data_root: Path,
              translate: Callable[[Any, dict], Any], stream_labels: Mapping[str, int] | None = None) -> dict[str, Any]:
    trainer = _trainer(method, precision, args, {"type": "image_folder", "root": str(data_root)}, args.size,
                       data_root.parent / "run")
    dev = trainer.accelerator.device
    g = torch.Generator().manual_seed(0)
    batch = {
        s: ((torch.rand(args.batch, 3, args.size, args.size, generator=g) * 2 - 1).to(dev),
            (torch.randint(0, args.classes, (args.batch,), generator=g) if stream_labels is None
             else torch.full((args.batch,), stream_labels[s])).to(dev))
        for s in trainer.method.data_streams
    }
    return time_trainer(trainer, precision, batch, lambda: translate(trainer.method, batch), args)


def run(title: str, method: dict[str, Any], args: argparse.Namespace, translate: Callable[[Any, dict], Any],
        stream_labels: Mapping[str, int] | None = None) -> list[dict]:
    """``stream_labels``: one fixed label per data stream (e.g. a domain per stream) instead of random
    labels in ``[0, args.classes)``."""
    from PIL import Image

    with tempfile.TemporaryDirectory() as tmp:
        data_root = Path(tmp) / "data"
        for c in range(args.classes):  # a labelled folder, so num_classes comes out right
            (data_root / f"c{c:04d}").mkdir(parents=True)
            Image.new("RGB", (args.size, args.size)).save(data_root / f"c{c:04d}" / "x.png")
        rows = [bench_one(method, prec, args, data_root, translate, stream_labels) for prec in args.precision]
    print_table(f"{title} ({'tiny' if args.tiny else 'official'} widths), {args.size}px, batch {args.batch}", rows)
    return rows


# ---- paired methods (label maps -> images: pix2pixHD, SPADE) ----------------------------------------------
def _paired_folder(root: Path) -> Path:
    """One pair in the folders layout, so that the trainer can be built (the timed batches are synthetic)."""
    import numpy as np
    from PIL import Image

    for sub in ("train_label", "train_img", "train_inst"):
        (root / sub).mkdir(parents=True)
    Image.fromarray(np.zeros((32, 32), np.uint8), mode="L").save(root / "train_label" / "x.png")
    Image.new("RGB", (32, 32)).save(root / "train_img" / "x.png")
    Image.fromarray(np.zeros((32, 32), np.uint16)).save(root / "train_inst" / "x.png")
    return root


def bench_paired(method: dict[str, Any], precision: str, args: argparse.Namespace, root: Path,
                 size: Callable[[Any], tuple[int, int]]) -> dict[str, Any]:
    """One precision's row for a paired method: random label ids, blocky instance ids and images of
    ``size(model)`` (H, W) already on the device; synthesis is ``model.translate(label, instance)``."""
    trainer = _trainer(method, precision, args, {"type": "paired", "root": str(root), "preprocess": "none"}, 32,
                       root.parent / "run")
    model, dev = trainer.method, trainer.accelerator.device
    h, w = size(model)
    g = torch.Generator().manual_seed(0)
    label = torch.randint(0, model.label_nc, (args.batch, 1, h, w), generator=g).float()
    inst = torch.randint(0, 8, (args.batch, 1, max(1, h // 16), max(1, w // 16)), generator=g).float()
    inst = torch.nn.functional.interpolate(inst, size=(h, w), mode="nearest")
    image = torch.rand(args.batch, 3, h, w, generator=g) * 2 - 1
    uses_instance = not getattr(model, "no_instance", False)
    parts = [image, label] + ([inst] if uses_instance else [])
    batch = {"pairs": (torch.cat(parts, 1).to(dev), torch.zeros(args.batch, dtype=torch.long).to(dev))}
    label, inst = label.to(dev), (inst.to(dev) if uses_instance else None)
    return {**time_trainer(trainer, precision, batch, lambda: model.translate(label, inst), args), "size": (h, w)}


def run_paired(title: str, method: dict[str, Any], args: argparse.Namespace,
               size: Callable[[Any], tuple[int, int]]) -> list[dict]:
    """Every precision of ``args.precision`` for a paired method, printed as a table."""
    with tempfile.TemporaryDirectory() as tmp:
        root = _paired_folder(Path(tmp) / "data")
        rows = [bench_paired(method, prec, args, root, size) for prec in args.precision]
    h, w = rows[0]["size"]
    print_table(f"{title}, {w}x{h}, batch {args.batch}", rows, translate_name="synthesis")
    return rows
