"""GP-UNIT (Stage II) throughput and peak memory on the current device, as a table.

    python benchmarks/bench_gpunit.py --size 256 --batch 16 --precision no bf16     # official widths (64)
    python benchmarks/bench_gpunit.py --tiny --size 64                              # the glyph recipe's widths (16)

A training iteration is the full Stage-II trainer step: generator step (content, style, mask and
reconstruction losses through the frozen content encoder and D), then discriminator step with R1,
then the EMA update. The content encoder is random and frozen (``content_encoder: null``; a real
Stage-I encoder has the same cost). Without ``--vgg-weights PATH`` (a local torchvision
``vgg19-dcbb9e9d.pth``) the reconstruction loss is L1 only, so the timing leaves out the VGG19
forward/backward that the official loss includes; pass the file for the official cost.

The synthetic batch gives every ``source`` image label 0 (source domain) and every ``target`` image
label 1 (target domain), so both domains fill the whole batch. Translation: one exemplar-guided batch
(``translate(x, style_image=y)``) with the EMA generator by default; ``--guide latent`` times
latent-guided translation instead (``translate(x)``: fresh noise mapped by the sampler).
"""
from __future__ import annotations

import argparse
import sys
import tempfile
import warnings
from pathlib import Path

from throughput import add_common_arguments, run

TINY = {"nef": 16, "ngf": 16, "discriminator": {"nf": 16}, "style_nef": 16}


def _random_vgg19(path: Path) -> str:
    """A torchvision VGG19 with random weights under the official file name: the VGG term's cost without the file."""
    import torch
    from torchvision.models import vgg19

    torch.manual_seed(0)
    torch.save(vgg19().state_dict(), path)
    return str(path)


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    add_common_arguments(p, size=256, batch=16, classes=2)
    p.add_argument("--vgg-weights", default=None, metavar="PATH",
                   help="local vgg19-dcbb9e9d.pth: include the VGG19 reconstruction term (official loss); "
                        "'random': a randomly initialised VGG19 written for this run (the same cost, for timing)")
    p.add_argument("--guide", choices=["exemplar", "latent"], default="exemplar", help="translation to time")
    args = p.parse_args(argv)
    if args.classes < 2:
        p.error("--classes must be at least 2 (source domain = class 0, target domain = class 1)")
    warnings.filterwarnings("ignore", message="GP-UNIT is training with a random content encoder")
    if args.vgg_weights is None:
        warnings.filterwarnings("ignore", message="GP-UNIT: vgg_weights is null")
    if args.vgg_weights == "random":
        args.vgg_weights = _random_vgg19(Path(tempfile.mkdtemp()) / "vgg19-dcbb9e9d.pth")

    def method(size: int) -> dict:
        return {"name": "gpunit", "img_size": size, "content_encoder": None, "vgg_weights": args.vgg_weights,
                "source_classes": 0, "target_classes": None, **(TINY if args.tiny else {})}

    if args.guide == "exemplar":
        def translate(m, b):
            return m.translate(b["source"][0], style_image=b["target"][0])
    else:
        def translate(m, b):
            return m.translate(b["source"][0])

    run(f"GP-UNIT, {args.guide}-guided translation, {'with' if args.vgg_weights else 'no'} VGG19 term",
        method, args, translate, stream_labels={"source": 0, "target": 1})
    return 0


if __name__ == "__main__":
    sys.exit(main())
