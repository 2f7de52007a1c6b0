"""Label maps in colour, for sample grids and ``i2ikit translate`` (the official ``util.tensor2label``).

pix2pixHD shows its input label maps in colour: with 35 labels in the Cityscapes colours of the
``labelIds`` classes, otherwise in the usual bit-interleaved palette (the bits of each id spread over the
red, green and blue channels from the most significant bit down, as the PASCAL VOC palette). Ids outside
``0..label_nc-1`` (e.g. 255) are drawn black, as the official ``Colorize`` leaves them.
"""
from __future__ import annotations

import torch

__all__ = ["CITYSCAPES_COLORS", "palette", "label_colors"]

# The colour of each Cityscapes labelIds class 0..34 (the dataset's own label definitions; ids 0-4 and the
# license plate's -1 are unlabelled/void classes, drawn black, as the official palette; 34 is shown as a car).
CITYSCAPES_COLORS: tuple[tuple[int, int, int], ...] = (
    (0, 0, 0), (0, 0, 0), (0, 0, 0), (0, 0, 0), (0, 0, 0),                  # unlabeled, ego vehicle, ... static
    (111, 74, 0), (81, 0, 81), (128, 64, 128), (244, 35, 232), (250, 170, 160),  # dynamic, ground, road, sidewalk, parking
    (230, 150, 140), (70, 70, 70), (102, 102, 156), (190, 153, 153), (180, 165, 180),  # rail, building, wall, fence, guard rail
    (150, 100, 100), (150, 120, 90), (153, 153, 153), (153, 153, 153), (250, 170, 30),  # bridge, tunnel, pole, polegroup, light
    (220, 220, 0), (107, 142, 35), (152, 251, 152), (70, 130, 180), (220, 20, 60),  # sign, vegetation, terrain, sky, person
    (255, 0, 0), (0, 0, 142), (0, 0, 70), (0, 60, 100), (0, 0, 90),          # rider, car, truck, bus, caravan
    (0, 0, 110), (0, 80, 100), (0, 0, 230), (119, 11, 32), (0, 0, 142),      # trailer, train, motorcycle, bicycle, plate
)


def _interleaved(i: int) -> tuple[int, int, int]:
    """Bit-interleaved colour of id ``i``: bit 3k of the id sets bit 7-k of red, 3k+1 of green, 3k+2 of blue."""
    rgb = [0, 0, 0]
    for k in range(7):
        for c in range(3):
            rgb[c] |= ((i >> (3 * k + c)) & 1) << (7 - k)
    return rgb[0], rgb[1], rgb[2]


def palette(label_nc: int) -> torch.Tensor:
    """``label_nc`` x 3 uint8 colours: the Cityscapes ones for 35 labels, the interleaved palette otherwise."""
    if label_nc == len(CITYSCAPES_COLORS):
        return torch.tensor(CITYSCAPES_COLORS, dtype=torch.uint8)
    return torch.tensor([_interleaved(i) for i in range(label_nc)], dtype=torch.uint8)


def label_colors(label: torch.Tensor, label_nc: int) -> torch.Tensor:
    """B x 1 x H x W label ids (float or integer) -> B x 3 x H x W colours in [-1, 1], for display only."""
    ids = label.detach().round().long().cpu()[:, 0]
    colors = palette(int(label_nc)).float() / 127.5 - 1
    inside = (ids >= 0) & (ids < label_nc)
    out = torch.full((*ids.shape, 3), -1.0)
    out[inside] = colors[ids[inside]]
    return out.permute(0, 3, 1, 2).to(label.device)
