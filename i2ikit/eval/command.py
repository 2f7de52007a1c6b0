"""``i2ikit eval``: evaluate an export or official checkpoint; ``i2ikit eval <command>`` runs the evaluation
commands that plugins provide (the core's ``train-classifier``, the glyphs plugin's ``glyphs`` benchmark).

    i2ikit eval runs/x/export --content glyphs:train --data glyphs:test --k 1 5 --metrics accuracy mfid mkid \\
        --classifier clf/style --out runs/x/eval
    i2ikit eval runs/cat2dog/export --protocol two_domain --content afhq/val --content-classes cat \\
        --data afhq/train --data-classes dog --styles-per-input 10 --max-real 0 --metrics fid lpips_diversity dipd \\
        --image-size 256 --out runs/cat2dog/eval
    i2ikit eval runs/spade_glyphs/export --data glyph_edges:test --metrics fid kid lpips_diversity \
        --styles-per-input 4 --out runs/spade_glyphs/eval
    i2ikit eval train-classifier --data glyphs:test --out clf/style
    i2ikit eval glyphs --model runs/quickstart/export --out runs/glyph_benchmark
"""
from __future__ import annotations

import argparse
import os
import shlex
import sys
from pathlib import Path
from typing import Any, Callable

from ..data import build_dataset
from ..errors import ConfigError


def content_labels_for(source: Any) -> list[int] | None:
    """Per-item content labels for glyph data (which character each image shows), else None."""
    from .classifier import content_labeled

    try:
        return list(content_labeled(source).labels)
    except (ValueError, FileNotFoundError, AttributeError, TypeError):
        return None


# The evaluation protocol of each task a method declares (Method.tasks).
PROTOCOLS = ("few_shot", "many_class", "two_domain", "paired")


def dataset_from_option(spec: str, option: str) -> Any:
    """A ``--data`` / ``--content`` value: a data spec string (a folder, ``glyph_edges:test``, ``hf:`` ...) or, for
    options a string cannot carry, a YAML mapping as a recipe writes it (``{type: paired, root: data/cityscapes,
    layout: cityscapes, phase: val, label_nc: 35, preprocess: fixed, crop_size: 512, aspect_ratio: 2}``)."""
    if spec.lstrip().startswith("{"):
        import yaml

        try:
            mapping = yaml.safe_load(spec)
        except yaml.YAMLError as exc:
            raise ConfigError(f"{option} {spec!r} is not a YAML mapping ({exc}); write it as a recipe's dataset entry, "
                              "e.g. '{type: paired, root: data/cityscapes, layout: cityscapes, phase: val}'") from None
        if not isinstance(mapping, dict):
            raise ConfigError(f"{option} {spec!r} is not a mapping; write '{{type: ..., <options>}}'")
        return build_dataset(mapping, option)
    return build_dataset(spec, option)


def eval_commands() -> dict[str, tuple[str, Callable[[list[str]], int]]]:
    """``{name: (plugin, main)}`` from every plugin's ``i2ikit_eval_commands`` hook (the first plugin
    loaded, the core first, keeps a name; a plugin whose hook fails is skipped with a warning)."""
    from ..plugins import commands

    return commands("i2ikit_eval_commands")


def commands_epilog(commands: dict[str, tuple[str, Callable[[list[str]], int]]]) -> str:
    """The usage lines of the evaluation commands, for ``i2ikit eval --help``."""
    if not commands:
        return "evaluation commands: (none: no plugin provides one)"
    lines = ["evaluation commands (i2ikit eval <command> --help; plugins add more):"]
    for name, (plugin, fn) in sorted(commands.items()):
        doc = ((getattr(fn, "__doc__", None) or "").strip().splitlines() or [""])[0]
        lines.append(f"  {name:18s} {doc}  [{plugin}]")
    return "\n".join(lines)


