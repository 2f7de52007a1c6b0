"""i2ikit plugin: GP-UNIT (Yang, Jiang, Liu, Loy, CVPR 2022), faithful to ``williamyang1991/GP-UNIT``.

Provides the networks (Stage-I content encoder and prior-distillation auto-encoder, Stage-II generator
with dynamic skip connections, discriminator, latent sampler), loading of the official checkpoint files
(``content_encoder.pt`` and the task files ``{'g_ema', 'sampler'}``), the inference functions, and the
two training methods: ``gpunit_prior`` (Stage I, prior distillation, data type ``gpunit_prior_images``)
and ``gpunit`` (Stage II, translation). Also registers the parts they are built from: the encoder
``gpunit_content_encoder``, the generators ``gpunit_prior_autoencoder`` (Stage I) and ``gpunit_generator``
(Stage II), and the discriminator ``gpunit_discriminator``.
"""
from __future__ import annotations

from typing import Any, Callable

import i2ikit

from ._version import __version__

from .networks import (
    AdaResnetBlock,
    ContentEncoder,
    DisResBlock,
    Discriminator,
    DomainClassifier,
    DynamicSkipLayer,
    GPConvBlock,
    Generator,
    GeneratorLayer,
    PriorAutoEncoder,
    PriorDecoder,
    PriorStyleEncoder,
    Sampler,
    StyleEncoder,
    encode_content,
    preprocess,
    sample_styles,
    translate,
)
from .official import (
    infer_content_encoder_config,
    infer_generator_config,
    load_content_encoder,
    load_official,
    load_prior_autoencoder,
    load_translation_model,
    read_checkpoint,
    save_content_encoder,
    save_translation_model,
)
from .method import GPUNIT
from .arcface import IDLoss, IRSE50, load_ir_se50
from .prior import GPUNITPrior
from .sampler_fit import collect_style_codes, fit_sampler, mitigate_style_bias, nearest_indices
from .prior_data import PriorImages

__all__ = [
    "__version__",
    "ContentEncoder",
    "Generator",
    "Discriminator",
    "Sampler",
    "StyleEncoder",
    "GeneratorLayer",
    "AdaResnetBlock",
    "DynamicSkipLayer",
    "DisResBlock",
    "GPConvBlock",
    "PriorAutoEncoder",
    "PriorStyleEncoder",
    "PriorDecoder",
    "DomainClassifier",
    "preprocess",
    "encode_content",
    "sample_styles",
    "translate",
    "read_checkpoint",
    "load_content_encoder",
    "load_translation_model",
    "load_prior_autoencoder",
    "load_official",
    "save_content_encoder",
    "save_translation_model",
    "infer_content_encoder_config",
    "infer_generator_config",
    "GPUNIT",
    "GPUNITPrior",
    "IDLoss",
    "IRSE50",
    "load_ir_se50",
    "collect_style_codes",
    "fit_sampler",
    "mitigate_style_bias",
    "nearest_indices",
    "PriorImages",
]


@i2ikit.hookimpl
def i2ikit_register(register: Callable[..., Any]) -> None:
    register("encoder", "gpunit_content_encoder", ContentEncoder)
    register("generator", "gpunit_generator", Generator)
    register("generator", "gpunit_prior_autoencoder", PriorAutoEncoder)
    register("discriminator", "gpunit_discriminator", Discriminator)
    register("method", "gpunit", GPUNIT)
    register("method", "gpunit_prior", GPUNITPrior)
    register("dataset", "gpunit_prior_images", PriorImages)


@i2ikit.hookimpl
def i2ikit_weight_files() -> list:
    """The identity loss's ArcFace file (the VGG19 of the perceptual loss is the core's)."""
    from .losses import IR_SE50

    return [IR_SE50]


def _biggan_pairs_main(argv: list[str]) -> int:
    """synthesise GP-UNIT's paired data (synImageNet291 layout) with BigGAN-deep"""
    from .synthesis import main

    return main(argv) or 0


@i2ikit.hookimpl
def i2ikit_data_commands() -> dict[str, Callable[[list[str]], int]]:
    return {"biggan-pairs": _biggan_pairs_main}


@i2ikit.hookimpl
def i2ikit_zoo_entries() -> list:
    from .zoo import RELEASES

    return list(RELEASES)
