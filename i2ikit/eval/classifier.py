"""Classifiers for translation accuracy (FUNIT top-1/top-5, DeepI2I RC/FC), trained offline.

The papers judge a translation by whether a classifier trained on *real* images assigns it its
target class (FUNIT: Inception-v3 fine-tuned on all / on the target classes; DeepI2I RC: ResNet-50
trained on real images, FC: trained on generated ones). This module trains such a classifier on any
:class:`~i2ikit.data.LabeledImages` source, deterministically, and saves it as ``config.json`` +
``model.safetensors`` so the metrics can load it without pickle and without any download:
ImageNet initialisation only ever comes from a local weights file the user passes.

A :class:`Classifier` takes images in the generators' range, [-1, 1], at any size, and does its own
resizing and normalisation, so metric code never has to know how the classifier was trained.
"""
from __future__ import annotations

import argparse
import json
import math
import os
import sys
import tempfile
from pathlib import Path
from typing import Any, Callable, Sequence

import torch
import torch.nn.functional as F
from torch import nn

from ..data import (
    DataSourceError,
    EvalTransform,
    ImageFolder,
    LabeledImages,
    SampledDataset,
    TrainTransform,
    aug_seed_at,
    epoch_permutation,
    stable_hash,
)
from ..errors import CheckpointError, ConfigError, MissingFileError
from ..nn.modes import eval_mode

__all__ = [
    "CONFIG_NAME",
    "WEIGHTS_NAME",
    "Classifier",
    "ContentLabeled",
    "content_labeled",
    "load_backbone_weights",
    "load_classifier",
    "main",
    "save_classifier",
    "train_classifier",
]

CONFIG_NAME = "config.json"
WEIGHTS_NAME = "model.safetensors"
FORMAT = "i2ikit-classifier"
FORMAT_VERSION = 1
_IMAGENET_MEAN = (0.485, 0.456, 0.406)
_IMAGENET_STD = (0.229, 0.224, 0.225)
_RANGE_SLACK = 1.5  # inputs beyond +-this are surely not [-1, 1] images (e.g. [0, 255])


def _timm() -> Any:
    import timm  # imported lazily: slow to import and only classifiers need it

    return timm


