"""Shared timing for the per-method benchmark scripts: one full training iteration as the trainer runs
it (every TrainStep of the method, backward, optimiser steps, EMA) and one translation batch, per
precision, with the first precision as the baseline measured in the same run. The device comes from
Accelerate (CUDA when present, else the CPU); batches are random tensors already on the device, so
data loading is excluded.

Besides images/s and peak memory each row gives the FLOPs of one iteration per image (counted once per row
with ``torch.utils.flop_counter``'s formulas, see :func:`count_flops`: matrix products and convolutions, forward
and backward, R1's double backward included; elementwise work is not counted) and the achieved FLOP/s as a fraction of a
square matrix product's rate measured in the same run at the row's precision (fp32 rows against the fp32
product, bf16 rows against the bf16 one). ``--size`` and ``--batch`` take several values, one row per
combination, for the cost-growth tables; ``--json PATH`` writes the rows for scripts."""
from __future__ import annotations

import argparse
import gc
import json
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


DTYPES = {"no": torch.float32, "fp16": torch.float16, "bf16": torch.bfloat16}


def matmul_peak(device: torch.device, precision: str, n: int | None = None) -> float:
    """FLOP/s of an ``n`` x ``n`` matrix product at ``precision`` on ``device``, the best of five rounds of
    several products after warm-up calls (a peak is a ceiling: a round slowed by another process or a clock
    change must not lower it): the reference the rows' achieved FLOP/s are a fraction of. CPU: n 4096;
    CUDA: n 8192 (TF32 as the process has it set, off by default)."""
    n = n or (8192 if device.type == "cuda" else 4096)
    g = torch.Generator().manual_seed(0)
    a, b = (torch.randn(n, n, generator=g).to(device, DTYPES[precision]) for _ in range(2))
    out = torch.empty_like(a)
    reps = 10 if device.type == "cuda" else 2
    for _ in range(2):
        torch.mm(a, b, out=out)
    best = float("inf")
    for _ in range(5):
        _sync_and_reset(device, reset=False)
        t0 = time.perf_counter()
        for _ in range(reps):
            torch.mm(a, b, out=out)
        _sync_and_reset(device, reset=False)
        best = min(best, time.perf_counter() - t0)
    return 2 * n**3 * reps / best


def count_flops(fn: Callable[[], Any]) -> int:
    """Matrix-product and convolution FLOPs of one call of ``fn`` (forward, backward and double backward), with
    the formulas of ``torch.utils.flop_counter``. Its ``FlopCounterMode`` is not used because its module tracker
    breaks ``autograd.grad`` (R1's gradient penalty): "A leaf node was passed to _will_engine_execute_node"."""
    from torch.utils._python_dispatch import TorchDispatchMode
    from torch.utils.flop_counter import flop_registry

    class Count(TorchDispatchMode):
        flops = 0

        def __torch_dispatch__(self, func, types, args=(), kwargs=None):
            kwargs = kwargs or {}
            out = func(*args, **kwargs)
            formula = flop_registry.get(func._overloadpacket)
            if formula is not None:
                Count.flops += int(formula(*args, **kwargs, out_val=out))
            return out

    with Count():
        fn()
    return Count.flops


def mean_iteration_flops(method: Any, train_iter: Callable[[int], Any], iterations: range) -> float:
    """The mean FLOPs of the training iterations ``iterations``, counting one iteration of each distinct set of
    TrainSteps (DRIT alternates content-discriminator-only iterations with full ones) and weighting it by how
    often that set occurs among them."""
    kinds: dict[tuple[str, ...], list[int]] = {}
    for i in iterations:
        kinds.setdefault(tuple(step.name for step in method.training_steps(i)), []).append(i)
    total = sum(count_flops(lambda its=its: train_iter(its[0])) * len(its) for its in kinds.values())
    return total / len(iterations)


def add_common_arguments(p: argparse.ArgumentParser, *, size: int, batch: int, classes: int) -> None:
    p.add_argument("--size", type=int, nargs="+", default=[size], help="image size(s): one row set per size")
    p.add_argument("--batch", type=int, nargs="+", default=[batch], help="per-step batch(es): one row set per batch")
    p.add_argument("--accumulate", type=int, default=1,
                   help="micro-batches per iteration (gradient accumulation, as train.grad_accum does): an "
                        "iteration then sees batch x accumulate images")
    p.add_argument("--precision", nargs="+", default=["no", "bf16"], choices=["no", "fp16", "bf16"])
    p.add_argument("--steps", type=int, default=10)
    p.add_argument("--warmup", type=int, default=2)
    p.add_argument("--classes", type=int, default=classes)
    p.add_argument("--tiny", action="store_true", help="small widths instead of the official defaults")
    p.add_argument("--json", default=None, metavar="PATH", help="also write the rows and the matmul peaks as JSON")


