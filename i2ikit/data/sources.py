"""Labelled image sources: folders, official FUNIT list files and Hugging Face datasets.

All of them present one interface, :class:`LabeledImages`, so samplers and trainers never care where
images come from. Labels are known without decoding any image (samplers need them up front), and
every error names the file, folder or column involved and says what layout was expected.
"""
from __future__ import annotations

import abc
import difflib
import os
from pathlib import Path
from typing import Any, Iterable, Mapping, Sequence

from PIL import Image

from ..errors import ConfigError
from .images import open_image

IMAGE_EXTENSIONS: tuple[str, ...] = (
    ".jpg", ".jpeg", ".png", ".bmp", ".gif", ".tif", ".tiff", ".webp", ".ppm", ".pgm", ".pbm", ".pnm",
)
_UPFRONT_CHECK_LIMIT = 100_000  # list files up to this many lines are checked for missing files at load


class DataSourceError(ConfigError):
    """A dataset is laid out wrongly or misconfigured (as opposed to one unreadable image)."""


class LabeledImages(abc.ABC):
    """A finite, indexable set of (image, class label) pairs.

    Subclasses set ``name``, ``classes`` and ``labels`` in ``__init__`` and implement :meth:`path` and
    :meth:`_raw` (whatever :func:`open_image` accepts for item ``i``).
    """

    name: str
    classes: list[str]
    labels: list[int]

    def __len__(self) -> int:
        return len(self.labels)

    @abc.abstractmethod
    def path(self, i: int) -> str:
        """Where item ``i`` comes from, for error messages and logs."""

    @abc.abstractmethod
    def _raw(self, i: int) -> Any:
        """What :func:`open_image` should decode for item ``i`` (a path, bytes, PIL image...)."""

    def _check_index(self, i: int) -> int:
        n = len(self)
        if not -n <= i < n:
            raise IndexError(f"index {i} out of range for {self.name} with {n} images")
        return i % n

    def load(self, i: int) -> Image.Image:
        """Item ``i`` decoded as an upright 8-bit RGB image (raises ImageReadError naming the file)."""
        i = self._check_index(i)
        return open_image(self._raw(i), description=self.path(i))

    def __getitem__(self, i: int) -> tuple[Image.Image, int]:
        i = self._check_index(i)
        return self.load(i), self.labels[i]

    @property
    def num_classes(self) -> int:
        return len(self.classes)

    def indices_by_class(self) -> list[list[int]]:
        """Item indices grouped by label (``out[label]``), e.g. to draw K-shot class images."""
        out: list[list[int]] = [[] for _ in self.classes]
        for i, lab in enumerate(self.labels):
            out[lab].append(i)
        return out

    def subset(self, class_names: Sequence[str], *, relabel: bool = True) -> "LabeledImages":
        """Only the images of ``class_names``, relabelled 0..n-1 in the order given.

        Used for the source/target class split (e.g. FUNIT's 119 seen / 30 unseen animal classes).
        ``relabel=False`` keeps this source's classes and label numbers (a filter, not a new class
        list), e.g. for a training stream that draws one domain of a two-domain folder.
        """
        return ClassSubset(self, class_names, relabel=relabel)

    def __repr__(self) -> str:
        return f"<{type(self).__name__} {self.name!r}: {len(self)} images, {len(self.classes)} classes>"