class Classifier(nn.Module):
    """A timm backbone that takes [-1, 1] images of any size and returns logits over ``classes``.

    Resizing (bilinear, antialiased, to ``image_size`` x ``image_size``; aspect ratio not kept, as
    generated images are square) and the backbone's mean/std normalisation happen inside
    :meth:`forward`, so generated batches can be classified as they come out of a generator.
    ``mean``/``std`` default to the timm model's ``pretrained_cfg`` and are saved with the
    classifier, so a saved classifier never depends on a later timm changing its defaults.
    ``training_summary`` holds what :func:`train_classifier` measured (saved by :func:`save_classifier`).
    """

    def __init__(
        self,
        model_name: str,
        classes: Sequence[str],
        image_size: int = 64,
        *,
        mean: Sequence[float] | None = None,
        std: Sequence[float] | None = None,
        model: nn.Module | None = None,
    ) -> None:
        super().__init__()
        classes = [str(c) for c in classes]
        if len(classes) < 2:
            raise ConfigError(f"a classifier needs at least 2 classes, got {classes}")
        if not isinstance(image_size, int) or image_size < 8:
            raise ConfigError(f"image_size (--image-size) must be an integer >= 8, got {image_size!r}")
        if model is None:
            try:
                model = _timm().create_model(model_name, pretrained=False, num_classes=len(classes), in_chans=3)
            except RuntimeError as exc:  # timm: "Unknown model (...)"
                raise ConfigError(f"cannot build timm model {model_name!r} (--model): {exc}") from None
        self.model = model
        self.model_name = model_name
        self.classes = classes
        self.image_size = image_size
        cfg = dict(getattr(model, "pretrained_cfg", None) or {})
        mean = tuple(float(v) for v in (mean if mean is not None else cfg.get("mean", _IMAGENET_MEAN)))
        std = tuple(float(v) for v in (std if std is not None else cfg.get("std", _IMAGENET_STD)))
        if len(mean) != 3 or len(std) != 3 or min(std) <= 0:
            raise ConfigError(f"mean/std must be 3 values with std > 0, got mean={mean}, std={std}")
        # Not in the state dict: model.safetensors stays a plain timm state dict; config.json has them.
        self.register_buffer("mean", torch.tensor(mean).view(1, 3, 1, 1), persistent=False)
        self.register_buffer("std", torch.tensor(std).view(1, 3, 1, 1), persistent=False)
        self.training_summary: dict[str, Any] | None = None

    @property
    def num_classes(self) -> int:
        return len(self.classes)

    def preprocess(self, images: torch.Tensor) -> torch.Tensor:
        """[-1, 1] images of any size -> the backbone's input (``image_size``, normalised)."""
        if images.ndim != 4 or images.shape[1] != 3:
            raise ValueError(
                f"classifier input must be N x 3 x H x W RGB images in [-1, 1], got shape {tuple(images.shape)}"
            )
        if not images.is_floating_point():
            raise ValueError(
                f"classifier input must be float images in [-1, 1], got dtype {images.dtype} (convert uint8 "
                "with x / 127.5 - 1)"
            )
        if images.numel() and float(images.detach().abs().amax()) > _RANGE_SLACK:
            raise ValueError(
                f"classifier input has values up to {float(images.detach().abs().amax()):.3g}; expected images in "
                "[-1, 1] (as generators output them), not [0, 255]"
            )
        x = (images.float() + 1.0) * 0.5
        if x.shape[-2:] != (self.image_size, self.image_size):
            x = F.interpolate(x, size=(self.image_size, self.image_size), mode="bilinear", align_corners=False,
                              antialias=True)
        return (x - self.mean) / self.std

    def forward(self, images: torch.Tensor) -> torch.Tensor:
        """Logits N x C for images N x 3 x H x W in [-1, 1] (any H, W)."""
        return self.model(self.preprocess(images))

    @torch.no_grad()
    def predict(self, images: torch.Tensor, batch_size: int = 64) -> torch.Tensor:
        """Logits in eval mode, in chunks of ``batch_size``; returned on the images' device."""
        if batch_size < 1:
            raise ValueError(f"batch_size must be >= 1, got {batch_size}")
        device = self.mean.device
        with eval_mode(self):
            out = [self(images[i : i + batch_size].to(device)).to(images.device)
                   for i in range(0, len(images), batch_size)]
        if not out:
            return torch.zeros(0, self.num_classes, device=images.device)
        return torch.cat(out)

    def extra_repr(self) -> str:
        return f"model_name={self.model_name!r}, classes={self.num_classes}, image_size={self.image_size}"


# ---------------------------------------------------------------------------------- saving


def classifier_features(clf: Classifier) -> Callable[[torch.Tensor], torch.Tensor]:
    """The classifier's penultimate (pre-logits) features as a feature extractor for FID/KID-style
    distances: a local, domain-specific alternative to the ImageNet Inception when none is available."""

    @torch.no_grad()
    def extract(images: torch.Tensor) -> torch.Tensor:
        with eval_mode(clf):
            x = clf.preprocess(images.to(next(clf.parameters()).device))
            return clf.model.forward_head(clf.model.forward_features(x), pre_logits=True).flatten(1).float()

    return extract


def classifier_lpips(clf: Classifier, eps: float = 1e-10) -> Callable[[torch.Tensor, torch.Tensor], torch.Tensor]:
    """An LPIPS-style distance on the classifier's feature maps: a local stand-in for LPIPS (whose
    AlexNet backbone has to be downloaded) for diversity on domain-specific data such as the glyphs.

    As LPIPS (Zhang et al. 2018) without its learned linear heads (every channel weighs 1): at each
    stage of the backbone (timm ``forward_intermediates``) the features are unit-normalised over the
    channels at every position, the squared differences summed over the channels and averaged over
    the positions, and the stages summed. Returns one distance per pair of images.
    """
    if not hasattr(clf.model, "forward_intermediates"):
        raise ConfigError(f"an LPIPS-style distance needs the classifier's feature maps, and timm model "
                          f"{clf.model_name!r} has no forward_intermediates; train the classifier with a timm "
                          "model that has them (resnet18 does)")

    @torch.no_grad()
    def distance(a: torch.Tensor, b: torch.Tensor) -> torch.Tensor:
        with eval_mode(clf):
            device = next(clf.parameters()).device
            x = clf.preprocess(torch.cat([a, b]).to(device))
            total = torch.zeros(len(a), device=device)
            for f in clf.model.forward_intermediates(x, intermediates_only=True):
                f = f.float()
                f = f / (f.pow(2).sum(1, keepdim=True).sqrt() + eps)
                total += (f[: len(a)] - f[len(a):]).pow(2).sum(1).mean((1, 2))
            return total.reshape(-1, 1, 1, 1)  # LPIPS's N x 1 x 1 x 1

    return distance


