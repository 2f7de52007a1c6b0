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
from safetensors.torch import save_file
from torch import nn

from .checkpoint_files import load_state_dict_checked, read_safetensors
from .errors import CheckpointError, ConfigError, MissingFileError

CONFIG_NAME = "config.json"
TASKS = ("few_shot", "many_class", "two_domain", "paired")

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
    # What the method does (``TASKS``): ``few_shot`` (unseen classes from K images), ``many_class`` (into
    # any of its classes), ``two_domain`` (one domain into another), ``paired`` (from paired data).
    # ``i2ikit eval`` picks its protocol from it and ``i2ikit models`` lists it. Empty: no translation.
    tasks: ClassVar[tuple[str, ...]] = ()
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

    def lr_factor(self, optimizer: str, iteration: int) -> float:
        """The learning-rate schedule: optimiser ``optimizer``'s lr at ``iteration`` (0-based) is its initial lr
        times this factor (e.g. MUNIT's step decay, DRIT's linear decay). A pure function of the iteration, so a
        resumed run follows the same schedule without any scheduler state; default: constant (1.0)."""
        return 1.0

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

    def save_pretrained(self, directory: str | os.PathLike, *, extra: Mapping[str, Any] | None = None,
                        files: Mapping[str, str | bytes] | None = None) -> Path:
        """Write ``config.json`` and one ``<network>.safetensors`` per network, atomically.

        ``extra``: more top-level keys of ``config.json`` (e.g. where a conversion came from). ``files``: more
        files of the export by name (e.g. ``{"README.md": model_card}``), written inside the same atomic step."""
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
        for name, content in (files or {}).items():
            if Path(name).name != name or name in (CONFIG_NAME,) or name.endswith(".safetensors"):
                raise ValueError(f"save_pretrained: extra file {name!r} must be a plain file name other than "
                                 "config.json and the networks' .safetensors")
            target = tmp / name
            target.write_bytes(content) if isinstance(content, bytes) else target.write_text(content)
        _replace_dir(tmp, directory)
        return directory

    def push_to_hub(self, repo_id: str, *, private: bool = False, token: str | None = None,
                    commit_message: str | None = None, card: str | None = None) -> str:
        """Upload this model to the Hugging Face Hub model repo ``repo_id`` (created when missing) as an export:
        ``config.json``, safetensors and a model card (``card``, default one made from the method). Returns the
        commit URL. ``i2ikit push <export> <repo_id>`` does the same for an export folder."""
        from .convert import model_card
        from .hub import push_export

        with tempfile.TemporaryDirectory() as tmp:
            card = card or model_card(self.method_name, tuple(self.tasks or ()), name=repo_id.split("/")[-1])
            export = self.save_pretrained(Path(tmp) / "export", files={"README.md": card})
            return push_export(export, repo_id, private=private, token=token, commit_message=commit_message)

    def load_pretrained_weights(self, directory: str | os.PathLike) -> None:
        directory = Path(directory)
        for name, module in self.export_modules().items():
            file = directory / f"{name}.safetensors"
            if not file.exists():
                raise CheckpointError(f"{file} is missing: an i2ikit export holds one .safetensors file per network "
                                      f"({', '.join(sorted(self.export_modules()))}); copy the whole export folder again")
            load_state_dict_checked(module, read_safetensors(file, f"network {name} of the export"), source=str(file),
                                    part=name, hint="Its config.json does not match its weights; re-export the model.")

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
