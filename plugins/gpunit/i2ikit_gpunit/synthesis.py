"""``i2ikit data biggan-pairs``: synthesise GP-UNIT's paired cross-domain data (synImageNet291).

GP-UNIT's Stage I learns its content encoder from *paired* images of different ImageNet classes: one
latent code rendered by a class-conditional BigGAN-deep-128 in each of 291 classes (birds, dogs, other
animals, vehicles), so images that share a file name share pose and layout
(``data_preparation/readme.md``). The official dataset is a download made with the TF-Hub
BigGAN-deep-128 and no generation script is shipped. This module re-creates it with the PyTorch port
in ``pytorch-pretrained-biggan``, loaded from a local folder (``config.json`` + ``pytorch_model.bin``;
nothing is downloaded):

- the 291 official class indices and the ``<imagenet_idx>_<category>`` folder names
  (:data:`SYN_IMAGENET291_CLASSES`);
- the paper's truncation trick: half the codes at truncation 0.5, half at 1.0 (interleaved, code ``i``
  uses ``truncations[i % len(truncations)]``), z = truncation × truncnorm(−2, 2) as in the package's
  ``truncated_noise_sample`` and the same truncation given to the generator (its BN statistics);
- the layout ``<out>/train/<idx>_<category>/<i>.jpg`` (codes ``0..num_train-1``) and
  ``<out>/test/<idx>_<category>/<i>.jpg`` (the next ``num_test`` codes): the same file name in
  two class folders is the same latent code. Defaults: 600 train + 55 test codes per class.

Not reproduced: the paper's filtering of 6 000 codes down to 655 "good" ones (manual and undocumented)
and the HTC instance masks (``synImageNet291_mask``) that the Stage-I shape losses read.

Determinism: the codes come from one ``numpy.random.RandomState(seed)`` draw, independent of batch size
and device; the same seed, weights and software give byte-identical files on the same device.
Resumable: each file is written to a temporary name and renamed into place, existing files are skipped,
and ``meta.json`` (written first, ``"complete": true`` at the end) holds a fingerprint of everything that
decides the pixels, so a folder made with other settings is never silently mixed with new files.
"""
from __future__ import annotations

import argparse
import hashlib
import json
import os
import shutil
import sys
import uuid
from pathlib import Path
from typing import Iterable, Sequence

import numpy as np
import torch

from i2ikit.errors import CheckpointError, ConfigError, MissingFileError

__all__ = [
    "SYN_IMAGENET291_CLASSES",
    "PAPER_TRUNCATIONS",
    "FORMAT_VERSION",
    "WEIGHTS_NAME",
    "CONFIG_NAME",
    "class_folder",
    "parse_classes",
    "latent_codes",
    "weights_help",
    "load_biggan",
    "synthesize_pairs",
    "main",
]

FORMAT_VERSION = 1
WEIGHTS_NAME = "pytorch_model.bin"
CONFIG_NAME = "config.json"
PAPER_TRUNCATIONS: tuple[float, ...] = (0.5, 1.0)
"""The paper's truncation thresholds: 3K images at 0.5 and 3K at 1.0."""


def _ranges(*spans: tuple[int, int] | int) -> list[int]:
    out: list[int] = []
    for s in spans:
        out += list(range(s[0], s[1] + 1)) if isinstance(s, tuple) else [s]
    return out


_BIRDS = _ranges((7, 20), 22, 23, (80, 100), (127, 129), (131, 145))
_DOGS = _ranges((151, 268))
_OTHER = _ranges(101, 102, (104, 106), (269, 299), (330, 378), 380, (382, 388))
_VEHICLES = [407, 436, 468, 511, 555, 586, 609, 627, 654, 656, 675, 717, 734, 751, 757, 779, 803,
             817, 829, 847, 856, 864, 866, 867, 874]