def save_classifier(clf: Classifier, directory: str | os.PathLike) -> Path:
    """Write ``config.json`` + ``model.safetensors`` to ``directory``, never leaving it half-written."""
    from safetensors.torch import save_file

    from .. import __version__
    from ..method import _replace_dir

    directory = Path(directory)
    directory.parent.mkdir(parents=True, exist_ok=True)
    config = {
        "format": FORMAT,
        "format_version": FORMAT_VERSION,
        "model_name": clf.model_name,
        "classes": list(clf.classes),
        "image_size": clf.image_size,
        "mean": [float(v) for v in clf.mean.flatten()],
        "std": [float(v) for v in clf.std.flatten()],
        "input_range": [-1.0, 1.0],
        "i2ikit_version": __version__,
        "training": clf.training_summary,
    }
    tmp = Path(tempfile.mkdtemp(prefix=f".{directory.name}.tmp-", dir=directory.parent))
    try:
        (tmp / CONFIG_NAME).write_text(json.dumps(config, indent=2) + "\n", encoding="utf-8")
        tensors = {k: v.detach().contiguous().cpu() for k, v in clf.model.state_dict().items()}
        save_file(tensors, str(tmp / WEIGHTS_NAME), metadata={"format": "pt"})
        _replace_dir(tmp, directory)
    finally:
        if tmp.exists():
            import shutil

            shutil.rmtree(tmp, ignore_errors=True)
    return directory


def load_classifier(path: str | os.PathLike, device: str | torch.device = "cpu") -> Classifier:
    """Load a folder written by :func:`save_classifier` (in eval mode); never downloads anything."""
    from ..checkpoint_files import read_safetensors

    folder = Path(path)
    if folder.is_file() and folder.name in (CONFIG_NAME, WEIGHTS_NAME):
        folder = folder.parent
    expected = f"expected a classifier folder with {CONFIG_NAME} and {WEIGHTS_NAME} (from `i2ikit eval train-classifier`)"
    if not folder.is_dir():
        what = "is a file, not a folder" if folder.exists() else "does not exist"
        raise MissingFileError(f"classifier folder {str(folder)!r} {what}; {expected}")
    for name in (CONFIG_NAME, WEIGHTS_NAME):
        if not (folder / name).is_file():
            raise MissingFileError(f"classifier folder {str(folder)!r} has no {name}; {expected}")
    try:
        config = json.loads((folder / CONFIG_NAME).read_text(encoding="utf-8"))
    except (UnicodeDecodeError, json.JSONDecodeError) as exc:
        raise CheckpointError(f"{folder / CONFIG_NAME} is not valid JSON ({exc}); retrain or re-save the classifier") from None
    found = config.get("format") if isinstance(config, dict) else type(config).__name__
    if found != FORMAT:
        raise CheckpointError(
            f"{folder / CONFIG_NAME} is not an i2ikit classifier config (format {found!r}, expected {FORMAT!r}); "
            "train one with `i2ikit eval train-classifier`"
        )
    if int(config.get("format_version", 0)) > FORMAT_VERSION:
        raise CheckpointError(
            f"{folder} was saved by a newer i2ikit (classifier format {config['format_version']}, this one reads "
            f"up to {FORMAT_VERSION}); upgrade i2ikit"
        )
    missing = [k for k in ("model_name", "classes", "image_size") if k not in config]
    if missing:
        raise CheckpointError(f"{folder / CONFIG_NAME} lacks {missing}; retrain or re-save the classifier")
    clf = Classifier(config["model_name"], config["classes"], int(config["image_size"]),
                     mean=config.get("mean"), std=config.get("std"))
    state = read_safetensors(folder / WEIGHTS_NAME, "classifier weights")
    try:
        clf.model.load_state_dict(state, strict=True)
    except RuntimeError as exc:
        raise CheckpointError(
            f"{folder / WEIGHTS_NAME} does not fit a {config['model_name']!r} with {len(config['classes'])} classes "
            f"(installed timm {_timm().__version__}): {exc}"
        ) from None
    clf.training_summary = config.get("training")
    return clf.to(device).eval()


