"""The core plugin: parts that ship with i2ikit itself. It is found through the ``i2ikit`` entry-point
group like any other plugin, so nothing in the core is special-cased."""
from __future__ import annotations

from typing import Any, Callable

from .hookspecs import hookimpl
from .losses import HingeLoss, NonSaturatingLoss


@hookimpl
def i2ikit_register(register: Callable[..., Any]) -> None:
    register("gan_loss", "hinge", HingeLoss)
    register("gan_loss", "nonsaturating", NonSaturatingLoss)
    from .data import registry_entries as data_entries
    from .eval import registry_entries as metric_entries

    for kind, name, obj in [*data_entries(), *metric_entries()]:
        register(kind, name, obj)


def _glyphs_main(argv: list[str]) -> int:
    """build the offline font-glyph few-shot dataset"""
    from .data.glyphs import main

    return main(argv) or 0


def _check_main(argv: list[str]) -> int:
    """decode every image of a recipe's datasets (or a folder) once; list unreadable, tiny and odd files"""
    from .data.check import main

    return main(argv)


@hookimpl
def i2ikit_data_commands() -> dict[str, Callable[[list[str]], int]]:
    return {"glyphs": _glyphs_main, "check": _check_main}