def _trainer(method: dict[str, Any], precision: str, batch: int, train_data: dict[str, Any],
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
        "train": {"batch_size": batch, "mixed_precision": precision, "trackers": "none", "progress": False,
                  "run_dir": str(run_dir)},
    }))


def time_trainer(trainer: Any, precision: str, batch: dict, translate: Callable[[], Any],
                 args: argparse.Namespace, batch_size: int) -> dict[str, Any]:
    """Images per second, FLOPs per image and peak memory of a training iteration (every TrainStep on
    ``args.accumulate`` micro-batches ``batch``) and of ``translate()`` (under the trainer's autocast), after
    ``args.warmup`` untimed calls of each."""
    dev = trainer.accelerator.device
    micro = [batch] * getattr(args, "accumulate", 1)
    train_images, translate_images = batch_size * len(micro), batch_size

    def train_iter(i: int) -> None:
        for step in trainer.method.training_steps(i):
            trainer._run_step(step, micro)

    def timed(fn: Callable[[int], Any], n: int, images: int) -> tuple[float, float]:
        for i in range(args.warmup):
            fn(i)
        _sync_and_reset(dev, reset=True)
        t0 = time.perf_counter()
        for i in range(n):
            fn(args.warmup + i)
        _sync_and_reset(dev, reset=False)
        return n * images / (time.perf_counter() - t0), peak_memory_mb(dev)

    train_ips, train_mem = timed(train_iter, args.steps, train_images)
    train_flops = mean_iteration_flops(trainer.method, train_iter, range(args.warmup, args.warmup + args.steps))
    with trainer.accelerator.autocast():
        translate_ips, translate_mem = timed(lambda i: translate(), args.steps, translate_images)
        translate_flops = count_flops(translate)
    return {
        "precision": precision, "batch": batch_size, "accumulate": len(micro),
        "train_ips": train_ips, "train_mem": train_mem,
        "train_flops_per_image": train_flops / train_images,
        "translate_ips": translate_ips, "translate_mem": translate_mem,
        "translate_flops_per_image": translate_flops / translate_images,
        "device": str(dev) + (f" ({torch.cuda.get_device_name(dev)})" if dev.type == "cuda" else ""),
    }


def _pct(flops_per_image: float, ips: float, peak: float | None) -> str:
    return "-" if not peak else f"{100 * flops_per_image * ips / peak:.1f}%"


def print_table(title: str, rows: list[dict[str, Any]], peaks: Mapping[str, float] | None = None,
                translate_name: str = "translate") -> None:
    """The rows as a Markdown table; the ratios are against the first precision of the same size and batch.
    ``peaks``: ``{precision: matmul FLOP/s}`` measured in this run (the "% of peak" columns)."""
    peaks = peaks or {}
    print(f"\n{title}, device: {rows[0]['device']}, torch {torch.__version__}")
    if peaks:
        print("matmul peak measured in this run: " + ", ".join(
            f"{'fp32' if p == 'no' else p} {v / 1e12:.2f} TFLOP/s" for p, v in peaks.items()))
    print(f"| precision | size | batch | train img/s | vs base | train GFLOP/img | % of peak | train peak MiB | "
          f"{translate_name} img/s | vs base | {translate_name} GFLOP/img | % of peak | {translate_name} peak MiB |")
    print("|---|---|---|---|---|---|---|---|---|---|---|---|---|")
    bases: dict[tuple, dict] = {}
    for r in rows:
        batch = f"{r['batch']}" + (f" x {r['accumulate']}" if r.get("accumulate", 1) > 1 else "")
        size = r["size"] if isinstance(r["size"], int) else "x".join(map(str, r["size"][::-1]))
        if "error" in r:  # e.g. out of memory: the next precision of the group becomes its baseline
            print(f"| {r['precision']} | {size} | {batch} | {r['error']} |" + " |" * 9)
            continue
        base = bases.setdefault((size, batch), r)
        peak = peaks.get(r["precision"])
        print(f"| {r['precision']} | {size} | {batch} | {r['train_ips']:.2f} | {r['train_ips'] / base['train_ips']:.2f}x | "
              f"{r['train_flops_per_image'] / 1e9:.1f} | {_pct(r['train_flops_per_image'], r['train_ips'], peak)} | "
              f"{r['train_mem']:.0f} | {r['translate_ips']:.1f} | {r['translate_ips'] / base['translate_ips']:.2f}x | "
              f"{r['translate_flops_per_image'] / 1e9:.2f} | "
              f"{_pct(r['translate_flops_per_image'], r['translate_ips'], peak)} | {r['translate_mem']:.0f} |")
    if rows[0]["device"].startswith("cpu"):
        print("(CPU peak memory is the process high-water mark, so later rows include earlier ones.)")


