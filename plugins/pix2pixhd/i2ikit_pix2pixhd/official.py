"""Official pix2pixHD files (``checkpoints/<name>/<epoch>_net_{G,D,E}.pth``): reading, loading and writing them.

``BaseModel.save_network`` writes ``torch.save(network.cpu().state_dict())``: a plain ``{key: tensor}`` dict
with the keys of :mod:`i2ikit_pix2pixhd.networks` (no ``module.`` prefix officially; one is dropped if
present). They are read with ``torch.load(weights_only=True)`` (:func:`i2ikit.checkpoint_files.load_checkpoint_file`):
nothing is unpickled. Files from PyTorch < 0.4 may hold InstanceNorm ``running_mean``/``running_var`` that
today's ``InstanceNorm2d`` does not have; they are dropped.

The settings are read from the keys and shapes (:func:`generator_settings`, :func:`discriminator_settings`,
:func:`encoder_settings`), so ``load_generator("latest_net_G.pth")`` builds the right network (global or
local, input_nc, ngf, depths, norm) without the training flags, which the official ``test.py`` needs
repeated. The discriminator is the core ``multiscale`` wrapper around ``pix2pixhd_patch``; its keys
``scales.<k>.model{j}.*`` are the official ``scale{num_D-1-k}_layer{j}.*`` (``scales.0`` sees the full
resolution, officially the highest-numbered scale), or ``layer{num_D-1-k}.*`` without ``getIntermFeat``.
"""
from __future__ import annotations

import os
import re
from pathlib import Path
from typing import Any, Mapping

import torch
from torch import nn

from i2ikit.checkpoint_files import is_state_dict, load_checkpoint_file, load_state_dict_checked, strip_module_prefix
from i2ikit.discriminators import MultiScaleDiscriminator
from i2ikit.errors import CheckpointError

from .networks import Encoder, GlobalGenerator, LocalEnhancer, NLayerDiscriminator, multiscale_discriminator

__all__ = [
    "read_official",
    "drop_instance_norm_stats",
    "generator_settings",
    "encoder_settings",
    "discriminator_settings",
    "discriminator_to_official",
    "discriminator_from_official",
    "build_generator",
    "load_generator",
    "load_encoder",
    "load_discriminator",
    "load_pretrain",
    "save_official",
]

StateDict = dict[str, torch.Tensor]
_WHAT = {"G": "generator", "D": "discriminator", "E": "encoder"}
_GENERATORS = {"pix2pixhd_global": GlobalGenerator, "pix2pixhd_local": LocalEnhancer}


# ---- reading ------------------------------------------------------------------------------------------
def drop_instance_norm_stats(state: Mapping[str, torch.Tensor]) -> StateDict:
    """``state`` without the running statistics PyTorch < 0.4 saved for ``InstanceNorm2d(affine=False)``: a
    ``<x>.running_mean`` / ``running_var`` / ``num_batches_tracked`` whose layer has no ``<x>.weight``
    (an affine BatchNorm, ``--norm batch``, has one and keeps its statistics)."""
    out = {}
    for k, v in state.items():
        layer, _, leaf = k.rpartition(".")
        if leaf in ("running_mean", "running_var", "num_batches_tracked") and f"{layer}.weight" not in state:
            continue
        out[k] = v
    return out


def read_official(path: str | os.PathLike, kind: str) -> StateDict:
    """The state dict of an official ``*_net_<kind>.pth`` (``kind`` ``G``, ``D`` or ``E``), validated (a flat
    ``{str: Tensor}`` dict), without a ``module.`` prefix or pre-0.4 InstanceNorm statistics. A file named
    for another network (``latest_net_D.pth`` read as ``G``) is refused by name."""
    path = Path(path)
    what = _WHAT[kind]
    named = re.search(r"_net_([GDE])\.pth$", path.name)
    if named and named.group(1) != kind:
        raise CheckpointError(f"{path} is named as pix2pixHD's {_WHAT[named.group(1)]} file (net_{named.group(1)}), "
                              f"but was given as the {what} (net_{kind}); pass the {path.name.replace(named.group(0), f'_net_{kind}.pth')} "
                              "of the same run instead")
    obj = load_checkpoint_file(path)
    if not is_state_dict(obj):
        held = sorted(map(str, obj))[:6] if isinstance(obj, Mapping) else type(obj).__name__
        raise CheckpointError(f"{path} is not an official pix2pixHD {what} file: expected a plain state dict of tensors "
                              f"(torch.save(net.state_dict()), as BaseModel.save_network writes it), found {held}")
    return drop_instance_norm_stats(strip_module_prefix(obj))


