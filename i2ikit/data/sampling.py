"""Deterministic, resumable, DDP-shardable sampling of an endless stream of training images.

The official FUNIT trainer draws content and class images from two independently shuffled loaders
over the same list. Here each such loader is a *stream*: a named, endless sequence of
``(index, aug_seed)`` pairs that depends only on ``(seed, stream)``. Epoch ``e`` of a stream is a
permutation of the items seeded by ``(seed, stream, e)``; the global sequence is the epochs laid end
to end. Rank ``r`` of ``world_size`` takes global positions ``r, r + world_size, ...``, so sharding
drops nothing and the union over ranks is exactly the single-process sequence. The augmentation
seed of each position is a hash of ``(seed, stream, position)``, so a batch never depends on
worker count, and a run resumed at batch ``n`` sees exactly the batches of an uninterrupted one.

Randomness uses only stable primitives (BLAKE2 hashes and numpy's PCG64 raw bit stream, both fixed
across versions), never Python's salted ``hash()`` or library shuffles whose algorithm may change.
"""
from __future__ import annotations

import hashlib
import random
import sys
from dataclasses import dataclass
from typing import Any, Callable, Iterator

import numpy as np
import torch
from PIL import Image
from torch.utils.data import DataLoader, Dataset, default_collate

from ..errors import ConfigError
from .images import ImageReadError
from .sources import LabeledImages

Transform = Callable[[Image.Image, random.Random], torch.Tensor]


def stable_hash(*parts: Any) -> int:
    """A 64-bit hash of ``parts`` (via their ``repr``) that is the same in every process and version."""
    text = "\x1f".join(repr(p) for p in parts).encode("utf-8")
    return int.from_bytes(hashlib.blake2b(text, digest_size=8).digest(), "little")


def epoch_permutation(num_items: int, seed: int, stream: str, epoch: int) -> np.ndarray:
    """The order of items in ``epoch`` of ``stream``: argsort of PCG64 raw draws keyed by a stable hash."""
    key = np.random.SeedSequence([stable_hash("perm", int(seed), str(stream), int(epoch)), int(epoch)])
    draws = np.random.PCG64(key).random_raw(num_items)
    return np.argsort(draws, kind="stable")


def aug_seed_at(seed: int, stream: str, position: int) -> int:
    """The augmentation seed of global ``position`` in ``stream`` (63 bits, fits torch.int64)."""
    return stable_hash("aug", int(seed), str(stream), int(position)) >> 1


class StreamSampler:
    """Endless ``(index, aug_seed)`` pairs for one rank; see the module docstring for the scheme.

    ``start`` is how many items *this rank* has already consumed, for an exact resume.
    """

    def __init__(
        self,
        num_items: int,
        *,
        seed: int,
        stream: str,
        rank: int = 0,
        world_size: int = 1,
        start: int = 0,
    ) -> None:
        if int(num_items) <= 0:
            raise ValueError(f"StreamSampler needs at least one item, got num_items={num_items}")
        if int(world_size) < 1 or not 0 <= int(rank) < int(world_size):
            raise ValueError(f"need 0 <= rank < world_size, got rank={rank}, world_size={world_size}")
        if int(start) < 0:
            raise ValueError(f"start must be >= 0, got {start}")
        self.num_items, self.seed, self.stream = int(num_items), int(seed), str(stream)
        self.rank, self.world_size, self.start = int(rank), int(world_size), int(start)
        self._cached: tuple[int, np.ndarray] | None = None

    def permutation(self, epoch: int) -> np.ndarray:
        if self._cached is None or self._cached[0] != epoch:
            self._cached = (epoch, epoch_permutation(self.num_items, self.seed, self.stream, epoch))
        return self._cached[1]

    def global_item(self, position: int) -> tuple[int, int]:
        """The ``(index, aug_seed)`` at ``position`` of the global (unsharded) sequence."""
        epoch, offset = divmod(int(position), self.num_items)
        return int(self.permutation(epoch)[offset]), aug_seed_at(self.seed, self.stream, position)

    def item(self, k: int) -> tuple[int, int]:
        """This rank's ``k``-th item (counting from the very beginning, not from ``start``)."""
        return self.global_item(self.rank + int(k) * self.world_size)

    def __iter__(self) -> Iterator[tuple[int, int]]:
        k = self.start
        while True:
            yield self.item(k)
            k += 1

    def __repr__(self) -> str:
        return (
            f"StreamSampler(num_items={self.num_items}, seed={self.seed}, stream={self.stream!r}, "
            f"rank={self.rank}, world_size={self.world_size}, start={self.start})"
        )


