"""The core plugin: parts that ship with i2ikit itself. It is found through the ``i2ikit`` entry-point
group like any other plugin, so nothing in the core is special-cased."""
from __future__ import annotations

from typing import Any, Callable

from .hookspecs import hookimpl
from .losses import HingeLoss, LSGANLoss, NonSaturatingLoss


@hookimpl
def i2ikit_register(register: Callable[..., Any]) -> None:
    register("gan_loss", "hinge", HingeLoss)
    register("gan_loss", "nonsaturating", NonSaturatingLoss)
    register("gan_loss", "lsgan", LSGANLoss)
    from .discriminators import MultiScaleDiscriminator, PatchDiscriminator

    register("discriminator", "multiscale", MultiScaleDiscriminator)
    register("discriminator", "munit_patch", PatchDiscriminator)
    from .data import registry_entries as data_entries
    from .eval import registry_entries as metric_entries

    for kind, name, obj in [*data_entries(), *metric_entries()]:
        register(kind, name, obj)


def _check_main(argv: list[str]) -> int:
    """decode every image of a recipe's datasets (or a folder) once; list unreadable, tiny and odd files"""
    from .data.check import main

    return main(argv)


@hookimpl
def i2ikit_data_commands() -> dict[str, Callable[[list[str]], int]]:
    return {"check": _check_main}


def _train_classifier_main(argv: list[str]) -> int:
    """train a classifier on real images for translation accuracy (FUNIT top-1/5, DeepI2I RC)"""
    from .eval.classifier import main

    return main(argv) or 0


@hookimpl
def i2ikit_eval_commands() -> dict[str, Callable[[list[str]], int]]:
    return {"train-classifier": _train_classifier_main}
