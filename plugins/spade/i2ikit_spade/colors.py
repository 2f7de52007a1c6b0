"""Label maps in colour, as SPADE's visualiser shows them (``util.tensor2label(label, label_nc + 2)``).

The official ``train.py`` and ``test.py`` colour the input label with ``Colorize(label_nc + 2)``. That width is
never 35, so even Cityscapes gets the bit-interleaved palette, not the Cityscapes colours. The palette of id
``i`` spreads the bits of ``i + 1`` over red, green and blue (bit 3k to bit 7-k of red, 3k+1 of green, 3k+2
of blue; ``+ 1`` so that id 0 is not black). The don't-care id 255 is drawn in the colour of ``label_nc``,
the channel SPADE's data loader sends it to; ids at or above ``label_nc + 2`` are black, as ``Colorize``
leaves them.
"""
from __future__ import annotations

import torch

__all__ = ["palette", "label_colors"]

DONTCARE_ID = 255


def _interleaved(n: int) -> tuple[int, int, int]:
    rgb = [0, 0, 0]
    for k in range(7):
        for c in range(3):
            rgb[c] |= ((n >> (3 * k + c)) & 1) << (7 - k)
    return rgb[0], rgb[1], rgb[2]


def palette(n: int) -> torch.Tensor:
    """``n`` x 3 uint8 colours, the official ``labelcolormap(n)`` for ``n`` other than 35 and 182."""
    return torch.tensor([_interleaved(i + 1) for i in range(int(n))], dtype=torch.uint8)


def label_colors(label: torch.Tensor, label_nc: int) -> torch.Tensor:
    """B x 1 x H x W label ids -> B x 3 x H x W colours in [-1, 1] (the sample grids' range)."""
    ids = label.round().long()
    ids = torch.where(ids == DONTCARE_ID, torch.full_like(ids, int(label_nc)), ids)
    colours = palette(int(label_nc) + 2).to(label.device)
    inside = (ids >= 0) & (ids < colours.shape[0])
    rgb = colours[ids.clamp(0, colours.shape[0] - 1)[:, 0]].permute(0, 3, 1, 2).float()
    rgb = rgb * inside.float()
    return rgb / 127.5 - 1.0
