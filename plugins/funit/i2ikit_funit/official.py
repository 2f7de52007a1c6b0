"""Reading and writing the official NVlabs/FUNIT checkpoint formats.

- generator file ``gen_XXXXXXXX.pt`` / released ``animal149_gen.pt``: ``{'gen': sd, 'gen_test': sd}``
  (``gen_test`` is the EMA generator, the one to use for inference);
- discriminator file ``dis_XXXXXXXX.pt``: ``{'dis': sd}``.

Files are read with ``torch.load(weights_only=True)`` through ``i2ikit.checkpoint_files.load_checkpoint_file``;
anything that needs pickle is refused. State dicts are checked key by key against a freshly built
model before loading, so a mismatch names the file and the first offending key.
"""
from __future__ import annotations

import os
from typing import TYPE_CHECKING, Any, Mapping

import torch

from i2ikit.errors import CheckpointError
from i2ikit.checkpoint_files import is_state_dict, load_checkpoint_file, strip_module_prefix

if TYPE_CHECKING:
    from .method import FUNIT

__all__ = ["load_official", "to_official", "to_official_dis", "infer_gen_config", "infer_dis_config", "check_state_dict"]

StateDict = Mapping[str, torch.Tensor]


def _count(sd: StateDict, pattern: str) -> int:
    """How many consecutive indices i = 0, 1, ... have ``pattern.format(i)`` in ``sd``."""
    n = 0
    while pattern.format(n) in sd:
        n += 1
    return n


def infer_gen_config(sd: StateDict) -> dict[str, int]:
    """Generator hyper-parameters readable from the key layout and shapes; ``{}`` if anything looks unusual."""
    try:
        n_content_convs = _count(sd, "enc_content.model.{}.conv.weight")
        n_class_convs = _count(sd, "enc_class_model.model.{}.conv.weight")
        cfg = {
            "nf": int(sd["enc_content.model.0.conv.weight"].shape[0]),
            "n_downs_content": n_content_convs - 1,
            "n_res_blks": _count(sd, f"enc_content.model.{n_content_convs}.model.{{}}.model.0.conv.weight"),
            "n_downs_class": n_class_convs - 1,
            # class encoder: convs 0..downs, then AdaptiveAvgPool2d, then the bare 1x1 conv
            "latent_dim": int(sd[f"enc_class_model.model.{n_class_convs + 1}.weight"].shape[0]),
            "nf_mlp": int(sd["mlp.model.0.fc.weight"].shape[0]),
            "n_mlp_blks": _count(sd, "mlp.model.{}.fc.weight"),
        }
    except (KeyError, IndexError, AttributeError):
        return {}
    return cfg


def infer_dis_config(sd: StateDict) -> dict[str, Any]:
    """``num_classes`` and the ``discriminator`` spec (``funit_patch`` with nf, n_res_blks); ``{}`` if unusual."""
    try:
        blocks = {k.split(".")[1] for k in sd if k.startswith("cnn_f.") and ".conv_0." in k}
        return {
            "num_classes": int(sd["cnn_c.0.conv.weight"].shape[0]),
            "discriminator": {"name": "funit_patch", "nf": int(sd["cnn_f.0.conv.weight"].shape[0]),
                              "n_res_blks": len(blocks)},
        }
    except (KeyError, IndexError, AttributeError):
        return {}


def check_state_dict(expected: StateDict, got: StateDict, *, source: str, what: str, hint: str = "") -> None:
    """Raise :class:`~i2ikit.errors.CheckpointError` naming ``source`` and the first key (in the expected
    order) that is missing, unexpected or of the wrong shape."""
    for key, ref in expected.items():
        if key not in got:
            raise CheckpointError(f"{source}: {what} has no key {key!r} (expected shape {list(ref.shape)}).{hint}")
        if tuple(got[key].shape) != tuple(ref.shape):
            raise CheckpointError(
                f"{source}: {what} key {key!r} has shape {list(got[key].shape)}, expected {list(ref.shape)}.{hint}"
            )
    extra = [k for k in got if k not in expected]
    if extra:
        raise CheckpointError(f"{source}: {what} has unexpected key {extra[0]!r} ({len(extra)} unexpected in all).{hint}")


