"""``i2ikit eval glyphs``: the offline benchmarks on the glyph data, few-shot and two-domain.

Held-out font faces are the test set. i2ikit trains two classifiers on real glyphs: a *style*
classifier over the held-out faces (which face is this?) and a *content* classifier over the
characters of the training faces (which character is this?). Distances use the style classifier's
features (a local extractor: nothing is downloaded).

``--protocol few_shot`` (FUNIT): for K = 1 and 5 every model translates the same content glyphs (from
the training faces) with the same K class images per held-out face, and is scored by style accuracy
(top-1/top-5), content accuracy, and mFID/mKID. Baselines: the untouched content image and the pixel
mean of the K class images.

``--protocol two_domain`` (UNIT, MUNIT, DRIT, ...): the serif -> sans-serif split
(:mod:`i2ikit_glyphs.domains`; models trained on the training faces of both domains, e.g.
``recipes/munit_glyphs.yaml``). Every glyph of the held-out serif faces is translated a2b with S
random styles and scored against the glyphs of the held-out sans-serif faces: domain accuracy (is the
translation classified as a sans-serif face?), content accuracy, FID/KID on the style classifier's
features, and diversity as an LPIPS-style distance on its feature maps between the S outputs of each
input. Baseline: the untouched serif glyph; reference: real sans-serif glyphs of the training faces.

    i2ikit eval glyphs --model runs/quickstart/export --out runs/glyph_benchmark
    i2ikit eval glyphs --protocol two_domain --model runs/munit_glyphs/export --classifiers runs/glyph_benchmark/classifiers
"""
from __future__ import annotations

import argparse
import shlex
import sys
from dataclasses import replace
from pathlib import Path
from typing import Any

import torch
from torch import nn

from i2ikit.eval.runner import ClassMeanBaseline, EvalSettings, IdentityBaseline, evaluate, write_report

from .dataset import glyphs
from .domains import face_domain


def _classifier(path: Path, data, *, args: argparse.Namespace, what: str):
    from i2ikit.eval.classifier import load_classifier, save_classifier, train_classifier

    if (path / "config.json").exists() and not args.retrain:
        return load_classifier(path)
    print(f"training the {what} classifier ({args.classifier_model}, {args.classifier_epochs} epochs) -> {path}")
    clf = train_classifier(data, model_name=args.classifier_model, image_size=args.size, epochs=args.classifier_epochs,
                           seed=args.seed, augment=False, progress=not args.quiet)
    save_classifier(clf, path)
    return load_classifier(path)


class DomainClassifier(nn.Module):
    """The style classifier read by domain: a domain's logit is the log-sum-exp of its faces' logits,
    so the softmax over domains is the style classifier's probability summed over each domain's faces."""

    def __init__(self, style: Any) -> None:
        super().__init__()
        self.style = style
        groups: dict[str, list[int]] = {}
        for i, face in enumerate(style.classes):
            groups.setdefault(face_domain(face) or "other", []).append(i)
        self.classes = sorted(groups)
        self.groups = [groups[d] for d in self.classes]

    def forward(self, images: torch.Tensor) -> torch.Tensor:
        logits = self.style(images)
        return torch.stack([logits[:, g].logsumexp(1) for g in self.groups], dim=1)


def _one_class(source: Any, name: str) -> Any:
    """The images of several faces as one class ``name`` (the target domain of the two-domain protocol)."""
    from i2ikit.eval.classifier import ContentLabeled

    return ContentLabeled(source, [0] * len(source), [name])


def _two_domain_row(row: dict[str, float]) -> dict[str, float]:
    """Domain accuracy as ``domain_top1`` (a top-5 over three domains says nothing)."""
    out = {k: v for k, v in row.items() if k not in ("top1", "top5")}
    out["domain_top1"] = row["top1"]
    return out


