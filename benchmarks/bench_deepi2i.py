"""DeepI2I throughput and peak memory on the current device, as a table.

    python benchmarks/bench_deepi2i.py --size 128 --batch 4 --precision no bf16     # official widths (96)
    python benchmarks/bench_deepi2i.py --tiny --size 64                              # the glyph recipe's widths

A training iteration is phase two (discriminator step, then adaptors + generator; the encoder frozen),
the expensive phase. Translation: one batch into random target classes with fresh noise.
"""
from __future__ import annotations

import argparse
import sys

import torch

from throughput import add_common_arguments, run


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    add_common_arguments(p, size=128, batch=4, classes=10)
    args = p.parse_args(argv)
    def method(size: int) -> dict:
        return {"name": "deepi2i", "resolution": size, "num_classes": "auto", "phase_one_iters": 0,
                **({"ch": 16} if args.tiny else {})}

    def translate(m, batch):
        x = batch["source"][0]
        return m.translate(x, torch.randint(0, args.classes, (x.shape[0],), device=x.device))

    run("DeepI2I", method, args, translate)
    return 0


if __name__ == "__main__":
    sys.exit(main())
