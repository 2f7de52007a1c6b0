"""i2ikit plugin: pix2pixHD (Wang et al., CVPR 2018), faithful to ``NVIDIA/pix2pixHD``.

Registers the networks as parts, under the official state-dict keys (docs/methods/pix2pixhd.md):

- generators ``pix2pixhd_global`` (:class:`GlobalGenerator`, ``--netG global``) and ``pix2pixhd_local``
  (:class:`LocalEnhancer`, ``--netG local``);
- encoder ``pix2pixhd_encoder`` (:class:`Encoder`, the instance-wise feature encoder ``netE``);
- discriminator ``pix2pixhd_patch`` (:class:`NLayerDiscriminator`, one scale), run inside the core
  ``multiscale`` wrapper as the official ``MultiscaleDiscriminator`` (:func:`multiscale_discriminator`,
  :func:`discriminator_spec`).

Official ``latest_net_{G,D,E}.pth`` files load with ``weights_only=True`` and their settings read from the
file (:func:`load_generator`, :func:`load_discriminator`, :func:`load_encoder`); :func:`save_official` writes
them. The training method is :class:`Pix2PixHD` (method ``pix2pixhd``, :mod:`.method`): the official losses,
optimisers, schedule and step order, ``--niter_fix_global``, ``--load_pretrain``, official-file loading with
``i2ikit.build("pix2pixhd", pretrained=...)`` and translation of label maps.
"""
from __future__ import annotations

from typing import Any, Callable

import i2ikit

from ._version import __version__
from .networks import (
    Encoder,
    GlobalGenerator,
    LocalEnhancer,
    NLayerDiscriminator,
    ResnetBlock,
    discriminator_spec,
    instance_average,
    multiscale_discriminator,
    weights_init,
)
from .colors import label_colors, palette
from .method import Pix2PixHD, generator_forward, official_files
from .official import (
    discriminator_from_official,
    discriminator_settings,
    discriminator_to_official,
    encoder_settings,
    generator_settings,
    load_discriminator,
    load_encoder,
    load_generator,
    load_pretrain,
    read_official,
    save_official,
)

__all__ = [
    "__version__",
    "GlobalGenerator",
    "LocalEnhancer",
    "Encoder",
    "NLayerDiscriminator",
    "ResnetBlock",
    "instance_average",
    "weights_init",
    "discriminator_spec",
    "multiscale_discriminator",
    "read_official",
    "generator_settings",
    "encoder_settings",
    "discriminator_settings",
    "discriminator_to_official",
    "discriminator_from_official",
    "load_generator",
    "load_encoder",
    "load_discriminator",
    "load_pretrain",
    "save_official",
    "Pix2PixHD",
    "generator_forward",
    "official_files",
    "label_colors",
    "palette",
]


@i2ikit.hookimpl
def i2ikit_register(register: Callable[..., Any]) -> None:
    register("method", "pix2pixhd", Pix2PixHD,
             description="pix2pixHD (Wang et al. 2018): label maps -> images, coarse-to-fine G, multi-scale D, "
                         "feature matching + VGG; official latest_net_G.pth files load")
    register("generator", "pix2pixhd_global", GlobalGenerator,
             description="pix2pixHD G1 (--netG global): 7x7 conv, 4 downs, 9 res blocks, 4 ups; input_nc label channels")
    register("generator", "pix2pixhd_local", LocalEnhancer,
             description="pix2pixHD G1+G2 (--netG local --ngf 32): a global G at half resolution plus a local enhancer")
    register("encoder", "pix2pixhd_encoder", Encoder,
             description="pix2pixHD netE: image -> feat_num maps, averaged inside each instance; forward(image, inst)")
    register("discriminator", "pix2pixhd_patch", NLayerDiscriminator,
             description="one scale of pix2pixHD's D (NLayerDiscriminator, getIntermFeat); use inside multiscale")


@i2ikit.hookimpl
def i2ikit_zoo_entries() -> list:
    from .zoo import RELEASES
    return list(RELEASES)