class ClassSubset(LabeledImages):
    """A view of another source restricted to some of its classes (see :meth:`LabeledImages.subset`)."""

    def __init__(self, parent: LabeledImages, class_names: Sequence[str], *, relabel: bool = True) -> None:
        if isinstance(class_names, str):
            raise TypeError("subset() takes a list of class names, not a single string")
        names = [str(c) for c in class_names]
        if not names:
            raise DataSourceError(f"subset of {parent.name}: no class names given")
        dupes = sorted({c for c in names if names.count(c) > 1})
        if dupes:
            raise DataSourceError(f"subset of {parent.name}: class names given more than once: {dupes}")
        index = {c: k for k, c in enumerate(parent.classes)}
        unknown = [c for c in names if c not in index]
        if unknown:
            hints = []
            for c in unknown[:5]:
                close = difflib.get_close_matches(c, parent.classes, n=1)
                hints.append(f"{c!r}" + (f" (did you mean {close[0]!r}?)" if close else ""))
            raise DataSourceError(
                f"subset of {parent.name}: {len(unknown)} class name(s) not in the source: {', '.join(hints)}. "
                f"It has {len(parent.classes)} classes, e.g. {parent.classes[:5]}"
            )
        new_label = {index[c]: (k if relabel else index[c]) for k, c in enumerate(names)}
        self.parent = parent
        self.classes = names if relabel else list(parent.classes)
        self.items = [i for i, lab in enumerate(parent.labels) if lab in new_label]
        self.labels = [new_label[parent.labels[i]] for i in self.items]
        self.name = f"{parent.name}[{', '.join(names[:3])}{', ...' if len(names) > 3 else ''}]"
        if not self.items:
            raise DataSourceError(f"subset of {parent.name}: classes {names} hold no images")

    def path(self, i: int) -> str:
        return self.parent.path(self.items[self._check_index(i)])

    def _raw(self, i: int) -> Any:
        return self.parent._raw(self.items[i])

    def load(self, i: int) -> Image.Image:
        return self.parent.load(self.items[self._check_index(i)])


def _read_exclusions(exclude: Iterable[str] | str | os.PathLike | None) -> set[str]:
    """Relative paths to skip: an iterable of them, or a text file with one per line."""
    if exclude is None:
        return set()
    if isinstance(exclude, (str, os.PathLike)):
        p = Path(exclude)
        if not p.is_file():
            raise DataSourceError(f"exclusion file {str(p)!r} does not exist (expected one relative path per line)")
        items: Iterable[str] = p.read_text(encoding="utf-8").splitlines()
    else:
        items = exclude
    return {Path(s.strip()).as_posix() for s in items if s.strip()}


class ImageFolder(LabeledImages):
    """Images in ``root/<class>/...`` (searched recursively inside each class folder).

    Classes are the sorted folder names unless ``classes`` fixes the set and order. Files are sorted
    by relative path so the item order is the same on every machine. ``exclude`` lists relative paths
    (``"<class>/<file>"``) or names a text file of them, to skip known-bad images. ``per_class`` keeps
    the first N files of each class (e.g. GP-UNIT's ``--source_num 4000`` on AFHQ).
    """

    def __init__(
        self,
        root: str | os.PathLike,
        classes: list[str] | None = None,
        extensions: Sequence[str] = IMAGE_EXTENSIONS,
        *,
        exclude: Iterable[str] | str | os.PathLike | None = None,
        per_class: int | None = None,
    ) -> None:
        self.root = Path(root)
        if per_class is not None and int(per_class) < 1:
            raise DataSourceError(f"image folder {str(self.root)!r}: per_class must be >= 1 or null, got {per_class}")
        names = [str(c) for c in classes[:2]] if classes and len(classes) >= 2 else ["cat", "dog"]
        layout = (f"expected one sub-folder per class with the images inside, e.g. ROOT/{names[0]}/001.jpg, "
                  f"ROOT/{names[1]}/002.png")
        if not self.root.is_dir():
            what = "is a file, not a folder" if self.root.exists() else "does not exist"
            raise DataSourceError(f"image folder {str(self.root)!r} {what}; {layout.replace('ROOT', str(self.root))}")
        exts = {e.lower() if e.startswith(".") else "." + e.lower() for e in extensions}
        found = sorted(d.name for d in self.root.iterdir() if d.is_dir() and not d.name.startswith("."))
        if classes is None:
            if not found:
                raise DataSourceError(
                    f"image folder {str(self.root)!r} has no class sub-folders; {layout.replace('ROOT', str(self.root))}"
                )
            classes = found
        else:
            classes = [str(c) for c in classes]
            missing = [c for c in classes if not (self.root / c).is_dir()]
            if missing:
                raise DataSourceError(
                    f"image folder {str(self.root)!r} has no folder for class(es) {missing[:10]}; "
                    f"folders present: {found[:10]}{' ...' if len(found) > 10 else ''}"
                )
            if len(set(classes)) != len(classes):
                raise DataSourceError(f"image folder {str(self.root)!r}: duplicate class names in {classes}")
        skip = _read_exclusions(exclude)
        self.classes = list(classes)
        self.files: list[str] = []
        self.labels = []
        for label, cls in enumerate(self.classes):
            rels = sorted(self._scan(self.root / cls, exts))
            kept = [r for r in rels if f"{cls}/{r}" not in skip]
            if not kept:
                why = "all its images are excluded" if rels else f"no files with extensions {sorted(exts)}"
                raise DataSourceError(
                    f"class folder {str(self.root / cls)!r} has no usable images ({why}); add images, remove the "
                    "folder, or pass `classes` to choose the classes to use"
                )
            if per_class is not None:
                kept = kept[: int(per_class)]
            self.files.extend(f"{cls}/{r}" for r in kept)
            self.labels.extend([label] * len(kept))
        self.name = f"image_folder:{self.root}"

    @staticmethod
    def _scan(folder: Path, exts: set[str]) -> list[str]:
        out = []
        for dirpath, dirnames, filenames in os.walk(folder, followlinks=True):
            dirnames[:] = [d for d in dirnames if not d.startswith(".")]
            rel_dir = Path(dirpath).relative_to(folder)
            for f in filenames:
                if not f.startswith(".") and os.path.splitext(f)[1].lower() in exts:
                    out.append((rel_dir / f).as_posix())
        return out

    def path(self, i: int) -> str:
        return str(self.root / self.files[self._check_index(i)])

    def _raw(self, i: int) -> Any:
        return self.root / self.files[i]


