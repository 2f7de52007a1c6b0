"""The contract between a translation method and the trainer.

A method owns its networks and losses. The trainer knows nothing of FUNIT, DeepI2I or GP-UNIT: it asks
the method which networks to wrap for DDP, which optimisers exist, which steps to run at a given
iteration (and which networks each step trains), and which EMA copies to update.
"""
from __future__ import annotations

import functools
import inspect
import json
import os
import tempfile
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Callable, ClassVar, Iterator, Mapping

import torch
from safetensors.torch import load_file, save_file
from torch import nn

from .errors import CheckpointError, ConfigError, MissingFileError

CONFIG_NAME = "config.json"

Batch = Mapping[str, Any]
Losses = dict[str, torch.Tensor]


@dataclass
class TrainStep:
    """One optimisation step of an iteration, e.g. FUNIT's discriminator update.

    ``fn(batch, nets)`` returns named scalar losses; the key ``"loss"`` is back-propagated.
    ``trains`` names the networks whose parameters receive gradients in this step; the trainer hands
    those to ``fn`` wrapped for DDP and hands every other network unwrapped with gradients disabled.
    ``optimizers`` are stepped after the backward pass.
    """

    name: str
    fn: Callable[[Batch, Mapping[str, nn.Module]], Losses]
    trains: tuple[str, ...]
    optimizers: tuple[str, ...]


@dataclass
class EMASpec:
    """``target`` is an attribute holding an averaged copy of network ``source``."""

    target: str
    source: str
    decay: float
    buffers: bool = False  # official FUNIT averages parameters only


@dataclass
class ExportData:
    """What the trainer offers a method just before it writes an export (:meth:`Method.before_export`)."""

    step: int
    seed: int
    """The recipe's ``train.seed``: seed post-hoc fits with ``(seed, step)``."""
    device: torch.device
    batch_size: int
    one_pass: Callable[[str], Iterator[tuple[torch.Tensor, torch.Tensor]]]
    """``one_pass(stream)``: every image of that stream's training data once, augmented as in training,
    as ``(images, labels)`` batches on ``device``."""


def _jsonable(value: Any, *, lenient: bool = False) -> Any:
    """JSON-ready copy of a config value; ``lenient`` writes other objects as their repr (metadata only)."""
    if isinstance(value, (str, int, float, bool)) or value is None:
        return value
    if isinstance(value, (list, tuple)):
        return [_jsonable(v, lenient=lenient) for v in value]
    if isinstance(value, dict):
        return {str(k): _jsonable(v, lenient=lenient) for k, v in value.items()}
    if isinstance(value, os.PathLike):
        return os.fspath(value)
    if lenient:
        return repr(value)
    raise TypeError(f"method config value {value!r} ({type(value).__name__}) is not JSON-serialisable")