SYN_IMAGENET291_CLASSES: dict[int, str] = dict(sorted(
    [(i, "bird") for i in _BIRDS] + [(i, "dog") for i in _DOGS]
    + [(i, "otheranimal") for i in _OTHER] + [(i, "vehicle") for i in _VEHICLES]
))
"""The 291 ImageNet class indices of synImageNet291 and their folder category.

The indices are the official list (7–20, 22, 23, 80–102, 104–106, 127–129, 131–145, 151–299, 330–378,
380, 382–388 and 25 vehicles). The category words follow the official examples (``7_bird``, ``158_dog``,
``271_otheranimal``, ``627_vehicle``, ``10..13_bird``, ``436/511/627/656_vehicle``) and the ImageNet
hierarchy elsewhere: 151–268 are dogs, the canids from 269 on and the mammals (101 tusker, 102 echidna,
104 wallaby, 105 koala, 106 wombat) are ``otheranimal``. Labels are the folder's natural-sort index,
which depends on the number only, so the category word never changes a label.
"""
assert len(SYN_IMAGENET291_CLASSES) == 291


def class_folder(index: int) -> str:
    """``7 -> "7_bird"``; a class outside synImageNet291 gets the category ``imagenet``."""
    return f"{index}_{SYN_IMAGENET291_CLASSES.get(index, 'imagenet')}"


def parse_classes(specs: Iterable[str] | None) -> list[int]:
    """Class selection from the command line: indices, ranges ``a-b`` and category words.

    ``None`` or empty: all 291 classes. ``["bird", "627", "151-153"]`` -> the 55 birds, 627, 151..153.
    """
    specs = [s for spec in (specs or []) for s in str(spec).replace(",", " ").split()]
    if not specs:
        return list(SYN_IMAGENET291_CLASSES)
    cats = set(SYN_IMAGENET291_CLASSES.values())
    out: set[int] = set()
    for s in specs:
        if s in cats:
            out |= {i for i, c in SYN_IMAGENET291_CLASSES.items() if c == s}
        elif s == "all":
            out |= set(SYN_IMAGENET291_CLASSES)
        else:
            try:
                if "-" in s.strip("-"):
                    a, b = s.split("-", 1)
                    out |= set(range(int(a), int(b) + 1))
                else:
                    out.add(int(s))
            except ValueError:
                raise ConfigError(f"--classes: {s!r} is neither a class index, a range a-b, 'all' "
                                  f"nor a category ({', '.join(sorted(cats))})") from None
    bad = sorted(i for i in out if not 0 <= i < 1000)
    if bad:
        raise ConfigError(f"--classes: ImageNet class indices are 0..999, got {bad}")
    return sorted(out)


def latent_codes(count: int, dim_z: int = 128, truncations: Sequence[float] = PAPER_TRUNCATIONS,
                 seed: int = 0) -> tuple[np.ndarray, list[float]]:
    """``count`` truncated latent codes: ``z[i] = t_i * truncnorm(-2, 2)``, ``t_i = truncations[i % T]``.

    This is ``pytorch_pretrained_biggan.truncated_noise_sample`` drawn once for all codes (so the codes
    do not depend on the batch size) and scaled per code. Returns (float32 [count, dim_z], [t_i]).
    """
    from pytorch_pretrained_biggan import truncated_noise_sample

    _check_truncations(truncations)
    base = truncated_noise_sample(batch_size=count, dim_z=dim_z, truncation=1.0, seed=seed)
    ts = [float(truncations[i % len(truncations)]) for i in range(count)]
    return (base * np.asarray(ts, dtype=np.float32)[:, None]).astype(np.float32), ts


def _check_truncations(truncations: Sequence[float]) -> None:
    if not truncations:
        raise ConfigError("--truncations: at least one truncation is needed")
    for t in truncations:
        if not 0 < float(t) <= 1:
            raise ConfigError(f"--truncations: a truncation must be in (0, 1] (BigGAN-deep's BN statistics), got {t}")


# ------------------------------------------------------------------------------- weights


