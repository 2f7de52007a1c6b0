"""i2ikit plugin: SPADE / GauGAN (Park, Liu, Wang, Zhu; CVPR 2019), faithful to ``NVlabs/SPADE``.

Registers the method ``spade`` (:class:`SPADE`: hinge GAN, feature matching, VGG19 and KL terms, TTUR, the
official step order and schedule; label maps from the ``paired`` data). Provides SPADE's networks under the
official names and state-dict keys and registers them as parts: ``spade_generator`` (:class:`SPADEGenerator`),
``spade_encoder`` (:class:`ConvEncoder`, the VAE style encoder) and ``spade_patch`` (:class:`SPADEPatchDiscriminator`, one scale of the official
``MultiscaleDiscriminator``, run inside the core ``multiscale`` wrapper). The SPADE layer and block are
core (``i2ikit.nn.spade``); the label-map encoding is ``i2ikit.nn.label_maps``. Official
``<epoch>_net_G/D/E.pth`` files are read and written by :mod:`i2ikit_spade.official`
(:func:`load_generator`, :func:`load_official`, :func:`save_official`). docs/methods/spade.md says what is
faithful and how it was checked.
"""
from __future__ import annotations

from typing import Any, Callable

import i2ikit

from ._version import __version__
from .colors import label_colors, palette
from .method import GAN_MODES, SPADE, SPADE_DATASET_MODES, WGANLoss, kld_loss, official_files
from .networks import (
    UPSAMPLING_LAYERS,
    ConvEncoder,
    SPADEGenerator,
    SPADEPatchDiscriminator,
    latent_size,
    multiscale_discriminator,
    reparameterize,
)
from .official import (
    DATASET_MODES,
    dataset_settings,
    discriminator_keys_from_official,
    discriminator_keys_to_official,
    infer_discriminator_settings,
    infer_encoder_settings,
    infer_generator_settings,
    load_discriminator,
    load_encoder,
    load_generator,
    load_into,
    load_official,
    official_file,
    read_state_dict,
    save_official,
)

__all__ = [
    "__version__",
    "SPADE",
    "GAN_MODES",
    "SPADE_DATASET_MODES",
    "WGANLoss",
    "kld_loss",
    "official_files",
    "label_colors",
    "palette",
    "UPSAMPLING_LAYERS",
    "SPADEGenerator",
    "ConvEncoder",
    "SPADEPatchDiscriminator",
    "latent_size",
    "multiscale_discriminator",
    "reparameterize",
    "DATASET_MODES",
    "dataset_settings",
    "official_file",
    "read_state_dict",
    "infer_generator_settings",
    "infer_encoder_settings",
    "infer_discriminator_settings",
    "discriminator_keys_to_official",
    "discriminator_keys_from_official",
    "load_generator",
    "load_encoder",
    "load_discriminator",
    "load_official",
    "load_into",
    "save_official",
]


@i2ikit.hookimpl
def i2ikit_register(register: Callable[..., Any]) -> None:
    register("method", "spade", SPADE)
    register("generator", "spade_generator", SPADEGenerator)
    register("encoder", "spade_encoder", ConvEncoder)
    register("discriminator", "spade_patch", SPADEPatchDiscriminator)


@i2ikit.hookimpl
def i2ikit_zoo_entries() -> list:
    from .zoo import RELEASES
    return list(RELEASES)