def parser(commands: dict[str, tuple[str, Callable[[list[str]], int]]] | None = None) -> argparse.ArgumentParser:
    """The parser of a model's evaluation; with ``commands`` its usage and help also list those."""
    usage = epilog = None
    if commands is not None:
        names = "|".join(sorted(commands))
        usage = "%(prog)s MODEL --data DATA --out OUT [options]" + (f"\n       %(prog)s {{{names}}} ... [--help]" if names else "")
        epilog = commands_epilog(commands)
    p = argparse.ArgumentParser(prog="i2ikit eval", description=__doc__, usage=usage, epilog=epilog,
                                formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("model", help="i2ikit export folder or official checkpoint file")
    p.add_argument("--method", default=None, help="method name (needed for official checkpoint files)")
    p.add_argument("--data", required=True, help="target classes: folder, glyphs:test, hf:<path>, list:<root>:<file> or a YAML "
                                                 "mapping as in a recipe ('{type: paired, root: ..., phase: val}'); "
                                                 "paired: the paired split (label maps and their real images)")
    p.add_argument("--data-classes", nargs="+", default=None, metavar="CLASS",
                   help="only these classes of --data (e.g. dog of AFHQ train for a two-domain cat->dog model)")
    p.add_argument("--content", default=None, help="source-class content images (default: --data)")
    p.add_argument("--content-classes", nargs="+", default=None, metavar="CLASS",
                   help="only these classes of --content (e.g. cat of AFHQ val)")
    p.add_argument("--protocol", choices=PROTOCOLS, default=None,
                   help="default: the model's task (its method's `tasks`: few_shot, many_class, two_domain or paired)")
    p.add_argument("--k", type=int, nargs="+", default=[1, 5], help="class images per target class (few_shot)")
    p.add_argument("--metrics", nargs="+", default=["accuracy", "mfid", "mkid"])
    p.add_argument("--classifier", default=None, help="style/class classifier folder for translation accuracy")
    p.add_argument("--content-classifier", default=None, help="classifier of content labels for content accuracy")
    p.add_argument("--features", default=None,
                   help="feature extractor for FID/KID: 'inception' (default, the TF FID Inception), 'stargan_v2' "
                        "(StarGAN v2's torchvision ImageNet Inception-v3, as GP-UNIT's notebook) or a classifier folder")
    p.add_argument("--weights", default=None, help="folder of network weights (sets I2IKIT_WEIGHTS)")
    p.add_argument("--num-content", type=int, default=None,
                   help="content images drawn (default 500); paired: label maps drawn (default: all of the split)")
    p.add_argument("--max-real", type=int, default=1000, help="real images drawn per target class; 0: all")
    p.add_argument("--diversity-samples", type=int, default=0)
    p.add_argument("--styles-per-input", type=int, default=1,
                   help="two_domain / paired: random styles per input, all fed to every metric (GP-UNIT's protocol: 10)")
    p.add_argument("--image-size", type=int, default=None, help="default: the export's crop, else 128")
    p.add_argument("--batch-size", type=int, default=32)
    p.add_argument("--seed", type=int, default=0)
    p.add_argument("--device", default=None, help="default: cuda when available, else cpu")
    p.add_argument("--out", required=True)
    return p


def metric_options(args: argparse.Namespace) -> dict[str, dict[str, Any]]:
    opts: dict[str, dict[str, Any]] = {}
    if args.classifier:
        opts["accuracy"] = {"classifier": args.classifier}
    if args.content_classifier:
        opts["content_accuracy"] = {"classifier": args.content_classifier}
    if args.features == "stargan_v2":
        for name in ("fid", "mfid", "kid", "mkid"):
            opts[name] = {"features": "stargan_v2"}
    elif args.features and args.features != "inception":
        from .classifier import load_classifier
        from .classifier import classifier_features

        feats = classifier_features(load_classifier(args.features))
        for name in ("fid", "mfid", "kid", "mkid"):
            opts[name] = {"features": feats}
    return opts


def run_eval(args: argparse.Namespace) -> int:
    import torch

    from ..api import load_model
    from ..method import read_export_config
    from .runner import EvalSettings, evaluate, write_report

    if args.weights:
        os.environ["I2IKIT_WEIGHTS"] = args.weights
    device = args.device or ("cuda" if torch.cuda.is_available() else "cpu")
    model = load_model(args.model, args.method).to(device)
    fits = [t for t in (getattr(model, "tasks", ()) or ()) if t in PROTOCOLS]
    name = getattr(model, "method_name", type(model).__name__)
    if args.protocol is None:
        if not fits:
            raise ConfigError(f"--model {args.model}: a {name} model declares no task i2ikit eval has a protocol for "
                              f"(its tasks: {', '.join(getattr(model, 'tasks', ()) or ()) or 'none: it does not translate'})")
        args.protocol = fits[0]
    elif args.protocol not in fits:
        raise ConfigError(f"--protocol {args.protocol}: a {name} model cannot be evaluated this way; its protocol is "
                          f"{' or '.join(fits) or '(none: it does not translate)'}")
    size = args.image_size
    if size is None and Path(args.model).is_dir():
        size = ((read_export_config(args.model).get("recipe") or {}).get("data") or {}).get("crop")
    targets = dataset_from_option(args.data, "--data")
    content = dataset_from_option(args.content, "--content") if args.content else targets
    if args.content_classes:
        content = content.subset(args.content_classes)
    if args.data_classes:
        targets = targets.subset(args.data_classes)
    num_content = args.num_content
    if num_content is None:
        num_content = len(targets) if args.protocol == "paired" else 500
    settings = EvalSettings(protocol=args.protocol, ks=args.k, metrics=args.metrics, num_content=num_content,
                            max_real_per_class=args.max_real, diversity_samples=args.diversity_samples,
                            styles_per_input=args.styles_per_input, batch_size=args.batch_size, seed=args.seed)
    results = evaluate(model, content=content, targets=targets, settings=settings, metric_options=metric_options(args),
                       image_size=size or 128, device=device,
                       content_labels=content_labels_for(content) if args.protocol != "paired" else None)
    name = Path(args.model).name
    paths = write_report({name: results}, Path(args.out), title=f"Evaluation of {args.model}",
                         command="i2ikit eval " + " ".join(shlex.quote(a) for a in sys.argv[2:]))
    print(Path(paths["md"]).read_text())
    print(f"wrote {paths['json']}, {paths['md']}, {paths['png']}")
    return 0


def main(argv: list[str]) -> int:
    """``i2ikit eval [<command>] ...``: a plugin's evaluation command when the first argument names one,
    else the evaluation of a model (its help lists the commands)."""
    commands = eval_commands()
    if argv and argv[0] in commands:
        return commands[argv[0]][1](argv[1:]) or 0
    return run_eval(parser(commands).parse_args(argv))