def weights_help(folder: str | os.PathLike | None = None, model: str = "biggan-deep-128") -> str:
    """Where the weights come from, with the pytorch-pretrained-biggan download URLs."""
    try:
        from pytorch_pretrained_biggan.model import (PRETRAINED_CONFIG_ARCHIVE_MAP,
                                                     PRETRAINED_MODEL_ARCHIVE_MAP)
        weights_url = PRETRAINED_MODEL_ARCHIVE_MAP[model]
        config_url = PRETRAINED_CONFIG_ARCHIVE_MAP[model]
    except (ImportError, KeyError):
        base = f"https://s3.amazonaws.com/models.huggingface.co/biggan/{model}"
        weights_url, config_url = f"{base}-pytorch_model.bin", f"{base}-config.json"
    where = f"{folder}" if folder else "DIR"
    return (
        f"the BigGAN-deep weights folder must hold {CONFIG_NAME} and {WEIGHTS_NAME} "
        f"(the pytorch-pretrained-biggan format). With internet access, get GP-UNIT's model "
        f"({model}) with:\n"
        f"  mkdir -p {where}\n"
        f"  curl -L -o {where}/{CONFIG_NAME} {config_url}\n"
        f"  curl -L -o {where}/{WEIGHTS_NAME} {weights_url}\n"
        f"(the Hugging Face Hub mirror osanseviero/BigGAN-deep-128 holds the same two files). "
        f"i2ikit never downloads them itself."
    )


def _require_package():
    try:
        import pytorch_pretrained_biggan  # noqa: F401
    except ImportError as exc:  # scipy is imported by the package but not declared by it
        raise ImportError(
            f"`i2ikit data biggan-pairs` needs pytorch-pretrained-biggan and scipy "
            f"(pip install pytorch-pretrained-biggan scipy): {exc}") from exc
    return pytorch_pretrained_biggan


def _sha256(path: Path) -> str:
    h = hashlib.sha256()
    with open(path, "rb") as f:
        for block in iter(lambda: f.read(1 << 20), b""):
            h.update(block)
    return h.hexdigest()


def _check_folder(folder: str | os.PathLike) -> Path:
    path = Path(folder)
    if not path.is_dir():
        raise MissingFileError(f"BigGAN weights folder {str(folder)!r} does not exist; "
                               + weights_help(folder))
    missing = [n for n in (CONFIG_NAME, WEIGHTS_NAME) if not (path / n).is_file()]
    if missing:
        raise MissingFileError(f"BigGAN weights folder {path} lacks {' and '.join(missing)}; "
                               + weights_help(path))
    return path


def load_biggan(folder: str | os.PathLike, device: str | torch.device | None = None):
    """``BigGAN.from_pretrained(folder)`` (the package's own loader), checked, in eval mode on ``device``.

    Only a local folder is accepted, never a model name (a name would download). The package loads with
    ``strict=False``; this function re-reads the file's keys and refuses a partial match, so a wrong
    file cannot silently leave random layers.
    """
    from i2ikit.checkpoint_files import load_checkpoint_file

    pkg = _require_package()
    path = _check_folder(folder)
    try:
        model = pkg.BigGAN.from_pretrained(str(path))
    except (OSError, ImportError):
        raise
    except Exception as exc:  # a damaged config.json or weights file
        raise CheckpointError(f"BigGAN weights folder {path}: pytorch-pretrained-biggan cannot load it "
                              f"({type(exc).__name__}: {exc}); download {CONFIG_NAME} and {WEIGHTS_NAME} again. "
                              + weights_help(path)) from None
    try:
        state = torch.load(path / WEIGHTS_NAME, map_location="cpu", weights_only=True, mmap=True)
    except Exception:  # legacy (non-zip) files cannot be memory-mapped; a damaged file is reported here
        state = load_checkpoint_file(path / WEIGHTS_NAME)
    if not isinstance(state, dict):
        raise CheckpointError(f"{path / WEIGHTS_NAME} is not a state dict of tensors (got {type(state).__name__}); "
                              + weights_help(path))
    expected = set(model.state_dict())
    missing, unexpected = sorted(expected - set(state)), sorted(set(state) - expected)
    if missing or unexpected:
        raise CheckpointError(
            f"{path / WEIGHTS_NAME} does not match {path / CONFIG_NAME}: "
            f"{len(missing)} missing key(s) {missing[:5]}, {len(unexpected)} unexpected {unexpected[:5]}")
    del state
    device = torch.device(device) if device is not None else _default_device()
    return model.to(device).eval()


