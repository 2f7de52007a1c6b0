"""pix2pixHD throughput and peak memory on the current device, as a table.

    python benchmarks/bench_pix2pixhd.py --height 512 --width 1024 --precision no bf16              # 512p (global)
    python benchmarks/bench_pix2pixhd.py --netG local --height 1024 --width 2048 --precision no bf16  # 1024p
    python benchmarks/bench_pix2pixhd.py --tiny --height 64 --width 64 --batch 4                      # glyph recipe

A training iteration is everything the trainer runs for one batch: the G step (G forward, D on the fake and the
real image, feature matching, optionally VGG19, backward, Adam) then the D step (D on [fake; real], backward,
Adam). Synthesis: one batch of label maps through the label encoding and G. The VGG term is off unless
``--vgg`` (it needs the local vgg19-dcbb9e9d.pth). Random label/instance maps and images already on the device,
so data loading is excluded; see benchmarks/throughput.py for how the numbers are taken.
"""
from __future__ import annotations

import argparse
import sys

from throughput import run_paired

TINY = {"label_nc": 2, "ngf": 16, "n_downsample_global": 3, "n_blocks_global": 3, "ndf": 16}  # recipes/pix2pixhd_glyphs.yaml
OFFICIAL = {
    "global": {"label_nc": 35},                                              # label2city_512p (defaults)
    "local": {"label_nc": 35, "netG": "local", "ngf": 32, "num_D": 3},     # label2city_1024p
}


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--netG", choices=sorted(OFFICIAL), default="global")
    p.add_argument("--height", type=int, default=512)
    p.add_argument("--width", type=int, default=1024)
    p.add_argument("--batch", type=int, default=1, help="per-step batch (official: 1)")
    p.add_argument("--precision", nargs="+", default=["no", "bf16"], choices=["no", "fp16", "bf16"])
    p.add_argument("--steps", type=int, default=5)
    p.add_argument("--warmup", type=int, default=1)
    p.add_argument("--tiny", action="store_true", help="the glyph recipe's widths instead of the official ones")
    p.add_argument("--vgg", default=None, help="vgg19-dcbb9e9d.pth (or auto) to include the VGG term")
    p.add_argument("--json", default=None, metavar="PATH", help="also write the rows and the matmul peaks as JSON")
    args = p.parse_args(argv)
    method = {"name": "pix2pixhd", **(TINY if args.tiny else OFFICIAL[args.netG]),
              **({"vgg_weights": args.vgg} if args.vgg else {"no_vgg_loss": True})}
    what = "tiny" if args.tiny else f"official {args.netG}"
    run_paired(f"pix2pixHD ({what} widths, VGG {'on' if args.vgg else 'off'})", method, args,
               size=lambda model: (args.height, args.width))
    return 0


if __name__ == "__main__":
    sys.exit(main())
