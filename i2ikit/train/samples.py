"""Sample grids: one row per example, one column per named image (e.g. content | class | translation)."""
from __future__ import annotations

from pathlib import Path

import torch
from torchvision.utils import save_image


def save_grid(columns: list[tuple[str, torch.Tensor]], path: Path) -> Path:
    """Write a PNG whose rows are examples and whose columns follow ``columns`` order; images in [-1, 1]."""
    if not columns:
        raise ValueError("no sample columns to save")
    rows = columns[0][1].shape[0]
    tiles = []
    for r in range(rows):
        for _, images in columns:
            tiles.append(images[r].detach().float().cpu())
    grid = (torch.stack(tiles).clamp(-1, 1) + 1) / 2
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.with_name(f".{path.name}.tmp.png")
    save_image(grid, tmp, nrow=len(columns), padding=2, pad_value=1.0)
    tmp.replace(path)
    (path.parent / "columns.txt").write_text(" | ".join(name for name, _ in columns) + "\n")
    return path