# ---------------------------------------------------------------------------- pretrained


def _read_state_dict(path: Path) -> dict[str, torch.Tensor]:
    """A state dict from ``.safetensors`` or a torch file (weights_only), unwrapping common containers."""
    if not path.is_file():
        raise MissingFileError(
            f"pretrained weights file {str(path)!r} does not exist; give a local timm/torchvision state_dict "
            "(.pth/.pt/.bin or .safetensors) of the same architecture (nothing is downloaded)"
        )
    if path.suffix == ".safetensors":
        from ..checkpoint_files import read_safetensors

        state: Any = read_safetensors(path, "pretrained classifier weights")
    else:
        from ..checkpoint_files import load_checkpoint_file

        state = load_checkpoint_file(path)
    for key in ("state_dict", "model", "model_state_dict", "module"):
        if isinstance(state, dict) and isinstance(state.get(key), dict):
            state = state[key]
            break
    if not isinstance(state, dict) or not all(isinstance(v, torch.Tensor) for v in state.values()):
        raise CheckpointError(f"{path} does not hold a state dict (a mapping of parameter names to tensors)")
    prefixes = ("module.", "model.")  # DDP wrappers; an i2ikit Classifier's own state dict
    for p in prefixes:
        if state and all(k.startswith(p) for k in state):
            state = {k[len(p):]: v for k, v in state.items()}
    return state


def load_backbone_weights(model: nn.Module, path: str | os.PathLike, *, verbose: bool = True) -> list[str]:
    """Load a local state dict into a timm ``model``, dropping the classifier head if its shape differs.

    Returns the keys that were not loaded (the head, when fine-tuning to other classes). Anything
    else missing means the file is for another architecture, which is an error rather than a
    silently half-initialised network.
    """
    path = Path(path)
    state = _read_state_dict(path)
    own = model.state_dict()
    head = (getattr(model, "pretrained_cfg", None) or {}).get("classifier") or ()
    heads = [str(h) for h in ([head] if isinstance(head, str) else list(head)) if h]

    def is_head(key: str) -> bool:
        return any(key == h or key.startswith(h + ".") for h in heads)

    mismatched = [k for k, v in state.items() if k in own and own[k].shape != v.shape]
    matched = {k: v for k, v in state.items() if k in own and own[k].shape == v.shape}
    unexpected = [k for k in state if k not in own]
    missing = [k for k in own if k not in matched and not k.endswith("num_batches_tracked")]
    bad_missing = [k for k in missing if not is_head(k)]
    if not matched or bad_missing:
        shown = bad_missing or missing
        raise CheckpointError(
            f"{path} does not fit timm model {getattr(model, 'default_cfg', {}).get('architecture', type(model).__name__)!r}: "
            f"{len(matched)} of {len(own)} tensors match; not loadable: {shown[:8]}"
            f"{' ...' if len(shown) > 8 else ''}"
            + (f"; shape mismatches: {[(k, tuple(state[k].shape), tuple(own[k].shape)) for k in mismatched[:4]]}"
               if mismatched else "")
            + (f"; unknown keys in the file: {unexpected[:5]}" if unexpected else "")
        )
    model.load_state_dict(matched, strict=False)
    if verbose:
        msg = f"loaded {len(matched)} tensors from {path}"
        if missing:
            why = "shape differs (other classes)" if any(k in mismatched for k in missing) else "not in the file"
            msg += f"; classifier head {sorted(set(k.rsplit('.', 1)[0] for k in missing))} left freshly initialised ({why})"
        if unexpected:
            msg += f"; ignored {len(unexpected)} unknown key(s), e.g. {unexpected[:3]}"
        print(msg, file=sys.stderr)
    return missing


