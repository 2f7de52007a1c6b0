"""The model zoo, as data: every official release i2ikit can load, with where it comes from and how to convert it.

A :class:`Release` names the method, the settings its files need (``i2ikit.build(method, pretrained=<file>,
**settings)``), the dataset, the licence, the page the files are published on, the files (with a sha256 where
one is known), the numbers the authors report and the ``i2ikit convert`` command that turns it into an i2ikit
export. Plugins contribute their releases through the ``i2ikit_zoo_entries`` hook, so a third party's appear in
``i2ikit zoo`` beside the first-party ones. Nothing here downloads anything: the official files live on pages
(often Google Drive) that a user opens in a browser; i2ikit reads the downloaded files.
"""
from __future__ import annotations

import fnmatch
import sys
from dataclasses import asdict, dataclass, field
from typing import Any, Mapping

from .errors import ConfigError

__all__ = ["ReleaseFile", "Release", "zoo_entries", "find_release", "LICENCES"]

LICENCES = {
    "cc-by-nc-sa-4.0": "CC BY-NC-SA 4.0 (non-commercial)",
    "cc-by-nc-4.0": "CC BY-NC 4.0 (non-commercial)",
    "mit": "MIT",
    "apache-2.0": "Apache 2.0",
    "bsd-2-clause": "BSD 2-clause",
    "bsd-3-clause": "BSD 3-clause",
    "other": "another licence (see licence_name and the source)",
}
"""Hugging Face model-card licence ids a release may give, with what they mean; ``other`` needs ``licence_name``."""


@dataclass(frozen=True)
class ReleaseFile:
    """One file of a release, as published.

    ``name``: the file name (or path inside the downloaded archive / folder), e.g. ``animal149_gen.pt``.
    ``sha256``: the full hex digest where it is known (None: not published, and not checked here).
    ``url``: a direct download address where one exists (None: only the release page, e.g. Google Drive).
    ``note``: what the file holds, when the name does not say.
    """

    name: str
    sha256: str | None = None
    url: str | None = None
    note: str = ""


@dataclass(frozen=True)
class Release:
    """One official release that a registered method loads.

    ``id``: unique, ``<method>/<name>`` (``funit/animal149``); ``i2ikit convert --zoo <id>`` takes its method and
    settings from here.
    ``method``: the registered method whose ``load_official`` reads the files.
    ``title``: one line for the table. ``task``: ``few_shot``, ``many_class``, ``two_domain`` or ``paired``.
    ``dataset``: what it was trained on, as the authors name it; ``hf_datasets``: Hugging Face dataset ids for the
    model card, where the dataset is on the Hub.
    ``licence``: a Hugging Face licence id (:data:`LICENCES`); ``licence_name``: the licence's own name with
    ``other`` (e.g. ``s-lab-license-1.0``). ``source``: the page the files are published on (README, release
    page). ``paper``: the paper's address.
    ``files``: the files as published. ``convert_from``: what to pass to ``i2ikit convert`` (a file name or a
    folder); default the first file.
    ``settings``: keyword arguments ``i2ikit.build(method, pretrained=..., **settings)`` needs beyond what the
    files show (e.g. the dataset mode, the classes). ``reported``: the numbers the authors report for this
    release (``{"fid": 28.8}``), ``reported_source``: where (``paper Table 2``, ``README``).
    ``notes``: anything a user must know (what is missing, known problems).
    ``command``: for files i2ikit reads as they are instead of converting them into an export (e.g. the
    BigGAN-deep weights ``i2ikit data biggan-pairs`` synthesises GP-UNIT's data with), the command that uses
    them; such a release has no convert command. ``method`` is then the plugin's method the files serve.
    """

    id: str
    method: str
    title: str
    task: str
    dataset: str
    licence: str
    source: str
    files: tuple[ReleaseFile, ...]
    settings: Mapping[str, Any] = field(default_factory=dict)
    reported: Mapping[str, float] = field(default_factory=dict)
    reported_source: str = ""
    hf_datasets: tuple[str, ...] = ()
    licence_name: str = ""
    paper: str = ""
    convert_from: str = ""
    notes: str = ""
    command: str = ""

    def __post_init__(self) -> None:
        where = f"zoo entry {self.id!r}"
        if "/" not in self.id or self.id.count("/") != 1:
            raise ConfigError(f"{where}: the id must be <method>/<name>, e.g. 'funit/animal149'")
        if self.licence not in LICENCES:
            raise ConfigError(f"{where}: licence {self.licence!r} is not a Hugging Face licence id i2ikit knows "
                              f"({', '.join(LICENCES)}); use 'other' with licence_name for any other licence")
        if self.licence == "other" and not self.licence_name:
            raise ConfigError(f"{where}: licence 'other' needs licence_name (the licence's own name)")
        if not self.files:
            raise ConfigError(f"{where}: a release lists at least one file")
        for f in self.files:
            if f.sha256 is not None and (len(f.sha256) != 64 or any(c not in "0123456789abcdef" for c in f.sha256)):
                raise ConfigError(f"{where}: file {f.name}: sha256 must be 64 lower-case hex digits or None")

    @property
    def convert_command(self) -> str | None:
        """The command that turns the downloaded release into an i2ikit export (None for a release that is used
        as it is: :attr:`command`)."""
        if self.command:
            return None
        src = self.convert_from or self.files[0].name
        return f"i2ikit convert {src} --zoo {self.id} --out exports/{self.id.replace('/', '-')}"

    def as_dict(self) -> dict[str, Any]:
        d = asdict(self)
        d["files"] = [asdict(f) for f in self.files]
        d["settings"], d["reported"] = dict(self.settings), dict(self.reported)
        d["hf_datasets"] = list(self.hf_datasets)
        d["convert_command"] = self.convert_command
        d["use_command"] = self.command or self.convert_command
        return d


def zoo_entries(pattern: str = "*") -> list[Release]:
    """Every plugin's releases (``i2ikit_zoo_entries``) whose id, method or dataset matches ``pattern`` (a shell
    wildcard), in plugin load order (the core first). On an id clash the plugin loaded first keeps the id; a
    plugin whose hook fails, or gives something that is not a :class:`Release`, is skipped with a warning."""
    from .plugins import get_plugin_manager

    found: dict[str, Release] = {}
    for impl in get_plugin_manager().hook.i2ikit_zoo_entries.get_hookimpls():  # in load order, the core first
        try:
            entries = list(impl.function() or [])
        except Exception as exc:  # a broken plugin must not take the others' releases down
            print(f"warning: plugin {impl.plugin_name}: i2ikit_zoo_entries failed: {exc}", file=sys.stderr)
            continue
        for entry in entries:
            if not isinstance(entry, Release):
                print(f"warning: plugin {impl.plugin_name}: i2ikit_zoo_entries gave {type(entry).__name__}, not an "
                      "i2ikit.zoo.Release; skipped", file=sys.stderr)
                continue
            found.setdefault(entry.id, entry)
    pat = pattern.lower()
    return [e for e in found.values()
            if any(fnmatch.fnmatchcase(s.lower(), pat) for s in (e.id, e.method, e.dataset))]


def find_release(release_id: str) -> Release:
    """The release ``release_id``; a ConfigError listing the ids when there is none."""
    for entry in zoo_entries():
        if entry.id == release_id:
            return entry
    ids = ", ".join(e.id for e in zoo_entries()) or "(none)"
    raise ConfigError(f"--zoo {release_id}: no such release in the zoo; `i2ikit zoo` lists them: {ids}")
