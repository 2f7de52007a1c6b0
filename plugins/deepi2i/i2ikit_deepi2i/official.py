"""Reading and writing BigGAN-PyTorch and DeepI2I checkpoint files.

File layout (both repositories save plain ``state_dict``s with ``torch.save``):

- BigGAN-PyTorch (``utils.save_weights``): ``G.pth``, ``G_ema.pth``, ``D.pth``, ``G_optim.pth``,
  ``D_optim.pth``, ``state_dict.pth``. DeepI2I starts from it with ``--resume_BigGAN``: G from ``G.pth``
  (its README says to copy ``G_ema.pth`` over ``G.pth``), D **and** the encoder E1 from ``D.pth``; the
  adaptor A1 is not loaded. Here :func:`load_biggan_weights` prefers ``G_ema.pth`` when present.
- DeepI2I runs / released models: ``G.pth``, ``D.pth``, ``E1.pth``, ``A1.pth`` (plus ``*_optim.pth`` and
  ``state_dict.pth``) in ``result/<ds>/weights/<experiment>/``; :func:`load_deepi2i_weights`.

Every file goes through :func:`i2ikit.checkpoint_files.load_checkpoint_file` (``torch.load(weights_only=True)``).
``state_dict.pth`` is never needed: DeepI2I reads only its iteration counter from it (to pick the
training phase), and the file pickles ``nn.ReLU`` objects in its ``config``, so it is refused.
State dicts are compared key by key with the target module before loading (``strict=True``), so a
mismatch names the file, the first offending keys, and the configuration the file looks like.
"""
from __future__ import annotations

import os
from pathlib import Path
from typing import Any, Mapping

import torch
from torch import nn

from i2ikit.errors import CheckpointError, MissingFileError
from i2ikit.checkpoint_files import is_state_dict, load_checkpoint_file, load_state_dict_checked, strip_module_prefix

__all__ = [
    "PART_ALIASES",
    "resolve_parts",
    "read_state_dict",
    "infer_generator_config",
    "infer_discriminator_config",
    "load_state_dict_checked",
    "load_biggan_weights",
    "load_deepi2i_weights",
    "load_official_weights",
    "save_deepi2i_weights",
]

StateDict = Mapping[str, torch.Tensor]

# Canonical part name -> accepted attribute / mapping keys, first match wins.
PART_ALIASES: dict[str, tuple[str, ...]] = {
    "G": ("G", "generator", "gen", "netG"),
    "G_ema": ("G_ema", "generator_ema", "gen_ema", "gen_test"),
    "D": ("D", "discriminator", "dis", "netD"),
    "E": ("E", "E1", "encoder", "enc"),
    "A": ("A", "A1", "adaptor", "adapter", "alignment"),
}


def resolve_parts(model_or_parts: Any) -> dict[str, nn.Module]:
    """Find G / G_ema / D / E / A in a mapping (``{"G": g, "D": d}``) or an object's attributes
    (e.g. a method with ``generator``, ``discriminator``, ``encoder``, ``adaptor``). Missing parts are
    left out; a single ``nn.Module`` that is none of these is an error."""
    found: dict[str, nn.Module] = {}
    for part, names in PART_ALIASES.items():
        for name in names:
            if isinstance(model_or_parts, Mapping):
                obj = model_or_parts.get(name)
            else:
                obj = getattr(model_or_parts, name, None)
            if isinstance(obj, nn.Module):
                found[part] = obj
                break
    if not found:
        raise TypeError(
            "expected a mapping or an object with networks named G/generator, G_ema, D/discriminator, "
            f"E/E1/encoder, A/A1/adaptor; found none in {type(model_or_parts).__name__}"
        )
    return found


