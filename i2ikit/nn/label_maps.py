"""Label maps as network input: one-hot semantic labels, the don't-care label and instance boundaries.

pix2pixHD and SPADE feed their generators (and discriminators) the same encoding: a one-hot map of the
semantic label ids, optionally one more channel for SPADE's don't-care label, then one channel that
is 1 on instance boundaries. These functions are that encoding, for any method with label-map input.
"""
from __future__ import annotations

import torch

from ..errors import UserError

DONTCARE_ID = 255
"""The id that label files use for "unlabelled"; SPADE maps it to channel ``label_nc``."""


class LabelValueError(UserError, ValueError):
    """A label map holds an id that the one-hot width cannot hold."""


def _ids(label: torch.Tensor) -> torch.Tensor:
    if label.ndim != 4 or label.shape[1] != 1:
        raise ValueError(f"a label map batch must be B x 1 x H x W, got shape {tuple(label.shape)}")
    if label.is_floating_point():
        rounded = label.round()
        if not torch.equal(rounded, label):
            raise LabelValueError("the label map holds values that are not whole numbers; label maps must be "
                                  "read with nearest-neighbour resizing and not normalised")
        label = rounded
    return label.long()


def dontcare_to_channel(label: torch.Tensor, label_nc: int) -> torch.Tensor:
    """SPADE's rule: every don't-care id (255) becomes ``label_nc``, the extra last channel."""
    label = _ids(label)
    return torch.where(label == DONTCARE_ID, torch.full_like(label, int(label_nc)), label)


def one_hot_labels(label: torch.Tensor, num_channels: int, *, where: str = "label map") -> torch.Tensor:
    """B x 1 x H x W ids in ``0..num_channels-1`` -> B x num_channels x H x W float one-hot.

    An id outside that range is an error naming the id and the width (the official code fails inside
    ``scatter_``): set ``label_nc`` to the number of classes, or (SPADE) ``contain_dontcare_label`` when
    the files use 255 for unlabelled pixels.
    """
    ids = _ids(label)
    if ids.numel():
        lo, hi = int(ids.min()), int(ids.max())
        if lo < 0 or hi >= num_channels:
            bad = lo if lo < 0 else hi
            raise LabelValueError(
                f"{where}: label id {bad} is outside 0..{num_channels - 1} (one-hot width {num_channels}). Set "
                f"label_nc to the number of classes of the data (ids 0..label_nc-1)"
                + (", or contain_dontcare_label: true if 255 marks unlabelled pixels" if bad == DONTCARE_ID else "")
            )
    out = torch.zeros(ids.shape[0], int(num_channels), *ids.shape[2:], device=ids.device)
    return out.scatter_(1, ids, 1.0)


def instance_edges(instance: torch.Tensor) -> torch.Tensor:
    """1 where an instance id differs from its left, right, upper or lower neighbour (both sides of a
    boundary), else 0: B x 1 x H x W float, as pix2pixHD's and SPADE's ``get_edges``."""
    if instance.ndim != 4 or instance.shape[1] != 1:
        raise ValueError(f"an instance map batch must be B x 1 x H x W, got shape {tuple(instance.shape)}")
    t = instance
    edge = torch.zeros(t.shape, dtype=torch.bool, device=t.device)
    horizontal = t[..., :, 1:] != t[..., :, :-1]
    vertical = t[..., 1:, :] != t[..., :-1, :]
    edge[..., :, 1:] |= horizontal
    edge[..., :, :-1] |= horizontal
    edge[..., 1:, :] |= vertical
    edge[..., :-1, :] |= vertical
    return edge.float()


def encode_label_map(label: torch.Tensor, label_nc: int, *, contain_dontcare_label: bool = False,
                     instance: torch.Tensor | None = None, where: str = "label map") -> torch.Tensor:
    """The generator input of pix2pixHD and SPADE: one-hot labels (``label_nc`` channels, +1 for the
    don't-care label), then the instance boundary channel when an instance map is given.

    pix2pixHD has no don't-care rule (``contain_dontcare_label=False``: 255 is an error); SPADE maps
    255 to ``label_nc`` in every dataset mode before the one-hot.
    """
    ids = dontcare_to_channel(label, label_nc) if contain_dontcare_label else _ids(label)
    x = one_hot_labels(ids, int(label_nc) + int(contain_dontcare_label), where=where)
    if instance is not None:
        x = torch.cat([x, instance_edges(instance).to(x.device)], dim=1)
    return x


def input_channels(label_nc: int, *, contain_dontcare_label: bool = False, instance: bool = False) -> int:
    """Width of :func:`encode_label_map`'s output (SPADE's ``semantic_nc``): Cityscapes 35 + 1 = 36."""
    return int(label_nc) + int(contain_dontcare_label) + int(instance)