def _indices(state: Mapping[str, torch.Tensor], pattern: str) -> list[int]:
    rx = re.compile(pattern)
    return sorted({int(m.group(1)) for k in state if (m := rx.match(k))})


def _conv_indices(state: Mapping[str, torch.Tensor], prefix: str) -> list[int]:
    """Positions in the ``prefix`` Sequential holding a conv (a 4-D ``weight``; a BatchNorm's is 1-D)."""
    return [i for i in _indices(state, rf"{re.escape(prefix)}\.(\d+)\.weight$") if state[f"{prefix}.{i}.weight"].ndim == 4]


def _norm_of(state: Mapping[str, torch.Tensor], layer: str) -> str:
    """``batch`` when the norm layer after the first conv has a weight (affine BatchNorm), else ``instance``."""
    return "batch" if f"{layer}.weight" in state else "instance"


def generator_settings(state: Mapping[str, torch.Tensor], source: str = "the file") -> dict[str, Any]:
    """``{name: pix2pixhd_global | pix2pixhd_local, <keyword arguments>}`` of the generator a state dict was
    saved from (``--netG``, ``input_nc``, ``--ngf``, ``--n_downsample_global``, ``--n_blocks_global``,
    ``--n_local_enhancers``, ``--n_blocks_local``, ``--norm``), read from key names and shapes."""
    if "model.1.weight" not in state:
        raise CheckpointError(f"{source} holds no model.1.weight, so it is not a pix2pixHD generator (keys "
                              f"{list(state)[:4]}); a discriminator file has scale*_layer* keys")
    convs = _conv_indices(state, "model")
    blocks = _indices(state, r"model\.(\d+)\.conv_block\.")
    enhancers = _indices(state, r"model(\d+)_1\.")
    if not enhancers:
        if not blocks:
            raise CheckpointError(f"{source} has no residual blocks (model.*.conv_block.*): it looks like pix2pixHD's "
                                  "encoder (latest_net_E.pth), not a generator; load it with load_encoder")
        last = state[f"model.{convs[-1]}.weight"]
        return {"name": "pix2pixhd_global", "input_nc": int(state["model.1.weight"].shape[1]),
                "output_nc": int(last.shape[0]), "ngf": int(state["model.1.weight"].shape[0]),
                "n_downsampling": (len(convs) - 2) // 2, "n_blocks": len(blocks), "norm": _norm_of(state, "model.2")}
    top = enhancers[-1]
    first, up = f"model{top}_1.1.weight", f"model{top}_2"
    if first not in state or not _conv_indices(state, up):
        raise CheckpointError(f"{source} has model{top}_1.* keys but no {first} or {up} convs: a damaged LocalEnhancer file")
    return {"name": "pix2pixhd_local", "input_nc": int(state[first].shape[1]),
            "output_nc": int(state[f"{up}.{_conv_indices(state, up)[-1]}.weight"].shape[0]),
            "ngf": int(state[first].shape[0]), "n_downsample_global": (len(convs) - 1) // 2,
            "n_blocks_global": len(blocks), "n_local_enhancers": len(enhancers),
            "n_blocks_local": len(_indices(state, r"model1_2\.(\d+)\.conv_block\.")), "norm": _norm_of(state, "model.2")}


def encoder_settings(state: Mapping[str, torch.Tensor], source: str = "the file") -> dict[str, Any]:
    """The :class:`~i2ikit_pix2pixhd.networks.Encoder` keyword arguments of a ``latest_net_E.pth`` state dict
    (image channels, ``--feat_num``, ``--nef``, ``--n_downsample_E``, ``--norm``)."""
    if "model.1.weight" not in state or any(".conv_block." in k or k.startswith("model1_") for k in state):
        raise CheckpointError(f"{source} is not a pix2pixHD encoder file (it needs model.1.weight and no residual blocks; "
                              f"keys {list(state)[:4]}); a generator file is loaded with load_generator")
    convs = _conv_indices(state, "model")
    return {"input_nc": int(state["model.1.weight"].shape[1]), "output_nc": int(state[f"model.{convs[-1]}.weight"].shape[0]),
            "ngf": int(state["model.1.weight"].shape[0]), "n_downsampling": (len(convs) - 2) // 2,
            "norm": _norm_of(state, "model.2")}


def discriminator_settings(state: Mapping[str, torch.Tensor], source: str = "the file") -> dict[str, Any]:
    """The :func:`~i2ikit_pix2pixhd.networks.multiscale_discriminator` keyword arguments of a
    ``latest_net_D.pth`` state dict (``input_nc``, ``--num_D``, ``--ndf``, ``--n_layers_D``, ``--norm``,
    ``getIntermFeat``)."""
    if "scale0_layer0.0.weight" in state:
        first = state["scale0_layer0.0.weight"]
        return {"input_nc": int(first.shape[1]), "num_D": len(_indices(state, r"scale(\d+)_layer")),
                "ndf": int(first.shape[0]), "n_layers": len(_indices(state, r"scale0_layer(\d+)\.")) - 2,
                "norm": _norm_of(state, "scale0_layer1.1"), "get_interm_feat": True}
    if "layer0.0.weight" in state:
        first = state["layer0.0.weight"]
        return {"input_nc": int(first.shape[1]), "num_D": len(_indices(state, r"layer(\d+)\.")),
                "ndf": int(first.shape[0]), "n_layers": len(_conv_indices(state, "layer0")) - 2,
                "norm": _norm_of(state, "layer0.3"), "get_interm_feat": False}
    raise CheckpointError(f"{source} is not a pix2pixHD discriminator file: it has neither scale0_layer0.0.weight "
                          f"(getIntermFeat) nor layer0.0.weight (keys {list(state)[:4]})")


# ---- discriminator key names --------------------------------------------------------------------------
_OFFICIAL_D = re.compile(r"^(?:scale(\d+)_layer(\d+)|layer(\d+))\.(.*)$")
_OURS_D = re.compile(r"^scales\.(\d+)\.(?:model(\d+)|model)\.(.*)$")


def discriminator_from_official(state: Mapping[str, torch.Tensor]) -> StateDict:
    """Official ``scale{s}_layer{j}.*`` -> ``scales.{num_D-1-s}.model{j}.*`` and ``layer{s}.*`` ->
    ``scales.{num_D-1-s}.model.*`` (num_D read from the keys), so each scale sees the resolution it was
    trained at. Keys that fit neither are kept, for the strict load to report."""
    scales = [int(m.group(1) or m.group(3)) for k in state if (m := _OFFICIAL_D.match(k))]
    num_d = max(scales, default=-1) + 1
    out = {}
    for k, v in state.items():
        m = _OFFICIAL_D.match(k)
        if not m:
            out[k] = v
        elif m.group(1) is not None:
            out[f"scales.{num_d - 1 - int(m.group(1))}.model{m.group(2)}.{m.group(4)}"] = v
        else:
            out[f"scales.{num_d - 1 - int(m.group(3))}.model.{m.group(4)}"] = v
    return out


def discriminator_to_official(state: Mapping[str, torch.Tensor]) -> StateDict:
    """The inverse of :func:`discriminator_from_official`, in the official order (scale 0, the coarsest, first)."""
    scales = [int(m.group(1)) for k in state if (m := _OURS_D.match(k))]
    num_d = max(scales, default=-1) + 1
    named = []
    for k, v in state.items():
        m = _OURS_D.match(k)
        if not m:
            raise CheckpointError(f"discriminator key {k!r} is not scales.<k>.model<j>.* / scales.<k>.model.*: only the "
                                  "multiscale wrapper around pix2pixhd_patch has the official pix2pixHD layout")
        s = num_d - 1 - int(m.group(1))
        name = f"scale{s}_layer{m.group(2)}.{m.group(3)}" if m.group(2) is not None else f"layer{s}.{m.group(3)}"
        named.append((s, name, v))
    return {name: v for _, name, v in sorted(named, key=lambda t: t[0])}  # stable: each scale keeps its own order


def _discriminator_keys(net: nn.Module) -> StateDict:
    """A discriminator's state dict in the wrapper's names; a bare ``pix2pixhd_patch`` counts as one scale."""
    sd = {k: v.detach().cpu() for k, v in net.state_dict().items()}
    return {f"scales.0.{k}": v for k, v in sd.items()} if isinstance(net, NLayerDiscriminator) else sd


# ---- loading --------------------------------------------------------------------------------------------
def build_generator(settings: Mapping[str, Any]) -> nn.Module:
    """The generator :func:`generator_settings` describes."""
    kwargs = dict(settings)
    return _GENERATORS[kwargs.pop("name")](**kwargs)


def load_generator(path: str | os.PathLike, net: nn.Module | None = None) -> nn.Module:
    """Load an official ``*_net_G.pth`` into ``net`` (default: a network built from the file's settings),
    strictly; a mismatch names the file, the missing/unexpected/misshapen keys and the file's settings."""
    state = read_official(path, "G")
    settings = generator_settings(state, str(path))
    net = build_generator(settings) if net is None else net
    load_state_dict_checked(net, state, source=str(path), part="pix2pixHD generator", hint=settings)
    return net


def load_encoder(path: str | os.PathLike, net: nn.Module | None = None) -> Encoder:
    """Load an official ``*_net_E.pth`` into ``net`` (default: an :class:`Encoder` built from the file).
    The encoder shared in issue #15 has an older layout (last conv at ``model.28``) and is refused by name."""
    state = read_official(path, "E")
    settings = encoder_settings(state, str(path))
    net = Encoder(**settings) if net is None else net
    hint = (f"The file looks like {settings}; a last conv at model.28 is the older pre-release Encoder layout "
            "(issue #15), which the released code cannot load either.")
    load_state_dict_checked(net, state, source=str(path), part="pix2pixHD encoder", hint=hint)
    return net  # type: ignore[return-value]


def load_discriminator(path: str | os.PathLike, net: nn.Module | None = None) -> nn.Module:
    """Load an official ``*_net_D.pth`` into ``net`` (default: the ``multiscale`` wrapper of
    ``pix2pixhd_patch`` the file describes), mapping the official scale names."""
    state = read_official(path, "D")
    settings = discriminator_settings(state, str(path))
    net = multiscale_discriminator(**settings) if net is None else net
    ours = discriminator_from_official(state)
    if isinstance(net, NLayerDiscriminator):
        ours = {k[len("scales.0."):] if k.startswith("scales.0.") else k: v for k, v in ours.items()}
    load_state_dict_checked(net, ours, source=str(path), part="pix2pixHD discriminator", hint=settings)
    return net


def load_pretrain(net: nn.Module, path: str | os.PathLike, kind: str) -> list[str]:
    """The official ``--load_pretrain``: copy every tensor of an official ``*_net_<kind>.pth`` whose key ``net``
    has, e.g. a 512p global G into a 1024p LocalEnhancer's ``model.*`` (the file's ``model.38`` is unused)
    or a 2-scale D into a 3-scale one (officially named scales 0-1 keep the resolutions they were trained
    at). Returns the top-level names left as they were (``['model1_1', 'model1_2']``), as the official code
    prints them. Unlike the official fallback, a shared key of another shape is an error, not skipped:
    it means the settings differ (e.g. ``--ngf``)."""
    state = read_official(path, kind)
    if kind == "D":
        own = discriminator_to_official(_discriminator_keys(net))
    else:
        own = {k: v.detach() for k, v in net.state_dict().items()}
    shared = [k for k in own if k in state]
    wrong = [f"{k}: file {tuple(state[k].shape)} vs model {tuple(own[k].shape)}" for k in shared if state[k].shape != own[k].shape]
    if not shared or wrong:
        detail = f"{len(wrong)} shape mismatch(es), e.g. {wrong[:3]}" if wrong else f"no key in common (file keys {list(state)[:3]})"
        raise CheckpointError(f"{path} cannot seed the {type(net).__name__}: {detail}. Build it with the settings the "
                              f"pretrained run used (the file's: {_settings_of(state, kind, str(path))}).")
    merged = {**own, **{k: state[k] for k in shared}}
    if kind == "D":
        merged = discriminator_from_official(merged)
        if isinstance(net, NLayerDiscriminator):
            merged = {k[len("scales.0."):]: v for k, v in merged.items()}
    net.load_state_dict(merged, strict=True)
    return sorted({k.split(".")[0] for k in own if k not in state})


def _settings_of(state: Mapping[str, torch.Tensor], kind: str, source: str) -> dict[str, Any]:
    try:
        return {"G": generator_settings, "D": discriminator_settings, "E": encoder_settings}[kind](state, source)
    except CheckpointError:
        return {}


# ---- writing --------------------------------------------------------------------------------------------
def save_official(net: nn.Module, path: str | os.PathLike) -> Path:
    """Write ``net`` as ``BaseModel.save_network`` does (a plain CPU state dict with the official keys; a
    discriminator in the official ``scale{s}_layer{j}`` names and order), atomically. Generators and encoders
    are saved as they are; the official ``test.py`` and :func:`load_generator` read the result."""
    path = Path(path)
    if isinstance(net, (MultiScaleDiscriminator, NLayerDiscriminator)):
        state = discriminator_to_official(_discriminator_keys(net))
    else:
        state = {k: v.detach().cpu() for k, v in net.state_dict().items()}
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.with_name(f".{path.name}.tmp-{os.getpid()}")
    torch.save(state, tmp)
    os.replace(tmp, path)
    return path
