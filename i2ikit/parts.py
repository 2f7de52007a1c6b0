"""Parts: the pieces methods are assembled from, their contracts, and the one builder for them.

A *part* is a class a plugin registers under a part kind. Each kind has a contract, checked when the
plugin registers the part, so a part that cannot fit is reported at load time by plugin and name:

``discriminator``
    An ``nn.Module`` whose ``forward(x, y=None)`` takes images ``x`` (B x 3 x H x W in [-1, 1]) and,
    optionally, class indices ``y`` (B,), and returns a :class:`DiscriminatorOutput`: ``logits``
    (batch first, any shape: a GAN loss averages them) and ``features``, the activations it exposes for
    feature matching and style losses, shallow to deep, batch first, at least one (the last one is
    what its output head reads). It declares ``labels``: ``"required"`` (``y`` must be given, e.g. a
    projection discriminator), ``"optional"`` (``y`` picks a class head; without it there must be one
    class) or ``"unused"`` (an unconditional discriminator). A class-conditional part takes
    ``num_classes`` in its constructor.
``gan_loss``
    A class built without arguments with three methods on discriminator logits, each returning a
    scalar: ``d_real`` and ``d_fake`` (the discriminator's terms) and ``g`` (the generator's). Base
    class: :class:`i2ikit.losses.GANLoss`.
``encoder``, ``generator``
    ``nn.Module`` classes. What ``forward`` takes differs between methods (a FUNIT generator takes
    content and class images, a GP-UNIT one content features and a style image); the method's slot
    names the methods it calls (:attr:`PartSlot.requires`), and a part without them is refused when
    it is built.

A part class may declare ``constraints`` (as methods do, :mod:`i2ikit.constraints`) for its keyword
arguments. A method declares its *slots* in ``Method.parts``: which recipe key picks which kind, the
official part as the default, and what the method hands every part it builds (``num_classes``, an
image size). In a recipe a slot is a name or a spec::

    method: {name: funit, discriminator: {name: gpunit_discriminator, nf: 16, img_size: 32}, gan_loss: hinge}

A spec without ``name`` keeps the slot's default part. :func:`build_part` builds a spec (``None``
keyword arguments dropped, as ``timm.create_model`` does); :func:`check_part_spec` checks one without
building it, which the recipe validator and :func:`i2ikit.build` do before anything is built.
"""
from __future__ import annotations

import inspect
from dataclasses import dataclass, field
from typing import Any, Literal, Mapping, NamedTuple, Sequence

import torch
from torch import nn

from .errors import ConfigError

PART_KINDS = ("encoder", "generator", "discriminator", "gan_loss")
LABEL_MODES = ("required", "optional", "unused")

Spec = str | Mapping[str, Any] | None


class DiscriminatorOutput(NamedTuple):
    """What every registered discriminator returns (a tuple, so ``logits, features = D(x, y)`` works)."""

    logits: torch.Tensor
    features: Sequence[torch.Tensor]


@dataclass(frozen=True)
class PartSlot:
    """A place in a method that a registered part fills, picked by the recipe key of the same name.

    ``kind``: the part kind. ``default``: the official part's registered name. ``doc``: one line for
    ``i2ikit parts`` and the docs. ``labels`` (discriminators): whether the method hands the part
    class labels ``y``; without them a class-conditional part is built with one class.
    ``conditional`` (discriminators): the method needs a part whose output depends on ``y`` (a
    many-class method learns its classes through it). ``requires``: methods the part must have
    besides ``forward`` (e.g. FUNIT's generator: ``encode_content``, ``encode_class``, ``decode``).
    ``supplies``: keyword arguments the method hands the part itself (e.g. ``num_classes``), so a spec
    may not set them. ``defaults``: the official keyword arguments of the default part, used when a spec
    keeps the default part (e.g. MUNIT's ``multiscale`` with ``num_scales: 3`` of ``munit_patch``); a spec's
    own keywords override them, and a spec naming another part starts from that part's defaults.
    """

    kind: str
    default: str
    doc: str = ""
    labels: bool = False
    conditional: bool = False
    requires: tuple[str, ...] = field(default=())
    supplies: tuple[str, ...] = field(default=())
    defaults: Mapping[str, Any] = field(default_factory=dict)


