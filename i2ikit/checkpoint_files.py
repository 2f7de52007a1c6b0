"""Reading weight files safely: safetensors and ``torch.load(weights_only=True)`` only, with a message that
names the file when it is missing, damaged or would need pickle, and a state-dict check that says which
keys do not fit. Every loader of official checkpoints and exports goes through these."""
from __future__ import annotations

import os
from pathlib import Path
from typing import Any, Mapping

import torch
from safetensors.torch import load_file
from torch import nn

from .errors import CheckpointError, MissingFileError

__all__ = ["is_state_dict", "load_checkpoint_file", "load_state_dict_checked", "read_safetensors", "strip_module_prefix"]


def read_safetensors(file: str | os.PathLike, what: str = "weights") -> dict[str, torch.Tensor]:
    """``safetensors.torch.load_file`` with a message naming the file when it is missing, empty, truncated or
    not a safetensors file at all (reading one never runs code, whatever its bytes are)."""
    file = Path(file)
    try:
        return load_file(str(file))
    except FileNotFoundError:
        raise MissingFileError(f"{file} is missing ({what})") from None
    except IsADirectoryError:
        raise CheckpointError(f"{file} is a folder, not a .safetensors file ({what})") from None
    except Exception as exc:  # SafetensorError, or an OSError for an unreadable file
        if isinstance(exc, PermissionError):
            raise
        size = file.stat().st_size if file.exists() else 0
        raise CheckpointError(f"{file} ({size} bytes) cannot be read as safetensors ({exc}): the {what} is truncated "
                              "or damaged (a copy cut short, a full disk, or a file replaced by something else); "
                              "copy it again, or use another checkpoint or export.") from None


def is_state_dict(obj: Any) -> bool:
    """True for a non-empty flat ``{str: Tensor}`` mapping, the only thing official weight files should hold."""
    return isinstance(obj, Mapping) and len(obj) > 0 and all(
        isinstance(k, str) and isinstance(v, torch.Tensor) for k, v in obj.items())


def strip_module_prefix(state_dict: Mapping[str, torch.Tensor]) -> dict[str, torch.Tensor]:
    """Drop the ``module.`` that DataParallel/DDP-wrapped saves put on every key."""
    if state_dict and all(k.startswith("module.") for k in state_dict):
        return {k[len("module."):]: v for k, v in state_dict.items()}
    return dict(state_dict)


def load_checkpoint_file(path: str | os.PathLike) -> Any:
    """``torch.load`` with ``weights_only=True``; files that need pickle are refused with an explanation."""
    path = Path(path)
    if not path.exists():
        raise MissingFileError(f"checkpoint {path} does not exist")
    try:
        return torch.load(path, map_location="cpu", weights_only=True)
    except Exception as exc:
        if "weights_only" in str(exc) or "Unsupported global" in str(exc):
            raise CheckpointError(
                f"{path} needs pickle to load (it stores Python objects, not only tensors). i2ikit loads "
                "checkpoints with weights_only=True for safety; re-save it as a plain state_dict "
                f"(torch.save(sd, ...)) from a trusted environment. Detail: {exc}"
            ) from None
        if isinstance(exc, PermissionError):
            raise
        size = path.stat().st_size if path.is_file() else 0
        raise CheckpointError(f"cannot read checkpoint {path} ({size} bytes): {type(exc).__name__}: {exc}. The file is "
                              "truncated, damaged or not a PyTorch checkpoint; download or copy it again.") from None


def load_state_dict_checked(module: nn.Module, state_dict: Mapping[str, torch.Tensor], *, source: str = "state_dict",
                            part: str = "", hint: str | Mapping[str, Any] | None = None) -> None:
    """``module.load_state_dict(sd, strict=True)`` after a key/shape comparison, so a mismatch says which
    file, how many keys are missing/unexpected/misshapen (with examples), and what settings the file
    looks like (``hint``), instead of PyTorch's wall of keys."""
    own = module.state_dict()
    missing = [k for k in own if k not in state_dict]
    unexpected = [k for k in state_dict if k not in own]
    wrong = [f"{k}: file {tuple(state_dict[k].shape)} vs model {tuple(own[k].shape)}"
             for k in own if k in state_dict and state_dict[k].shape != own[k].shape]
    if missing or unexpected or wrong:
        lines = [f"{source} does not fit the {type(module).__name__}{' (' + part + ')' if part else ''}:"]
        if missing:
            lines.append(f"  {len(missing)} missing key(s), e.g. {missing[:3]}")
        if unexpected:
            lines.append(f"  {len(unexpected)} unexpected key(s), e.g. {unexpected[:3]}")
        if wrong:
            lines.append(f"  {len(wrong)} shape mismatch(es), e.g. {wrong[:3]}")
        if hint:
            text = hint.strip() if isinstance(hint, str) else f"The file looks like {dict(hint)}."
            lines.append(f"  {text} Build the network with the same settings.")
        raise CheckpointError("\n".join(lines))
    module.load_state_dict(state_dict, strict=True)
