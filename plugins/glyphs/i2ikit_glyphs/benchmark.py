"""``i2ikit eval glyphs``: the offline few-shot benchmark on the glyph data.

Held-out font faces are the unseen target classes. i2ikit trains two classifiers on real glyphs:
a *style* classifier over the held-out faces (which face is this?) and a *content* classifier over the
characters of the training faces (which character is this?). For K = 1 and 5 every model translates
the same content glyphs (from the training faces) with the same K class images per held-out face, and
is scored by style accuracy (top-1/top-5), content accuracy, and mFID/mKID computed on the style
classifier's penultimate features (a local extractor: nothing is downloaded). Two baselines are
measured the same way: the untouched content image and the pixel mean of the K class images.

    i2ikit eval glyphs --model runs/quickstart/export --out runs/glyph_benchmark
"""
from __future__ import annotations

import argparse
import shlex
import sys
from pathlib import Path

import torch

from i2ikit.eval.runner import ClassMeanBaseline, EvalSettings, IdentityBaseline, evaluate, write_report

from .dataset import glyphs


def _classifier(path: Path, data, *, args: argparse.Namespace, what: str):
    from i2ikit.eval.classifier import load_classifier, save_classifier, train_classifier

    if (path / "config.json").exists() and not args.retrain:
        return load_classifier(path)
    print(f"training the {what} classifier ({args.classifier_model}, {args.classifier_epochs} epochs) -> {path}")
    clf = train_classifier(data, model_name=args.classifier_model, image_size=args.size, epochs=args.classifier_epochs,
                           seed=args.seed, augment=False, progress=not args.quiet)
    save_classifier(clf, path)
    return load_classifier(path)


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(prog="i2ikit eval glyphs", description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--model", action="append", default=[], help="export folder (repeat for several models)")
    p.add_argument("--out", default="runs/glyph_benchmark")
    p.add_argument("--k", type=int, nargs="+", default=[1, 5])
    p.add_argument("--num-content", type=int, default=248, help="content glyphs drawn from the training faces")
    p.add_argument("--size", type=int, default=64)
    p.add_argument("--classifier-model", default="resnet18")
    p.add_argument("--classifier-epochs", type=int, default=10)
    p.add_argument("--classifiers", default=None, help="folder for the two classifiers (default: <out>/classifiers)")
    p.add_argument("--retrain", action="store_true", help="retrain the classifiers even if present")
    p.add_argument("--no-baselines", action="store_true")
    p.add_argument("--seed", type=int, default=0)
    p.add_argument("--quiet", action="store_true")
    args = p.parse_args(argv)

    import i2ikit

    from i2ikit.eval.classifier import classifier_features, content_labeled

    torch.manual_seed(args.seed)
    out = Path(args.out)
    train, test = glyphs(split="train", size=args.size), glyphs(split="test", size=args.size)
    by_char = content_labeled(train)
    clf_dir = Path(args.classifiers) if args.classifiers else out / "classifiers"
    style = _classifier(clf_dir / "style", test, args=args, what="style (held-out faces)")
    content = _classifier(clf_dir / "content", by_char, args=args, what="content (characters)")
    features = classifier_features(style)
    options = {
        "accuracy": {"classifier": style},
        "content_accuracy": {"classifier": content},
        "mfid": {"features": features},
        "mkid": {"features": features},
    }
    settings = EvalSettings(protocol="few_shot", ks=args.k, metrics=["accuracy", "content_accuracy", "mfid", "mkid"],
                            num_content=args.num_content, seed=args.seed)
    models = {Path(m).parent.name if Path(m).name == "export" else Path(m).name: i2ikit.build(pretrained=m) for m in args.model}
    if not args.no_baselines:
        models["baseline: content image"] = IdentityBaseline()
        models["baseline: mean of class images"] = ClassMeanBaseline()
    results = {}
    for name, model in models.items():
        print(f"evaluating {name}")
        results[name] = evaluate(model, content=train, targets=test, settings=settings, metric_options=options,
                                 image_size=args.size, content_labels=by_char.labels,
                                 progress=not args.quiet)
    command = "i2ikit eval glyphs " + " ".join(shlex.quote(a) for a in (argv if argv is not None else sys.argv[3:]))
    paths = write_report(results, out, title="Glyph few-shot benchmark (held-out font faces)", command=command)
    print(paths["md"].read_text())
    return 0