# ---- contracts, checked at registration -------------------------------------------------------------
def _positional_params(fn: Any) -> list[inspect.Parameter]:
    params = list(inspect.signature(fn).parameters.values())
    if params and params[0].name == "self":
        params = params[1:]
    return [p for p in params if p.kind in (p.POSITIONAL_ONLY, p.POSITIONAL_OR_KEYWORD, p.VAR_POSITIONAL)]


def _constructor_problems(obj: Any) -> list[str]:
    try:
        sig = inspect.signature(obj)  # a class: its constructor's parameters, without self
    except (TypeError, ValueError):
        return ["its constructor's signature cannot be read"]
    if any(p.kind is p.VAR_POSITIONAL for p in sig.parameters.values()):
        return ["its constructor takes *args; parts are built from keyword arguments only"]
    params = set(sig.parameters) - {"self"}
    unknown = sorted(set(getattr(obj, "constraints", {}) or {}) - params)
    if unknown and not any(p.kind is p.VAR_KEYWORD for p in sig.parameters.values()):
        return [f"its constraints name {', '.join(unknown)}, which its constructor does not take"]
    return []


def contract_problems(kind: str, obj: Any) -> list[str]:
    """Why ``obj`` cannot be registered as a ``kind`` part (empty when it fits). Other kinds: no check here."""
    if kind not in PART_KINDS:
        return []
    if not inspect.isclass(obj):
        return [f"a {kind} part must be a class, got {type(obj).__name__}"]
    problems = _constructor_problems(obj)
    if kind == "gan_loss":
        missing = [m for m in ("d_real", "d_fake", "g") if not callable(getattr(obj, m, None))]
        if missing:
            problems.append(f"a GAN loss needs the methods d_real, d_fake and g (missing: {', '.join(missing)})")
        required = [p.name for p in inspect.signature(obj).parameters.values()
                    if p.default is p.empty and p.kind in (p.POSITIONAL_OR_KEYWORD, p.KEYWORD_ONLY)]
        if required:
            problems.append(f"a GAN loss is built without arguments, but its constructor requires {', '.join(required)}")
        return problems
    if not issubclass(obj, nn.Module):
        problems.append(f"a {kind} part must be a torch.nn.Module subclass")
        return problems
    if kind == "discriminator":
        labels = getattr(obj, "labels", None)
        if labels not in LABEL_MODES:
            problems.append(f"a discriminator declares `labels` as one of {', '.join(map(repr, LABEL_MODES))} "
                            f"(how it uses class labels y), got {labels!r}")
        positional = _positional_params(obj.forward)
        if len(positional) < 2 and not any(p.kind is p.VAR_POSITIONAL for p in positional):
            problems.append("a discriminator's forward takes (x, y=None): images and optional class labels")
        elif labels != "required" and len(positional) >= 2 and positional[1].default is inspect.Parameter.empty:
            problems.append(f"forward's label argument {positional[1].name!r} needs the default None (labels={labels!r})")
        if labels in ("required", "optional") and "num_classes" not in inspect.signature(obj).parameters:
            problems.append("a class-conditional discriminator takes num_classes in its constructor")
    return problems


