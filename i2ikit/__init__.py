"""i2ikit: a plugin-based toolkit for unsupervised and few-shot image-to-image translation."""
from __future__ import annotations

__version__ = "0.1.0"

from .api import build, list_models, method_class  # noqa: E402
from .hookspecs import hookimpl  # noqa: E402
from .method import EMASpec, Method, TrainStep  # noqa: E402
from .plugins import get_registry, plugin_infos  # noqa: E402

__all__ = [
    "__version__", "build", "list_models", "method_class", "hookimpl", "Method", "TrainStep", "EMASpec",
    "get_registry", "plugin_infos",
]
