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
from typing import Any

from throughput import run_paired

MODES: dict[str, dict[str, Any]] = {
    "cityscapes": {"dataset_mode": "cityscapes"},
    "ade20k": {"dataset_mode": "ade20k"},
    "coco": {"dataset_mode": "coco"},
    "facades": {"dataset_mode": "facades"},
    # recipes/spade_glyphs.yaml's widths (the VAE is switched by --vae, as for the others)
    "glyphs": {"dataset_mode": "custom", "label_nc": 2, "crop_size": 64, "ngf": 8, "ndf": 16},
}


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--mode", choices=sorted(MODES), default="cityscapes", help="official dataset mode, or glyphs (tiny)")
    p.add_argument("--vae", action="store_true", help="use_vae: the style encoder and the KL term")
    p.add_argument("--batch", type=int, default=1, help="per-step batch (official: 1; Cityscapes 16)")
    p.add_argument("--precision", nargs="+", default=["no", "bf16"], choices=["no", "fp16", "bf16"])
    p.add_argument("--steps", type=int, default=5)
    p.add_argument("--warmup", type=int, default=1)
    p.add_argument("--vgg", default=None, help="vgg19-dcbb9e9d.pth (or auto) to include the VGG term")
    p.add_argument("--json", default=None, metavar="PATH", help="also write the rows and the matmul peaks as JSON")
    args = p.parse_args(argv)
    method = {"name": "spade", **MODES[args.mode], "use_vae": args.vae,
              **({"vgg_weights": args.vgg} if args.vgg else {"no_vgg_loss": True})}
    widths = "tiny" if args.mode == "glyphs" else "official"
    title = f"SPADE ({args.mode}, {widths} widths, VAE {'on' if args.vae else 'off'}, VGG {'on' if args.vgg else 'off'})"
    run_paired(title, method, args, size=lambda model: model.label_size)  # the generator's size, fixed by the crop
    return 0


if __name__ == "__main__":
    sys.exit(main())
