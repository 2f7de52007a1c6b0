"""FUNIT throughput and peak memory on the current device, as a table.

    python benchmarks/bench_funit.py --size 128 --batch 8 --precision no bf16
    python benchmarks/bench_funit.py --tiny            # small widths, for a CPU smoke run

It measures one full training iteration (discriminator step with R1, generator step, EMA update) as
the trainer runs it, and k-shot translation with the EMA generator. The first precision listed is
the baseline; other rows report their speed as a ratio to it, measured in the same run. The device
comes from Accelerate (CUDA when present, else the CPU). Data loading is excluded: batches are
random tensors already on the device.
"""
from __future__ import annotations

import argparse
import resource
import sys
import tempfile
import time
from pathlib import Path

import torch

TINY = {"nf": 16, "n_res_blks": 1, "nf_mlp": 64, "latent_dim": 16, "dis_nf": 16, "dis_n_res_blks": 4}


def _peak_memory_mb(device: torch.device) -> float:
    if device.type == "cuda":
        return torch.cuda.max_memory_allocated(device) / 2**20
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024  # process high-water mark (Linux: KiB)


def _reset_peak(device: torch.device) -> None:
    if device.type == "cuda":
        torch.cuda.synchronize(device)
        torch.cuda.reset_peak_memory_stats(device)


def _sync(device: torch.device) -> None:
    if device.type == "cuda":
        torch.cuda.synchronize(device)


def bench(precision: str, args: argparse.Namespace, data_root: Path) -> dict:
    from accelerate.state import AcceleratorState, GradientState, PartialState

    from i2ikit.recipe import validate
    from i2ikit.train.trainer import Trainer

    for state in (AcceleratorState, GradientState, PartialState):
        state._reset_state() if state is not AcceleratorState else state._reset_state(True)
    method = {"name": "funit", "num_classes": args.classes, **(TINY if args.tiny else {})}
    recipe = validate({
        "name": "bench", "method": method,
        "data": {"train": {"type": "image_folder", "root": str(data_root)}, "new_size": args.size, "crop": args.size, "num_workers": 0},
        "train": {"batch_size": args.batch, "mixed_precision": precision, "trackers": "none", "progress": False,
                  "run_dir": str(data_root.parent / "run")},
    })
    trainer = Trainer(recipe)
    dev = trainer.accelerator.device
    g = torch.Generator().manual_seed(0)
    batch = {
        s: ((torch.rand(args.batch, 3, args.size, args.size, generator=g) * 2 - 1).to(dev),
            torch.randint(0, args.classes, (args.batch,), generator=g).to(dev))
        for s in trainer.method.data_streams
    }

    def train_iter(i: int) -> None:
        for step in trainer.method.training_steps(i):
            trainer._run_step(step, [batch])

    for i in range(args.warmup):
        train_iter(i)
    _sync(dev)
    _reset_peak(dev)
    t0 = time.perf_counter()
    for i in range(args.steps):
        train_iter(i)
    _sync(dev)
    train_time = time.perf_counter() - t0
    train_mem = _peak_memory_mb(dev)

    content, shots = batch["content"][0], batch["class"][0][: args.k]
    with trainer.accelerator.autocast():
        for _ in range(args.warmup):
            trainer.method.translate(content, shots)
        _sync(dev)
        _reset_peak(dev)
        t0 = time.perf_counter()
        for _ in range(args.steps):
            trainer.method.translate(content, shots)
        _sync(dev)
    translate_time = time.perf_counter() - t0
    return {
        "precision": precision,
        "train_ips": args.steps * args.batch / train_time,
        "train_mem": train_mem,
        "translate_ips": args.steps * args.batch / translate_time,
        "translate_mem": _peak_memory_mb(dev),
        "device": str(dev) + (f" ({torch.cuda.get_device_name(dev)})" if dev.type == "cuda" else ""),
    }


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--size", type=int, default=128)
    p.add_argument("--batch", type=int, default=8, help="per-step batch (the paper: 8 per GPU)")
    p.add_argument("--precision", nargs="+", default=["no", "bf16"], choices=["no", "fp16", "bf16"])
    p.add_argument("--steps", type=int, default=10)
    p.add_argument("--warmup", type=int, default=2)
    p.add_argument("--k", type=int, default=1, help="class images per translation (K-shot)")
    p.add_argument("--classes", type=int, default=119)
    p.add_argument("--tiny", action="store_true", help="small widths instead of the official defaults")
    args = p.parse_args(argv)

    from PIL import Image

    with tempfile.TemporaryDirectory() as tmp:
        data_root = Path(tmp) / "data"
        (data_root / "c0").mkdir(parents=True)
        Image.new("RGB", (args.size, args.size)).save(data_root / "c0" / "x.png")
        rows = [bench(prec, args, data_root) for prec in args.precision]
    base = rows[0]
    width = "tiny" if args.tiny else "official"
    print(f"\nFUNIT ({width} widths), {args.size}px, batch {args.batch}, K={args.k}, device: {base['device']}, torch {torch.__version__}")
    print("| precision | train img/s | vs base | train peak MiB | translate img/s | vs base | translate peak MiB |")
    print("|---|---|---|---|---|---|---|")
    for r in rows:
        print(f"| {r['precision']} | {r['train_ips']:.1f} | {r['train_ips'] / base['train_ips']:.2f}x | {r['train_mem']:.0f} | "
              f"{r['translate_ips']:.1f} | {r['translate_ips'] / base['translate_ips']:.2f}x | {r['translate_mem']:.0f} |")
    if base["device"].startswith("cpu"):
        print("(CPU peak memory is the process high-water mark, so later rows include earlier ones.)")
    return 0


if __name__ == "__main__":
    sys.exit(main())