class FileList(LabeledImages):
    """An official FUNIT list file: one path per line, relative to ``root``.

    The label of a line is the index of its first path component within the **sorted** set of first
    components in the whole list (as the official ``ImageLabelFilelist``), so the 119 training wnids
    get labels 0..118 and match the discriminator's output channels. Lists up to 100k lines are
    checked for missing files when built (``check_files=None``); longer ones report a missing file
    when it is loaded. ``exclude`` skips lines by path without changing any label.
    """

    def __init__(
        self,
        root: str | os.PathLike,
        list_file: str | os.PathLike,
        *,
        exclude: Iterable[str] | str | os.PathLike | None = None,
        check_files: bool | None = None,
    ) -> None:
        self.root = Path(root)
        self.list_file = Path(list_file)
        if not self.list_file.is_file():
            raise DataSourceError(
                f"list file {str(self.list_file)!r} does not exist; expected a text file with one image path "
                "per line, relative to the data root, e.g. n02086240/n02086240_12630.JPEG_197_106_615_469.jpg"
            )
        if not self.root.is_dir():
            raise DataSourceError(
                f"data root {str(self.root)!r} for list file {str(self.list_file)!r} does not exist; it should "
                "hold the folders named by the first component of each listed path"
            )
        entries: list[tuple[int, str]] = []
        with open(self.list_file, encoding="utf-8") as fh:
            for lineno, line in enumerate(fh, start=1):
                rel = line.strip()
                if not rel:
                    continue
                rel = rel.replace("\\", "/")
                parts = [p for p in rel.split("/") if p not in ("", ".")]
                if rel.startswith("/") or len(parts) < 2:
                    raise DataSourceError(
                        f"{self.list_file}:{lineno}: {rel!r} must be a relative path whose first folder is the "
                        "class, e.g. n02086240/n02086240_12630.JPEG_197_106_615_469.jpg"
                    )
                entries.append((lineno, "/".join(parts)))
        if not entries:
            raise DataSourceError(f"list file {str(self.list_file)!r} lists no images")
        self.classes = sorted({rel.split("/", 1)[0] for _, rel in entries})
        index = {c: k for k, c in enumerate(self.classes)}  # from the whole list, before exclusions
        skip = _read_exclusions(exclude)
        entries = [(n, rel) for n, rel in entries if rel not in skip]
        if not entries:
            raise DataSourceError(f"list file {str(self.list_file)!r}: every listed image is excluded")
        self.line_numbers = [n for n, _ in entries]
        self.files = [rel for _, rel in entries]
        self.labels = [index[rel.split("/", 1)[0]] for rel in self.files]
        self.name = f"file_list:{self.list_file}"
        if check_files is None:
            check_files = len(self.files) <= _UPFRONT_CHECK_LIMIT
        if check_files:
            self._check_exist()

    def _check_exist(self) -> None:
        missing = [(n, rel) for n, rel in zip(self.line_numbers, self.files) if not (self.root / rel).is_file()]
        if missing:
            shown = "; ".join(f"line {n}: {rel}" for n, rel in missing[:5])
            more = f" (and {len(missing) - 5} more)" if len(missing) > 5 else ""
            raise DataSourceError(
                f"{len(missing)} of {len(self.files)} images listed in {str(self.list_file)!r} are missing under "
                f"{str(self.root)!r}: {shown}{more}. Extract/copy the images (docs/datasets.md), fix the root, "
                "or remove those lines (or pass them as `exclude`)."
            )

    def path(self, i: int) -> str:
        i = self._check_index(i)
        return f"{self.root / self.files[i]} (line {self.line_numbers[i]} of {self.list_file})"

    def file(self, i: int) -> str:
        """The image file of item ``i`` (``path`` adds the list-file line for error messages)."""
        return str(self.root / self.files[self._check_index(i)])

    def _raw(self, i: int) -> Any:
        return self.root / self.files[i]