def _default_device() -> torch.device:
    return torch.device("cuda" if torch.cuda.is_available() else "cpu")


# ----------------------------------------------------------------------------- writing


def _to_uint8(images: torch.Tensor) -> np.ndarray:
    """[-1, 1] (B,3,H,W) -> uint8 (B,H,W,3)."""
    x = ((images.float().clamp(-1, 1) + 1) * 127.5).round().to(torch.uint8)
    return x.permute(0, 2, 3, 1).cpu().numpy()


def _save_atomic(array: np.ndarray, path: Path, fmt: str, quality: int) -> None:
    from PIL import Image

    tmp = path.with_name(f".{path.name}.tmp-{os.getpid()}-{uuid.uuid4().hex[:6]}")
    try:
        img = Image.fromarray(array)
        if fmt == "jpg":
            img.save(tmp, format="JPEG", quality=quality)
        else:
            img.save(tmp, format="PNG")
        os.replace(tmp, path)
    finally:
        if tmp.exists():
            tmp.unlink()


def _write_json_atomic(path: Path, obj: dict) -> None:
    tmp = path.with_name(f".{path.name}.tmp-{os.getpid()}-{uuid.uuid4().hex[:6]}")
    tmp.write_text(json.dumps(obj, indent=2) + "\n", encoding="utf-8")
    os.replace(tmp, path)


def _batches(indices: list[int], size: int) -> Iterable[list[int]]:
    for s in range(0, len(indices), size):
        yield indices[s:s + size]