class _Batches:
    """Groups a StreamSampler into lists of ``batch_size`` items, for DataLoader's ``batch_sampler``."""

    def __init__(self, sampler: StreamSampler, batch_size: int) -> None:
        self.sampler, self.batch_size = sampler, batch_size

    def __iter__(self) -> Iterator[list[tuple[int, int]]]:
        it = iter(self.sampler)
        while True:
            yield [next(it) for _ in range(self.batch_size)]


def load_item(source: LabeledImages, index: int, transform: Callable[..., torch.Tensor], rng: random.Random | None) -> tuple[torch.Tensor, Any]:
    """Item ``index`` of ``source`` as ``(tensor, label)``, augmented by ``transform`` with ``rng``.

    A source that stores more than one image per item (e.g. GP-UNIT's image + shape mask, or a cross-class
    pair) defines ``sample_item(index, rng, transform)`` and returns its own tensor (channels stacked) and
    label; every other source is loaded as one RGB image."""
    custom = getattr(source, "sample_item", None)
    if custom is not None:
        return custom(index, rng, transform)
    img = source.load(index)  # ImageReadError already names the file
    try:
        tensor = transform(img, rng)
    except Exception as exc:
        exc.add_note(f"while transforming image {source.path(index)} with {transform!r}")
        raise
    return tensor, source.labels[index]


ON_BAD_IMAGE = ("error", "skip")


@dataclass(frozen=True)
class DataNote:
    """Something about one file that the user should hear once: ``kind`` is ``skipped`` (unreadable, replaced
    by the next readable item) or ``small`` (much smaller than the crop, so it is upscaled)."""

    kind: str
    path: str
    detail: str


class _SizeWatch:
    """Passes images through to the transform and remembers the size of those smaller than ``min_side``."""

    def __init__(self, transform: Callable[..., torch.Tensor], min_side: int) -> None:
        self.transform, self.min_side, self.small = transform, min_side, []

    def __call__(self, img: Image.Image, rng: random.Random | None) -> torch.Tensor:
        if min(img.size) < self.min_side:
            self.small.append(img.size)
        return self.transform(img, rng)


def load_item_noted(source: LabeledImages, index: int, transform: Callable[..., torch.Tensor], rng_seed: int | None, *,
                    on_bad_image: str = "error", warn_below: int = 0) -> tuple[torch.Tensor, Any, list[DataNote]]:
    """:func:`load_item` that also reports (as :class:`DataNote` records) images smaller than ``warn_below``
    pixels on their shorter side and, with ``on_bad_image="skip"``, unreadable files, each replaced by the
    next readable item (same augmentation seed, so the stream stays deterministic)."""
    notes: list[DataNote] = []
    for attempt in range(len(source)):
        i = (index + attempt) % len(source)
        watch = _SizeWatch(transform, warn_below)
        try:
            tensor, label = load_item(source, i, watch, None if rng_seed is None else random.Random(rng_seed))
        except ImageReadError as exc:
            if on_bad_image != "skip":
                raise
            notes.append(DataNote("skipped", exc.path or source.path(i), str(exc)))
            continue
        notes += [DataNote("small", source.path(i), f"{w}x{h}") for w, h in watch.small]
        return tensor, label, notes
    raise ImageReadError(f"every image of {source.name} is unreadable (data.on_bad_image: skip found none to use); "
                         "check the dataset's root and files (i2ikit data check)", path=source.name)


class SampledDataset(Dataset):
    """Maps a sampler's ``(index, aug_seed)`` to ``(tensor, label)``; the rng is ``Random(aug_seed)``.

    ``with_notes`` returns ``(tensor, label, notes)`` instead (see :func:`load_item_noted`), for loaders
    that report skipped and small images to the user (``make_stream_loader``)."""

    def __init__(self, source: LabeledImages, transform: Transform, *, with_notes: bool = False,
                 on_bad_image: str = "error", warn_below: int = 0) -> None:
        if on_bad_image not in ON_BAD_IMAGE:
            raise ConfigError(f"on_bad_image must be one of {', '.join(ON_BAD_IMAGE)}, got {on_bad_image!r}")
        self.source, self.transform = source, transform
        self.with_notes, self.on_bad_image, self.warn_below = with_notes, on_bad_image, int(warn_below)

    def __len__(self) -> int:
        return len(self.source)

    def __getitem__(self, key: tuple[int, int]) -> tuple:
        try:
            index, aug_seed = key
        except (TypeError, ValueError):
            raise TypeError(
                f"SampledDataset is indexed by (index, aug_seed) pairs from a StreamSampler, got {key!r}"
            ) from None
        if not self.with_notes:
            return load_item(self.source, index, self.transform, random.Random(aug_seed))
        return load_item_noted(self.source, index, self.transform, aug_seed, on_bad_image=self.on_bad_image,
                               warn_below=self.warn_below)


