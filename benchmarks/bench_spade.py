"""SPADE (GauGAN) throughput and peak memory on the current device, as a table.

    python benchmarks/bench_spade.py --mode cityscapes --batch 1 --precision no bf16      # official, 512x256
    python benchmarks/bench_spade.py --mode ade20k --vae --batch 1                         # official + style encoder
    python benchmarks/bench_spade.py --mode glyphs --batch 4 --steps 5                     # recipes/spade_glyphs.yaml

A training iteration is everything the trainer runs for one batch: the G step (with ``--vae`` the encoder and
z = mu + eps sigma; G; D on [fake; real] in one call; hinge, feature matching, optionally VGG19 and KL;
backward; Adam) then the D step (G again without gradients, D on [fake; real], backward, Adam). Synthesis: one
batch of label maps through the label encoding and G (with ``--vae`` a random z each). The image size is the
generator's, fixed by the mode's crop. The VGG term is off unless ``--vgg`` (it needs the local
vgg19-dcbb9e9d.pth). Random label / instance maps and images already on the device, so data loading is
excluded; see benchmarks/throughput.py for how the numbers are taken.
"""
from __future__ import annotations

import argparse
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

import torch

from throughput import _sync_and_reset, peak_memory_mb

MODES: dict[str, dict[str, Any]] = {
    "cityscapes": {"dataset_mode": "cityscapes"},
    "ade20k": {"dataset_mode": "ade20k"},
    "coco": {"dataset_mode": "coco"},
    "facades": {"dataset_mode": "facades"},
    # recipes/spade_glyphs.yaml's widths (the VAE is switched by --vae, as for the others)
    "glyphs": {"dataset_mode": "custom", "label_nc": 2, "crop_size": 64, "ngf": 8, "ndf": 16},
}


def _paired_folder(root: Path) -> Path:
    """One pair in the folders layout, so that the trainer can be built (the batches are synthetic)."""
    import numpy as np
    from PIL import Image

    for sub in ("train_label", "train_img", "train_inst"):
        (root / sub).mkdir(parents=True)
    Image.fromarray(np.zeros((32, 32), np.uint8), mode="L").save(root / "train_label" / "x.png")
    Image.new("RGB", (32, 32)).save(root / "train_img" / "x.png")
    Image.fromarray(np.zeros((32, 32), np.uint16)).save(root / "train_inst" / "x.png")
    return root


def bench_one(method: dict[str, Any], precision: str, args: argparse.Namespace, root: Path) -> dict[str, Any]:
    from accelerate.state import AcceleratorState, GradientState, PartialState

    from i2ikit.recipe import validate
    from i2ikit.train.trainer import Trainer

    AcceleratorState._reset_state(True)
    GradientState._reset_state()
    PartialState._reset_state()
    recipe = validate({
        "name": "bench", "method": method,
        "data": {"train": {"type": "paired", "root": str(root), "preprocess": "none"}, "new_size": 32, "crop": 32,
                 "num_workers": 0},
        "train": {"batch_size": args.batch, "mixed_precision": precision, "trackers": "none", "progress": False,
                  "run_dir": str(root.parent / "run")},
    })
    trainer = Trainer(recipe)
    model, dev = trainer.method, trainer.accelerator.device
    h, w = model.label_size
    g = torch.Generator().manual_seed(0)
    label = torch.randint(0, model.label_nc, (args.batch, 1, h, w), generator=g).float()
    inst = torch.randint(0, 8, (args.batch, 1, max(1, h // 16), max(1, w // 16)), generator=g).float()
    inst = torch.nn.functional.interpolate(inst, size=(h, w), mode="nearest")
    image = torch.rand(args.batch, 3, h, w, generator=g) * 2 - 1
    parts = [image, label] + ([] if model.no_instance else [inst])
    batch = {"pairs": (torch.cat(parts, 1).to(dev), torch.zeros(args.batch, dtype=torch.long).to(dev))}
    label, inst = label.to(dev), (None if model.no_instance else inst.to(dev))

    def train_iter(i: int) -> None:
        for step in model.training_steps(i):
            trainer._run_step(step, [batch])

    def synth(i: int) -> None:
        model.translate(label, inst)

    def timed(fn: Any, n: int) -> tuple[float, float]:
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
        synth_ips, synth_mem = timed(synth, args.steps)
    return {"precision": precision, "train_ips": train_ips, "train_mem": train_mem, "synth_ips": synth_ips,
            "synth_mem": synth_mem, "size": (h, w),
            "device": str(dev) + (f" ({torch.cuda.get_device_name(dev)})" if dev.type == "cuda" else "")}


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--mode", choices=sorted(MODES), default="cityscapes", help="official dataset mode, or glyphs (tiny)")
    p.add_argument("--vae", action="store_true", help="use_vae: the style encoder and the KL term")
    p.add_argument("--batch", type=int, default=1, help="per-step batch (official: 1; Cityscapes 16)")
    p.add_argument("--precision", nargs="+", default=["no", "bf16"], choices=["no", "fp16", "bf16"])
    p.add_argument("--steps", type=int, default=5)
    p.add_argument("--warmup", type=int, default=1)
    p.add_argument("--vgg", default=None, help="vgg19-dcbb9e9d.pth (or auto) to include the VGG term")
    args = p.parse_args(argv)
    method = {"name": "spade", **MODES[args.mode], "use_vae": args.vae,
              **({"vgg_weights": args.vgg} if args.vgg else {"no_vgg_loss": True})}
    with tempfile.TemporaryDirectory() as tmp:
        root = _paired_folder(Path(tmp) / "data")
        rows = [bench_one(method, prec, args, root) for prec in args.precision]
    base = rows[0]
    h, w = base["size"]
    widths = "tiny" if args.mode == "glyphs" else "official"
    print(f"\nSPADE ({args.mode}, {widths} widths, VAE {'on' if args.vae else 'off'}, VGG {'on' if args.vgg else 'off'}), "
          f"{w}x{h}, batch {args.batch}, device: {base['device']}, torch {torch.__version__}")
    print("| precision | train img/s | vs base | train peak MiB | synthesis img/s | vs base | synthesis peak MiB |")
    print("|---|---|---|---|---|---|---|")
    for r in rows:
        print(f"| {r['precision']} | {r['train_ips']:.2f} | {r['train_ips'] / base['train_ips']:.2f}x | {r['train_mem']:.0f} | "
              f"{r['synth_ips']:.1f} | {r['synth_ips'] / base['synth_ips']:.2f}x | {r['synth_mem']:.0f} |")
    if base["device"].startswith("cpu"):
        print("(CPU peak memory is the process high-water mark, so later rows include earlier ones.)")
    return 0


if __name__ == "__main__":
    sys.exit(main())