def synthesize_pairs(
    weights: str | os.PathLike,
    out: str | os.PathLike,
    *,
    classes: Sequence[int] | None = None,
    num_train: int = 600,
    num_test: int = 55,
    truncations: Sequence[float] = PAPER_TRUNCATIONS,
    seed: int = 0,
    batch_size: int = 32,
    device: str | torch.device | None = None,
    image_format: str = "jpg",
    quality: int = 95,
    progress: bool = True,
    force: bool = False,
) -> Path:
    """Render ``num_train + num_test`` shared latent codes in every class into ``out`` (synImageNet291 layout).

    ``out/train/<idx>_<category>/<i>.<ext>`` for codes ``i < num_train``, ``out/test/...`` for the next
    ``num_test``; ``out/meta.json`` records the settings, the weights' sha256, each code's truncation and
    ``complete``. Re-running with the same settings resumes (existing files are kept); other classes may
    be added later to the same folder (the codes do not depend on the class list). A folder made with
    other settings is refused unless ``force`` (which deletes its ``train``/``test`` and starts over).
    Returns ``out``.
    """
    pkg = _require_package()
    if num_train < 0 or num_test < 0 or num_train + num_test == 0:
        raise ConfigError(f"--num-train and --num-test must be >= 0 and not both 0, got {num_train} and {num_test}")
    if batch_size < 1:
        raise ConfigError(f"--batch-size must be >= 1, got {batch_size}")
    image_format = {"jpeg": "jpg"}.get(image_format.lower(), image_format.lower())
    if image_format not in ("jpg", "png"):
        raise ConfigError(f"--format (image_format) must be jpg or png, got {image_format!r}")
    _check_truncations(truncations)
    classes = list(SYN_IMAGENET291_CLASSES) if classes is None else sorted({int(c) for c in classes})
    folder = _check_folder(weights)
    out = Path(out)

    try:
        config = json.loads((folder / CONFIG_NAME).read_text(encoding="utf-8"))
    except (UnicodeDecodeError, json.JSONDecodeError) as exc:
        raise CheckpointError(f"{folder / CONFIG_NAME} is not valid JSON ({exc}); " + weights_help(folder)) from None
    if not isinstance(config, dict):
        raise CheckpointError(f"{folder / CONFIG_NAME} is not a BigGAN config (a JSON object); " + weights_help(folder))
    num_classes = int(config.get("num_classes", 1000))
    bad = [c for c in classes if not 0 <= c < min(num_classes, 1000)]
    if bad:
        raise ConfigError(f"--classes: class indices {bad} are outside the generator's {num_classes} classes")
    total = num_train + num_test
    settings = {
        "format_version": FORMAT_VERSION,
        "generator": "pytorch-pretrained-biggan BigGAN-deep",
        "weights_sha256": _sha256(folder / WEIGHTS_NAME),
        "config": config,
        "seed": int(seed),
        "truncations": [float(t) for t in truncations],
        "num_train": int(num_train),
        "num_test": int(num_test),
        "image_format": image_format,
        "quality": int(quality) if image_format == "jpg" else None,
    }
    fingerprint = hashlib.sha256(json.dumps(settings, sort_keys=True).encode()).hexdigest()[:16]
    meta_path = out / "meta.json"
    old = None
    if meta_path.exists():
        try:
            old = json.loads(meta_path.read_text(encoding="utf-8"))
        except (UnicodeDecodeError, json.JSONDecodeError) as exc:
            raise ConfigError(f"{meta_path} is not valid JSON ({exc}): a damaged BigGAN pairs folder; use another --out "
                              "or delete it") from None
        if old.get("fingerprint") != fingerprint:
            if not force:
                raise ConfigError(
                    f"{out} holds BigGAN pairs made with other settings (meta.json fingerprint "
                    f"{old.get('fingerprint')} != {fingerprint}); use another --out or --force to redo it")
            for split in ("train", "test"):
                shutil.rmtree(out / split, ignore_errors=True)
            old = None
    elif out.exists() and any(out.iterdir()):
        raise ConfigError(f"{out} exists, is not empty and has no meta.json: refusing to write into it; choose another --out")

    z_all, ts = latent_codes(total, int(config.get("z_dim", 128)), truncations, seed)
    done_classes = set(old.get("classes", [])) if old else set()
    meta = {
        "dataset": "synImageNet291 (re-synthesised with i2ikit data biggan-pairs)",
        "fingerprint": fingerprint,
        **settings,
        "classes": sorted(done_classes),  # the classes whose every file is written
        "requested": classes,  # this run's classes; complete = all of them are in "classes"
        "folders": {str(c): class_folder(c) for c in sorted(done_classes | set(classes))},
        "code_truncation": ts,
        "pairing": "same file name in two class folders = same latent code",
        "complete": False,
    }
    out.mkdir(parents=True, exist_ok=True)
    _write_json_atomic(meta_path, meta)

    device = torch.device(device) if device is not None else _default_device()
    model = load_biggan(folder, device)
    ext = image_format
    split_of = lambda i: "train" if i < num_train else "test"  # noqa: E731
    groups = {t: [i for i in range(total) if ts[i] == float(t)] for t in dict.fromkeys(ts)}

    from tqdm.auto import tqdm

    cudnn = torch.backends.cudnn
    saved_flags = (cudnn.deterministic, cudnn.benchmark)
    cudnn.deterministic, cudnn.benchmark = True, False
    written = skipped = 0
    resolution = None
    try:
        with tqdm(total=len(classes) * total, desc="BigGAN pairs", unit="img", disable=not progress) as bar, \
                torch.inference_mode():
            for c in classes:
                name = class_folder(c)
                for split in {split_of(i) for i in range(total)}:
                    (out / split / name).mkdir(parents=True, exist_ok=True)
                for t, idxs in groups.items():
                    for batch in _batches(idxs, batch_size):
                        paths = [out / split_of(i) / name / f"{i}.{ext}" for i in batch]
                        if all(p.exists() for p in paths):
                            skipped += len(batch)
                            bar.update(len(batch))
                            continue
                        z = torch.from_numpy(z_all[batch]).to(device)
                        y = torch.from_numpy(pkg.one_hot_from_int(c, batch_size=len(batch))).to(device)
                        if num_classes != y.shape[1]:
                            y = y[:, :num_classes]
                        images = model(z, y, t)
                        if not torch.isfinite(images).all():
                            raise CheckpointError(f"BigGAN produced non-finite pixels for class {c} "
                                                  f"(truncation {t}): are the weights complete?")
                        arrays = _to_uint8(images)
                        resolution = arrays.shape[1]
                        for p, a in zip(paths, arrays):
                            if not p.exists():
                                _save_atomic(a, p, ext, quality)
                                written += 1
                        bar.update(len(batch))
                done_classes.add(c)
                meta["classes"] = sorted(done_classes)
                _write_json_atomic(meta_path, meta)
    finally:
        cudnn.deterministic, cudnn.benchmark = saved_flags
    meta.update(complete=True, counts={
        "classes": len(meta["classes"]), "train_per_class": num_train, "test_per_class": num_test,
        "written_this_run": written, "skipped_existing": skipped})
    if resolution is not None:
        meta["resolution"] = resolution
    elif old and old.get("resolution"):
        meta["resolution"] = old["resolution"]
    _write_json_atomic(meta_path, meta)
    return out