def _hf_is_saved(path: Path) -> bool:
    return (path / "dataset_dict.json").is_file() or (
        (path / "state.json").is_file() and (path / "dataset_info.json").is_file()
    )


class HFImages(LabeledImages):
    """A Hugging Face ``datasets`` dataset on local disk.

    ``path`` is a folder written by ``save_to_disk`` (a Dataset or a DatasetDict, then ``split`` picks
    one) or a plain folder in ``imagefolder`` layout (``path/<class>/*`` or ``path/<split>/<class>/*``);
    an in-memory ``datasets.Dataset`` is accepted too. Nothing is fetched from the Hub. Class names come
    from the label's ``ClassLabel`` names when present, else the sorted unique label values. Images are
    decoded by :func:`open_image`, so a bad row raises ImageReadError naming its file or row.
    """

    def __init__(
        self,
        path: str | os.PathLike | Any,
        split: str = "train",
        image_column: str = "image",
        label_column: str = "label",
        *,
        cache_dir: str | os.PathLike | None = None,
    ) -> None:
        import datasets  # imported here: it is slow to import and only this source needs it

        self.split = split
        self.image_column = image_column
        self.label_column = label_column
        if isinstance(path, (datasets.Dataset, datasets.DatasetDict)):
            ds = path
            where = f"<in-memory {type(path).__name__}>"
        else:
            root = Path(path)
            where = str(root)
            if not root.is_dir():
                raise DataSourceError(
                    f"Hugging Face dataset folder {where!r} does not exist; give a folder written by "
                    "`Dataset.save_to_disk` or a local imagefolder (ROOT/<class>/<image>). Hub names are "
                    "not downloaded: save the dataset to disk first (docs/datasets.md)."
                )
            if _hf_is_saved(root):
                ds = datasets.load_from_disk(str(root))
            else:
                try:
                    ds = datasets.load_dataset(
                        "imagefolder", data_dir=str(root), cache_dir=None if cache_dir is None else str(cache_dir)
                    )
                except Exception as exc:
                    raise DataSourceError(f"could not read {where!r} as a Hugging Face imagefolder: {exc}") from exc
        if isinstance(ds, datasets.DatasetDict):
            if split not in ds:
                raise DataSourceError(f"dataset {where!r} has no split {split!r}; splits: {sorted(ds.keys())}")
            ds = ds[split]
        columns = list(ds.column_names)
        for role, col in (("image", image_column), ("label", label_column)):
            if col not in columns:
                raise DataSourceError(
                    f"dataset {where!r} (split {split!r}) has no {role} column {col!r}; available columns: "
                    f"{columns}. Pass {role}_column=... to choose one."
                )
        feature = ds.features[label_column]
        # Read the label column as arrow: no image decoding, and ~10x faster than iterating rows.
        raw_labels = ds.select_columns([label_column]).with_format("arrow")[label_column].to_pylist()
        if isinstance(feature, datasets.ClassLabel):
            self.classes = list(feature.names)
            self.labels = [int(v) for v in raw_labels]
            bad = [v for v in self.labels if not 0 <= v < len(self.classes)]
            if bad:
                raise DataSourceError(f"dataset {where!r}: label values {sorted(set(bad))[:5]} lie outside its ClassLabel")
        else:
            if any(v is None for v in raw_labels):
                raise DataSourceError(f"dataset {where!r}: column {label_column!r} has missing (None) labels")
            values = sorted(set(raw_labels))
            index = {v: k for k, v in enumerate(values)}
            self.classes = [str(v) for v in values]
            self.labels = [index[v] for v in raw_labels]
        if isinstance(ds.features[image_column], datasets.Image):
            ds = ds.cast_column(image_column, datasets.Image(decode=False))  # we decode, with path-aware errors
        self.dataset = ds.select_columns([image_column])
        self.where = where
        self.name = f"hf:{where}" + (f":{split}" if split else "")

    def _row_image(self, i: int) -> Any:
        return self.dataset[int(i)][self.image_column]

    def _describe(self, i: int, value: Any) -> str:
        row = f"{self.where} [{self.split}] row {i}"
        if isinstance(value, dict) and value.get("path"):
            return f"{value['path']} ({row})"
        if isinstance(value, str):
            return f"{value} ({row})"
        return row

    def path(self, i: int) -> str:
        i = self._check_index(i)
        try:
            value = self._row_image(i)
        except Exception:
            value = None
        return self._describe(i, value)

    def _raw(self, i: int) -> Any:
        return self._row_image(i)

    def load(self, i: int) -> Image.Image:
        i = self._check_index(i)
        value = self._row_image(i)  # read the row once: it may hold the encoded image bytes
        return open_image(value, description=self._describe(i, value))


