"""Data: one labelled-image interface over folders, FUNIT list files and Hugging Face datasets, the
official FUNIT transforms, and deterministic, resumable, DDP-shardable sampling."""
from __future__ import annotations

from .images import ImageReadError, open_image, to_rgb
from .paired import PairedImages, split_paired
from .sampling import (
    SampledDataset,
    StreamLoader,
    StreamSampler,
    aug_seed_at,
    epoch_permutation,
    load_item,
    make_stream_loader,
    stable_hash,
)
from .sources import (
    IMAGE_EXTENSIONS,
    ClassSubset,
    DataSourceError,
    FileList,
    HFImages,
    ImageFolder,
    LabeledImages,
    build_dataset,
    build_source,
)
from .transforms import EvalTransform, TestTransform, TrainTransform

__all__ = [
    "IMAGE_EXTENSIONS",
    "ClassSubset",
    "DataSourceError",
    "EvalTransform",
    "FileList",
    "HFImages",
    "ImageFolder",
    "ImageReadError",
    "LabeledImages",
    "PairedImages",
    "SampledDataset",
    "StreamLoader",
    "StreamSampler",
    "TestTransform",
    "TrainTransform",
    "aug_seed_at",
    "build_dataset",
    "build_source",
    "epoch_permutation",
    "load_item",
    "make_stream_loader",
    "open_image",
    "registry_entries",
    "split_paired",
    "stable_hash",
    "to_rgb",
]


def registry_entries() -> list[tuple[str, str, object]]:
    """The ``(kind, name, object)`` triples the core plugin (``i2ikit.builtins``) registers.

    Only the generic source types live here; dataset types for particular data are plugins' (e.g.
    ``glyphs`` from ``plugins/glyphs``), which ``build_source`` finds through the registry.
    """
    return [
        ("dataset", "image_folder", ImageFolder),
        ("dataset", "file_list", FileList),
        ("dataset", "hf", HFImages),
        ("dataset", "paired", PairedImages),
    ]