def _read_gen_file(path: str | os.PathLike) -> tuple[dict[str, torch.Tensor] | None, dict[str, torch.Tensor]]:
    """Return ``(gen, gen_test)``; a file holding one generator state dict gives it for both."""
    obj = load_checkpoint_file(path)
    if isinstance(obj, Mapping) and ("gen" in obj or "gen_test" in obj):
        gen, gen_test = obj.get("gen"), obj.get("gen_test")
        for name, sd in (("gen", gen), ("gen_test", gen_test)):
            if sd is not None and not is_state_dict(sd):
                raise CheckpointError(f"{path}: entry {name!r} is not a state dict of tensors")
        gen = strip_module_prefix(gen) if gen is not None else None
        gen_test = strip_module_prefix(gen_test) if gen_test is not None else gen
        return gen, gen_test  # type: ignore[return-value]
    if isinstance(obj, Mapping) and "dis" in obj:
        raise CheckpointError(f"{path} is a FUNIT discriminator checkpoint ({{'dis': ...}}); pass it as dis_checkpoint=")
    if is_state_dict(obj):
        sd = strip_module_prefix(obj)
        return None, sd
    keys = list(obj)[:8] if isinstance(obj, Mapping) else type(obj).__name__
    raise CheckpointError(
        f"{path} is not a FUNIT generator checkpoint: expected {{'gen': sd, 'gen_test': sd}}, {{'gen_test': sd}} "
        f"or a bare generator state dict, found {keys}"
    )


def _read_dis_file(path: str | os.PathLike) -> dict[str, torch.Tensor]:
    obj = load_checkpoint_file(path)
    if isinstance(obj, Mapping) and "dis" in obj:
        obj = obj["dis"]
    if not is_state_dict(obj):
        raise CheckpointError(f"{path} is not a FUNIT discriminator checkpoint: expected {{'dis': sd}} or a bare state dict")
    return strip_module_prefix(obj)


def load_official(cls: type[FUNIT], path: str | os.PathLike, *, dis_checkpoint: str | os.PathLike | None = None,
                  **overrides: Any) -> FUNIT:
    """Build ``cls`` from an official generator checkpoint (and optionally a discriminator one).

    Hyper-parameters readable from the shapes (nf, latent_dim, ...) are inferred; ``overrides`` win.
    ``gen`` goes into ``method.gen`` and ``gen_test`` into ``method.gen_ema``; a file with only one
    generator state dict fills both. Loading is strict.
    """
    gen_sd, gen_test_sd = _read_gen_file(path)
    config: dict[str, Any] = dict(infer_gen_config(gen_test_sd))
    dis_sd = None
    if dis_checkpoint is not None:
        dis_sd = _read_dis_file(dis_checkpoint)
        config.update(infer_dis_config(dis_sd))
    config.update(overrides)
    model = cls(**config)
    hint = (" The file does not match a FUNIT generator built with "
            + ", ".join(f"{k}={model.config[k]}" for k in ("nf", "latent_dim", "nf_mlp", "n_mlp_blks", "n_res_blks",
                                                          "n_downs_content", "n_downs_class"))
            + "; pass the right values as keyword arguments.")
    expected = model.gen.state_dict()
    check_state_dict(expected, gen_test_sd, source=str(path), what="'gen_test'" if gen_sd is not None else "generator", hint=hint)
    if gen_sd is not None:
        check_state_dict(expected, gen_sd, source=str(path), what="'gen'", hint=hint)
    model.gen.load_state_dict(gen_sd if gen_sd is not None else gen_test_sd, strict=True)
    model.gen_ema.load_state_dict(gen_test_sd, strict=True)
    if dis_sd is not None:
        dhint = (f" Expected a discriminator with num_classes={model.config['num_classes']} and "
                 f"discriminator={model.config['discriminator']}.")
        check_state_dict(model.dis.state_dict(), dis_sd, source=str(dis_checkpoint), what="'dis'", hint=dhint)
        model.dis.load_state_dict(dis_sd, strict=True)
    return model


def _cpu_copy(module: torch.nn.Module) -> dict[str, torch.Tensor]:
    return {k: v.detach().cpu().clone() for k, v in module.state_dict().items()}


def to_official(method: FUNIT) -> dict[str, dict[str, torch.Tensor]]:
    """The official generator checkpoint ``{'gen': sd, 'gen_test': sd}`` (save it with ``torch.save``)."""
    return {"gen": _cpu_copy(method.gen), "gen_test": _cpu_copy(method.gen_ema)}


def to_official_dis(method: FUNIT) -> dict[str, dict[str, torch.Tensor]]:
    """The official discriminator checkpoint ``{'dis': sd}``."""
    return {"dis": _cpu_copy(method.dis)}
