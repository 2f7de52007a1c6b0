"""Reading and writing official SPADE checkpoint files (``NVlabs/SPADE`` ``util/util.py`` ``save_network``).

The official trainer writes ``<checkpoints_dir>/<name>/<epoch>_net_G.pth``, ``_net_D.pth`` and, with
``--use_vae``, ``_net_E.pth`` (``epoch`` is ``latest`` or a number), each ``torch.save(net.state_dict())``:
a plain ``{key: tensor}`` dict without a ``module.`` prefix (a prefix, should a file have one, is dropped)
and without optimiser state. They load with ``torch.load(weights_only=True)``. The released
``checkpoints.tar.gz`` (``coco_pretrained``, ``ade20k_pretrained``, ``cityscapes_pretrained``) holds
non-VAE generators only.

Keys: G and E files have exactly the keys of :class:`~i2ikit_spade.networks.SPADEGenerator` and
:class:`~i2ikit_spade.networks.ConvEncoder`; a D file's ``discriminator_<k>.`` is the core multi-scale
wrapper's ``scales.<k>.`` (scale 0 = full resolution in both). Spectral-norm layers carry ``weight_orig``,
``weight_u``, ``weight_v``; the ``u``/``v`` vectors are loaded too, so a network in eval mode (no power
iteration) reproduces the official output. Files written with the newer parametrization API
(``parametrizations.weight.original``) are renamed to these keys on reading.

The settings a file can tell (:func:`infer_generator_settings` etc.): ``semantic_nc``, ``ngf``, ``use_vae``,
``z_dim``, ``norm_G`` (spectral or not, batch or instance; sync-batch and batch look the same), ``most``
(``up_4.*``); ``num_D``, ``n_layers_D``, ``ndf``, ``norm_D``; the encoder's ``ngf``, ``z_dim``, ``norm_E``.
What it cannot tell, the training crop (``crop_size``, ``aspect_ratio``) and ``normal`` vs ``more``
upsampling of a non-VAE generator, comes from ``dataset_mode`` (:data:`DATASET_MODES`, the official
dataset defaults) or the keywords, else the generator's defaults (256, 1, ``normal``).
"""
from __future__ import annotations

import os
import re
from collections import OrderedDict
from pathlib import Path
from typing import Any, Mapping

import torch
from torch import nn

from i2ikit.checkpoint_files import is_state_dict, load_checkpoint_file, load_state_dict_checked, strip_module_prefix
from i2ikit.discriminators import MultiScaleDiscriminator
from i2ikit.errors import CheckpointError, ConfigError, MissingFileError
from i2ikit.nn.label_maps import input_channels
from i2ikit.nn.layers import spectral_norm_keys_to_legacy

from .networks import UPSAMPLING_LAYERS, ConvEncoder, SPADEGenerator, latent_size, multiscale_discriminator

__all__ = [
    "DATASET_MODES",
    "NETWORKS",
    "official_file",
    "read_state_dict",
    "dataset_settings",
    "infer_generator_settings",
    "infer_encoder_settings",
    "infer_discriminator_settings",
    "discriminator_keys_to_official",
    "discriminator_keys_from_official",
    "load_generator",
    "load_encoder",
    "load_discriminator",
    "load_official",
    "load_into",
    "save_official",
]

StateDict = dict[str, torch.Tensor]

NETWORKS = ("G", "D", "E")
"""The official file suffixes: ``<epoch>_net_<G|D|E>.pth``."""

DATASET_MODES: dict[str, dict[str, Any]] = {
    "cityscapes": {"label_nc": 35, "contain_dontcare_label": False, "instance": True,
                   "crop_size": 512, "aspect_ratio": 2.0, "num_upsampling_layers": "more"},
    "ade20k": {"label_nc": 150, "contain_dontcare_label": True, "instance": False,
               "crop_size": 256, "aspect_ratio": 1.0, "num_upsampling_layers": "normal"},
    "coco": {"label_nc": 182, "contain_dontcare_label": True, "instance": True,
             "crop_size": 256, "aspect_ratio": 1.0, "num_upsampling_layers": "normal"},
    "facades": {"label_nc": 13, "contain_dontcare_label": False, "instance": False,
                "crop_size": 256, "aspect_ratio": 1.0, "num_upsampling_layers": "normal"},
}
"""The official ``--dataset_mode`` defaults that shape the networks (``data/<mode>_dataset.py``):
label-map encoding (``semantic_nc`` = label_nc + dontcare + instance: 36, 151, 184, 13) and the crop."""

_GENERATOR_KEYS = ("crop_size", "aspect_ratio", "num_upsampling_layers")


