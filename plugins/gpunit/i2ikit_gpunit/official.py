"""Reading and writing the official GP-UNIT checkpoint files.

Formats (``williamyang1991/GP-UNIT``, README and ``checkpoint/readme.md``):

- ``content_encoder.pt``: a **bare** ``ContentEncoder.state_dict()`` (48 keys
  ``layer{1..6}.{0,1}.conv.{bias,weight_orig,weight_u,weight_v}``, legacy spectral norm);
- task files (``cat2dog.pt``, ``male2female.pt``, ... and ``train.py``'s ``{task}-{iter:05d}.pt``):
  ``{'g_ema': Generator.state_dict(), 'sampler': _netT.state_dict()}`` (114 + 13 keys). No
  discriminator or optimiser state is released;
- Stage-I training snapshots ``prior_distillation-XXXXX.pt``: ``{'ae_ema': AutoEncoder.state_dict(),
  'ae_optim': ...}`` (not released; the content encoder is the ``contentE.*`` part of ``ae_ema``).

Every file goes through :func:`i2ikit.checkpoint_files.load_checkpoint_file` (``torch.load(weights_only=True)``);
a file that needs pickle is refused with a message naming it. State dicts are compared key by key with
the target module before ``load_state_dict(strict=True)``, so a mismatch names the file, the part and the
first offending keys. A ``module.`` prefix (DataParallel) is dropped, and spectral-norm keys written by
torch's newer parametrisation API (``parametrizations.weight.original`` / ``.0._u`` / ``.0._v``) are
renamed to the legacy names the official code uses.
"""
from __future__ import annotations

import os
from pathlib import Path
from typing import Any, Mapping

import torch
from torch import nn

from i2ikit.errors import CheckpointError
from i2ikit.checkpoint_files import is_state_dict, load_checkpoint_file, load_state_dict_checked, strip_module_prefix
from i2ikit.nn.layers import spectral_norm_keys_to_legacy

from .networks import ContentEncoder, Generator, PriorAutoEncoder, Sampler

__all__ = [
    "read_checkpoint",
    "as_state_dict",
    "load_state_dict_checked",
    "infer_content_encoder_config",
    "infer_generator_config",
    "infer_sampler_config",
    "load_content_encoder",
    "load_translation_model",
    "load_prior_autoencoder",
    "load_official",
    "save_content_encoder",
    "save_translation_model",
]

StateDict = Mapping[str, torch.Tensor]


def read_checkpoint(path: str | os.PathLike) -> Any:
    """``torch.load(path, weights_only=True)`` on CPU; a file that needs pickle is refused (a
    :class:`~i2ikit.errors.CheckpointError` naming it)."""
    return load_checkpoint_file(path)


def as_state_dict(obj: Any, *, source: str = "state_dict", prefix: str = "") -> dict[str, torch.Tensor]:
    """Validate a flat ``{str: Tensor}`` mapping; keep the keys under ``prefix`` (stripped), drop a
    DataParallel ``module.`` prefix and convert parametrised spectral-norm keys to the legacy names."""
    if not is_state_dict(obj):
        kind = type(obj).__name__
        keys = list(obj)[:5] if isinstance(obj, Mapping) else []
        raise CheckpointError(f"{source} is not a plain state_dict of tensors (got {kind}{' with keys ' + str(keys) if keys else ''})")
    sd = strip_module_prefix(obj)
    if prefix:
        sd = {k[len(prefix):]: v for k, v in sd.items() if k.startswith(prefix)}
        if not sd:
            raise CheckpointError(f"{source} has no keys under {prefix!r}")
    return spectral_norm_keys_to_legacy(sd)


def infer_content_encoder_config(sd: StateDict) -> dict[str, int]:
    """``{'nef': ...}`` from a content-encoder state dict; ``{}`` if unusual."""
    try:
        return {"nef": int(sd["layer1.0.conv.weight_orig"].shape[0])}
    except (KeyError, IndexError, AttributeError):
        return {}


