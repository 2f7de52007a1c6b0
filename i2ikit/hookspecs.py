"""The hooks a plugin may implement. Every hook name starts with ``i2ikit_`` and is called with
keyword arguments only, so a plugin may accept a subset of them and keep working when new ones appear."""
from __future__ import annotations

from typing import Any, Callable

import pluggy

hookspec = pluggy.HookspecMarker("i2ikit")
hookimpl = pluggy.HookimplMarker("i2ikit")


@hookspec
def i2ikit_register(register: Callable[..., Any]) -> None:
    """Add parts to the registry: ``register(kind, name, obj)``.

    ``kind`` is one of encoder, decoder, generator, discriminator, loss, method, dataset, metric.
    ``obj`` is a class or factory function; its keyword arguments are what recipes may set.
    """


@hookspec
def i2ikit_recipe_dirs() -> list[str]:
    """Folders holding YAML recipes that this plugin ships (listed by ``i2ikit recipes``)."""


@hookspec
def i2ikit_data_commands() -> dict[str, Callable[[list[str]], int]]:
    """Dataset builders run by ``i2ikit data <name> [args...]``: ``{name: main}``.

    ``main(argv)`` parses its own arguments (including ``--help``) and returns an exit status. Import
    heavy modules inside ``main``, not in the hook, so that listing the commands stays cheap. On a
    name clash the plugin loaded first (the core first) keeps the name.
    """


@hookspec
def i2ikit_weight_files() -> list[Any]:
    """Weight files the plugin's networks read, as :class:`i2ikit.eval.weights.WeightFile` entries (name,
    file name, sha256, URL, what uses it), so ``resolve_weights(name)`` finds them in the weights folders
    and a missing one is reported with where it comes from. Nothing is ever downloaded. On a name clash
    the core's entry, then the plugin loaded first, keeps the name.
    """


@hookspec
def i2ikit_eval_commands() -> dict[str, Callable[[list[str]], int]]:
    """Evaluation commands run by ``i2ikit eval <name> [args...]``: ``{name: main}`` (the core's
    ``train-classifier``, the glyphs plugin's ``glyphs`` benchmark).

    As for :func:`i2ikit_data_commands`: ``main(argv)`` parses its own arguments (including ``--help``)
    and returns an exit status; import heavy modules inside ``main``, not in the hook; on a name clash
    the plugin loaded first (the core first) keeps the name. ``i2ikit eval --help`` lists them. A name
    here takes precedence over an export folder of that name as ``i2ikit eval``'s first argument
    (write ``./NAME`` for the folder).
    """


@hookspec
def i2ikit_zoo_entries() -> list[Any]:
    """Official releases the plugin's methods load, as :class:`i2ikit.zoo.Release` entries (method, settings,
    dataset, licence, source, files with checksums, reported metrics), listed by ``i2ikit zoo`` and used by
    ``i2ikit convert --zoo <id>``. Nothing is downloaded. On an id clash the plugin loaded first keeps the id.
    """
