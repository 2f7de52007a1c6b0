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
from typing import Any, Callable, Iterator

import numpy as np
import torch
from PIL import Image
from torch.utils.data import DataLoader, Dataset

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


class SampledDataset(Dataset):
    """Maps a sampler's ``(index, aug_seed)`` to ``(tensor, label)``; the rng is ``Random(aug_seed)``."""

    def __init__(self, source: LabeledImages, transform: Transform) -> None:
        self.source, self.transform = source, transform

    def __len__(self) -> int:
        return len(self.source)

    def __getitem__(self, key: tuple[int, int]) -> tuple[torch.Tensor, int]:
        try:
            index, aug_seed = key
        except (TypeError, ValueError):
            raise TypeError(
                f"SampledDataset is indexed by (index, aug_seed) pairs from a StreamSampler, got {key!r}"
            ) from None
        return load_item(self.source, index, self.transform, random.Random(aug_seed))


class StreamLoader:
    """An endless iterator of ``(images B x 3 x H x W, labels int64 B)`` batches.

    ``batches_done`` counts batches handed out, including ``start_batch``; store it in a checkpoint
    and pass it back as ``start_batch`` to resume exactly.
    """

    def __init__(self, loader: DataLoader, start_batch: int) -> None:
        self.loader = loader
        self.batches_done = start_batch
        self._it: Iterator[Any] | None = iter(loader)

    def __iter__(self) -> "StreamLoader":
        return self

    def __next__(self) -> tuple[torch.Tensor, torch.Tensor]:
        if self._it is None:
            raise StopIteration
        images, labels = next(self._it)
        self.batches_done += 1
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
) -> StreamLoader:
    """Endless batches of one stream for one rank; identical for any ``num_workers``.

    Batch ``n`` of rank ``r`` holds this rank's items ``n*batch_size .. (n+1)*batch_size-1``, so
    ``start_batch=n`` continues exactly where an interrupted run stopped.
    """
    if int(batch_size) < 1:
        raise ValueError(f"batch_size must be >= 1, got {batch_size}")
    if int(start_batch) < 0:
        raise ValueError(f"start_batch must be >= 0, got {start_batch}")
    sampler = StreamSampler(
        len(source), seed=seed, stream=stream, rank=rank, world_size=world_size, start=int(start_batch) * int(batch_size)
    )
    loader = DataLoader(
        SampledDataset(source, transform),
        batch_sampler=_Batches(sampler, int(batch_size)),
        num_workers=num_workers,
        persistent_workers=num_workers > 0,
        pin_memory=pin_memory,
        # Its own generator, so creating the loader never draws from the global RNG that a resumed
        # run has just restored (the sampler, not this generator, decides the order).
        generator=torch.Generator(),
    )
    return StreamLoader(loader, int(start_batch))
