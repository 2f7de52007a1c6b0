"""``i2ikit.build`` and ``i2ikit.list_models``: the timm-style front door."""
from __future__ import annotations

import os
from pathlib import Path
from typing import Any

from .method import Method, read_export_config
from .plugins import get_registry


def list_models(pattern: str = "*") -> list[str]:
    """Registered method names matching a shell-style wildcard, e.g. ``list_models("*unit*")``."""
    return get_registry().names("method", pattern)


def method_class(name: str) -> type[Method]:
    return get_registry().get("method", name).obj


def build(name: str | None = None, *, pretrained: str | os.PathLike | None = None, **kwargs: Any) -> Method:
    """Build a registered method with its official defaults, overriding keyword arguments.

    ``None`` values are dropped, as ``timm.create_model`` does, so CLI defaults never clobber a
    method's own. ``pretrained`` is an i2ikit export folder (``config.json`` + safetensors, its
    config is used and ``kwargs`` override it) or an official checkpoint file or folder of that
    method (e.g. FUNIT's ``animal149_gen.pt``, a DeepI2I release folder).
    """
    kwargs = {k: v for k, v in kwargs.items() if v is not None}
    if pretrained is not None:
        path = Path(pretrained)
        if path.is_dir() and (path / "config.json").exists():
            meta = read_export_config(path)
            if name is not None and meta.get("method") != name:
                raise ValueError(f"{path} holds a {meta.get('method')!r} export, not {name!r}")
            cls = method_class(meta["method"])
            config = {k: v for k, v in meta.get("config", {}).items() if k not in cls.init_only}
            model = cls(**{**config, **kwargs})
            model.load_pretrained_weights(path)
            return model.eval()
        if not path.exists():
            raise FileNotFoundError(f"pretrained={pretrained!r}: no such file or folder")
        if name is None:
            raise ValueError(f"pretrained={pretrained!r} is an official checkpoint file: also name the method, e.g. build('funit', pretrained=...)")
        return method_class(name).load_official(path, **kwargs).eval()
    if name is None:
        raise ValueError("build() needs a method name (see i2ikit.list_models()) or pretrained=<export folder>")
    return method_class(name)(**kwargs)