# ------------------------------------------------------------------------------- training


class _Indexed(LabeledImages):
    """A view of some items of another source (the train or val part of a split), labels unchanged."""

    def __init__(self, parent: LabeledImages, items: Sequence[int], part: str) -> None:
        self.parent = parent
        self.items = [int(i) for i in items]
        self.classes = list(parent.classes)
        self.labels = [parent.labels[i] for i in self.items]
        self.name = f"{parent.name}[{part}]"

    def path(self, i: int) -> str:
        return self.parent.path(self.items[self._check_index(i)])

    def _raw(self, i: int) -> Any:
        return self.parent._raw(self.items[i])

    def load(self, i: int) -> Any:
        return self.parent.load(self.items[self._check_index(i)])


def _stratified_split(source: LabeledImages, val_fraction: float, seed: int) -> tuple[list[int], list[int]]:
    """Per class: a seeded shuffle, then ``round(val_fraction * n)`` images (at least 1 when the class
    has 2+, never all of them) go to validation, so every class is in both parts when it can be."""
    if not 0.0 <= val_fraction < 1.0:
        raise ConfigError(f"val_fraction (--val-fraction) must be in [0, 1), got {val_fraction}")
    train: list[int] = []
    val: list[int] = []
    for label, items in enumerate(source.indices_by_class()):
        n = len(items)
        if n == 0:
            continue
        order = [items[j] for j in epoch_permutation(n, seed, f"classifier-split/{label}", 0)]
        n_val = 0
        if val_fraction > 0 and n >= 2:
            n_val = min(n - 1, max(1, round(val_fraction * n)))
        val.extend(order[:n_val])
        train.extend(order[n_val:])
    return sorted(train), sorted(val)


def _epoch_batches(n: int, batch_size: int, seed: int, epoch: int) -> list[list[tuple[int, int]]]:
    """Epoch ``epoch``'s ``(index, aug_seed)`` batches: a seeded permutation, a lone last item merged
    into the previous batch (BatchNorm cannot train on one image)."""
    perm = epoch_permutation(n, seed, "classifier-train", epoch)
    keys = [(int(i), aug_seed_at(seed, "classifier-train", epoch * n + pos)) for pos, i in enumerate(perm)]
    batches = [keys[i : i + batch_size] for i in range(0, n, batch_size)]
    if len(batches) > 1 and len(batches[-1]) == 1:
        batches[-2].extend(batches.pop())
    return batches


def _default_device(device: str | torch.device | None) -> torch.device:
    if device is not None:
        return torch.device(device)
    return torch.device("cuda" if torch.cuda.is_available() else "cpu")


@torch.no_grad()
def _accuracy(clf: Classifier, loader: Any, device: torch.device) -> float:
    clf.eval()
    correct = total = 0
    for images, labels in loader:
        pred = clf(images.to(device)).argmax(1).cpu()
        correct += int((pred == labels).sum())
        total += len(labels)
    return correct / max(total, 1)


