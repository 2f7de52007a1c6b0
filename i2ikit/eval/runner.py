"""Evaluation protocols: turn a model and labelled data into translated sets, feed them to metrics.

- ``few_shot`` (FUNIT): content images drawn from the source classes; for every target class, K class
  images drawn at random (seeded by the class and K only, so every method sees the same K images);
  each content image is translated with the mean class code of those K images. One translated set
  per target class.
- ``many_class`` (DeepI2I): every source image is translated into every target class
  (``model.translate(images, target_class)``); one set per target class.
- ``two_domain`` (GP-UNIT and other two-domain methods): source-domain images translated into the
  target domain with random styles (``model.translate(content)``, the method drawing its own latent
  style). ``styles_per_input`` S translates every input with S styles: every translation metric
  (FID, KID, DIPD, ...) sees all S x N outputs and ``lpips_diversity`` the S outputs of each input
  (GP-UNIT's paper protocol: S = 10). With S = 1, ``diversity_samples`` adds extra styles per input
  for diversity only.
- ``paired`` (pix2pixHD, SPADE: label maps to images): every label map of a ``paired`` split (the test
  split; ``num_content`` caps it with a seeded draw) synthesised (``model.translate(label, instance)``) and
  the synthesised set compared with the real images of the same split (FID, KID). ``styles_per_input`` S > 1,
  for a method with random styles (``num_styles`` in its ``translate_modes``), synthesises each label map
  S times; every metric sees the S x N images and ``lpips_diversity`` the S of each label map.

Metrics are registered plugins of kind ``metric`` with ``update(group)`` / ``compute()``.
"""
from __future__ import annotations

import json
import math
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Callable, Literal, Mapping, Sequence

import numpy as np
import torch
import torch.nn.functional as F

from ..data import EvalTransform, LabeledImages, stable_hash
from ..errors import ConfigError
from ..plugins import get_registry
from .metrics import TranslationGroup

Protocol = Literal["few_shot", "many_class", "two_domain", "paired"]


@dataclass
class EvalSettings:
    protocol: Protocol = "few_shot"
    ks: list[int] = field(default_factory=lambda: [1, 5])
    metrics: list[str] = field(default_factory=lambda: ["accuracy", "mfid", "mkid"])
    num_content: int = 500
    """Content images drawn from the source classes (FUNIT used 25,000)."""
    max_real_per_class: int = 1000
    """Real images drawn per target class; 0 or less: all of them."""
    diversity_samples: int = 0
    """Extra outputs per input for diversity (few_shot: other K-shot sets; two_domain: random styles)."""
    styles_per_input: int = 1
    """two_domain and paired: random styles per input, all fed to every metric (S x N translations; with
    S >= 2 the same S outputs per input are the diversity samples)."""
    batch_size: int = 32
    seed: int = 0


class IdentityBaseline:
    """Baseline 'translation' that returns the content image untouched."""

    @torch.no_grad()
    def translate(self, content: torch.Tensor, class_images: torch.Tensor | None = None, **_: Any) -> torch.Tensor:
        return content.clone()


class ClassMeanBaseline:
    """Baseline that returns the pixel mean of the K class images, whatever the content."""

    @torch.no_grad()
    def translate(self, content: torch.Tensor, class_images: torch.Tensor, **_: Any) -> torch.Tensor:
        return class_images.mean(0, keepdim=True).expand_as(content).clone()


def _draw(n_items: int, count: int, *keys: Any) -> list[int]:
    """``count`` distinct indices of ``range(n_items)`` from a generator seeded by ``keys`` only."""
    rng = np.random.default_rng(stable_hash(*keys))
    return sorted(rng.choice(n_items, size=min(count, n_items), replace=False).tolist())


def _stack(source: LabeledImages, indices: Sequence[int], transform: EvalTransform) -> torch.Tensor:
    return torch.stack([transform(source.load(i), None) for i in indices]) if indices else torch.empty(0)


def _batched(fn: Callable[[torch.Tensor], torch.Tensor], x: torch.Tensor, batch_size: int) -> torch.Tensor:
    return torch.cat([fn(x[i:i + batch_size]).detach().float().cpu() for i in range(0, len(x), batch_size)])


def build_metrics(names: Sequence[str], options: Mapping[str, Mapping[str, Any]] | None = None, device: str = "cpu") -> dict[str, Any]:
    registry = get_registry()
    options = options or {}
    return {name: registry.get("metric", name).obj(device=device, **dict(options.get(name, {}))) for name in names}


