"""``i2ikit.build`` and ``i2ikit.list_models``: the timm-style front door."""
from __future__ import annotations

import inspect
import os
from pathlib import Path
from typing import Any

from .errors import CheckpointError, ConfigError, MissingFileError
from .method import CONFIG_NAME, Method, read_export_config
from .plugins import get_registry


def list_models(pattern: str = "*") -> list[str]:
    """Registered method names matching a shell-style wildcard, e.g. ``list_models("*unit*")``."""
    return get_registry().names("method", pattern)


def method_class(name: str) -> type[Method]:
    return get_registry().get("method", name).obj


def not_an_export(path: Path) -> str | None:
    """Why folder ``path`` is not an i2ikit export, with where the export probably is; None if it is one."""
    if (path / CONFIG_NAME).is_file():
        return None
    if (path / "export" / CONFIG_NAME).is_file():
        return (f"{path} is a run folder, not an export: its export is {path / 'export'} (give that folder; "
                f"to continue training, run its recipe again)")
    if path.name == "state" or (path / "latest").is_file() or path.name.startswith("step_"):
        return f"{path} holds resume state, not an export: use the run's export/ folder"
    return None


def _export_config(path: Path, name: str | None) -> tuple[type[Method], dict[str, Any]]:
    meta = read_export_config(path)
    method = meta.get("method")
    if not isinstance(method, str) or not isinstance(meta.get("config", {}), dict):
        raise CheckpointError(f"{path / CONFIG_NAME} is not an i2ikit export config (it needs a 'method' name and a "
                              "'config' mapping); re-export the model with save_pretrained")
    if name is not None and method != name:
        raise ConfigError(f"{path} holds a {method!r} export, not {name!r}")
    return method_class(method), meta.get("config", {})


def load_model(spec: str | os.PathLike, method: str | None = None, **overrides: Any) -> Method:
    """A model from what a user names on the command line: an export folder, or an official checkpoint
    file/folder of ``method``. A run folder, a resume-state folder or a folder that is neither is named as such."""
    from .hub import download_export, looks_like_hub_id

    path = download_export(str(spec)) if looks_like_hub_id(str(spec)) else Path(spec)
    if not path.exists():
        raise MissingFileError(f"--model {os.fspath(spec)}: no such file or folder (nor a Hub repo id <user>/<repo>)")
    if path.is_dir():
        why = not_an_export(path)
        if why:
            raise ConfigError(f"--model {os.fspath(spec)}: {why}")
        if (path / CONFIG_NAME).is_file():
            return build(pretrained=path, **overrides)
    if method is None:
        what = "folder has no config.json, so it is not an i2ikit export" if path.is_dir() else "file is not an i2ikit export"
        raise ConfigError(f"--model {os.fspath(spec)}: this {what} (an export is a folder with config.json and "
                          "*.safetensors, e.g. runs/<name>/export). If it is an official checkpoint, say which method "
                          f"it belongs to with --method ({', '.join(list_models())})")
    return build(method, pretrained=path, **overrides)


def build(name: str | None = None, *, pretrained: str | os.PathLike | None = None, **kwargs: Any) -> Method:
    """Build a registered method with its official defaults, overriding keyword arguments.

    ``None`` values are dropped, as ``timm.create_model`` does, so CLI defaults never clobber a
    method's own. Every value is checked against the method's signature and declared ``constraints``
    first (a bad one raises :class:`~i2ikit.errors.ConfigError` naming the method and key).
    ``pretrained`` is an i2ikit export folder (``config.json`` + safetensors, its config is used and
    ``kwargs`` override it), a Hugging Face Hub repo id ``"<user>/<repo>[@<revision>]"`` holding one (when no
    local path has that name; fetched into the Hub cache, ``HF_HUB_OFFLINE`` honoured: :mod:`i2ikit.hub`), or an
    official checkpoint file or folder of that method (e.g. FUNIT's ``animal149_gen.pt``, a DeepI2I release
    folder).
    """
    from .recipe import check_method_kwargs

    from .hub import download_export, looks_like_hub_id

    kwargs = {k: v for k, v in kwargs.items() if v is not None}
    if pretrained is not None:
        # "<user>/<repo>" with no local file or folder of that name: an export on the Hugging Face Hub
        path = download_export(pretrained) if looks_like_hub_id(pretrained) else Path(pretrained)
        if not path.exists():
            raise MissingFileError(f"pretrained={os.fspath(pretrained)!r}: no such file or folder")
        if path.is_dir():
            why = not_an_export(path)
            if why:
                raise ConfigError(f"pretrained={os.fspath(pretrained)!r}: {why}")
        if path.is_dir() and (path / CONFIG_NAME).is_file():
            cls, config = _export_config(path, name)
            config = {k: v for k, v in cls.upgrade_config(dict(config)).items() if k not in cls.init_only}
            config = check_method_kwargs(cls, config, f"{path / CONFIG_NAME}: config", allow_auto=())
            kwargs = check_method_kwargs(cls, kwargs, f"i2ikit.build({cls.method_name!r})", allow_auto=())
            model = cls(**{**config, **kwargs})
            model.load_pretrained_weights(path)
            return model.eval()
        if name is None:
            what = "folder has no config.json, so it is not an i2ikit export" if path.is_dir() else "file is not an i2ikit export"
            raise ConfigError(f"pretrained={os.fspath(pretrained)!r}: this {what}. If it is an official checkpoint, "
                              f"also name its method, e.g. build('funit', pretrained=...) (methods: {', '.join(list_models())})")
        cls = method_class(name)
        if cls.load_official.__func__ is Method.load_official.__func__:  # type: ignore[attr-defined]
            raise ConfigError(f"pretrained={os.fspath(pretrained)!r}: method {name!r} reads no official checkpoints; "
                              "give an i2ikit export folder (config.json + *.safetensors)")
        # Converters may take options of their own (e.g. FUNIT's dis_checkpoint): check the method's keys only.
        params = inspect.signature(cls.__init__).parameters
        known = {k: v for k, v in kwargs.items() if k in params}
        kwargs.update(check_method_kwargs(cls, known, f"i2ikit.build({name!r})", allow_auto=()))
        return cls.load_official(path, **kwargs).eval()
    if name is None:
        raise ConfigError("build() needs a method name (see i2ikit.list_models()) or pretrained=<export folder>")
    cls = method_class(name)
    return cls(**check_method_kwargs(cls, kwargs, f"i2ikit.build({name!r})", allow_auto=()))
