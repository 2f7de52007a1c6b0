"""Reading and writing official DRIT checkpoint files (``src/model.py`` ``save``/``resume``).

An official ``.pth`` (``train.py`` writes ``<result_dir>/<name>/%05d.pth``; the released ``example.pth``;
MSGAN's "DRIT-Mode-Seeking" files) is one dict::

    {'disA', 'disA2', 'disB', 'disB2', 'disContent', 'enc_c', 'enc_a', 'gen',   # state dicts
     'disA_opt', ..., 'gen_opt',                                                # optimiser state dicts
     'ep': int, 'total_it': int}

Only tensors, dicts and plain values: it loads with ``torch.load(weights_only=True)``
(:func:`i2ikit.checkpoint_files.load_checkpoint_file`, which refuses anything that needs pickle). The
official test scripts read only ``enc_c``, ``enc_a`` and ``gen``; so does :func:`read_official` at the
least. Keys map one to one onto :class:`~i2ikit_drit.method.DRIT`'s children, except the multi-scale image
discriminators: official ``Diss.<s>.*`` is the core wrapper's ``scales.<s>.*``.

The settings are read from the file (:func:`infer_config`): ``concat`` (``fc_A.*`` in ``enc_a`` -> 1,
``model_a.*`` -> 0), ``nz``, the width ``dim``, the image discriminators' scales and the content
discriminator's layout. A ``module.`` prefix (DataParallel) is dropped.
"""
from __future__ import annotations

import os
import re
from pathlib import Path
from typing import TYPE_CHECKING, Any, Mapping

import torch

from i2ikit.checkpoint_files import is_state_dict, load_checkpoint_file, load_state_dict_checked, strip_module_prefix
from i2ikit.errors import CheckpointError

if TYPE_CHECKING:
    from .method import DRIT

__all__ = [
    "EG_KEYS",
    "DIS_KEYS",
    "FILE_ORDER",
    "read_official",
    "infer_config",
    "dis_to_official",
    "dis_from_official",
    "load_into",
    "save_official",
]

StateDict = dict[str, torch.Tensor]

EG_KEYS = ("enc_c", "enc_a", "gen")
DIS_KEYS = ("disA", "disB", "disA2", "disB2")
FILE_ORDER = ("disA", "disA2", "disB", "disB2", "disContent", "enc_c", "enc_a", "gen")  # model.py save()


def read_official(path: str | os.PathLike) -> dict[str, Any]:
    """The official file's dict, its network state dicts validated (flat ``{str: Tensor}``) and stripped of a
    ``module.`` prefix. Needs at least ``enc_c``, ``enc_a`` and ``gen``; a CheckpointError names the file and
    what it holds otherwise."""
    path = Path(path)
    obj = load_checkpoint_file(path)
    if not isinstance(obj, Mapping):
        raise CheckpointError(f"{path} holds a {type(obj).__name__}, not an official DRIT checkpoint: expected a dict "
                              "with 'enc_c', 'enc_a', 'gen' (and 'disA' ... 'disContent', 'ep', 'total_it') as train.py "
                              "saves it")
    missing = [k for k in EG_KEYS if k not in obj]
    if missing:
        raise CheckpointError(f"{path} is not an official DRIT checkpoint: it lacks {', '.join(map(repr, missing))} "
                              f"(it holds {sorted(map(str, obj))[:10]}); give a .pth written by DRIT's train.py, e.g. "
                              "example.pth or <result_dir>/<name>/01199.pth")
    out: dict[str, Any] = dict(obj)
    for key in (*EG_KEYS, *DIS_KEYS, "disContent"):
        if key not in obj:
            continue
        if not is_state_dict(obj[key]):
            raise CheckpointError(f"{path} ['{key}'] is not a state dict of tensors (got {type(obj[key]).__name__}); "
                                  "the file is damaged or not a DRIT checkpoint")
        out[key] = strip_module_prefix(obj[key])
    return out


def _count(sd: Mapping[str, torch.Tensor], pattern: str) -> int:
    rx = re.compile(pattern)
    return len({m.group(1) for k in sd if (m := rx.match(k))})