SOURCE_TYPES: dict[str, type[LabeledImages]] = {
    "image_folder": ImageFolder,
    "file_list": FileList,
    "hf": HFImages,
}


def build_dataset(spec: str | Mapping[str, Any], where: str | None = None) -> LabeledImages:
    """The one way to build a dataset from what a user wrote: a recipe entry ``{type: ..., <options>}`` (any
    dataset type the registry holds: the core's, a plugin's) or a command-line spec string
    (:func:`i2ikit.data.spec.parse_data_spec`: a folder, ``hf:``, ``list:``, ``TYPE:VALUE``). ``where``
    (a recipe key such as ``data.train``) is named in its errors."""
    from ..errors import UserError, with_context

    try:
        if isinstance(spec, str):
            from .spec import parse_data_spec

            return parse_data_spec(spec)
        options = dict(spec)
        if "type" not in options:
            raise DataSourceError(f"a dataset needs a `type:` (one of: {', '.join(_registered_types())}), got {dict(spec)!r}")
        return build_source(options.pop("type"), **options)
    except UserError as exc:
        if where is None:
            raise
        raise with_context(exc, f"{where}: ") from None


def _registered_types() -> list[str]:
    from ..plugins import get_registry

    return get_registry().names("dataset")


def build_source(type: str, **kwargs: Any) -> LabeledImages:
    """Build a source from a config entry, e.g. ``build_source("file_list", root=..., list_file=...)``.

    Names other than the built-in three are looked up among the ``dataset`` parts that plugins
    register (such as the built-in glyph data).
    """
    cls: Any = SOURCE_TYPES.get(type)
    if cls is None:
        from ..plugins import get_registry  # lazy: the registry loads plugins, which import this package

        cls = get_registry().get("dataset", type).obj
    import inspect

    try:
        sig = inspect.signature(cls)
    except (TypeError, ValueError):
        sig = None
    if sig is not None:
        try:
            sig.bind(**kwargs)
        except TypeError as exc:  # check options up front so a TypeError inside the source is not masked
            raise DataSourceError(f"bad options for dataset type {type!r}: {exc}. It takes {sig}") from exc
    return cls(**kwargs)
