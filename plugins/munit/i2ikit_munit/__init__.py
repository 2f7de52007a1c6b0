"""i2ikit plugin: MUNIT (Huang, Liu, Belongie, Kautz, ECCV 2018), faithful to ``NVlabs/MUNIT``.

Registers the method ``munit`` and its generator part ``munit_generator`` (``AdaINGen``). The rest of it is
assembled from the core's parts: the MUNIT-family encoders, decoder and MLP (``i2ikit.nn.munit_family``), the
``multiscale`` discriminator around ``munit_patch`` (``MsImageDis``), the ``lsgan`` loss and the VGG16
perceptual loss. Official ``gen_*.pt`` / ``dis_*.pt`` files load with ``weights_only=True``
(``i2ikit.build("munit", pretrained="gen_01000000.pt")``). UNIT (plugin ``unit``) reads the same formats.
"""
from __future__ import annotations

from typing import Any, Callable

import i2ikit

from ._version import __version__
from .method import MUNIT, load_dis, munit_init
from .networks import AdaINGen
from .official import drop_pytorch03_stats, gen_settings, load_pair, read_pair, save_pair

__all__ = ["__version__", "MUNIT", "AdaINGen", "munit_init", "load_dis", "drop_pytorch03_stats", "gen_settings",
           "load_pair", "read_pair", "save_pair"]


@i2ikit.hookimpl
def i2ikit_register(register: Callable[..., Any]) -> None:
    register("method", "munit", MUNIT)
    register("generator", "munit_generator", AdaINGen)


@i2ikit.hookimpl
def i2ikit_zoo_entries() -> list:
    from .zoo import RELEASES
    return list(RELEASES)