def infer_generator_config(sd: StateDict) -> dict[str, int]:
    """Generator constructor arguments readable from a ``g_ema`` state dict; ``{}`` if unusual."""
    try:
        n_mlp = 0
        while f"style_encoder.mlp.{2 * n_mlp}.weight" in sd:
            n_mlp += 1
        return {
            "ngf": int(sd["model.5.rgblayer.weight"].shape[1]),
            "style_dim": int(sd[f"style_encoder.mlp.{2 * (n_mlp - 1)}.weight"].shape[0]),
            "style_nef": int(sd["style_encoder.model.0.weight"].shape[0]),
            "style_compress_dim": int(sd["style_encoder.mlp.0.weight"].shape[0]),
            "style_mlp_layers": n_mlp - 1,
        }
    except (KeyError, IndexError, AttributeError):
        return {}


def infer_sampler_config(sd: StateDict) -> dict[str, int]:
    """Sampler constructor arguments (noise_dim, style_dim, hidden) from a ``sampler`` state dict."""
    try:
        hidden, noise_dim = (int(s) for s in sd["lin1.weight"].shape)
        return {"noise_dim": noise_dim, "style_dim": int(sd["lin_out.weight"].shape[0]), "hidden": hidden}
    except (KeyError, IndexError, AttributeError, ValueError):
        return {}


def _content_encoder_sd(obj: Any, source: str) -> dict[str, torch.Tensor]:
    if isinstance(obj, Mapping) and "ae_ema" in obj:  # a Stage-I training snapshot
        return as_state_dict(obj["ae_ema"], source=f"{source} ['ae_ema']", prefix="contentE.")
    if is_state_dict(obj) and any(k.startswith(("contentE.", "module.contentE.")) for k in obj):
        sd = as_state_dict(obj, source=source)
        return as_state_dict(sd, source=source, prefix="contentE.")
    if isinstance(obj, Mapping) and "g_ema" in obj:
        raise CheckpointError(f"{source} is a GP-UNIT translation model (g_ema/sampler), not the content encoder; "
                              "the content encoder is released separately as content_encoder.pt")
    return as_state_dict(obj, source=source)


def load_content_encoder(path: str | os.PathLike, encoder: ContentEncoder | None = None, *,
                         input_size: int | None = 256) -> ContentEncoder:
    """Load ``content_encoder.pt`` (bare state dict), or the ``contentE`` part of a Stage-I snapshot
    (``{'ae_ema': ...}``) or of an ``AutoEncoder`` state dict, into ``encoder`` (default: a new
    :class:`ContentEncoder` with the width read from the file). Strict; returns the encoder in eval mode
    (official inference; Stage-II training leaves it in training mode, see :class:`ContentEncoder`)."""
    path = Path(path)
    sd = _content_encoder_sd(read_checkpoint(path), str(path))
    if encoder is None:
        encoder = ContentEncoder(**infer_content_encoder_config(sd), input_size=input_size, init="default")
    load_state_dict_checked(encoder, sd, source=str(path), part="content encoder", hint=infer_content_encoder_config(sd))
    return encoder.eval()


def load_translation_model(
    path: str | os.PathLike,
    generator: Generator | None = None,
    sampler: Sampler | None = None,
    *,
    generator_key: str = "g_ema",
) -> tuple[Generator, Sampler | None]:
    """Load a GP-UNIT task file ``{'g_ema': ..., 'sampler': ...}`` (e.g. ``cat2dog.pt``).

    ``generator`` / ``sampler`` default to new modules sized from the file. ``generator_key`` picks
    another generator entry (``'g'``, written only if one re-enables it in ``train.py``). A file without
    ``sampler`` (or a bare generator state dict) gives ``sampler=None``: exemplar-guided translation only.
    Strict. Returns ``(generator, sampler)`` with the generator in eval mode; the sampler's mode is
    left as constructed (training), because official sampling uses batch statistics.
    """
    path = Path(path)
    obj = read_checkpoint(path)
    if isinstance(obj, Mapping) and generator_key in obj:
        g_sd = as_state_dict(obj[generator_key], source=f"{path} [{generator_key!r}]")
        s_obj = obj.get("sampler")
    elif is_state_dict(obj) and any(k.startswith(("style_encoder.", "module.style_encoder.")) for k in obj):
        g_sd, s_obj = as_state_dict(obj, source=str(path)), None
    else:
        keys = list(obj)[:6] if isinstance(obj, Mapping) else type(obj).__name__
        raise CheckpointError(f"{path} is not a GP-UNIT translation model: expected {{'{generator_key}': ..., 'sampler': ...}}, "
                              f"found {keys}")
    if generator is None:
        generator = Generator(**infer_generator_config(g_sd), init="default")
    load_state_dict_checked(generator, g_sd, source=f"{path} [{generator_key!r}]", part="generator",
                            hint=infer_generator_config(g_sd))
    generator.eval()
    if s_obj is None:
        return generator, None
    s_sd = as_state_dict(s_obj, source=f"{path} ['sampler']")
    if sampler is None:
        sampler = Sampler(**infer_sampler_config(s_sd))
    load_state_dict_checked(sampler, s_sd, source=f"{path} ['sampler']", part="sampler", hint=infer_sampler_config(s_sd))
    return generator, sampler