def read_state_dict(path: str | os.PathLike) -> dict[str, torch.Tensor]:
    """Read one ``*.pth`` state dict with ``weights_only=True`` (pickle is refused) and drop a
    DataParallel ``module.`` prefix. Anything but a flat ``{str: Tensor}`` mapping is an error."""
    path = Path(path)
    try:
        obj = load_checkpoint_file(path)
    except ValueError as exc:
        if path.name.startswith("state_dict"):
            raise CheckpointError(
                f"{path} is BigGAN-PyTorch/DeepI2I's training-state file: it pickles Python objects (nn.ReLU "
                "in its 'config'), so it is refused (i2ikit loads with weights_only=True), and it is not needed: "
                "DeepI2I reads only the iteration counter 'itr' from it, to choose the training phase. "
                f"Load G.pth / G_ema.pth / D.pth (and E1.pth / A1.pth) instead. Detail: {exc}"
            ) from None
        raise
    if not is_state_dict(obj):
        kind = type(obj).__name__
        keys = list(obj)[:5] if isinstance(obj, Mapping) else []
        raise CheckpointError(f"{path} is not a plain state_dict of tensors (got {kind}{' with keys ' + str(keys) if keys else ''})")
    return strip_module_prefix(obj)


def _block_indices(sd: StateDict, suffix: str) -> list[int]:
    idx = set()
    for k in sd:
        parts = k.split(".")
        if len(parts) > 3 and parts[0] == "blocks" and k.endswith(suffix) and parts[2] == "0":
            idx.add(int(parts[1]))
    return sorted(idx)


def infer_generator_config(sd: StateDict) -> dict[str, Any]:
    """Generator settings readable from a BigGAN-PyTorch ``G.pth`` state dict; ``{}`` if unusual."""
    try:
        n_blocks = len(_block_indices(sd, ".conv1.weight"))
        resolution = 4 * 2**n_blocks
        ch = int(sd[f"blocks.{n_blocks - 1}.0.conv1.weight"].shape[0])
        ch //= {32: 4, 64: 2}.get(resolution, 1)
        num_classes, shared_dim = (int(s) for s in sd["shared.weight"].shape)
        cond_dim = int(sd["blocks.0.0.bn1.gain.weight"].shape[1])
        chunk = cond_dim - shared_dim
        z_first = int(sd["linear.weight"].shape[1])
        hier = chunk > 0
        attn = sorted(8 * 2**i for i in range(n_blocks) if f"blocks.{i}.1.gamma" in sd)
        return {
            "resolution": resolution,
            "ch": ch,
            "num_classes": num_classes,
            "shared_dim": shared_dim,
            "hier": hier,
            "dim_z": chunk * (n_blocks + 1) if hier else z_first,
            "attention": "_".join(str(a) for a in attn) or "0",
        }
    except (KeyError, IndexError, ValueError, AttributeError):
        return {}


def infer_discriminator_config(sd: StateDict) -> dict[str, Any]:
    """Discriminator / encoder settings readable from a BigGAN-PyTorch ``D.pth`` state dict; ``{}`` if unusual."""
    try:
        n_blocks = len(_block_indices(sd, ".conv1.weight"))
        resolution = {4: 32, 5: 64, 6: 128, 7: 256}[n_blocks]
        first = int(sd["blocks.0.0.conv1.weight"].shape[0])
        ch = first // 4 if resolution == 32 else first
        num_classes = int(sd["embed.weight"].shape[0])
        return {"resolution": resolution, "ch": ch, "num_classes": num_classes}
    except (KeyError, IndexError, ValueError, AttributeError):
        return {}


def _config_hint(sd: StateDict, part: str) -> str:
    cfg = infer_generator_config(sd) if part in ("G", "G_ema") else infer_discriminator_config(sd)
    return f" The file looks like {cfg}." if cfg else ""


def _load_file_into(module: nn.Module, path: Path, part: str) -> None:
    sd = read_state_dict(path)
    load_state_dict_checked(module, sd, source=str(path), part=part, hint=_config_hint(sd, part))


def _need(folder: Path, name: str) -> Path:
    path = folder / name
    if not path.is_file():
        present = sorted(p.name for p in folder.glob("*.pth")) if folder.is_dir() else []
        where = f"; the folder holds {present}" if present else ("; the folder does not exist" if not folder.is_dir() else "")
        raise MissingFileError(f"{path} not found{where}")
    return path