def official_file(checkpoint_dir: str | os.PathLike, net: str = "G", which_epoch: str | int = "latest") -> Path:
    """``<checkpoint_dir>/<which_epoch>_net_<net>.pth``, as the official ``load_network`` names it."""
    if net not in NETWORKS:
        raise ConfigError(f"net {net!r} is not one of {', '.join(NETWORKS)} (the official _net_G/_net_D/_net_E files)")
    return Path(checkpoint_dir) / f"{which_epoch}_net_{net}.pth"


def read_state_dict(path: str | os.PathLike, what: str = "SPADE network") -> StateDict:
    """An official file's state dict, loaded with ``weights_only=True``, without a ``module.`` prefix and with
    legacy spectral-norm key names. A file that is not a flat tensor dict is a CheckpointError naming it."""
    path = Path(path)
    obj = load_checkpoint_file(path)
    if not is_state_dict(obj):
        kind = type(obj).__name__
        keys = f" (keys {sorted(map(str, obj))[:6]})" if isinstance(obj, Mapping) else ""
        raise CheckpointError(f"{path} holds a {kind}{keys}, not a {what} state dict: the official SPADE files "
                              "(<epoch>_net_G.pth, _net_D.pth, _net_E.pth) are plain {key: tensor} dicts; give one of "
                              "those, or re-save the network's state_dict()")
    return spectral_norm_keys_to_legacy(strip_module_prefix(obj))


def dataset_settings(dataset_mode: str) -> dict[str, Any]:
    """The generator keywords and label-map encoding of an official dataset mode, with ``semantic_nc``."""
    if dataset_mode not in DATASET_MODES:
        raise ConfigError(f"dataset_mode {dataset_mode!r} is not one of {', '.join(DATASET_MODES)}; for another data "
                          "set pass semantic_nc, crop_size, aspect_ratio and num_upsampling_layers instead")
    s = dict(DATASET_MODES[dataset_mode])
    s["semantic_nc"] = input_channels(s["label_nc"], contain_dontcare_label=s["contain_dontcare_label"],
                                      instance=s["instance"])
    return s


def _need(sd: Mapping[str, torch.Tensor], key: str, source: str, what: str) -> torch.Tensor:
    if key not in sd:
        raise CheckpointError(f"{source} has no {key!r}: it is not an official SPADE {what} file (its first keys: "
                              f"{list(sd)[:4]}); give the matching <epoch>_net_{what[0].upper()}.pth")
    return sd[key]


def _weight(sd: Mapping[str, torch.Tensor], prefix: str) -> torch.Tensor | None:
    return sd.get(prefix + "weight_orig", sd.get(prefix + "weight"))


def _nonspade_norm(sd: Mapping[str, torch.Tensor], prefix: str) -> str:
    """The ``norm_D`` / ``norm_E`` string of the layer at ``prefix`` (a :func:`nonspade_norm_layer` output)."""
    if prefix + "0.weight_orig" in sd or prefix + "0.weight" in sd:  # Sequential(conv, norm)
        spectral = prefix + "0.weight_orig" in sd
        sub = "batch" if prefix + "1.running_mean" in sd else "instance"
        return ("spectral" if spectral else "") + sub
    return "spectral" if prefix + "weight_orig" in sd else "none"


def infer_generator_settings(sd: Mapping[str, torch.Tensor], source: str = "generator file") -> dict[str, Any]:
    """What a G file says of its :class:`SPADEGenerator`: ``semantic_nc``, ``ngf``, ``use_vae``, ``norm_G``,
    ``z_dim`` (VAE), ``num_upsampling_layers`` (only ``most`` is visible) and ``latent_cells`` (VAE: sh x sw)."""
    mlp = _need(sd, "head_0.norm_0.mlp_shared.0.weight", source, "generator")
    conv = _weight(sd, "head_0.conv_0.")
    fc = _need(sd, "fc.weight", source, "generator")
    if conv is None:
        raise CheckpointError(f"{source} has no head_0.conv_0 weight: not an official SPADE generator file")
    ngf = int(conv.shape[0]) // 16
    spectral = "head_0.conv_0.weight_orig" in sd
    norm = "syncbatch" if "head_0.norm_0.param_free_norm.running_mean" in sd else "instance"
    k = int(mlp.shape[-1])
    out: dict[str, Any] = {"semantic_nc": int(mlp.shape[1]), "ngf": ngf, "use_vae": fc.ndim == 2,
                           "norm_G": f"{'spectral' if spectral else ''}spade{norm}{k}x{k}"}
    if fc.ndim == 2:
        out["z_dim"] = int(fc.shape[1])
        out["latent_cells"] = int(fc.shape[0]) // (16 * ngf)
    if any(key.startswith("up_4.") for key in sd):
        out["num_upsampling_layers"] = "most"
    return out