# ---- specs and the builder ----------------------------------------------------------------------------
def parse_spec(slot: PartSlot, spec: Spec, where: str) -> tuple[str, dict[str, Any]]:
    """``(name, kwargs)`` of a slot's spec: ``None`` is the default part, a string names a part, a mapping
    is ``{name: ..., <kwargs>}`` (without ``name``: the default part). ``None`` kwargs are dropped."""
    if spec is None:
        spec = {}
    if isinstance(spec, str):
        spec = {"name": spec}
    if not isinstance(spec, Mapping):
        raise ConfigError(f"{where}: expected a {slot.kind} name or {{name: ..., <keyword arguments>}}, got {spec!r}")
    kwargs = {str(k): v for k, v in spec.items() if k != "name" and v is not None}
    name = spec.get("name", slot.default)
    if not isinstance(name, str):
        raise ConfigError(f"{where}.name: expected the name of a registered {slot.kind}, got {name!r}")
    if not name:  # a slot without a default (e.g. the part inside the multi-scale wrapper)
        raise ConfigError(f"{where}: name the {slot.kind} to use: {{name: <a registered {slot.kind}>, <keyword arguments>}} "
                          f"(`i2ikit parts --kind {slot.kind}` lists them)")
    if name == slot.default:
        kwargs = {**slot.defaults, **kwargs}
    return name, kwargs


def _registry() -> Any:
    from .plugins import get_registry

    return get_registry()


def check_part_spec(slot: PartSlot, spec: Spec, where: str, *, supplied: Mapping[str, Any] | None = None) -> tuple[type, dict[str, Any]]:
    """Check a slot's spec without building it: the part exists, its keyword arguments are its own and fit
    its declared constraints, and it can work in this slot. Returns ``(part class, checked kwargs)``."""
    from .constraints import constraint_problems
    from .recipe import RecipeError, check_kwargs

    name, kwargs = parse_spec(slot, spec, where)
    try:
        cls = _registry().get(slot.kind, name).obj
    except KeyError as exc:
        raise ConfigError(f"{where}: {exc}") from None
    given = sorted(set(kwargs) & (set(supplied or {}) | set(slot.supplies)))
    if given:
        raise ConfigError(f"{where}.{given[0]}: the method sets {given[0]} of its {slot.kind} itself; leave it out "
                          "of the part's spec")
    try:
        kwargs = check_kwargs(cls, kwargs, f"{where} ({slot.kind} {name!r})")
    except RecipeError as exc:
        raise ConfigError(str(exc)) from None
    problems = constraint_problems(getattr(cls, "constraints", {}) or {}, kwargs)
    if problems:
        key, value, problem = problems[0]
        raise ConfigError(f"{where}.{key}: {slot.kind} {name!r} cannot use {key}={value!r}: {key} {problem}.")
    if slot.kind == "discriminator":
        labels = getattr(cls, "labels", "unused")
        if labels == "required" and not slot.labels:
            raise ConfigError(f"{where}: discriminator {name!r} needs class labels, but this method gives its "
                              f"discriminator none (it learns one domain); choose a discriminator with labels "
                              f"'optional' or 'unused' (`i2ikit parts --kind discriminator`), e.g. {slot.default!r}")
        if labels == "unused" and slot.conditional:
            raise ConfigError(f"{where}: discriminator {name!r} ignores class labels, but this method learns its "
                              "target classes through its discriminator's labels; choose a class-conditional one "
                              f"(labels 'required' or 'optional'), e.g. {slot.default!r}")
    nested = getattr(cls, "check_spec", None)
    if callable(nested):  # a part holding parts of its own (e.g. the multi-scale wrapper) checks their specs
        nested(kwargs, f"{where} ({slot.kind} {name!r})")
    missing = [m for m in slot.requires if not callable(getattr(cls, m, None))]
    if missing:
        raise ConfigError(f"{where}: {slot.kind} {name!r} cannot serve here: this method calls its "
                          f"{', '.join(missing)}, which it lacks; use {slot.default!r} or a part with those methods")
    return cls, kwargs


