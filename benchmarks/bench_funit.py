"""FUNIT throughput and peak memory on the current device, as a table.

    python benchmarks/bench_funit.py --size 128 --batch 8 --precision no bf16
    python benchmarks/bench_funit.py --tiny --size 64            # the quick-start widths

A training iteration: discriminator step with R1, generator step, EMA update. Translation: one K-shot
batch with the EMA generator. See benchmarks/throughput.py for how the numbers are taken.
"""
from __future__ import annotations

import argparse
import sys

from throughput import add_common_arguments, run

TINY = {"nf": 16, "n_res_blks": 1, "nf_mlp": 64, "latent_dim": 16, "discriminator": {"nf": 16, "n_res_blks": 4}}


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    add_common_arguments(p, size=128, batch=8, classes=119)
    p.add_argument("--k", type=int, default=1, help="class images per translation (K-shot)")
    args = p.parse_args(argv)
    method = {"name": "funit", "num_classes": "auto", **(TINY if args.tiny else {})}
    run("FUNIT", method, args, lambda m, b: m.translate(b["content"][0], b["class"][0][: args.k]))
    return 0


if __name__ == "__main__":
    sys.exit(main())