def infer_encoder_settings(sd: Mapping[str, torch.Tensor], source: str = "encoder file") -> dict[str, Any]:
    """What an E file says of its :class:`ConvEncoder`: ``ngf``, ``z_dim``, ``norm_E``."""
    fc = _need(sd, "fc_mu.weight", source, "encoder")
    norm = _nonspade_norm(sd, "layer1.")
    w = _weight(sd, "layer1.0.") if "layer1.0.weight_orig" in sd or "layer1.0.weight" in sd else _weight(sd, "layer1.")
    if w is None:
        raise CheckpointError(f"{source} has no layer1 weight: not an official SPADE encoder file")
    return {"ngf": int(w.shape[0]), "z_dim": int(fc.shape[0]), "norm_E": norm}


def infer_discriminator_settings(sd: Mapping[str, torch.Tensor], source: str = "discriminator file") -> dict[str, Any]:
    """What a D file (official keys) says: ``num_D``, ``input_dim`` (semantic_nc + 3), ``ndf``, ``n_layers_D``,
    ``norm_D``."""
    first = _need(sd, "discriminator_0.model0.0.weight", source, "discriminator")
    scales = {int(m.group(1)) for k in sd if (m := re.match(r"discriminator_(\d+)\.", k))}
    layers = {int(m.group(1)) for k in sd if (m := re.match(r"discriminator_0\.model(\d+)\.", k))}
    n_layers = max(layers)
    out = {"num_D": len(scales), "input_dim": int(first.shape[1]), "ndf": int(first.shape[0]), "n_layers_D": n_layers}
    if n_layers >= 2:
        out["norm_D"] = _nonspade_norm(sd, "discriminator_0.model1.0.")
    return out


def discriminator_keys_to_official(sd: Mapping[str, torch.Tensor]) -> StateDict:
    """The multi-scale wrapper's ``scales.<k>.`` -> the official ``discriminator_<k>.``."""
    return {re.sub(r"^scales\.(\d+)\.", r"discriminator_\1.", k): v for k, v in sd.items()}


def discriminator_keys_from_official(sd: Mapping[str, torch.Tensor]) -> StateDict:
    """The official ``discriminator_<k>.`` -> the multi-scale wrapper's ``scales.<k>.``."""
    return {re.sub(r"^discriminator_(\d+)\.", r"scales.\1.", k): v for k, v in sd.items()}


def _vae_upsampling(cells: int, crop_size: int, aspect_ratio: float) -> str | None:
    for name in UPSAMPLING_LAYERS:
        try:
            sw, sh = latent_size(crop_size, aspect_ratio, name)
        except ConfigError:
            continue
        if sw * sh == cells:
            return name
    return None


def _generator_kwargs(sd: Mapping[str, torch.Tensor], source: str, dataset_mode: str | None,
                      settings: Mapping[str, Any]) -> tuple[dict[str, Any], dict[str, Any]]:
    """``(SPADEGenerator keywords, what the file says)``: the file's settings, then the dataset mode's crop and
    upsampling, then ``settings``; a dataset mode whose label-map width differs from the file's is an error."""
    found = infer_generator_settings(sd, source)
    kwargs: dict[str, Any] = {k: v for k, v in found.items() if k != "latent_cells"}
    if dataset_mode is not None:
        preset = dataset_settings(dataset_mode)
        if preset["semantic_nc"] != found["semantic_nc"] and "semantic_nc" not in settings:
            raise CheckpointError(f"{source} takes a {found['semantic_nc']}-channel label map, but dataset_mode "
                                  f"{dataset_mode!r} encodes {preset['semantic_nc']} (label_nc {preset['label_nc']}, "
                                  f"dontcare {preset['contain_dontcare_label']}, instance {preset['instance']}); pick the "
                                  "file's data set or leave dataset_mode out")
        for key in _GENERATOR_KEYS:
            if not (key == "num_upsampling_layers" and "num_upsampling_layers" in found):
                kwargs[key] = preset[key]
    kwargs.update(settings)
    if found["use_vae"] and "num_upsampling_layers" not in settings and "num_upsampling_layers" not in found:
        guess = _vae_upsampling(found["latent_cells"], kwargs.get("crop_size", 256), kwargs.get("aspect_ratio", 1.0))
        if guess is not None:
            kwargs["num_upsampling_layers"] = guess
    return kwargs, found


def _hint(found: Mapping[str, Any]) -> dict[str, Any]:
    return {k: v for k, v in found.items() if k != "latent_cells"}


