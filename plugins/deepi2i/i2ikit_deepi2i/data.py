"""DeepI2I's data layout: one ``ILSVRC128.hdf5`` per dataset (BigGAN-PyTorch's ``make_hdf5.py``).

The file holds ``imgs`` (uint8, N x 3 x 128 x 128) and ``labels`` (integer, N). Labels are the
indices of the class folders in **sorted** order (torchvision ``ImageFolder``), which is the official
``class_to_index/<experiment>/I128_imgs.pickle`` order:

- animal faces: 149 WordNet synsets, ``n02085620`` ... ``n02138441``;
- NABirds: 555 folders, ``0295`` ... ``1010`` (zero-padded, so string order is numeric order);
- UECFOOD-256: 256 folders ``1`` ... ``256`` sorted *as strings*: ``1, 10, 100, 101, ..., 109, 11, 110, ...``.

The official files store no class names; :class:`HDF5Images` names classes from ``classes=`` (a list,
or a file: one name per line, a JSON list or ``{name: index}``, or the official ``I128_imgs.pickle``
read without executing code), from a ``classes`` attribute that :func:`write_hdf5` stores, from the
official order rule (``dataset: foods``), or by index. Images are read lazily, one at a time, with one
file handle per process (safe with DataLoader workers).

``python -m i2ikit_deepi2i.data FOLDER OUT.hdf5 [--size 128]`` builds the file from an image folder
as ``make_hdf5.py`` does (centre crop of the long edge, then resize to 128, bilinear).
"""
from __future__ import annotations

import argparse
import io
import json
import os
import pickle
from pathlib import Path
from typing import Any, Literal, Sequence

import numpy as np
from PIL import Image

from i2ikit.data import DataSourceError, ImageFolder, LabeledImages

__all__ = [
    "HDF5Images",
    "OFFICIAL_DATASETS",
    "official_class_order",
    "read_class_index",
    "write_hdf5",
    "center_crop_long_edge",
]

DOC = "docs/datasets.md (section DeepI2I)"

# name -> (class count, first and last class folder in the official order); foods is fully determined.
OFFICIAL_DATASETS: dict[str, tuple[int, str | None, str | None]] = {
    "animals": (149, "n02085620", "n02138441"),
    "nabirds": (555, "0295", "1010"),
    "foods": (256, "1", "99"),
}


def official_class_order(dataset: str, names: Sequence[str] | None = None) -> list[str]:
    """The official class-to-index order: the class folder names sorted as strings (``ImageFolder``).

    ``names``: the dataset's folder names (any order). For ``foods`` they may be omitted (``"1"`` ...
    ``"256"``). The count and the first/last names are checked against the official lists.
    """
    if dataset not in OFFICIAL_DATASETS:
        raise DataSourceError(f"unknown DeepI2I dataset {dataset!r}; choose one of {sorted(OFFICIAL_DATASETS)}")
    count, first, last = OFFICIAL_DATASETS[dataset]
    if names is None:
        if dataset != "foods":
            raise DataSourceError(f"the {dataset} class names are its folder names; pass them (the order rule is: sorted as strings)")
        names = [str(i) for i in range(1, count + 1)]
    ordered = sorted(str(n) for n in names)
    if len(ordered) != count or len(set(ordered)) != count:
        raise DataSourceError(f"the official {dataset} data has {count} distinct classes, got {len(set(ordered))}")
    if (ordered[0], ordered[-1]) != (first, last):
        raise DataSourceError(f"the official {dataset} order runs {first} ... {last}; these names run {ordered[0]} ... {ordered[-1]}")
    return ordered


class _NoCodeUnpickler(pickle.Unpickler):
    """Unpickles plain containers (dict, list, tuple, str, int, float) and refuses every class or function."""

    def find_class(self, module: str, name: str) -> Any:
        raise pickle.UnpicklingError(f"refusing to load {module}.{name}: only plain dicts/lists of names and indices are read")


def _names_from_mapping(mapping: dict, where: str) -> list[str]:
    for key in ("class_to_idx", "class_to_index"):
        if isinstance(mapping.get(key), dict):
            mapping = mapping[key]
    items = list(mapping.items())
    if items and all(isinstance(k, int) and isinstance(v, str) for k, v in items):  # index -> name
        items = [(v, k) for k, v in items]
    if not items or not all(isinstance(k, str) and isinstance(v, int) for k, v in items):
        raise DataSourceError(f"{where}: expected a mapping of class name -> index (or index -> name)")
    index = sorted(v for _, v in items)
    if index != list(range(len(items))):
        raise DataSourceError(f"{where}: class indices must be 0..{len(items) - 1} without gaps")
    return [k for k, _ in sorted(items, key=lambda kv: kv[1])]


