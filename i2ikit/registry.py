"""One typed registry of pluggable parts, filled by plugins through the ``i2ikit_register`` hook.

Entries are keyed by ``(kind, name)`` and remember which plugin added them, so that errors can say
who registered what and a name collision can name both plugins.
"""
from __future__ import annotations

import difflib
import fnmatch
from dataclasses import dataclass
from typing import Any, Callable, Iterator

from .errors import UserError

# Part kinds (contracts in ``i2ikit.parts``) first, then whole methods, datasets and metrics.
KINDS = ("encoder", "generator", "discriminator", "gan_loss", "method", "dataset", "metric")


class RegistryError(Exception):
    """Base class for registry problems (collisions, bad kinds)."""


class UnknownNameError(UserError, RegistryError, KeyError):
    """A lookup named something that no plugin registered."""

    def __str__(self) -> str:  # KeyError would otherwise print the message quoted
        return str(self.args[0])


@dataclass(frozen=True)
class Entry:
    kind: str
    name: str
    obj: Any
    plugin: str
    description: str = ""


def _first_doc_line(obj: Any) -> str:
    doc = getattr(obj, "__doc__", None) or ""
    return doc.strip().splitlines()[0] if doc.strip() else ""


class Registry:
    """Maps ``(kind, name)`` to an :class:`Entry`."""

    def __init__(self) -> None:
        self._entries: dict[tuple[str, str], Entry] = {}

    def add(self, kind: str, name: str, obj: Any, *, plugin: str = "<unknown>", description: str | None = None) -> Entry:
        if kind not in KINDS:
            raise RegistryError(
                f"plugin {plugin!r} tried to register {name!r} under unknown kind {kind!r}; kinds are: {', '.join(KINDS)}"
            )
        if not name or not isinstance(name, str):
            raise RegistryError(f"plugin {plugin!r} registered a {kind} with an empty or non-string name: {name!r}")
        from .parts import contract_problems

        problems = contract_problems(kind, obj)
        if problems:
            raise RegistryError(f"plugin {plugin!r} registered {kind} {name!r}, which does not fit the {kind} contract "
                                f"(i2ikit.parts): {'; '.join(problems)}")
        key = (kind, name)
        if key in self._entries:
            other = self._entries[key]
            raise RegistryError(
                f"{kind} {name!r} is registered twice: by plugin {other.plugin!r} and by plugin {plugin!r}. "
                f"Uninstall one of them, or rename the {kind} in one plugin (e.g. '{plugin}/{name}')."
            )
        entry = Entry(kind, name, obj, plugin, description if description is not None else _first_doc_line(obj))
        self._entries[key] = entry
        return entry

    def get(self, kind: str, name: str) -> Entry:
        if kind not in KINDS:
            raise RegistryError(f"unknown kind {kind!r}; kinds are: {', '.join(KINDS)}")
        try:
            return self._entries[(kind, name)]
        except KeyError:
            pass
        known = self.names(kind)
        close = difflib.get_close_matches(name, known, n=3, cutoff=0.5)
        hint = f" Did you mean {', '.join(repr(c) for c in close)}?" if close else ""
        listing = ", ".join(known) if known else "(none: is a plugin missing? run `i2ikit plugins`)"
        plural = kind + ("es" if kind.endswith("s") else "s")
        raise UnknownNameError(f"unknown {kind} {name!r}.{hint} Registered {plural}: {listing}")

    def names(self, kind: str, pattern: str = "*") -> list[str]:
        return sorted(n for (k, n) in self._entries if k == kind and fnmatch.fnmatchcase(n, pattern))

    def entries(self, *, plugin: str | None = None, kind: str | None = None) -> Iterator[Entry]:
        for entry in self._entries.values():
            if (plugin is None or entry.plugin == plugin) and (kind is None or entry.kind == kind):
                yield entry

    def __contains__(self, key: tuple[str, str]) -> bool:
        return key in self._entries

    def registrar(self, plugin: str) -> Callable[..., Entry]:
        """The ``register`` callback handed to one plugin's ``i2ikit_register`` hook."""

        def register(kind: str, name: str, obj: Any, *, description: str | None = None) -> Entry:
            return self.add(kind, name, obj, plugin=plugin, description=description)

        return register
