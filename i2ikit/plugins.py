"""Finds plugins through the ``i2ikit`` entry-point group and fills the registry from them.

First-party plugins (``i2ikit.builtins``, ``i2ikit_funit`` ...) are declared in the same entry-point
group as a third party's, so they load the same way. A plugin that fails to import is recorded with
its name and error and the others keep working (``i2ikit plugins`` shows it).

Environment switches, as in pytest/datasette/llm:
- ``I2IKIT_DISABLE_PLUGIN_AUTOLOAD=1``: load no entry points except ``core``.
- ``I2IKIT_LOAD_PLUGINS=a,b``: load only these entry-point names (plus ``core``).
"""
from __future__ import annotations

import importlib.metadata as md
import os
import threading
import traceback
import warnings
from dataclasses import dataclass, field
from types import ModuleType
from typing import Any

import pluggy

from . import hookspecs
from .registry import Entry, Registry, RegistryError

GROUP = "i2ikit"


@dataclass
class PluginInfo:
    name: str
    module: str
    version: str
    distribution: str
    error: str | None = None
    registered: list[Entry] = field(default_factory=list)


_lock = threading.RLock()
_state: dict[str, Any] = {}


def _entry_points() -> list[md.EntryPoint]:
    return sorted(md.entry_points(group=GROUP), key=lambda ep: (ep.name != "core", ep.name))


def _wanted(name: str) -> bool:
    if name == "core":
        return True
    if os.environ.get("I2IKIT_DISABLE_PLUGIN_AUTOLOAD"):
        return False
    only = os.environ.get("I2IKIT_LOAD_PLUGINS")
    if only:
        return name in {n.strip() for n in only.split(",") if n.strip()}
    return True


def _version_of(module: ModuleType | None, ep: md.EntryPoint) -> tuple[str, str]:
    dist = getattr(ep, "dist", None)
    dist_name = dist.metadata["Name"] if dist is not None else "?"
    version = getattr(module, "__version__", None) or (dist.version if dist is not None else "?")
    return str(version), dist_name


def _check_hook_names(pm: pluggy.PluginManager, name: str) -> None:
    """A hook implementation whose name no hookspec has (a typo such as ``i2ikit_regster``) would be
    ignored silently: unregister the plugin and report it, naming the plugin and the hook."""
    try:
        pm.check_pending()
    except pluggy.PluginValidationError as exc:
        pm.unregister(name=name)
        known = ", ".join(sorted(n for n in dir(hookspecs) if n.startswith("i2ikit_")))
        raise RegistryError(f"plugin {name!r} implements a hook that does not exist ({exc}); i2ikit's hooks are: {known}") from None


def _load() -> None:
    pm = pluggy.PluginManager("i2ikit")
    pm.add_hookspecs(hookspecs)
    registry = Registry()
    infos: dict[str, PluginInfo] = {}
    for ep in _entry_points():
        if not _wanted(ep.name) or ep.name in infos:
            continue
        module = None
        try:
            module = ep.load()
            pm.register(module, name=ep.name)
            _check_hook_names(pm, ep.name)
            version, dist = _version_of(module, ep)
            infos[ep.name] = PluginInfo(ep.name, ep.value, version, dist)
        except Exception as exc:  # a broken plugin must not take the others down
            version, dist = _version_of(module, ep)
            infos[ep.name] = PluginInfo(
                ep.name, ep.value, version, dist,
                error=str(exc) if isinstance(exc, RegistryError) else f"failed to import {ep.value!r}: {type(exc).__name__}: {exc}",
            )
            infos[ep.name].traceback = traceback.format_exc()  # type: ignore[attr-defined]
    # get_hookimpls() is in registration order (core first): on a collision the earlier plugin keeps
    # the name and the later one reports the clash naming both.
    for impl in pm.hook.i2ikit_register.get_hookimpls():
        info = infos[impl.plugin_name]
        problems: list[str] = []
        add = registry.registrar(impl.plugin_name)

        def register(kind: str, name: str, obj: Any, *, description: str | None = None, _add=add, _problems=problems) -> None:
            try:
                _add(kind, name, obj, description=description)
            except RegistryError as exc:  # a collision or a bad kind: keep the first, report both plugins
                _problems.append(str(exc))
                warnings.warn(str(exc), stacklevel=2)

        try:
            impl.function(register=register)
        except Exception as exc:
            problems.append(f"i2ikit_register failed: {type(exc).__name__}: {exc}")
        if problems:
            info.error = "; ".join(problems)
        info.registered = list(registry.entries(plugin=impl.plugin_name))
    _state.update(pm=pm, registry=registry, infos=infos)


def _ensure_loaded() -> None:
    with _lock:
        if "registry" not in _state:
            _load()


def reload_plugins() -> None:
    """Forget what was loaded and scan the entry points again (after installing a plugin, in tests)."""
    with _lock:
        _state.clear()
        md_cache_clear = getattr(md, "_cache_clear", None)  # not public; harmless when absent
        if callable(md_cache_clear):
            md_cache_clear()
        _load()


def get_registry() -> Registry:
    _ensure_loaded()
    return _state["registry"]


def get_plugin_manager() -> pluggy.PluginManager:
    _ensure_loaded()
    return _state["pm"]


def plugin_infos() -> list[PluginInfo]:
    _ensure_loaded()
    return list(_state["infos"].values())


def commands(hook: str) -> dict[str, tuple[str, Any]]:
    """``{name: (plugin, main)}`` from every plugin's implementation of a commands hook
    (``i2ikit_data_commands``, ``i2ikit_eval_commands``): the first plugin loaded, the core first, keeps a
    name; a plugin whose hook fails is skipped with a warning on stderr."""
    import sys

    found: dict[str, tuple[str, Any]] = {}
    for impl in getattr(get_plugin_manager().hook, hook).get_hookimpls():
        try:
            provided = impl.function() or {}
        except Exception as exc:  # a broken plugin must not take the other commands down
            print(f"warning: plugin {impl.plugin_name}: {hook} failed: {exc}", file=sys.stderr)
            continue
        for name, fn in provided.items():
            found.setdefault(name, (impl.plugin_name, fn))
    return found


def recipe_dirs() -> list[str]:
    dirs: list[str] = []
    for result in get_plugin_manager().hook.i2ikit_recipe_dirs():
        dirs.extend(result or [])
    return dirs