def train_classifier(
    source: LabeledImages,
    *,
    model_name: str = "resnet18",
    image_size: int = 64,
    epochs: int = 10,
    batch_size: int = 64,
    lr: float = 1e-3,
    weight_decay: float = 1e-4,
    val_fraction: float = 0.1,
    seed: int = 0,
    pretrained_weights: str | os.PathLike | None = None,
    device: str | torch.device | None = None,
    num_workers: int = 0,
    progress: bool = True,
    augment: bool = True,
    flip: bool = False,
) -> Classifier:
    """Train a classifier on the real images of ``source`` and return it (in eval mode).

    Deterministic given ``seed`` (on CPU; cuDNN may add noise on GPU): a seeded stratified
    train/val split, seeded per-epoch shuffles and per-image augmentation seeds (independent of
    ``num_workers``), seeded initialisation. Augmentation (``augment``) is a FUNIT-style
    resize-to-``image_size * 8/7`` + random crop; horizontal flips only with ``flip`` because they
    change glyphs into other characters. AdamW with a per-step cosine schedule. Val top-1 is
    reported each epoch; the final epoch's weights are kept, with the accuracies in
    ``training_summary``. ``pretrained_weights`` is a local timm/torchvision state dict of the same
    architecture to fine-tune from (e.g. ImageNet weights, as the papers do); nothing is downloaded.
    """
    if not isinstance(source, LabeledImages):
        raise TypeError(f"train_classifier needs a LabeledImages source, got {type(source).__name__}")
    for name, value in (("epochs", epochs), ("batch_size", batch_size)):
        if not isinstance(value, int) or value < 1:
            raise ConfigError(f"{name} (--{name.replace('_', '-')}) must be a positive integer, got {value!r}")
    if len(source.classes) < 2:
        raise DataSourceError(f"{source.name}: a classifier needs at least 2 classes, found {source.classes}")
    empty = [c for c, items in zip(source.classes, source.indices_by_class()) if not items]
    if empty:
        raise DataSourceError(f"{source.name}: classes without images: {empty[:10]}")
    from torch.utils.data import DataLoader
    from tqdm.auto import tqdm

    dev = _default_device(device)
    if dev.type == "cpu":
        from ..train.allocator import keep_freed_memory

        keep_freed_memory()  # as the Trainer does: no page faults on the same large buffers every step
    train_idx, val_idx = _stratified_split(source, val_fraction, seed)
    train_src = _Indexed(source, train_idx, "train")
    val_src = _Indexed(source, val_idx, "val") if val_idx else None
    if len(train_src) < 2:
        raise DataSourceError(f"{source.name}: need at least 2 training images, have {len(train_src)}")
    eval_tf = EvalTransform(new_size=image_size, crop=image_size)
    train_tf = (TrainTransform(new_size=max(image_size + 1, round(image_size * 8 / 7)), crop=image_size, flip=flip)
                if augment else eval_tf)
    train_ds = SampledDataset(train_src, train_tf)
    val_loader = None
    if val_src is not None:
        val_ds = SampledDataset(val_src, eval_tf)
        val_keys = [(i, 0) for i in range(len(val_src))]
        val_loader = DataLoader(val_ds, batch_sampler=[val_keys[i : i + batch_size] for i in range(0, len(val_keys), batch_size)],
                                num_workers=num_workers)

    devices = [dev] if dev.type == "cuda" else []
    with torch.random.fork_rng(devices=devices):  # seeded init/dropout without touching the caller's RNG
        torch.manual_seed(stable_hash("classifier-init", int(seed)) >> 1)
        clf = Classifier(model_name, source.classes, image_size)
        if pretrained_weights is not None:
            load_backbone_weights(clf.model, pretrained_weights, verbose=progress)
        clf.to(dev)
        opt = torch.optim.AdamW(clf.parameters(), lr=lr, weight_decay=weight_decay)
        steps_per_epoch = len(_epoch_batches(len(train_src), batch_size, seed, 0))
        total = epochs * steps_per_epoch
        sched = torch.optim.lr_scheduler.LambdaLR(opt, lambda s: 0.5 * (1.0 + math.cos(math.pi * min(s, total) / total)))
        history: list[dict[str, Any]] = []
        for epoch in range(epochs):
            clf.train()
            loader = DataLoader(train_ds, batch_sampler=_epoch_batches(len(train_src), batch_size, seed, epoch),
                                num_workers=num_workers)
            loss_sum, correct, seen = 0.0, 0, 0
            bar = tqdm(loader, total=steps_per_epoch, desc=f"epoch {epoch + 1}/{epochs}", disable=not progress,
                       leave=False, dynamic_ncols=True)
            for images, labels in bar:
                images, labels = images.to(dev), labels.to(dev)
                logits = clf(images)
                loss = F.cross_entropy(logits, labels)
                opt.zero_grad(set_to_none=True)
                loss.backward()
                opt.step()
                sched.step()
                loss_sum += float(loss.detach()) * len(labels)
                correct += int((logits.detach().argmax(1) == labels).sum())
                seen += len(labels)
                bar.set_postfix(loss=f"{loss_sum / seen:.3f}", acc=f"{correct / seen:.3f}")
            record: dict[str, Any] = {"epoch": epoch + 1, "loss": loss_sum / seen, "train_accuracy": correct / seen,
                                      "val_accuracy": _accuracy(clf, val_loader, dev) if val_loader else None}
            history.append(record)
            if progress:
                val = f"{record['val_accuracy']:.2%}" if record["val_accuracy"] is not None else "n/a (no val split)"
                tqdm.write(f"epoch {epoch + 1}/{epochs}: loss {record['loss']:.4f}, train top-1 "
                           f"{record['train_accuracy']:.2%} (augmented), val top-1 {val}")
    clf.eval()
    clf.training_summary = {
        "dataset": source.name,
        "epochs": epochs,
        "train_accuracy": history[-1]["train_accuracy"],
        "val_accuracy": history[-1]["val_accuracy"],
        "seed": seed,
        "num_train": len(train_src),
        "num_val": len(val_idx),
        "batch_size": batch_size,
        "lr": lr,
        "weight_decay": weight_decay,
        "augment": augment,
        "flip": flip,
        "pretrained_weights": None if pretrained_weights is None else str(pretrained_weights),
        "history": history,
    }
    return clf