def _check_settings(s: EvalSettings) -> None:
    """The counts of the settings (command-line options of ``i2ikit eval``), before anything is translated."""
    for name, option, value in (("batch_size", "--batch-size", s.batch_size), ("num_content", "--num-content", s.num_content)):
        if int(value) < 1:
            raise ConfigError(f"{name} ({option}) must be >= 1, got {value}")
    if s.protocol == "few_shot":
        bad = [k for k in s.ks if int(k) < 1]
        if bad:
            raise ConfigError(f"K (--k) must be >= 1 class image per target class, got {bad}")
    if int(s.diversity_samples) < 0:
        raise ConfigError(f"diversity_samples (--diversity-samples) must be >= 0, got {s.diversity_samples}")


def evaluate(
    model: Any,
    *,
    content: LabeledImages,
    targets: LabeledImages,
    settings: EvalSettings,
    metric_options: Mapping[str, Mapping[str, Any]] | None = None,
    image_size: int = 128,
    new_size: int | None = None,
    content_labels: Sequence[int] | None = None,
    device: str | torch.device = "cpu",
    progress: bool = True,
) -> dict[str, dict[str, float]]:
    """Run one protocol for every K and return ``{f"k{K}" (or "all"): {metric_key: value}}``.

    ``content`` holds the source-class images (inputs), ``targets`` the target classes (class images
    and the real images the distances compare with). ``content_labels`` optionally gives, per item of
    ``content``, a content class (e.g. which character a glyph shows) for content accuracy.
    """
    from tqdm.auto import tqdm

    device = torch.device(device)
    s = settings
    _check_settings(s)
    if s.protocol == "paired":
        return evaluate_paired(model, targets, settings=s, metric_options=metric_options, device=device,
                               progress=progress)
    transform = EvalTransform(new_size=new_size or image_size, crop=image_size)
    content_idx = _draw(len(content), s.num_content, s.seed, "content", content.name)
    x_content = _stack(content, content_idx, transform)
    c_labels = torch.tensor([content_labels[i] for i in content_idx]) if content_labels is not None else None
    by_class = targets.indices_by_class()
    ks = s.ks if s.protocol == "few_shot" else [None]
    n_styles = max(int(s.styles_per_input), 1)
    if n_styles > 1 and s.protocol != "two_domain":
        raise ConfigError(f"styles_per_input={n_styles} (--styles-per-input) is for the two_domain and paired protocols, not "
                          f"{s.protocol!r}")
    if n_styles > 1 and s.diversity_samples:
        raise ConfigError(f"styles_per_input={n_styles} already gives {n_styles} outputs per input for diversity; "
                          "leave diversity_samples at 0")
    results: dict[str, dict[str, float]] = {}
    total = len(ks) * len(targets.classes)
    bar = tqdm(total=total, desc=f"eval {s.protocol}", disable=not progress, dynamic_ncols=True)
    for k in ks:
        metrics = build_metrics(s.metrics, metric_options, device=str(device))
        for t, cls_name in enumerate(targets.classes):
            items = by_class[t]
            shots_idx: list[int] = []
            variants = None
            extra_styles: list[torch.Tensor] = []
            if s.protocol == "few_shot":
                if len(items) <= k:
                    raise ConfigError(f"target class {cls_name!r} has {len(items)} images; K={k} shots need at least "
                                      f"{k + 1} (one more for the real images); use a smaller --k or drop that class")
                shots_idx = [items[i] for i in _draw(len(items), k, s.seed, "shots", cls_name, k)]
                shots = _stack(targets, shots_idx, transform).to(device)
                translated = _batched(lambda x: model.translate(x.to(device), shots), x_content, s.batch_size)
                if s.diversity_samples:
                    outs = []
                    for v in range(s.diversity_samples):
                        other = [items[i] for i in _draw(len(items), k, s.seed, "shots", cls_name, k, "variant", v)]
                        other_shots = _stack(targets, other, transform).to(device)
                        outs.append(_batched(lambda x: model.translate(x.to(device), other_shots), x_content, s.batch_size))
                    variants = torch.stack(outs, dim=1)
            elif s.protocol == "many_class":
                translated = _batched(lambda x: model.translate(x.to(device), t), x_content, s.batch_size)
            else:  # two_domain: S random styles per input (style v of every input in one pass)
                # No batch of one: samplers that use batch statistics (GP-UNIT's) need two styles.
                starts = list(range(0, len(x_content), s.batch_size))
                if len(starts) > 1 and len(x_content) - starts[-1] == 1:
                    starts.pop()
                bounds = list(zip(starts, starts[1:] + [len(x_content)]))

                def styled(v: int) -> torch.Tensor:
                    outs = []
                    for i, j in bounds:
                        # The method draws its own random style; seed it locally (by style and batch, so
                        # batches get different styles) so that runs repeat exactly.
                        with torch.random.fork_rng(devices=[device] if device.type == "cuda" else []):
                            torch.manual_seed(stable_hash(s.seed, "style", v, i) % 2**63)
                            y = model.translate(x_content[i:j].to(device)).detach().float()
                        if y.shape[-2:] != x_content.shape[-2:]:
                            # Methods that work at a fixed size (GP-UNIT: img_size) answer at that size;
                            # bring the output to the evaluation size of the content and real images.
                            y = F.interpolate(y, size=x_content.shape[-2:], mode="bilinear", align_corners=False,
                                              antialias=y.shape[-1] > x_content.shape[-1])
                        outs.append(y.cpu())
                    return torch.cat(outs)

                translated = styled(0)
                extra_styles = [styled(v) for v in range(1, n_styles)]
                if n_styles > 1:
                    variants = torch.stack([translated, *extra_styles], dim=1)
                elif s.diversity_samples:
                    variants = torch.stack([styled(v + 1) for v in range(s.diversity_samples)], dim=1)
            shot_set = set(shots_idx)
            real_pool = [i for i in items if i not in shot_set]
            max_real = s.max_real_per_class if s.max_real_per_class > 0 else len(real_pool)
            real_idx = [real_pool[i] for i in _draw(len(real_pool), max_real, s.seed, "real", cls_name)]
            real = _stack(targets, real_idx, transform)
            g = TranslationGroup(target=cls_name, target_label=t, content=x_content, translated=translated, real=real,
                                 content_labels=c_labels, variants=variants)
            for metric in metrics.values():
                metric.update(g)
            # two_domain's other styles: more translations of the same inputs for the metrics that read
            # translations (the real images and the per-input variants were given once, above).
            for more in extra_styles:
                g = TranslationGroup(target=cls_name, target_label=t, content=x_content, translated=more, real=real[:0],
                                     content_labels=c_labels)
                for metric in metrics.values():
                    if getattr(metric, "reads_translations", True):
                        metric.update(g)
            bar.update(1)
        row: dict[str, float] = {"num_content": float(len(content_idx)), "num_target_classes": float(len(targets.classes))}
        if s.protocol == "two_domain":
            row["num_styles_per_input"] = float(n_styles)
        for metric in metrics.values():
            row.update({key: float(v) for key, v in metric.compute().items()})
        results[f"k{k}" if k is not None else "all"] = row
    bar.close()
    return results