def load_prior_autoencoder(path: str | os.PathLike, autoencoder: PriorAutoEncoder | None = None, *,
                           key: str = "ae_ema", ncls: int | None = None) -> PriorAutoEncoder:
    """Load a Stage-I snapshot ``prior_distillation-XXXXX.pt`` (``{'ae_ema': ..., 'ae_optim': ...}``) or a
    bare ``AutoEncoder`` state dict into a :class:`PriorAutoEncoder` (default: sized from the file).
    The optimiser state is not read. Strict."""
    path = Path(path)
    obj = read_checkpoint(path)
    src = f"{path} [{key!r}]" if isinstance(obj, Mapping) and key in obj else str(path)
    sd = as_state_dict(obj[key] if isinstance(obj, Mapping) and key in obj else obj, source=src)
    if autoencoder is None:
        try:
            nf = int(sd["contentE.layer1.0.conv.weight_orig"].shape[0])
            n, dim = (int(s) for s in sd["embed.weight"].shape)
        except (KeyError, ValueError) as exc:
            raise CheckpointError(f"{src} is not a GP-UNIT AutoEncoder state dict (missing {exc})") from None
        autoencoder = PriorAutoEncoder(nf, ncls if ncls is not None else n, embed_dim=dim, init="default")
    load_state_dict_checked(autoencoder, sd, source=src, part="prior auto-encoder")
    return autoencoder


def load_official(
    content_encoder_path: str | os.PathLike,
    translation_path: str | os.PathLike | None = None,
    *,
    device: torch.device | str | None = None,
) -> dict[str, nn.Module]:
    """The inference set of ``inference.py``: ``{'content_encoder', 'generator', 'sampler'}`` (the last two
    only with ``translation_path``; ``sampler`` only if the file holds one), moved to ``device``.
    Encoder and generator are in eval mode, the sampler as officially in training mode."""
    parts: dict[str, nn.Module] = {"content_encoder": load_content_encoder(content_encoder_path)}
    if translation_path is not None:
        g, s = load_translation_model(translation_path)
        parts["generator"] = g
        if s is not None:
            parts["sampler"] = s
    if device is not None:
        parts = {k: v.to(device) for k, v in parts.items()}
    return parts


def _atomic_save(obj: Any, path: Path) -> Path:
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.with_name(path.name + ".tmp")
    torch.save(obj, tmp)
    os.replace(tmp, path)
    return path


def _cpu_sd(module: nn.Module) -> dict[str, torch.Tensor]:
    return {k: v.detach().cpu() for k, v in module.state_dict().items()}


def save_content_encoder(encoder: ContentEncoder, path: str | os.PathLike) -> Path:
    """Write a bare state dict, as ``prior_distillation.py`` writes ``content_encoder-45000.pt``."""
    return _atomic_save(_cpu_sd(encoder), Path(path))


def save_translation_model(generator: Generator, sampler: Sampler | None, path: str | os.PathLike) -> Path:
    """Write ``{'g_ema': ..., 'sampler': ...}`` as ``train.py`` does (``sampler`` omitted when None)."""
    obj: dict[str, Any] = {"g_ema": _cpu_sd(generator)}
    if sampler is not None:
        obj["sampler"] = _cpu_sd(sampler)
    return _atomic_save(obj, Path(path))