# --------------------------------------------------------------------------- content labels


class ContentLabeled(LabeledImages):
    """``source``'s images with other labels (``labels[i]`` for item ``i``) over ``classes``.

    Used to train a *content* classifier (e.g. which character a glyph shows, whatever its font),
    which measures whether a translation kept its content.
    """

    def __init__(self, source: LabeledImages, labels: Sequence[int], classes: Sequence[str]) -> None:
        labels = [int(v) for v in labels]
        if len(labels) != len(source):
            raise DataSourceError(f"{source.name}: {len(labels)} content labels for {len(source)} images")
        bad = sorted({v for v in labels if not 0 <= v < len(classes)})
        if bad:
            raise DataSourceError(f"{source.name}: content labels {bad[:5]} outside 0..{len(classes) - 1}")
        self.source = source
        self.classes = [str(c) for c in classes]
        self.labels = labels
        self.name = f"{source.name}[content]"

    def path(self, i: int) -> str:
        return self.source.path(i)

    def _raw(self, i: int) -> Any:
        return self.source._raw(i)

    def load(self, i: int) -> Any:
        return self.source.load(self._check_index(i))


def content_labeled(source: ImageFolder, labels_file: str | os.PathLike | None = None) -> ContentLabeled:
    """Relabel a glyph-layout folder by character: ``content_labels.json`` maps file stem -> index.

    ``labels_file`` defaults to ``content_labels.json`` in the parent of the split folder (the glyph
    dataset's root). Class names are the stems (e.g. ``065_A``), ordered by index.
    """
    if not isinstance(source, ImageFolder):
        raise DataSourceError(f"content labels need an image folder of glyph layout, got {source!r}")
    file = Path(labels_file) if labels_file is not None else source.root.parent / "content_labels.json"
    if not file.is_file():
        raise DataSourceError(
            f"--labels content needs content labels, and {str(file)!r} does not exist. They exist for the glyph "
            "data (--data glyphs:train, or a glyph split folder ROOT/train whose ROOT holds content_labels.json "
            "mapping each file stem to its character index); a generic image folder has class labels only"
        )
    try:
        mapping = json.loads(file.read_text(encoding="utf-8"))
    except json.JSONDecodeError as exc:
        raise DataSourceError(f"{file} is not valid JSON: {exc}") from None
    if not isinstance(mapping, dict) or not all(isinstance(v, int) for v in mapping.values()):
        raise DataSourceError(f"{file} must map file stems to integer content indices, e.g. {{\"065_A\": 0}}")
    by_index: dict[int, str] = {}
    for stem, idx in sorted(mapping.items()):
        by_index.setdefault(idx, stem)
    if sorted(by_index) != list(range(len(by_index))):
        raise DataSourceError(f"{file}: content indices must be 0..n-1, got {sorted(by_index)[:10]} ...")
    labels = []
    for rel in source.files:
        stem = Path(rel).stem
        if stem not in mapping:
            raise DataSourceError(f"{source.root / rel} has no entry {stem!r} in {file}")
        labels.append(mapping[stem])
    return ContentLabeled(source, labels, [by_index[i] for i in range(len(by_index))])


