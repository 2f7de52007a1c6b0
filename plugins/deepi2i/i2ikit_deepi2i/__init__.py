"""i2ikit plugin: DeepI2I (Wang et al., NeurIPS 2020), faithful to the official ``DeepI2I_BigGAN`` code.

Networks (BigGAN generator with feature injection, projection discriminator, encoder, adaptors),
BigGAN-PyTorch / DeepI2I checkpoint loading, the training method and the official HDF5 data layout.
Registers the method ``deepi2i``, the generator ``deepi2i_generator``, the discriminator
``biggan_projection``, the encoder ``deepi2i_encoder`` and the dataset ``hdf5``.
"""
from __future__ import annotations

from typing import Any, Callable

import i2ikit

from ._version import __version__

from .networks import (
    DEFAULT_FEATURE_SIZES,
    DEFAULT_FEATURE_WEIGHTS,
    Adaptor,
    Encoder,
    Generator,
    ProjectionDiscriminator,
    discriminator_arch,
    encode_features,
    generator_arch,
    injection_channels,
    translate,
)
from .data import HDF5Images, official_class_order, read_class_index, write_hdf5
from .method import DeepI2I, feature_reconstruction_loss
from .official import (
    infer_discriminator_config,
    infer_generator_config,
    load_biggan_weights,
    load_deepi2i_weights,
    load_official_weights,
    read_state_dict,
    save_deepi2i_weights,
)

__all__ = [
    "__version__",
    "DeepI2I",
    "feature_reconstruction_loss",
    "HDF5Images",
    "official_class_order",
    "read_class_index",
    "write_hdf5",
    "Generator",
    "ProjectionDiscriminator",
    "Encoder",
    "Adaptor",
    "generator_arch",
    "discriminator_arch",
    "injection_channels",
    "encode_features",
    "translate",
    "DEFAULT_FEATURE_SIZES",
    "DEFAULT_FEATURE_WEIGHTS",
    "load_biggan_weights",
    "load_deepi2i_weights",
    "load_official_weights",
    "save_deepi2i_weights",
    "read_state_dict",
    "infer_generator_config",
    "infer_discriminator_config",
]


@i2ikit.hookimpl
def i2ikit_register(register: Callable[..., Any]) -> None:
    register("method", "deepi2i", DeepI2I)
    register("dataset", "hdf5", HDF5Images)
    register("generator", "deepi2i_generator", Generator)
    register("discriminator", "biggan_projection", ProjectionDiscriminator)
    register("encoder", "deepi2i_encoder", Encoder)


@i2ikit.hookimpl
def i2ikit_zoo_entries() -> list:
    from .zoo import RELEASES

    return list(RELEASES)