def infer_config(ckpt: Mapping[str, Any], source: str = "checkpoint") -> dict[str, Any]:
    """The :class:`~i2ikit_drit.method.DRIT` keywords an official file was trained with: ``concat``, ``nz``,
    ``dim`` and, when the file holds them, the ``discriminator`` and ``content_discriminator`` specs."""
    enc_a, enc_c = ckpt["enc_a"], ckpt["enc_c"]
    try:
        dim = int(enc_c["convA.0.model.1.weight"].shape[0])
    except KeyError:
        raise CheckpointError(f"{source} ['enc_c'] has no convA.0.model.1.weight: not a DRIT content encoder "
                              f"(keys {list(enc_c)[:4]})") from None
    if "fc_A.0.weight" in enc_a:
        cfg: dict[str, Any] = {"concat": 1, "nz": int(enc_a["fc_A.0.weight"].shape[0])}
    elif "model_a.16.weight" in enc_a:
        cfg = {"concat": 0, "nz": int(enc_a["model_a.16.weight"].shape[0])}
    else:
        raise CheckpointError(f"{source} ['enc_a'] is neither E_attr_concat (fc_A.*, --concat 1) nor E_attr (model_a.*, "
                              f"--concat 0): keys {list(enc_a)[:4]}")
    cfg["dim"] = dim
    dis = ckpt.get("disA")
    if isinstance(dis, Mapping):
        if any(k.startswith("Diss.") for k in dis):
            n_scale = _count(dis, r"Diss\.(\d+)\.")
            n_layer = _count(dis, r"Diss\.0\.(\d+)\.model\.")
            cfg["discriminator"] = {"name": "multiscale", "num_scales": n_scale,
                                    "discriminator": {"name": "drit_patch", "n_layer": n_layer,
                                                      "dim": int(dis["Diss.0.0.model.1.weight"].shape[0])}}
        elif "model.0.model.1.weight" in dis:
            cfg["discriminator"] = {"name": "drit_dis", "n_layer": _count(dis, r"model\.(\d+)\.model\."),
                                    "dim": int(dis["model.0.model.1.weight"].shape[0])}
    content = ckpt.get("disContent")
    if isinstance(content, Mapping) and "model.0.model.1.weight" in content:
        n_conv = _count(content, r"model\.(\d+)\.model\.")
        last = content[f"model.{n_conv - 1}.model.1.weight"]
        cfg["content_discriminator"] = {"dim": int(last.shape[0]), "n_down": n_conv - 1, "last_kernel": int(last.shape[-1])}
    return cfg


def dis_to_official(sd: Mapping[str, torch.Tensor]) -> StateDict:
    """An image discriminator's keys in the official names: the wrapper's ``scales.<s>.`` -> ``Diss.<s>.``."""
    return {re.sub(r"^scales\.(\d+)\.", r"Diss.\1.", k): v for k, v in sd.items()}


def dis_from_official(sd: Mapping[str, torch.Tensor]) -> StateDict:
    """Official ``Diss.<s>.`` -> the multi-scale wrapper's ``scales.<s>.`` (a single-scale ``Dis`` is unchanged)."""
    return {re.sub(r"^Diss\.(\d+)\.", r"scales.\1.", k): v for k, v in sd.items()}


def load_into(model: "DRIT", ckpt: Mapping[str, Any], source: str = "checkpoint") -> list[str]:
    """Load an official dict (:func:`read_official`) into ``model``, strictly, network by network: E/G always,
    each discriminator present in the file. Returns the names of the networks loaded. A mismatch is a
    CheckpointError naming the file, the network and its first offending keys."""
    hint = {k: v for k, v in infer_config(ckpt, source).items() if k in ("concat", "nz", "dim")}
    loaded = []
    for key in FILE_ORDER:
        if key not in ckpt:
            continue
        sd = dis_from_official(ckpt[key]) if key in DIS_KEYS else ckpt[key]
        load_state_dict_checked(getattr(model, key), sd, source=f"{source} ['{key}']", part=key, hint=hint)
        loaded.append(key)
    return loaded


def _optimizer_state(optimizer: torch.optim.Optimizer) -> dict[str, Any]:
    """An optimiser's state dict with ``initial_lr`` in every group, which the official resume's
    ``LambdaLR(last_epoch=ep)`` requires."""
    state = optimizer.state_dict()
    for group in state["param_groups"]:
        group.setdefault("initial_lr", group["lr"])
    return state


def save_official(model: "DRIT", path: str | os.PathLike, *, ep: int = 0, total_it: int = 0,
                  optimizers: Mapping[str, torch.optim.Optimizer] | None = None) -> Path:
    """Write ``model`` as the official ``train.py`` does (``model.py`` ``save``): the eight state dicts with the
    official keys, the eight ``*_opt`` optimiser states (``optimizers``, by the official network names; default
    fresh ones from :meth:`~i2ikit_drit.method.DRIT.make_optimizers`) and ``ep`` / ``total_it``. The official
    ``test.py`` / ``test_transfer.py --resume <path>`` read it (with the same ``--concat``)."""
    path = Path(path)
    opts = dict(optimizers) if optimizers is not None else model.make_optimizers()
    state: dict[str, Any] = {}
    for key in FILE_ORDER:
        sd = {k: v.detach().cpu().contiguous() for k, v in getattr(model, key).state_dict().items()}
        state[key] = dis_to_official(sd) if key in DIS_KEYS else sd
    for key in FILE_ORDER:
        state[f"{key}_opt"] = _optimizer_state(opts[key])
    state["ep"], state["total_it"] = int(ep), int(total_it)
    path.parent.mkdir(parents=True, exist_ok=True)
    torch.save(state, path)
    return path