# ------------------------------------------------------------------------------------- CLI


def _source_from_spec(spec: str, labels: str) -> LabeledImages:
    """``--data``: an image folder root/<class>/*, or whatever else the shared data-spec parser knows
    (``hf:``, ``list:``, ``TYPE:VALUE`` for a registered dataset type such as ``glyphs:train`` or ``hdf5:<file>``)."""
    from ..data import build_dataset

    source: LabeledImages = build_dataset(spec, "--data")
    if labels == "content":
        if not isinstance(source, ImageFolder) or not (source.root.parent / "content_labels.json").is_file():
            raise DataSourceError(
                f"--labels content needs content labels (e.g. the character of each glyph), but {spec!r} has class "
                f"labels only: no content_labels.json next to {str(getattr(source, 'root', spec))!r}. Use --data "
                "glyphs:train / glyphs:test, or a glyph-layout split folder whose parent holds content_labels.json"
            )
        source = content_labeled(source)
    return source


def build_parser() -> argparse.ArgumentParser:
    p = argparse.ArgumentParser(
        prog="i2ikit eval train-classifier",
        description="Train a classifier on real images for translation accuracy (FUNIT top-1/5, DeepI2I RC). "
                    "Writes config.json + model.safetensors to --out.",
    )
    p.add_argument("--data", required=True, help="an image folder (ROOT/<class>/*), glyphs:train / glyphs:test, or hf:PATH / list:ROOT:FILE")
    p.add_argument("--out", required=True, type=Path, help="output folder")
    p.add_argument("--model", default="resnet18", help="timm model name (default resnet18)")
    p.add_argument("--image-size", type=int, default=64)
    p.add_argument("--epochs", type=int, default=10)
    p.add_argument("--batch-size", type=int, default=64)
    p.add_argument("--lr", type=float, default=1e-3)
    p.add_argument("--weight-decay", type=float, default=1e-4)
    p.add_argument("--val-fraction", type=float, default=0.1)
    p.add_argument("--seed", type=int, default=0)
    p.add_argument("--pretrained-weights", default=None,
                   help="local state_dict of the same architecture to fine-tune from (nothing is downloaded)")
    p.add_argument("--labels", choices=["class", "content"], default="class",
                   help="class: the folder classes (e.g. font faces); content: e.g. the character of each glyph")
    p.add_argument("--no-augment", action="store_true", help="no random crops")
    p.add_argument("--flip", action="store_true", help="random horizontal flips (not for glyphs)")
    p.add_argument("--device", default=None, help="default: cuda if available, else cpu")
    p.add_argument("--num-workers", type=int, default=0)
    p.add_argument("--quiet", action="store_true", help="no progress output")
    return p


def main(argv: Sequence[str] | None = None) -> int:
    """``i2ikit eval train-classifier``: train on real images and save the classifier folder."""
    args = build_parser().parse_args(None if argv is None else list(argv))
    try:
        source = _source_from_spec(args.data, args.labels)
        clf = train_classifier(
            source, model_name=args.model, image_size=args.image_size, epochs=args.epochs,
            batch_size=args.batch_size, lr=args.lr, weight_decay=args.weight_decay, val_fraction=args.val_fraction,
            seed=args.seed, pretrained_weights=args.pretrained_weights, device=args.device,
            num_workers=args.num_workers, progress=not args.quiet, augment=not args.no_augment, flip=args.flip,
        )
        out = save_classifier(clf, args.out)
    except (FileNotFoundError, ValueError, KeyError) as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 2
    s = clf.training_summary or {}
    val = f"{s['val_accuracy']:.2%}" if s.get("val_accuracy") is not None else "n/a"
    print(f"wrote {out}: {args.model}, {clf.num_classes} {args.labels} classes, {s.get('num_train')} train / "
          f"{s.get('num_val')} val images, train top-1 {s.get('train_accuracy', 0):.2%}, val top-1 {val}")
    return 0


if __name__ == "__main__":  # pragma: no cover
    sys.exit(main())