def read_class_index(path: str | os.PathLike) -> list[str]:
    """Class names in label order from a text file (one per line), a JSON list or ``{name: index}``, or
    the official ``class_to_index/<experiment>/I128_imgs.pickle`` (read with a loader that runs no code)."""
    path = Path(path)
    if not path.is_file():
        raise DataSourceError(f"class index file {str(path)!r} does not exist")
    where = str(path)
    if path.suffix in (".pickle", ".pkl"):
        try:
            obj = _NoCodeUnpickler(io.BytesIO(path.read_bytes())).load()
        except Exception as exc:
            raise DataSourceError(f"{where}: cannot read it as a plain pickled mapping of class names: {exc}") from None
    elif path.suffix == ".json":
        try:
            obj = json.loads(path.read_text(encoding="utf-8"))
        except (UnicodeDecodeError, json.JSONDecodeError) as exc:
            raise DataSourceError(f"{where} is not valid JSON ({exc}); expected a list of class names or "
                                  "{name: index}") from None
    else:
        return [line.strip() for line in path.read_text(encoding="utf-8").splitlines() if line.strip()]
    if isinstance(obj, dict):
        return _names_from_mapping(obj, where)
    if isinstance(obj, (list, tuple)) and all(isinstance(n, str) for n in obj):
        return list(obj)
    raise DataSourceError(f"{where}: expected a list of class names or a mapping name -> index, got {type(obj).__name__}")


def _import_h5py() -> Any:
    try:
        import h5py
    except ImportError:
        raise DataSourceError("the hdf5 dataset needs h5py: pip install h5py") from None
    return h5py


class HDF5Images(LabeledImages):
    """Images and labels from a BigGAN-PyTorch / DeepI2I ``ILSVRC128.hdf5`` (registered as ``hdf5``).

    ``path``: the file. ``classes``: class names in label order (a list or a file, see
    :func:`read_class_index`); default: the file's ``classes`` attribute if present, else the official
    order for ``dataset: foods``, else ``"0"``, ``"1"``, ... ``dataset`` (``animals``, ``nabirds``,
    ``foods``) checks the class count against the official data. ``images_key``/``labels_key`` name the
    HDF5 datasets. Items are decoded to RGB PIL images (the official loader only rescales to [-1, 1],
    so use ``new_size = crop = 128`` and ``flip: false``).
    """

    def __init__(
        self,
        path: str,
        *,
        classes: list[str] | str | None = None,
        dataset: Literal["animals", "nabirds", "foods"] | None = None,
        images_key: str = "imgs",
        labels_key: str = "labels",
    ) -> None:
        self.file_path = Path(path)
        self.images_key, self.labels_key = images_key, labels_key
        if not self.file_path.is_file():
            what = "is a folder, not a file" if self.file_path.is_dir() else "does not exist"
            raise DataSourceError(
                f"HDF5 file {str(self.file_path)!r} {what}. DeepI2I reads one ILSVRC128.hdf5 per dataset ({images_key}: "
                f"uint8 N x 3 x 128 x 128, {labels_key}: N class indices). Download the prepared file linked from the "
                "official DeepI2I README, or build it from a folder of class sub-folders with "
                f"`python -m i2ikit_deepi2i.data FOLDER {self.file_path}`; see {DOC}"
            )
        h5py = _import_h5py()
        where = str(self.file_path)
        try:
            with h5py.File(self.file_path, "r") as f:
                missing = [k for k in (images_key, labels_key) if k not in f]
                if missing:
                    raise DataSourceError(f"{where} has no dataset(s) {missing}; it holds {sorted(f.keys())} (expected {images_key!r} and {labels_key!r}; see {DOC})")
                imgs = f[images_key]
                if imgs.ndim != 4 or imgs.shape[1] != 3 or imgs.dtype != np.uint8:
                    raise DataSourceError(f"{where}: {images_key!r} must be uint8 N x 3 x H x W, got {imgs.dtype} {imgs.shape}")
                labels = np.asarray(f[labels_key][()]).reshape(-1)
                if labels.shape[0] != imgs.shape[0]:
                    raise DataSourceError(f"{where}: {imgs.shape[0]} images but {labels.shape[0]} labels")
                if labels.size == 0:
                    raise DataSourceError(f"{where} holds no images")
                if not np.issubdtype(labels.dtype, np.integer):
                    raise DataSourceError(f"{where}: {labels_key!r} must hold integer class indices, got {labels.dtype}")
                stored = f.attrs.get("classes")
                self.image_shape = tuple(int(s) for s in imgs.shape[1:])
        except OSError as exc:
            raise DataSourceError(f"cannot open {where} as HDF5: {exc}") from None
        if labels.min() < 0:
            raise DataSourceError(f"{where}: negative class label {int(labels.min())}")
        n_found = int(labels.max()) + 1
        if classes is None and stored is not None:
            classes = json.loads(stored if isinstance(stored, str) else bytes(stored).decode("utf-8"))
        if isinstance(classes, (str, os.PathLike)):
            classes = read_class_index(classes)
        if classes is None:
            if dataset == "foods":
                classes = official_class_order("foods")
            else:
                count = OFFICIAL_DATASETS[dataset][0] if dataset else n_found
                classes = [str(i) for i in range(count)]
        classes = [str(c) for c in classes]
        if dataset is not None:
            count = OFFICIAL_DATASETS[dataset][0]
            if len(classes) != count:
                raise DataSourceError(f"{where}: the official {dataset} data has {count} classes, the class list has {len(classes)}")
        if n_found > len(classes):
            raise DataSourceError(f"{where}: labels go up to {n_found - 1} but only {len(classes)} class names are given")
        self.classes = classes
        self.labels = [int(v) for v in labels]
        self.name = f"hdf5:{where}"
        self._handle: Any = None
        self._pid: int | None = None

    def __getstate__(self) -> dict[str, Any]:  # h5py handles do not pickle; each worker opens its own
        state = dict(self.__dict__)
        state["_handle"], state["_pid"] = None, None
        return state

    def _images(self) -> Any:
        if self._handle is None or self._pid != os.getpid():
            self._handle = _import_h5py().File(self.file_path, "r")
            self._pid = os.getpid()
        return self._handle[self.images_key]

    def path(self, i: int) -> str:
        return f"{self.file_path} [{self.images_key}][{self._check_index(i)}]"

    def _raw(self, i: int) -> Image.Image:
        array = np.asarray(self._images()[int(i)])
        return Image.fromarray(np.ascontiguousarray(array.transpose(1, 2, 0)), mode="RGB")


