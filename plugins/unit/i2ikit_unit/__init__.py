"""i2ikit plugin: UNIT (Liu, Breuel, Kautz, NIPS 2017), faithful to ``mingyuliutw/UNIT`` (master).

Registers the method ``unit`` and its generator part ``unit_generator`` (``VAEGen``), assembled from the
core's MUNIT-family encoder and decoder; the discriminator (``multiscale`` of ``munit_patch``), the ``lsgan``
loss and the VGG16 perceptual loss are the core's. Master is UNIT written in MUNIT's code, so this plugin reads
and writes the official files with the ``munit`` plugin's functions (``gen_*.pt`` = ``{'a', 'b'}``).
"""
from __future__ import annotations

from typing import Any, Callable

import i2ikit

from ._version import __version__
from .method import UNIT, kl
from .networks import VAEGen

__all__ = ["__version__", "UNIT", "VAEGen", "kl"]


@i2ikit.hookimpl
def i2ikit_register(register: Callable[..., Any]) -> None:
    register("method", "unit", UNIT)
    register("generator", "unit_generator", VAEGen)


@i2ikit.hookimpl
def i2ikit_zoo_entries() -> list:
    from .zoo import RELEASES
    return list(RELEASES)