# --------------------------------------------------------------------------------- CLI


def main(argv: Sequence[str] | None = None) -> int:
    """``i2ikit data biggan-pairs``: synthesise synImageNet291-style pairs with BigGAN-deep."""
    ap = argparse.ArgumentParser(
        prog="i2ikit data biggan-pairs",
        description="Synthesise GP-UNIT's paired cross-domain data (synImageNet291 layout): one latent "
                    "code rendered by BigGAN-deep in every chosen ImageNet class.",
        epilog="Weights: " + weights_help(),
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    ap.add_argument("--weights", required=True,
                    help=f"local folder with {CONFIG_NAME} + {WEIGHTS_NAME} (BigGAN-deep-128); never downloaded")
    ap.add_argument("--out", required=True, type=Path, help="output folder, e.g. data/synImageNet291")
    ap.add_argument("--classes", nargs="*", default=None,
                    help="class indices, ranges a-b or categories bird/dog/otheranimal/vehicle "
                         "(default: the 291 synImageNet291 classes)")
    ap.add_argument("--num-train", type=int, default=600, help="training codes per class (default 600)")
    ap.add_argument("--num-test", type=int, default=55, help="test codes per class (default 55)")
    ap.add_argument("--truncations", type=float, nargs="+", default=list(PAPER_TRUNCATIONS),
                    help="truncation thresholds, used in turn code by code (default: the paper's 0.5 1.0)")
    ap.add_argument("--seed", type=int, default=0, help="seed of the latent codes (default 0)")
    ap.add_argument("--batch-size", type=int, default=32)
    ap.add_argument("--device", default=None, help="torch device (default: cuda if available, else cpu)")
    ap.add_argument("--format", dest="image_format", choices=["jpg", "png"], default="jpg",
                    help="jpg like the official download (default), or lossless png")
    ap.add_argument("--quality", type=int, default=95, help="JPEG quality (default 95)")
    ap.add_argument("--force", action="store_true", help="redo a folder made with other settings")
    ap.add_argument("--quiet", action="store_true", help="no progress bar")
    args = ap.parse_args(argv)

    try:
        _require_package()
    except ImportError as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 2
    out = synthesize_pairs(
        args.weights, args.out, classes=parse_classes(args.classes), num_train=args.num_train,
        num_test=args.num_test, truncations=args.truncations, seed=args.seed,
        batch_size=args.batch_size, device=args.device, image_format=args.image_format,
        quality=args.quality, progress=not args.quiet, force=args.force)
    meta = json.loads((out / "meta.json").read_text(encoding="utf-8"))
    counts = meta["counts"]
    print(out)
    print(f"{counts['classes']} classes x ({counts['train_per_class']} train + "
          f"{counts['test_per_class']} test) paired images; {counts['written_this_run']} written, "
          f"{counts['skipped_existing']} already there")
    return 0


if __name__ == "__main__":  # pragma: no cover
    sys.exit(main())
