"""i2ikit plugin: FUNIT (Liu et al., ICCV 2019), faithful to the official NVlabs/FUNIT code.

Registers the method ``funit``, the generator ``funit_generator`` and the discriminator ``funit_patch``.
"""
from __future__ import annotations

from typing import Any, Callable

import i2ikit

__version__ = "0.1.0"

from .method import FUNIT  # noqa: E402  (needs __version__)
from .networks import FewShotGen, GPPatchMcResDis  # noqa: E402
from .official import load_official, to_official, to_official_dis  # noqa: E402

__all__ = ["__version__", "FUNIT", "FewShotGen", "GPPatchMcResDis", "load_official", "to_official", "to_official_dis"]


@i2ikit.hookimpl
def i2ikit_register(register: Callable[..., Any]) -> None:
    register("method", "funit", FUNIT)
    register("generator", "funit_generator", FewShotGen)
    register("discriminator", "funit_patch", GPPatchMcResDis)
