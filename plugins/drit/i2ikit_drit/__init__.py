"""i2ikit plugin: DRIT / DRIT++ (Lee, Tseng et al.; ECCV 2018 / IJCV 2020), faithful to ``HsinYingLee/DRIT``.

Provides the method ``drit`` (two domains: stream ``source`` is domain A, ``target`` domain B), its networks
under the official names and state-dict keys (``enc_c``, ``enc_a``, ``gen``, ``disA``, ``disB``, ``disA2``,
``disB2``, ``disContent``), reading and writing the official ``.pth`` files (``DRIT.load_official``,
:func:`~i2ikit_drit.official.save_official`), and the discriminator parts it is built from:
``drit_patch`` (one scale of ``MultiScaleDis``, run inside the core ``multiscale`` wrapper), ``drit_dis``
(the single-scale ``Dis``) and ``drit_content`` (``Dis_content``). docs/methods/drit.md says what is
faithful and every quirk kept.
"""
from __future__ import annotations

from typing import Any, Callable

import i2ikit

from ._version import __version__
from .networks import (
    BasicBlock,
    DritContentDiscriminator,
    DritDiscriminator,
    DritPatchDiscriminator,
    E_attr,
    E_attr_concat,
    E_content,
    G,
    G_concat,
    GaussianNoiseLayer,
    INSResBlock,
    LayerNorm,
    LeakyReLUConv2d,
    MisINSResBlock,
    ReLUINSConv2d,
    ReLUINSConvTranspose2d,
    gaussian_weights_init,
)
from .official import infer_config, load_into, read_official, save_official
from .method import DRIT, ClippedAdam, Draws, drit_forward

__all__ = [
    "__version__",
    "DRIT",
    "ClippedAdam",
    "Draws",
    "drit_forward",
    "E_content",
    "E_attr_concat",
    "E_attr",
    "G_concat",
    "G",
    "DritPatchDiscriminator",
    "DritDiscriminator",
    "DritContentDiscriminator",
    "LayerNorm",
    "LeakyReLUConv2d",
    "ReLUINSConv2d",
    "INSResBlock",
    "MisINSResBlock",
    "BasicBlock",
    "GaussianNoiseLayer",
    "ReLUINSConvTranspose2d",
    "gaussian_weights_init",
    "read_official",
    "infer_config",
    "load_into",
    "save_official",
]


@i2ikit.hookimpl
def i2ikit_register(register: Callable[..., Any]) -> None:
    register("discriminator", "drit_patch", DritPatchDiscriminator)
    register("discriminator", "drit_dis", DritDiscriminator)
    register("discriminator", "drit_content", DritContentDiscriminator)
    register("method", "drit", DRIT)


@i2ikit.hookimpl
def i2ikit_zoo_entries() -> list:
    from .zoo import RELEASES
    return list(RELEASES)
