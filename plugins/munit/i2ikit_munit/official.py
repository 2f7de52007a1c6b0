"""Official MUNIT / UNIT files (NVlabs/MUNIT, mingyuliutw/UNIT master): reading and writing them.

``train.py`` writes ``gen_%08d.pt`` = ``{'a': gen_a.state_dict(), 'b': gen_b.state_dict()}``, ``dis_%08d.pt``
= ``{'a': dis_a, 'b': dis_b}`` and ``optimizer.pt``; ``test.py`` reads the gen file only. Files written by
PyTorch 0.3 also hold the instance norms' running statistics, which ``test.py`` drops before loading
(``pytorch03_to_pytorch04``); :func:`drop_pytorch03_stats` does the same for any depth. Everything is read with
``torch.load(weights_only=True)`` (:func:`i2ikit.checkpoint_files.load_checkpoint_file`): nothing is unpickled.
UNIT's master code is MUNIT's code, so both methods use this module.
"""
from __future__ import annotations

import os
import re
from pathlib import Path
from typing import Any, Mapping

import torch
from torch import nn

from i2ikit.checkpoint_files import is_state_dict, load_checkpoint_file, load_state_dict_checked, strip_module_prefix
from i2ikit.errors import CheckpointError

# IN running statistics of 0.3-era files: in layers whose norm is a plain InstanceNorm2d (no state today).
_IN_STATS = re.compile(r"\.norm\.running_(mean|var)$|\.norm\.num_batches_tracked$")


def read_pair(path: str | os.PathLike, what: str) -> tuple[dict[str, torch.Tensor], dict[str, torch.Tensor]]:
    """The ``'a'`` and ``'b'`` state dicts of an official ``gen_*.pt`` / ``dis_*.pt`` file (a DataParallel
    ``module.`` prefix is dropped)."""
    obj = load_checkpoint_file(path)
    if not isinstance(obj, Mapping) or not {"a", "b"} <= set(obj) or not all(is_state_dict(obj[k]) for k in "ab"):
        keys = sorted(map(str, obj))[:6] if isinstance(obj, Mapping) else type(obj).__name__
        raise CheckpointError(f"{path} is not an official {what} file: expected {{'a': state_dict, 'b': state_dict}} "
                              f"(gen_XXXXXXXX.pt / dis_XXXXXXXX.pt as train.py writes them), found {keys}")
    return strip_module_prefix(obj["a"]), strip_module_prefix(obj["b"])


def drop_pytorch03_stats(state: Mapping[str, torch.Tensor], module: nn.Module) -> dict[str, torch.Tensor]:
    """``state`` without the keys PyTorch 0.3 saved for instance norms and today's ``module`` does not have
    (``test.py``'s fallback); keys the module expects (MUNIT's AdaIN buffers) stay."""
    expected = set(module.state_dict())
    return {k: v for k, v in state.items() if k in expected or not _IN_STATS.search(k)}


def load_pair(path: str | os.PathLike, net_a: nn.Module, net_b: nn.Module, what: str) -> None:
    """Load an official ``{'a', 'b'}`` file into two networks, naming the file and the keys that do not fit."""
    sd_a, sd_b = read_pair(path, what)
    for name, net, sd in (("a", net_a, sd_a), ("b", net_b, sd_b)):
        load_state_dict_checked(net, drop_pytorch03_stats(sd, net), source=str(path), part=f"{what} '{name}'",
                                hint="Build the method with the settings of the config the file was trained with "
                                     "(dim, n_downsample, n_res, ...).")


def dis_to_official(state: Mapping[str, torch.Tensor]) -> dict[str, torch.Tensor]:
    """i2ikit's multi-scale discriminator keys (``scales.<s>.``) as ``MsImageDis`` names them (``cnns.<s>.``)."""
    return {re.sub(r"^scales\.", "cnns.", k): v for k, v in state.items()}


def dis_from_official(state: Mapping[str, torch.Tensor]) -> dict[str, torch.Tensor]:
    return {re.sub(r"^cnns\.", "scales.", k): v for k, v in state.items()}


def save_pair(path: str | os.PathLike, net_a: nn.Module, net_b: nn.Module, *, dis: bool = False) -> Path:
    """Write ``{'a': ..., 'b': ...}`` as ``train.py`` does (``dis=True``: with ``cnns.`` keys), atomically."""
    path = Path(path)
    conv = dis_to_official if dis else dict
    obj = {k: conv({n: t.detach().cpu() for n, t in net.state_dict().items()}) for k, net in (("a", net_a), ("b", net_b))}
    tmp = path.with_name(f".{path.name}.tmp-{os.getpid()}")
    torch.save(obj, tmp)
    os.replace(tmp, path)
    return path


def gen_settings(state: Mapping[str, torch.Tensor], *, munit: bool, source: str = "the file") -> dict[str, Any]:
    """The generator settings a ``gen`` state dict was built with: ``dim``, ``n_downsample``, ``n_res`` (and for
    MUNIT ``style_dim``, ``mlp_dim``), read from the key names and tensor shapes."""
    enc = "enc_content" if munit else "enc"
    first = state.get(f"{enc}.model.0.conv.weight")
    if first is None:
        other = "unit" if munit else "munit"
        raise CheckpointError(f"{source} holds no {enc}.model.0.conv.weight, so it is not a {'MUNIT' if munit else 'UNIT'} "
                              f"generator file; if it is a {other.upper()} one, load it with method {other!r}")
    downs = len({m.group(1) for k in state if (m := re.match(rf"{enc}\.model\.(\d+)\.conv\.weight$", k))}) - 1
    res = {m.group(1) for k in state if (m := re.match(rf"{enc}\.model\.{downs + 1}\.model\.(\d+)\.", k))}
    out: dict[str, Any] = {"dim": int(first.shape[0]), "n_downsample": downs, "n_res": len(res)}
    if munit:
        out["style_dim"] = int(state["mlp.model.0.fc.weight"].shape[1])
        out["mlp_dim"] = int(state["mlp.model.0.fc.weight"].shape[0])
    return out