def load_biggan_weights(
    model_or_parts: Any,
    folder: str | os.PathLike,
    *,
    generator_file: str = "auto",
) -> dict[str, str]:
    """Initialise DeepI2I from a pretrained BigGAN-PyTorch run, as ``--resume --resume_BigGAN`` does.

    ``G`` (and ``G_ema`` if present) <- ``G_ema.pth`` (``generator_file="auto"`` falls back to ``G.pth``;
    name a file to force it); ``D`` and ``E`` <- ``D.pth``. ``A`` is not touched (DeepI2I trains it from
    PyTorch's default init). Optimiser files and ``state_dict.pth`` are not read. All loads are strict.
    Returns ``{part: file}`` for what was loaded.
    """
    folder = Path(folder)
    parts = resolve_parts(model_or_parts)
    done: dict[str, str] = {}
    if "G" in parts or "G_ema" in parts:
        if generator_file == "auto":
            generator_file = "G_ema.pth" if (folder / "G_ema.pth").is_file() else "G.pth"
        path = _need(folder, generator_file)
        sd = read_state_dict(path)
        for part in ("G", "G_ema"):
            if part in parts:
                load_state_dict_checked(parts[part], sd, source=str(path), part=part, hint=_config_hint(sd, part))
                done[part] = str(path)
    if "D" in parts or "E" in parts:
        path = _need(folder, "D.pth")
        sd = read_state_dict(path)
        for part in ("D", "E"):
            if part in parts:
                load_state_dict_checked(parts[part], sd, source=str(path), part=part, hint=_config_hint(sd, part))
                done[part] = str(path)
    if not done:
        raise ValueError("nothing to load: pass a generator, discriminator or encoder")
    return done


def load_deepi2i_weights(
    model_or_parts: Any,
    folder: str | os.PathLike,
    *,
    generator_file: str = "G.pth",
) -> dict[str, str]:
    """Load a DeepI2I run or released model: ``G`` (and ``G_ema``) <- ``G.pth``, ``D`` <- ``D.pth``,
    ``E`` <- ``E1.pth``, ``A`` <- ``A1.pth``, each strict. DeepI2I writes ``G_ema.pth`` only with
    ``--ema`` (its scripts don't); pass ``generator_file="G_ema.pth"`` to use one. Only the files of the
    parts present are read. Returns ``{part: file}``.

    The released models go to ``result/<ds>/weights/DeepI2I_<ds>/`` (``test.py`` with ``--model_ite 0``
    reads that folder itself, not the ``0`` subfolder the README mentions).
    """
    folder = Path(folder)
    parts = resolve_parts(model_or_parts)
    files = {"G": generator_file, "G_ema": generator_file, "D": "D.pth", "E": "E1.pth", "A": "A1.pth"}
    done: dict[str, str] = {}
    cache: dict[str, dict[str, torch.Tensor]] = {}
    for part, module in parts.items():
        path = _need(folder, files[part])
        if files[part] not in cache:
            cache[files[part]] = read_state_dict(path)
        sd = cache[files[part]]
        load_state_dict_checked(module, sd, source=str(path), part=part, hint=_config_hint(sd, part))
        done[part] = str(path)
    return done


def load_official_weights(model_or_parts: Any, folder: str | os.PathLike) -> dict[str, str]:
    """:func:`load_deepi2i_weights` if ``folder`` holds ``E1.pth`` (a DeepI2I run), else
    :func:`load_biggan_weights` (a BigGAN-PyTorch run)."""
    folder = Path(folder)
    if (folder / "E1.pth").is_file():
        return load_deepi2i_weights(model_or_parts, folder)
    return load_biggan_weights(model_or_parts, folder)


def save_deepi2i_weights(model_or_parts: Any, folder: str | os.PathLike) -> dict[str, str]:
    """Write ``G.pth``/``D.pth``/``E1.pth``/``A1.pth`` (and ``G_ema.pth``) as DeepI2I's ``save_weights``
    does: plain CPU state dicts that the official code loads with ``strict=True``. No optimiser or
    ``state_dict.pth`` files are written."""
    folder = Path(folder)
    folder.mkdir(parents=True, exist_ok=True)
    names = {"G": "G.pth", "G_ema": "G_ema.pth", "D": "D.pth", "E": "E1.pth", "A": "A1.pth"}
    done = {}
    for part, module in resolve_parts(model_or_parts).items():
        path = folder / names[part]
        tmp = path.with_name(path.name + ".tmp")
        torch.save({k: v.detach().cpu() for k, v in module.state_dict().items()}, tmp)
        os.replace(tmp, path)
        done[part] = str(path)
    return done