def load_generator(path: str | os.PathLike, *, dataset_mode: str | None = None, **settings: Any) -> SPADEGenerator:
    """An official ``*_net_G.pth`` as a :class:`SPADEGenerator` in eval mode (BN running statistics, no
    power iteration), built with the settings the file shows, ``dataset_mode``'s crop and upsampling
    (:data:`DATASET_MODES`) and ``settings`` (any generator keyword), in that order of precedence."""
    sd = read_state_dict(path, "SPADE generator")
    kwargs, found = _generator_kwargs(sd, str(path), dataset_mode, settings)
    net = SPADEGenerator(**kwargs)
    load_state_dict_checked(net, sd, source=str(path), part="net_G", hint=_hint(found))
    return net.eval()


def load_encoder(path: str | os.PathLike, **settings: Any) -> ConvEncoder:
    """An official ``*_net_E.pth`` as a :class:`ConvEncoder` in eval mode."""
    sd = read_state_dict(path, "SPADE encoder")
    found = infer_encoder_settings(sd, str(path))
    net = ConvEncoder(**{**found, **settings})
    load_state_dict_checked(net, sd, source=str(path), part="net_E", hint=found)
    return net.eval()


def load_discriminator(path: str | os.PathLike, **settings: Any) -> MultiScaleDiscriminator:
    """An official ``*_net_D.pth`` as the core ``multiscale`` wrapper of ``spade_patch`` scales, in eval mode.
    ``settings``: ``num_D`` or any ``spade_patch`` keyword (e.g. ``no_ganFeat_loss``)."""
    official = read_state_dict(path, "SPADE discriminator")
    found = infer_discriminator_settings(official, str(path))
    kwargs = {**found, **settings}
    net = multiscale_discriminator(**kwargs)
    load_state_dict_checked(net, discriminator_keys_from_official(official), source=str(path), part="net_D", hint=found)
    return net.eval()  # type: ignore[return-value]


def load_official(checkpoint_dir: str | os.PathLike, which_epoch: str | int = "latest", *,
                  dataset_mode: str | None = None, **generator_settings: Any) -> dict[str, nn.Module]:
    """The networks of an official checkpoint folder (``checkpoints/<name>``): ``{"G": ..., "D": ..., "E": ...}``
    for the files present (G is required), each in eval mode."""
    files = {net: official_file(checkpoint_dir, net, which_epoch) for net in NETWORKS}
    if not files["G"].is_file():
        present = sorted(p.name for p in Path(checkpoint_dir).glob("*_net_*.pth")) if Path(checkpoint_dir).is_dir() else []
        raise MissingFileError(f"{files['G']} does not exist: an official SPADE checkpoint folder holds "
                               f"<epoch>_net_G.pth (and _net_D.pth, _net_E.pth); this one has {present or 'none'}. "
                               "Pass the folder checkpoints/<name> and the epoch (which_epoch, default 'latest')")
    out: dict[str, nn.Module] = {"G": load_generator(files["G"], dataset_mode=dataset_mode, **generator_settings)}
    if files["D"].is_file():
        out["D"] = load_discriminator(files["D"])
    if files["E"].is_file():
        out["E"] = load_encoder(files["E"])
    return out


def _is_multiscale(net: nn.Module) -> bool:
    return isinstance(net, MultiScaleDiscriminator)


def load_into(net: nn.Module, path: str | os.PathLike) -> None:
    """Load an official file into an existing network (G, E or the multi-scale D), strictly; a mismatch is
    a CheckpointError naming the file, the missing/unexpected keys and the settings the file shows."""
    if _is_multiscale(net):
        official = read_state_dict(path, "SPADE discriminator")
        hint: Mapping[str, Any] = infer_discriminator_settings(official, str(path))
        sd = discriminator_keys_from_official(official)
    else:
        sd = read_state_dict(path)
        hint = (_hint(infer_generator_settings(sd, str(path))) if isinstance(net, SPADEGenerator)
                else infer_encoder_settings(sd, str(path)) if isinstance(net, ConvEncoder) else {})
    load_state_dict_checked(net, sd, source=str(path), part=type(net).__name__, hint=hint or None)


def save_official(net: nn.Module, path: str | os.PathLike, *, module_prefix: bool = False) -> Path:
    """Write ``net`` as the official trainer does (``torch.save(net.cpu().state_dict())``, official keys): a
    G, an E, or the multi-scale D (``scales.<k>.`` -> ``discriminator_<k>.``). ``module_prefix`` puts
    DataParallel's ``module.`` on every key (not what the official trainer writes; for testing loaders)."""
    sd = {k: v.detach().cpu().clone() for k, v in net.state_dict().items()}
    if _is_multiscale(net):
        sd = discriminator_keys_to_official(sd)
    if module_prefix:
        sd = {f"module.{k}": v for k, v in sd.items()}
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    torch.save(OrderedDict(sd), path)
    return path
