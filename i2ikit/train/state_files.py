"""Run state without pickle: nested Python state as JSON, its tensors as safetensors.

``torch.save`` / ``torch.load`` (and so ``Accelerator.save_state`` / ``load_state``) pickle Python
objects, and loading a crafted pickle runs code. A run folder is as likely to come from someone else
as an export is (shared clusters, downloaded "checkpoints to resume from"), so everything the trainer
resumes from is written here as a pair of files that cannot run code when read:

- ``<name>.json``: the structure (dicts, lists, tuples, str, int, float, bool, None), with every tensor
  replaced by ``{"__tensor__": key}``;
- ``<name>.safetensors``: those tensors, by key.

Optimiser, gradient-scaler and RNG states are all such trees. Anything else (a class instance, a
function) cannot be saved, so it can never be loaded either.
"""
from __future__ import annotations

import json
import math
from pathlib import Path
from typing import Any

import torch
from safetensors.torch import save_file

from ..errors import CheckpointError
from ..checkpoint_files import read_safetensors

_TENSOR, _TUPLE, _ITEMS, _FLOAT = "__tensor__", "__tuple__", "__items__", "__float__"
_MARKERS = {_TENSOR, _TUPLE, _ITEMS, _FLOAT}


def _encode(obj: Any, tensors: dict[str, torch.Tensor], path: str) -> Any:
    if isinstance(obj, torch.Tensor):
        key = path.lstrip(".") or "."
        if key in tensors:  # a dotted dict key ("conv.weight") next to a nested one of the same spelling
            key = f"{key}#{len(tensors)}"
        # A copy on the CPU: safetensors refuses tensors that share storage (tied weights, views).
        tensors[key] = obj.detach().to("cpu", copy=True).contiguous()
        return {_TENSOR: key}
    if isinstance(obj, bool) or obj is None or isinstance(obj, (str, int)):
        return obj
    if isinstance(obj, float):
        return obj if math.isfinite(obj) else {_FLOAT: repr(obj)}  # nan / inf / -inf, kept exactly
    if isinstance(obj, tuple):
        return {_TUPLE: [_encode(v, tensors, f"{path}.{i}") for i, v in enumerate(obj)]}
    if isinstance(obj, list):
        return [_encode(v, tensors, f"{path}.{i}") for i, v in enumerate(obj)]
    if isinstance(obj, dict):
        if all(isinstance(k, str) for k in obj) and not _MARKERS & set(obj):
            return {k: _encode(v, tensors, f"{path}.{k}") for k, v in obj.items()}
        # Non-string keys (an optimiser's parameter indices): a list of [key, value] pairs.
        return {_ITEMS: [[_encode(k, {}, ""), _encode(v, tensors, f"{path}.{k}")] for k, v in obj.items()]}
    raise TypeError(f"cannot save {type(obj).__name__} at {path or 'the top'} of a run state: only dicts, lists, "
                    "tuples, numbers, strings, None and tensors are stored (never pickled objects)")


def _decode(obj: Any, tensors: dict[str, torch.Tensor], where: str) -> Any:
    if isinstance(obj, list):
        return [_decode(v, tensors, where) for v in obj]
    if not isinstance(obj, dict):
        return obj
    if len(obj) == 1:
        (marker, value), = obj.items()
        if marker == _TENSOR:
            if value not in tensors:
                raise CheckpointError(f"{where}: the tensor {value!r} it refers to is missing from its .safetensors file")
            return tensors[value]
        if marker == _TUPLE:
            return tuple(_decode(v, tensors, where) for v in value)
        if marker == _FLOAT:
            return float(value)
        if marker == _ITEMS:
            return {_decode(k, tensors, where): _decode(v, tensors, where) for k, v in value}
    return {k: _decode(v, tensors, where) for k, v in obj.items()}


def save_tree(obj: Any, directory: Path, name: str) -> None:
    """Write ``obj`` as ``directory/name.json`` (+ ``name.safetensors`` when it holds tensors)."""
    tensors: dict[str, torch.Tensor] = {}
    skeleton = _encode(obj, tensors, "")
    if tensors:
        save_file(tensors, str(directory / f"{name}.safetensors"), metadata={"format": "pt"})
    (directory / f"{name}.json").write_text(json.dumps({"tensors": bool(tensors), "tree": skeleton}) + "\n")


def read_json(file: Path, what: str) -> Any:
    """A JSON file of a run state; any problem is a :class:`CheckpointError` naming the file."""
    try:
        return json.loads(file.read_text())
    except FileNotFoundError:
        raise CheckpointError(f"{file} is missing: the checkpoint folder is incomplete ({what})") from None
    except (UnicodeDecodeError, json.JSONDecodeError) as exc:
        raise CheckpointError(f"{file} is not valid JSON ({exc}): the {what} is damaged or was replaced by "
                              "something else. Resume from another checkpoint (train.resume=<run>/state/step_N) "
                              "or start the run afresh (train.resume=null).") from None


def load_tree(directory: Path, name: str, what: str) -> Any:
    """Read what :func:`save_tree` wrote; a missing, damaged or foreign file is a :class:`CheckpointError`."""
    file = directory / f"{name}.json"
    doc = read_json(file, what)
    if not isinstance(doc, dict) or "tree" not in doc:
        raise CheckpointError(f"{file} is not an i2ikit run-state file (no 'tree' entry); the {what} was replaced "
                              "or written by another program")
    tensors = read_safetensors(directory / f"{name}.safetensors", what) if doc.get("tensors") else {}
    return _decode(doc["tree"], tensors, str(file))