def _seeded_translate(model: Any, seed: Any, device: torch.device, *args: Any) -> torch.Tensor:
    """``model.translate(*args)`` with the global RNG seeded from ``seed`` (forked: the caller's stream is
    untouched), so a method drawing its own random style repeats exactly."""
    with torch.random.fork_rng(devices=[device] if device.type == "cuda" else []):
        torch.manual_seed(stable_hash(*seed) % 2**63)
        return model.translate(*args).detach().float()


def evaluate_paired(
    model: Any,
    pairs: Any,
    *,
    settings: EvalSettings,
    metric_options: Mapping[str, Mapping[str, Any]] | None = None,
    device: str | torch.device = "cpu",
    progress: bool = True,
) -> dict[str, dict[str, float]]:
    """The ``paired`` protocol (module docstring) on ``pairs``, a ``paired`` dataset (its items ``[image | label
    | instance]``, loaded as for evaluation: no flip, centred crops). Returns ``{"all": {metric_key: value}}``.

    The label maps go in at the data's size; a method that answers at another size (SPADE's fixed-size
    generator) has its images resized (bilinear, antialiased when shrinking) to the real images' size. The
    metrics' ``content`` images are the label maps in colour (``model.label_image`` when it has one)."""
    from tqdm.auto import tqdm

    from ..data import split_paired

    device = torch.device(device)
    s = settings
    if not callable(getattr(pairs, "sample_item", None)) or not hasattr(pairs, "pairs"):
        raise ConfigError(f"the paired protocol reads a dataset of type `paired` (label maps with their images), got "
                          f"{getattr(pairs, 'name', type(pairs).__name__)}; give --data a paired split, e.g. "
                          "{type: paired, root: ..., phase: val} or glyph_edges:test")
    n_styles = max(int(s.styles_per_input), 1)
    modes = tuple(getattr(model, "translate_modes", ()) or ())
    name = getattr(model, "method_name", "") or type(model).__name__
    if (n_styles > 1 or s.diversity_samples) and "num_styles" not in modes:
        raise ConfigError(f"styles_per_input={n_styles} / diversity_samples={s.diversity_samples} need a method that "
                          f"samples styles (translate_modes num_styles); this {name} model makes one image per label map "
                          "(e.g. SPADE without use_vae, pix2pixHD). Leave them at 1 and 0")
    if n_styles > 1 and s.diversity_samples:
        raise ConfigError(f"styles_per_input={n_styles} already gives {n_styles} outputs per label map for diversity; "
                          "leave diversity_samples at 0")
    idx = _draw(len(pairs), s.num_content, s.seed, "content", pairs.name)
    items = torch.stack([pairs.sample_item(i, None)[0] for i in idx])
    real, label, instance = split_paired(items)
    show = getattr(model, "label_image", None)
    content = (show(label).float().cpu() if callable(show)
               else label.repeat(1, 3, 1, 1) / max(1.0, float(label.max())) * 2 - 1)
    bounds = [(i, min(i + s.batch_size, len(idx))) for i in range(0, len(idx), s.batch_size)]
    total = len(bounds) * (n_styles + int(s.diversity_samples))
    bar = tqdm(total=total, desc="eval paired", disable=not progress, dynamic_ncols=True)

    def synthesised(v: int) -> torch.Tensor:
        outs = []
        for i, j in bounds:
            inst = None if instance is None else instance[i:j].to(device)
            y = _seeded_translate(model, (s.seed, "paired", v, i), device, label[i:j].to(device), inst)
            if y.shape[-2:] != real.shape[-2:]:
                y = F.interpolate(y, size=real.shape[-2:], mode="bilinear", align_corners=False,
                                  antialias=y.shape[-1] > real.shape[-1])
            outs.append(y.cpu())
            bar.update(1)
        return torch.cat(outs)

    styles = [synthesised(v) for v in range(n_styles)]
    variants = None
    if n_styles > 1:
        variants = torch.stack(styles, dim=1)
    elif s.diversity_samples:
        variants = torch.stack([synthesised(v + 1) for v in range(s.diversity_samples)], dim=1)
    bar.close()
    metrics = build_metrics(s.metrics, metric_options, device=str(device))
    group = TranslationGroup(target="paired", target_label=0, content=content, translated=styles[0], real=real,
                             variants=variants)
    for metric in metrics.values():
        metric.update(group)
    for more in styles[1:]:  # the other styles: more synthesised images for the metrics that read them
        group = TranslationGroup(target="paired", target_label=0, content=content, translated=more, real=real[:0])
        for metric in metrics.values():
            if getattr(metric, "reads_translations", True):
                metric.update(group)
    row: dict[str, float] = {"num_content": float(len(idx)), "num_target_classes": 1.0,
                             "num_styles_per_input": float(n_styles)}
    for metric in metrics.values():
        row.update({key: float(v) for key, v in metric.compute().items()})
    return {"all": row}


