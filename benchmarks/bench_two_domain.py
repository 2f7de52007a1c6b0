"""UNIT, MUNIT and DRIT throughput and peak memory on the current device, as a table.

    python benchmarks/bench_two_domain.py --method munit --size 256 --batch 1 --precision no bf16   # official
    python benchmarks/bench_two_domain.py --method unit --tiny --size 64 --batch 1                  # glyph recipes
    python benchmarks/bench_two_domain.py --method drit --size 216 --batch 2 --steps 3               # official

A training iteration is everything the trainer runs for one batch: MUNIT/UNIT one discriminator step and one
generator step; DRIT three iterations (two content-discriminator steps, then all discriminators and both
encoder/generator updates) averaged per iteration. Translation: one batch a2b with a random style (UNIT: the
latent mean). See benchmarks/throughput.py for how the numbers are taken.
"""
from __future__ import annotations

import argparse
import sys

from throughput import add_common_arguments, run

TINY = {
    "unit": {"generator": {"dim": 16, "n_res": 2}, "discriminator": {"discriminator": {"name": "munit_patch", "dim": 16, "n_layer": 3}}},
    "munit": {"generator": {"dim": 16, "mlp_dim": 64, "n_res": 2},
              "discriminator": {"discriminator": {"name": "munit_patch", "dim": 16, "n_layer": 3}}},
    "drit": {"dim": 8, "discriminator": {"discriminator": {"name": "drit_patch", "dim": 8}},
             "content_discriminator": {"n_down": 1, "dim": 32}},
}


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--method", choices=sorted(TINY), required=True)
    add_common_arguments(p, size=256, batch=1, classes=2)
    args = p.parse_args(argv)
    method = {"name": args.method, **(TINY[args.method] if args.tiny else {})}
    run(args.method.upper(), method, args, lambda m, b: m.translate(b["source"][0]), stream_labels={"source": 0, "target": 1})
    return 0


if __name__ == "__main__":
    sys.exit(main())