def center_crop_long_edge(img: Image.Image) -> Image.Image:
    """BigGAN-PyTorch's ``CenterCropLongEdge``: the centred square of side ``min(w, h)``."""
    import torchvision.transforms.functional as TF

    return TF.center_crop(img, [min(img.size), min(img.size)])


def write_hdf5(
    source: LabeledImages | str | os.PathLike,
    out: str | os.PathLike,
    *,
    size: int = 128,
    chunk: int = 500,
    progress: bool = False,
) -> Path:
    """Write ``source`` (a labelled source, or a folder of class sub-folders, classes in sorted order)
    as ``imgs``/``labels`` like ``make_hdf5.py``: centre crop of the long edge, resize to ``size``
    (bilinear), uint8 N x 3 x size x size; labels int64. The class names go into the attribute
    ``classes``. Written to a temporary file and renamed."""
    import torchvision.transforms.functional as TF
    from torchvision.transforms import InterpolationMode

    h5py = _import_h5py()
    if not isinstance(source, LabeledImages):
        source = ImageFolder(source)
    out = Path(out)
    out.parent.mkdir(parents=True, exist_ok=True)
    tmp = out.with_name(f".{out.name}.tmp")
    n = len(source)
    iterator = range(n)
    if progress:
        from tqdm.auto import tqdm

        iterator = tqdm(iterator, desc=f"writing {out.name}")
    with h5py.File(tmp, "w") as f:
        imgs = f.create_dataset("imgs", shape=(n, 3, size, size), dtype=np.uint8, chunks=(min(chunk, n), 3, size, size))
        f.create_dataset("labels", data=np.asarray(source.labels, dtype=np.int64))
        f.attrs["classes"] = json.dumps(list(source.classes))
        for i in iterator:
            img = center_crop_long_edge(source.load(i))
            img = TF.resize(img, [size, size], interpolation=InterpolationMode.BILINEAR)
            imgs[i] = np.asarray(img.convert("RGB"), dtype=np.uint8).transpose(2, 0, 1)
    os.replace(tmp, out)
    return out


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(prog="python -m i2ikit_deepi2i.data", description="Build DeepI2I's ILSVRC128.hdf5 from a folder of class sub-folders.")
    p.add_argument("folder", help="ROOT/<class>/<image>; classes are numbered in sorted order (the official rule)")
    p.add_argument("out", help="output file, e.g. data/animals/ILSVRC128.hdf5")
    p.add_argument("--size", type=int, default=128)
    args = p.parse_args(argv)
    path = write_hdf5(args.folder, args.out, size=args.size, progress=True)
    ds = HDF5Images(str(path))
    print(f"wrote {path}: {len(ds)} images, {len(ds.classes)} classes")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