def write_report(results: Mapping[str, Mapping[str, Mapping[str, float]]], out: Path, *, title: str, command: str | None = None) -> dict[str, Path]:
    """Write ``metrics.json``, ``metrics.md`` (one row per model and K) and ``metrics.png`` (a bar plot).

    ``results`` maps a model name (e.g. "funit", "baseline: content") to ``evaluate``'s output.
    """
    out.mkdir(parents=True, exist_ok=True)
    (out / "metrics.json").write_text(json.dumps(results, indent=2, sort_keys=True) + "\n")
    # The table shows the metrics; counts (images, classes, inputs, samples, subset sizes) and spreads stay in
    # metrics.json.
    def shown(key: str) -> bool:
        return not (key.startswith("num_") or key.endswith(("_std", "_subset_size", "_classes", "_inputs", "_per_input"))
                    or "images" in key)

    keys = sorted({k for per_model in results.values() for row in per_model.values() for k in row if shown(k)})
    lines = [f"# {title}", ""]
    if command:
        lines += ["```bash", command, "```", ""]
    lines += ["| model | K | " + " | ".join(keys) + " |", "|---|---|" + "---|" * len(keys)]
    for name, per_model in results.items():
        for k, row in per_model.items():
            cells = [f"{row[key]:.4g}" if key in row and math.isfinite(row[key]) else "" for key in keys]
            lines.append(f"| {name} | {k.lstrip('k')} | " + " | ".join(cells) + " |")
    (out / "metrics.md").write_text("\n".join(lines) + "\n")

    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    fig, axes = plt.subplots(1, max(len(keys), 1), figsize=(3.2 * max(len(keys), 1), 3), squeeze=False)
    labels = [f"{name} {k}" for name, per_model in results.items() for k in per_model]
    for ax, key in zip(axes[0], keys):
        values = [row.get(key, float("nan")) for per_model in results.values() for row in per_model.values()]
        ax.bar(range(len(values)), values, color=[f"C{i % 10}" for i in range(len(values))])
        ax.set_title(key, fontsize=9)
        ax.set_xticks(range(len(values)))
        ax.set_xticklabels(labels, rotation=60, ha="right", fontsize=7)
    fig.tight_layout()
    fig.savefig(out / "metrics.png", dpi=100)
    plt.close(fig)
    return {"json": out / "metrics.json", "md": out / "metrics.md", "png": out / "metrics.png"}