def measure_peaks(args: argparse.Namespace) -> dict[str, float]:
    """The matmul FLOP/s of each precision in ``args.precision`` on Accelerate's device."""
    from accelerate import PartialState

    device = PartialState().device
    return {p: matmul_peak(device, p) for p in args.precision}


def _guarded(fn: Callable[[], dict[str, Any]], row: dict[str, Any]) -> dict[str, Any]:
    """One row, its trainer freed afterwards (CUDA peaks are per row); CUDA out of memory becomes an "out of
    memory" row instead of ending the table."""
    try:
        return fn()
    except torch.OutOfMemoryError:
        return {**row, "error": "out of memory", "device": "cuda"}
    finally:
        gc.collect()
        if torch.cuda.is_available():
            torch.cuda.empty_cache()


def write_json(args: argparse.Namespace, title: str, rows: list[dict], peaks: Mapping[str, float]) -> None:
    if getattr(args, "json", None):
        Path(args.json).write_text(json.dumps({"title": title, "torch": torch.__version__, "peaks": dict(peaks),
                                               "rows": rows}, indent=1), encoding="utf-8")


def bench_one(method: dict[str, Any], precision: str, args: argparse.Namespace, data_root: Path, size: int,
              batch_size: int, translate: Callable[[Any, dict], Any],
              stream_labels: Mapping[str, int] | None = None) -> dict[str, Any]:
    trainer = _trainer(method, precision, batch_size, {"type": "image_folder", "root": str(data_root)}, size,
                       data_root.parent / "run")
    dev = trainer.accelerator.device
    g = torch.Generator().manual_seed(0)
    batch = {
        s: ((torch.rand(batch_size, 3, size, size, generator=g) * 2 - 1).to(dev),
            (torch.randint(0, args.classes, (batch_size,), generator=g) if stream_labels is None
             else torch.full((batch_size,), stream_labels[s])).to(dev))
        for s in trainer.method.data_streams
    }
    return {**time_trainer(trainer, precision, batch, lambda: translate(trainer.method, batch), args, batch_size),
            "size": size}


def run(title: str, method: dict[str, Any] | Callable[[int], dict[str, Any]], args: argparse.Namespace,
        translate: Callable[[Any, dict], Any], stream_labels: Mapping[str, int] | None = None) -> list[dict]:
    """One row per size x batch x precision. ``method``: the method spec, or a function of the image size
    giving it (methods whose widths depend on the size). ``stream_labels``: one fixed label per data stream
    (e.g. a domain per stream) instead of random labels in ``[0, args.classes)``."""
    from PIL import Image

    peaks = measure_peaks(args)
    rows = []
    with tempfile.TemporaryDirectory() as tmp:
        data_root = Path(tmp) / "data"
        for c in range(args.classes):  # a labelled folder, so num_classes comes out right
            (data_root / f"c{c:04d}").mkdir(parents=True)
            Image.new("RGB", (32, 32)).save(data_root / f"c{c:04d}" / "x.png")
        for size in args.size:
            spec = method(size) if callable(method) else method
            for batch in args.batch:
                for prec in args.precision:
                    rows.append(_guarded(lambda: bench_one(spec, prec, args, data_root, size, batch, translate,
                                                           stream_labels),
                                         {"precision": prec, "size": size, "batch": batch,
                                          "accumulate": args.accumulate}))
    title = f"{title} ({'tiny' if args.tiny else 'official'} widths)"
    print_table(title, rows, peaks)
    write_json(args, title, rows, peaks)
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
    trainer = _trainer(method, precision, args.batch, {"type": "paired", "root": str(root), "preprocess": "none"}, 32,
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
    return {**time_trainer(trainer, precision, batch, lambda: model.translate(label, inst), args, args.batch),
            "size": (h, w)}


def run_paired(title: str, method: dict[str, Any], args: argparse.Namespace,
               size: Callable[[Any], tuple[int, int]]) -> list[dict]:
    """Every precision of ``args.precision`` for a paired method, printed as a table."""
    peaks = measure_peaks(args)
    with tempfile.TemporaryDirectory() as tmp:
        root = _paired_folder(Path(tmp) / "data")
        rows = [_guarded(lambda: bench_paired(method, prec, args, root, size),
                         {"precision": prec, "size": (0, 0), "batch": args.batch}) for prec in args.precision]
    print_table(title, rows, peaks, translate_name="synthesis")
    write_json(args, title, rows, peaks)
    return rows