def build_part(slot: PartSlot, spec: Spec, where: str, *, supplied: Mapping[str, Any] | None = None) -> Any:
    """Build the part a slot's spec names. ``supplied``: values the method hands every part of this slot
    (e.g. ``num_classes``); each is passed only when the part's constructor takes it. A part's own
    required arguments that neither the spec nor the method gives are an error naming them."""
    cls, kwargs = check_part_spec(slot, spec, where, supplied=supplied)
    supplied = dict(supplied or {})
    if slot.kind == "discriminator" and not slot.labels:
        supplied.setdefault("num_classes", 1)
    sig = inspect.signature(cls)
    takes_any = any(p.kind is p.VAR_KEYWORD for p in sig.parameters.values())
    full = {**{k: v for k, v in supplied.items() if k in sig.parameters or takes_any}, **kwargs}
    missing = [p.name for p in sig.parameters.values() if p.default is p.empty
               and p.kind in (p.POSITIONAL_OR_KEYWORD, p.KEYWORD_ONLY) and p.name not in full]
    if missing:
        name = parse_spec(slot, spec, where)[0]
        raise ConfigError(f"{where}: {slot.kind} {name!r} needs {', '.join(missing)}; give it in the spec: "
                          f"{{name: {name}, {missing[0]}: ...}}")
    return cls(**full)


def resolved_spec(slot: PartSlot, spec: Spec, where: str) -> dict[str, Any]:
    """The explicit form ``{name: ..., <kwargs>}`` of a spec, as an export's config records it."""
    name, kwargs = parse_spec(slot, spec, where)
    return {"name": name, **kwargs}


def part_signature(cls: Any) -> list[tuple[str, Any]]:
    """``(keyword, default)`` of a part's constructor (``inspect.Parameter.empty`` where it has none)."""
    sig = inspect.signature(cls)
    return [(n, p.default) for n, p in sig.parameters.items()
            if p.kind in (p.POSITIONAL_OR_KEYWORD, p.KEYWORD_ONLY)]


# ---- runtime checks --------------------------------------------------------------------------------
def check_discriminator_output(out: Any, name: str, batch: int) -> DiscriminatorOutput:
    """Raise a :class:`ConfigError` naming the part when a discriminator's output breaks the contract."""
    if not isinstance(out, tuple) or len(out) != 2:
        raise ConfigError(f"discriminator {name!r} returned {type(out).__name__}, not (logits, features) "
                          "(i2ikit.parts.DiscriminatorOutput)")
    logits, features = out
    if not isinstance(logits, torch.Tensor) or logits.ndim < 1 or logits.shape[0] != batch:
        raise ConfigError(f"discriminator {name!r}: logits must be a tensor with the batch ({batch}) first, got "
                          f"{getattr(logits, 'shape', logits)!r}")
    if not isinstance(features, (list, tuple)) or not features or not all(
            isinstance(f, torch.Tensor) and f.shape[:1] == (batch,) for f in features):
        raise ConfigError(f"discriminator {name!r}: features must be a non-empty list of tensors with the batch first")
    return DiscriminatorOutput(logits, list(features))


def probe_discriminator(dis: nn.Module, name: str, image_size: int, *, labels: bool) -> DiscriminatorOutput:
    """Run a discriminator once on two blank images, without gradients and in eval mode (so no
    spectral-norm vector or batch statistic changes), to check its output before training starts."""
    from .nn.modes import eval_mode

    device = next((p.device for p in dis.parameters()), torch.device("cpu"))
    x = torch.zeros(2, 3, image_size, image_size, device=device)
    y = torch.zeros(2, dtype=torch.long, device=device) if labels else None
    with eval_mode(dis), torch.no_grad():
        try:
            out = dis(x, y)
        except (RuntimeError, ValueError, IndexError) as exc:
            raise ConfigError(f"discriminator {name!r} fails on {image_size}x{image_size} images ({exc}); check "
                              "its size arguments (e.g. img_size, n_layers) against the images") from None
    return check_discriminator_output(out, name, 2)


LabelMode = Literal["required", "optional", "unused"]
