"""i2ikit plugin: FUNIT (Liu et al., ICCV 2019), faithful to the official NVlabs/FUNIT code.

Registers the method ``funit``, the generator ``funit_generator`` and the discriminator ``funit_patch``.
"""
from __future__ import annotations

from typing import Any, Callable

import i2ikit

from ._version import __version__

from .method import FUNIT
from .networks import FewShotGen, GPPatchMcResDis
from .official import load_official, to_official, to_official_dis

__all__ = ["__version__", "FUNIT", "FewShotGen", "GPPatchMcResDis", "load_official", "to_official", "to_official_dis"]


@i2ikit.hookimpl
def i2ikit_register(register: Callable[..., Any]) -> None:
    register("method", "funit", FUNIT)
    register("generator", "funit_generator", FewShotGen)
    register("discriminator", "funit_patch", GPPatchMcResDis)


@i2ikit.hookimpl
def i2ikit_zoo_entries() -> list:
    from .zoo import RELEASES

    return list(RELEASES)