def _models(paths: list[str]) -> dict[str, Any]:
    import i2ikit

    return {Path(m).parent.name if Path(m).name == "export" else Path(m).name: i2ikit.build(pretrained=m) for m in paths}


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(prog="i2ikit eval glyphs", description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--model", action="append", default=[], help="export folder (repeat for several models)")
    p.add_argument("--protocol", choices=["few_shot", "two_domain"], default="few_shot",
                   help="few_shot: held-out faces as unseen classes (FUNIT); two_domain: held-out serif -> sans-serif "
                        "faces (UNIT, MUNIT, DRIT)")
    p.add_argument("--split", choices=["test", "val"], default="test",
                   help="test: the held-out faces (report these once); val: validation faces held out of the "
                        "training faces, for models trained on `split: fit` while choosing settings")
    p.add_argument("--out", default=None, help="report folder (default runs/glyph_benchmark, "
                                               "runs/glyph_benchmark_two_domain; _val appended for --split val)")
    p.add_argument("--k", type=int, nargs="+", default=[1, 5], help="few_shot: class images per held-out face")
    p.add_argument("--num-content", type=int, default=248,
                   help="content glyphs (few_shot: drawn from the training faces; two_domain: of the held-out serif "
                        "faces, all of them by default)")
    p.add_argument("--styles-per-input", type=int, default=5, help="two_domain: random styles per input (S)")
    p.add_argument("--size", type=int, default=64)
    p.add_argument("--classifier-model", default="resnet18")
    p.add_argument("--classifier-epochs", type=int, default=10)
    p.add_argument("--classifiers", default=None, help="folder for the two classifiers (default: <out>/classifiers)")
    p.add_argument("--retrain", action="store_true", help="retrain the classifiers even if present")
    p.add_argument("--no-baselines", action="store_true")
    p.add_argument("--threads", type=int, default=2,
                   help="CPU threads for the whole run (default 2): training on another number of threads sums "
                        "gradients in another order, so a fixed number gives the same classifiers and table on "
                        "every machine with the same instruction set")
    p.add_argument("--seed", type=int, default=0)
    p.add_argument("--quiet", action="store_true")
    args = p.parse_args(argv)
    if args.threads < 1:
        p.error(f"--threads must be at least 1, got {args.threads}")
    before = torch.get_num_threads()
    torch.set_num_threads(args.threads)
    try:
        return _run(args, argv)
    finally:
        torch.set_num_threads(before)


def _run(args: argparse.Namespace, argv: list[str] | None) -> int:
    from i2ikit.eval.classifier import classifier_features, classifier_lpips, content_labeled

    torch.manual_seed(args.seed)
    two_domain = args.protocol == "two_domain"
    val = args.split == "val"
    out = Path(args.out or ("runs/glyph_benchmark" + ("_two_domain" if two_domain else "") + ("_val" if val else "")))
    seen, unseen = ("fit", "val") if val else ("train", "test")
    train, test = glyphs(split=seen, size=args.size), glyphs(split=unseen, size=args.size)
    by_char = content_labeled(train)
    clf_dir = Path(args.classifiers) if args.classifiers else out / "classifiers"
    style = _classifier(clf_dir / "style", test, args=args, what=f"style ({unseen} faces)")
    content_clf = _classifier(clf_dir / "content", by_char, args=args, what="content (characters)")
    features = classifier_features(style)
    models = _models(args.model)
    results = {}
    if two_domain:
        source = glyphs(split=unseen, size=args.size, domain="serif")
        target = _one_class(glyphs(split=unseen, size=args.size, domain="sans"), "sans")
        options = {
            "accuracy": {"classifier": DomainClassifier(style)},
            "content_accuracy": {"classifier": content_clf},
            "fid": {"features": features},
            "kid": {"features": features},
            "lpips_diversity": {"model": classifier_lpips(style)},
        }
        settings = EvalSettings(protocol="two_domain", metrics=list(options), num_content=args.num_content,
                                styles_per_input=args.styles_per_input, max_real_per_class=0, seed=args.seed)
        runs = [(name, model, source) for name, model in models.items()]
        if not args.no_baselines:
            runs.append(("baseline: serif glyph untouched", IdentityBaseline(), source))
            # What real sans-serif glyphs score: the training faces' glyphs "translated" by nothing.
            runs.append(("reference: real sans-serif glyphs (training faces)", IdentityBaseline(),
                         glyphs(split=seen, size=args.size, domain="sans")))
        # The untouched images have one output per input: no diversity to measure.
        still = replace(settings, metrics=[m for m in settings.metrics if m != "lpips_diversity"], styles_per_input=1)
        for name, model, content in runs:
            print(f"evaluating {name}")
            diverse = not isinstance(model, IdentityBaseline)
            row = evaluate(model, content=content, targets=target, settings=settings if diverse else still,
                           metric_options=options, image_size=args.size, content_labels=content_labeled(content).labels,
                           progress=not args.quiet)
            results[name] = {k: _two_domain_row(r) for k, r in row.items()}
        title = (f"Glyph two-domain benchmark ({unseen} serif faces -> {unseen} sans-serif faces)" if val else
                 "Glyph two-domain benchmark (held-out serif faces -> held-out sans-serif faces)")
    else:
        options = {
            "accuracy": {"classifier": style},
            "content_accuracy": {"classifier": content_clf},
            "mfid": {"features": features},
            "mkid": {"features": features},
        }
        settings = EvalSettings(protocol="few_shot", ks=args.k, metrics=list(options), num_content=args.num_content,
                                seed=args.seed)
        if not args.no_baselines:
            models["baseline: content image"] = IdentityBaseline()
            models["baseline: mean of class images"] = ClassMeanBaseline()
        for name, model in models.items():
            print(f"evaluating {name}")
            results[name] = evaluate(model, content=train, targets=test, settings=settings, metric_options=options,
                                     image_size=args.size, content_labels=by_char.labels, progress=not args.quiet)
        title = ("Glyph few-shot benchmark (validation faces: settings are chosen here)" if val else
                 "Glyph few-shot benchmark (held-out font faces)")
    command = "i2ikit eval glyphs " + " ".join(shlex.quote(a) for a in (argv if argv is not None else sys.argv[3:]))
    paths = write_report(results, out, title=title, command=command)
    print(paths["md"].read_text())
    return 0
