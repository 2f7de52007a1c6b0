"""Template i2ikit plugin: copy this folder to start your own.

It holds a complete two-domain method assembled from registered parts, ``cyclegan``
(``cyclegan.py``: about 170 lines, read it top to bottom), the part it adds for it, a ResNet generator
(``resnet_generator``), and a part any method's recipe can use (``i2ikit parts`` lists them):

    method: {name: funit, gan_loss: lsgan, discriminator: {name: patchgan, nf: 64}}
    method: {name: gpunit, gan_loss: lsgan, discriminator: {name: patchgan, n_layers: 3}, style_layer: 1}

Its recipe ``recipes/cyclegan_glyphs.yaml`` trains CycleGAN on the built-in glyph data:
``i2ikit train cyclegan_glyphs`` once this plugin is installed (``i2ikit recipes`` lists it).

A method declares, next to its defaults, what its keyword arguments may be, how many classes each data
stream needs, how it translates and which parts it is built from, so a bad value is a one-line error
naming the key before anything is built (see ``CycleGAN`` and docs/plugins.md). Errors a user can cause
(a bad value, a missing or damaged file) are ``i2ikit.errors.ConfigError``, ``MissingFileError`` or
``CheckpointError``: the command line prints their message without a traceback.
"""
from __future__ import annotations

from pathlib import Path
from typing import Any, Callable

import torch
from torch import nn

import i2ikit
from i2ikit.constraints import at_least_one
from i2ikit.errors import ConfigError
from i2ikit.parts import DiscriminatorOutput

from ._version import __version__


class PatchGANDiscriminator(nn.Module):
    """A pix2pix-style PatchGAN with one output channel per class (a multi-task head, as FUNIT's).

    ``forward(x, y=None)`` returns :class:`i2ikit.parts.DiscriminatorOutput`: the label-``y`` logit map
    (channel 0 without labels, for a method that has none) and, as features, the last feature map, which
    feature matching uses.
    """

    labels = "optional"  # the contract of i2ikit.parts: y picks a class channel; without y, one class
    # Checked by the recipe validator and i2ikit.build before anything is built, naming the key.
    constraints = {"num_classes": at_least_one, "nf": at_least_one, "n_layers": at_least_one}

    def __init__(self, num_classes: int = 1, nf: int = 64, n_layers: int = 3) -> None:
        super().__init__()
        # A direct call (not through a recipe) still gets a message naming the key.
        for key, value, low in (("num_classes", num_classes, 1), ("nf", nf, 1), ("n_layers", n_layers, 1)):
            if isinstance(value, bool) or not isinstance(value, int) or value < low:
                raise ConfigError(f"discriminator 'patchgan': {key} must be an integer >= {low}, got {value!r}")
        layers: list[nn.Module] = [nn.Conv2d(3, nf, 4, 2, 1), nn.LeakyReLU(0.2)]
        ch = nf
        for i in range(1, n_layers):
            nxt = min(nf * 2 ** i, nf * 8)
            layers += [nn.Conv2d(ch, nxt, 4, 2, 1), nn.InstanceNorm2d(nxt), nn.LeakyReLU(0.2)]
            ch = nxt
        self.features = nn.Sequential(*layers)
        self.head = nn.Conv2d(ch, num_classes, 3, 1, 1)

    def forward(self, x: torch.Tensor, y: torch.Tensor | None = None) -> DiscriminatorOutput:
        feat = self.features(x)
        logits = self.head(feat)
        if y is None:
            y = torch.zeros(x.shape[0], dtype=torch.long, device=x.device)
        return DiscriminatorOutput(logits[torch.arange(x.shape[0], device=x.device), y], [feat])


from .cyclegan import CycleGAN, ResnetGenerator  # noqa: E402  (after the parts it registers beside it)


@i2ikit.hookimpl
def i2ikit_register(register: Callable[..., Any]) -> None:
    register("discriminator", "patchgan", PatchGANDiscriminator)
    register("generator", "resnet_generator", ResnetGenerator)
    register("method", "cyclegan", CycleGAN)


@i2ikit.hookimpl
def i2ikit_recipe_dirs() -> list[str]:
    return [str(Path(__file__).parent / "recipes")]