def collate_noted(items: list[tuple[torch.Tensor, Any, list[DataNote]]]) -> tuple[torch.Tensor, torch.Tensor, list[DataNote]]:
    """Batch ``(tensor, label, notes)`` items as the default collate batches ``(tensor, label)``, keeping the notes."""
    images, labels = default_collate([item[:2] for item in items])
    return images, labels, [note for item in items for note in item[2]]


class DataReporter:
    """Tells the user about each skipped or small file once per process (a warning line on stderr)."""

    def __init__(self, crop: int | None = None) -> None:
        self.crop, self.seen = crop, set()
        self.counts = {"skipped": 0, "small": 0}

    def __call__(self, notes: list[DataNote]) -> None:
        for note in notes:
            if (note.kind, note.path) in self.seen:
                continue
            self.seen.add((note.kind, note.path))
            self.counts[note.kind] = self.counts.get(note.kind, 0) + 1
            if note.kind == "skipped":
                text = f"skipped an unreadable image (data.on_bad_image: skip): {note.detail.split('. ')[0]}"
            else:
                text = (f"{note.path} is {note.detail}, much smaller than the {self.crop}px crop, and is upscaled "
                        "for training; remove or exclude it if that is not intended (i2ikit data check lists them all)")
            from tqdm.auto import tqdm

            tqdm.write(f"warning: {text}", file=sys.stderr)


class StreamLoader:
    """An endless iterator of ``(images B x 3 x H x W, labels int64 B)`` batches.

    ``batches_done`` counts batches handed out, including ``start_batch``; store it in a checkpoint
    and pass it back as ``start_batch`` to resume exactly.
    """

    def __init__(self, loader: DataLoader, start_batch: int, reporter: Callable[[list[DataNote]], None] | None = None) -> None:
        self.loader = loader
        self.batches_done = start_batch
        self.reporter = reporter
        self._it: Iterator[Any] | None = iter(loader)

    def __iter__(self) -> "StreamLoader":
        return self

    def __next__(self) -> tuple[torch.Tensor, torch.Tensor]:
        if self._it is None:
            raise StopIteration
        batch = next(self._it)
        self.batches_done += 1
        if self.reporter is None:
            return batch[0], batch[1]
        images, labels, notes = batch
        if notes:
            self.reporter(notes)
        return images, labels

    def close(self) -> None:
        """Stop worker processes now rather than at garbage collection."""
        it, self._it = self._it, None
        shutdown = getattr(it, "_shutdown_workers", None)
        if shutdown is not None:
            shutdown()


def make_stream_loader(
    source: LabeledImages,
    transform: Transform,
    *,
    batch_size: int,
    seed: int,
    stream: str,
    rank: int = 0,
    world_size: int = 1,
    start_batch: int = 0,
    num_workers: int = 0,
    pin_memory: bool = False,
    on_bad_image: str = "error",
    warn_below: int = 0,
    reporter: Callable[[list[DataNote]], None] | None = None,
) -> StreamLoader:
    """Endless batches of one stream for one rank; identical for any ``num_workers``.

    Batch ``n`` of rank ``r`` holds this rank's items ``n*batch_size .. (n+1)*batch_size-1``, so
    ``start_batch=n`` continues exactly where an interrupted run stopped. ``on_bad_image="skip"`` replaces an
    unreadable image by the next readable item; ``reporter`` hears of each skipped image and of images
    smaller than ``warn_below`` pixels (shorter side), see :class:`DataReporter`.
    """
    if int(batch_size) < 1:
        raise ValueError(f"batch_size must be >= 1, got {batch_size}")
    if int(start_batch) < 0:
        raise ValueError(f"start_batch must be >= 0, got {start_batch}")
    sampler = StreamSampler(
        len(source), seed=seed, stream=stream, rank=rank, world_size=world_size, start=int(start_batch) * int(batch_size)
    )
    noted = reporter is not None or on_bad_image != "error"
    loader = DataLoader(
        SampledDataset(source, transform, with_notes=noted, on_bad_image=on_bad_image, warn_below=warn_below),
        batch_sampler=_Batches(sampler, int(batch_size)),
        collate_fn=collate_noted if noted else None,
        num_workers=num_workers,
        persistent_workers=num_workers > 0,
        pin_memory=pin_memory,
        # Its own generator, so creating the loader never draws from the global RNG that a resumed
        # run has just restored (the sampler, not this generator, decides the order).
        generator=torch.Generator(),
    )
    if noted and reporter is None:
        reporter = DataReporter()
    return StreamLoader(loader, int(start_batch), reporter)