class Method(nn.Module):
    """Base class of registered methods. Subclasses take keyword-only hyper-parameters in ``__init__``;
    the bound values (defaults included) are recorded in ``self.config`` so that ``save_pretrained``
    can rebuild the exact model, as diffusers' ``register_to_config`` does."""

    method_name: ClassVar[str] = ""
    plugin_version: ClassVar[str] = "0"
    # Names of independent data streams the method's batch holds, e.g. ("content", "class").
    data_streams: ClassVar[tuple[str, ...]] = ("images",)
    # Constructor arguments that only matter when building from scratch (e.g. a path to initial
    # weights); they are dropped when an export is rebuilt, since the export holds the weights.
    init_only: ClassVar[tuple[str, ...]] = ()
    # Ranges and choices of keyword arguments (``i2ikit.constraints``), checked by the recipe validator
    # and by ``i2ikit.build`` before the method is built: e.g. ``{"nf": Range(ge=1), "lr_gen": positive}``.
    constraints: ClassVar[Mapping[str, Any]] = {}
    # The fewest classes each data stream needs for training to mean anything (e.g. FUNIT translates
    # between classes: 2). Fewer is an error before training, with a hint at the likely cause.
    min_classes: ClassVar[Mapping[str, int]] = {}
    # How ``translate`` is steered, for the command line and demos: ``class_images`` (few-shot: K images
    # of the target class), ``target_class`` (many-class: a class index), ``style`` (exemplar-guided: a
    # style image), ``num_styles`` (latent-guided: random styles), ``direct`` (one fixed mapping,
    # ``translate(content)``, e.g. CycleGAN). Empty: the method does not translate.
    translate_modes: ClassVar[tuple[str, ...]] = ()
    # The part slots (``i2ikit.parts.PartSlot``) by recipe key, each with the official part as its default,
    # e.g. ``{"discriminator": PartSlot("discriminator", "funit_patch", labels=True), "gan_loss": ...}``.
    # The recipe validator and ``i2ikit.build`` check the specs given for them; ``build_part`` builds one.
    parts: ClassVar[Mapping[str, Any]] = {}

    config: dict[str, Any]

    def __init_subclass__(cls, **kwargs: Any) -> None:
        super().__init_subclass__(**kwargs)
        if "__init__" not in cls.__dict__:
            return
        init = cls.__dict__["__init__"]
        sig = inspect.signature(init)

        @functools.wraps(init)
        def recording_init(self: Method, *args: Any, **kw: Any) -> None:
            bound = sig.bind(self, *args, **kw)
            bound.apply_defaults()
            if not hasattr(self, "_config_recorded"):
                object.__setattr__(self, "_config_recorded", True)
                cfg = {k: v for k, v in bound.arguments.items() if k != "self"}
                for name, p in sig.parameters.items():
                    if p.kind is inspect.Parameter.VAR_KEYWORD:
                        cfg.update(cfg.pop(name, {}))
                object.__setattr__(self, "config", {k: _jsonable(v) for k, v in cfg.items()})
            init(self, *args, **kw)

        cls.__init__ = recording_init  # type: ignore[method-assign]

    # ---- parts -------------------------------------------------------------------------------
    def build_part(self, key: str, spec: Any, **supplied: Any) -> Any:
        """Build the part that slot ``key`` of :attr:`parts` names in ``spec`` (a name, ``{name: ..., <kwargs>}``
        or None for the default), handing it ``supplied`` where its constructor takes them, and record the
        explicit spec in ``self.config`` so an export rebuilds the same part."""
        from .parts import build_part, resolved_spec

        slot = type(self).parts[key]
        where = f"method {self.method_name!r}: {key}"
        part = build_part(slot, spec, where, supplied=supplied)
        self.config[key] = _jsonable(resolved_spec(slot, spec, where))
        return part

    @classmethod
    def upgrade_config(cls, config: dict[str, Any]) -> dict[str, Any]:
        """Rewrite an export's config written by an earlier version of the method into today's keywords
        (e.g. keys that became part specs); default: unchanged."""
        return config

    # ---- what the trainer needs -------------------------------------------------------------
    def networks(self) -> dict[str, nn.Module]:
        """Networks that are trained and therefore wrapped (DDP) by the trainer."""
        raise NotImplementedError

    def make_optimizers(self) -> dict[str, torch.optim.Optimizer]:
        raise NotImplementedError

    def training_steps(self, iteration: int) -> list[TrainStep]:
        """The steps to run at ``iteration`` (0-based). Phase schedules live here."""
        raise NotImplementedError

    def ema_specs(self) -> list[EMASpec]:
        return []

    def extra_state_modules(self) -> dict[str, nn.Module]:
        """Modules outside ``networks()`` whose state still changes in training (e.g. a frozen
        encoder's spectral-norm vectors); the trainer saves and restores them with the run state."""
        return {}

    def sample_columns(self, batch: Batch) -> list[tuple[str, torch.Tensor]]:
        """Named image columns for the sample grid, each Bx3xHxW in [-1, 1]."""
        raise NotImplementedError

    @classmethod
    def check_inputs(cls, kwargs: Mapping[str, Any]) -> None:
        """Raise ``FileNotFoundError`` naming what to prepare when a file or folder that the keyword arguments
        point to is missing. Runs before any stage of a recipe trains, without building the model."""

    @classmethod
    def values_from_data(cls, *, num_classes: int) -> dict[str, Any]:
        """Values that a recipe may set to ``auto`` and the trainer fills from the training data."""
        return {"num_classes": num_classes}

    # ---- export -----------------------------------------------------------------------------
    def export_modules(self) -> dict[str, nn.Module]:
        return dict(self.named_children())

    def before_export(self, data: ExportData) -> None:
        """Post-hoc fitting that every training export should hold (e.g. GP-UNIT's latent sampler, which
        the official code fits at each save). The trainer runs it on the main process, at most once per step,
        before an export or a training-time evaluation; default: nothing."""

    def write_export_files(self, directory: Path) -> None:
        """Extra files for an export besides ``config.json`` and the safetensors, e.g. an official-format
        checkpoint other tools read. ``directory`` is the export being written (atomically)."""

    def save_pretrained(self, directory: str | os.PathLike, *, extra: Mapping[str, Any] | None = None) -> Path:
        """Write ``config.json`` and one ``<network>.safetensors`` per network, atomically."""
        from . import __version__

        directory = Path(directory)
        directory.parent.mkdir(parents=True, exist_ok=True)
        tmp = Path(tempfile.mkdtemp(prefix=f".{directory.name}.tmp-", dir=directory.parent))
        umask = os.umask(0)
        os.umask(umask)
        os.chmod(tmp, 0o777 & ~umask)  # mkdtemp makes it private (0700); an export is shared like any folder
        meta = {
            "method": self.method_name,
            "config": self.config,
            "i2ikit_version": __version__,
            "plugin": type(self).__module__.split(".")[0],
            "plugin_version": self.plugin_version,
            "networks": sorted(self.export_modules()),
        }
        if extra:
            meta.update(_jsonable(dict(extra), lenient=True))
        (tmp / CONFIG_NAME).write_text(json.dumps(meta, indent=2) + "\n")
        for name, module in self.export_modules().items():
            tensors = {k: v.detach().contiguous().cpu() for k, v in module.state_dict().items()}
            save_file(tensors, str(tmp / f"{name}.safetensors"), metadata={"format": "pt"})
        self.write_export_files(tmp)
        _replace_dir(tmp, directory)
        return directory

    def load_pretrained_weights(self, directory: str | os.PathLike) -> None:
        directory = Path(directory)
        for name, module in self.export_modules().items():
            file = directory / f"{name}.safetensors"
            if not file.exists():
                raise CheckpointError(f"{file} is missing: an i2ikit export holds one .safetensors file per network "
                                      f"({', '.join(sorted(self.export_modules()))}); copy the whole export folder again")
            load_state_dict_checked(module, read_safetensors(file, f"network {name} of the export"), source=str(file),
                                    part=name, hint=f"Its config.json does not match its weights; re-export the model.")

    @classmethod
    def load_official(cls, path: str | os.PathLike, **overrides: Any) -> "Method":
        raise ConfigError(f"method {cls.method_name!r} cannot read official checkpoints; give an i2ikit export folder")


def _replace_dir(src: Path, dst: Path) -> None:
    """Move ``src`` to ``dst`` so that ``dst`` is never half-written: the old copy is renamed aside first."""
    old = None
    if dst.exists():
        old = dst.with_name(f".{dst.name}.old-{os.getpid()}")
        os.replace(dst, old)
    os.replace(src, dst)
    if old is not None:
        import shutil

        shutil.rmtree(old, ignore_errors=True)


def read_export_config(directory: str | os.PathLike) -> dict[str, Any]:
    file = Path(directory) / CONFIG_NAME
    try:
        return json.loads(file.read_text())
    except FileNotFoundError:
        raise MissingFileError(f"{file} not found: not an i2ikit export (expected config.json + *.safetensors)") from None
    except (UnicodeDecodeError, json.JSONDecodeError) as exc:
        raise CheckpointError(f"{file} is not valid JSON ({exc}); re-export the model or copy the export again") from None


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
