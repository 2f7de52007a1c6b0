"""YAML recipes: load, ``base:`` merge, ``key=value`` overrides, validation, resolution.

A recipe has four sections::

    name: quickstart            # run name (default: the file's stem)
    base: other.yaml            # optional, relative to this file; dicts merge, lists are replaced
    method: {name: funit, nf: 32, num_classes: auto, ...}   # keyword arguments of the method
    data:   {train: {type: glyphs, split: train}, samples: {...}, new_size: 72, crop: 64, ...}
    train:  {steps: 2000, batch_size: 16, ...}

Everything is checked before training starts: unknown keys (with a suggestion), wrong types and
missing data paths are errors that name the key and the file.
"""
from __future__ import annotations

import copy
import dataclasses
import difflib
import inspect
import re
import typing
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Literal, Mapping

import yaml

from .errors import ConfigError


class RecipeError(ConfigError):
    """A recipe is malformed; the message names the file and the key."""


# PyYAML follows YAML 1.1, which reads ``1e-4`` (no dot) as a string. Recipes are full of such
# learning rates, so floats are resolved with the YAML 1.2 rule.
class _Loader(yaml.SafeLoader):
    pass


_Loader.yaml_implicit_resolvers = {k: [r for r in v if r[0] != "tag:yaml.org,2002:float"] for k, v in yaml.SafeLoader.yaml_implicit_resolvers.items()}
_Loader.add_implicit_resolver(
    "tag:yaml.org,2002:float",
    re.compile(r"""^(?:[-+]?(?:[0-9][0-9_]*)\.[0-9_]*(?:[eE][-+]?[0-9]+)?
    |[-+]?(?:[0-9][0-9_]*)(?:[eE][-+]?[0-9]+)
    |\.[0-9_]+(?:[eE][-+][0-9]+)?
    |[-+]?\.(?:inf|Inf|INF)
    |\.(?:nan|NaN|NAN))$""", re.X),
    list("-+0123456789."),
)


def parse_value(text: str) -> Any:
    """Parse a command-line override value the way YAML would (``1e-4`` is a float, ``null`` is None)."""
    return yaml.load(text, Loader=_Loader)


# ---- schema -------------------------------------------------------------------------------------
@dataclass
class DataConfig:
    train: dict[str, Any]
    """Training images: ``{type: <dataset name>, ...its keyword arguments}``."""
    samples: dict[str, Any] | None = None
    """Class/style images for sample grids (e.g. held-out classes); default: the training data."""
    new_size: int = 140
    crop: int = 128
    flip: bool = True
    num_workers: int = 2
    on_bad_image: Literal["error", "skip"] = "error"
    """``error``: an unreadable image stops training, naming the file. ``skip``: it is replaced by the next
    readable image and reported once (``i2ikit data check`` lists every such file before training)."""
    streams: dict[str, Any] | None = None
    """Per-stream data. ``{stream: {classes: [class names of data.train]}}`` makes that stream of the
    method (e.g. GP-UNIT's ``source`` / ``target``) draw only images of those classes (labels keep
    data.train's numbering); ``{stream: {type: <dataset>, ...}}`` gives the stream its own data (e.g.
    GP-UNIT Stage I's paired images). Streams not named draw from all of data.train."""


@dataclass
class TrainConfig:
    steps: int = 100_000
    batch_size: int = 64
    """Per process and per micro-batch."""
    grad_accum: int | None = None
    """Micro-batches per optimiser step; None: the launcher's ACCELERATE_GRADIENT_ACCUMULATION_STEPS, else 1."""
    mixed_precision: Literal["no", "fp16", "bf16"] | None = None
    """None leaves it to the launcher (``accelerate launch --mixed_precision``)."""
    seed: int = 0
    log_every: int = 10
    sample_every: int = 2500
    sample_count: int = 8
    save_every: int = 5000
    keep_checkpoints: int = 2
    resume: str | None = "auto"
    """``auto``: continue from the latest checkpoint in the run folder if there is one; a path; or null."""
    run_dir: str | None = None
    """Default: ``runs/<name>``."""
    trackers: str | list[str] | None = "auto"
    """``auto`` = tensorboard when installed; ``none``; or a list of Accelerate tracker names."""
    find_unused_parameters: bool = False
    max_grad_norm: float | None = None
    progress: bool = True
    eval_every: int | None = None
    """Run the recipe's ``eval:`` section every N steps (main process) and log the numbers."""


@dataclass
class EvalConfig:
    """Evaluation during training (every ``train.eval_every`` steps), logged to the trackers."""

    targets: dict[str, Any]
    """Target classes: ``{type: <dataset>, ...}`` (e.g. the held-out classes)."""
    content: dict[str, Any] | None = None
    """Source-class content images; default: the training data."""
    protocol: Literal["few_shot", "many_class", "two_domain", "paired"] | None = None
    """Default: the method's task (``Method.tasks``)."""
    k: list[int] = field(default_factory=lambda: [1])
    metrics: list[str] = field(default_factory=lambda: ["mfid"])
    metric_options: dict[str, Any] = field(default_factory=dict)
    """Per-metric keyword arguments, e.g. ``{accuracy: {classifier: path}}``."""
    num_content: int = 100
    styles_per_input: int = 1
    """two_domain and paired: random styles per input, all fed to every metric (GP-UNIT's protocol: 10)."""
    diversity_samples: int = 0
    max_real_per_class: int = 1000
    """0: every real image of the target classes."""
    seed: int = 0


@dataclass
class Recipe:
    name: str
    method: dict[str, Any]
    data: DataConfig
    train: TrainConfig = field(default_factory=TrainConfig)
    eval: EvalConfig | None = None
    stages: dict[str, "Recipe"] = field(default_factory=dict)
    """Recipes that run, in order, before this one (e.g. GP-UNIT's Stage I before Stage II)."""
    source: str | None = None
    """The file this recipe came from (not a recipe key)."""

    @property
    def run_dir(self) -> Path:
        return Path(self.train.run_dir or Path("runs") / self.name)

    def to_dict(self) -> dict[str, Any]:
        d = {f.name: dataclasses.asdict(v) if dataclasses.is_dataclass(v) else v
             for f in dataclasses.fields(self) if f.name not in ("source", "stages") for v in [getattr(self, f.name)]}
        if self.stages:
            d["stages"] = {name: stage.to_dict() for name, stage in self.stages.items()}
        return d


_TOP_KEYS = {"name", "base", "method", "data", "train", "eval", "stages"}
_STAGE_REF = re.compile(r"\$\{stages\.([A-Za-z0-9_\-]+)\.(run_dir|export)\}")


# ---- loading --------------------------------------------------------------------------------------
def _read_yaml(path: Path) -> dict[str, Any]:
    try:
        text = path.read_text()
    except FileNotFoundError:
        raise RecipeError(f"recipe file {path} does not exist") from None
    try:
        data = yaml.load(text, Loader=_Loader)
    except yaml.YAMLError as exc:
        raise RecipeError(f"{path}: not valid YAML: {exc}") from None
    if data is None:
        data = {}
    if not isinstance(data, dict):
        raise RecipeError(f"{path}: a recipe is a mapping with keys {sorted(_TOP_KEYS)}, got {type(data).__name__}")
    return data


def deep_merge(base: Mapping[str, Any], over: Mapping[str, Any]) -> dict[str, Any]:
    """Dicts merge key by key; everything else (lists included) is replaced."""
    out = copy.deepcopy(dict(base))
    for k, v in over.items():
        if isinstance(v, Mapping) and isinstance(out.get(k), Mapping):
            out[k] = deep_merge(out[k], v)
        else:
            out[k] = copy.deepcopy(v)
    return out


def load_raw(path: str | Path, _seen: tuple[Path, ...] = ()) -> dict[str, Any]:
    path = Path(path).resolve()
    if path in _seen:
        raise RecipeError(f"{path}: circular `base:` chain: {' -> '.join(map(str, _seen + (path,)))}")
    data = _read_yaml(path)
    data = _merge_base(data, path.parent, f"{path}", _seen + (path,))
    data.setdefault("name", path.stem)
    stages = data.get("stages")
    if stages is not None:
        if not isinstance(stages, dict) or not all(isinstance(v, dict) for v in stages.values()):
            raise RecipeError(f"{path}: `stages` must map stage names to recipes ({{prior: {{base: gpunit_prior.yaml, "
                              f"train: {{...}}}}}}), got {stages!r}")
        data["stages"] = {name: _merge_base(dict(spec), path.parent, f"{path}: stages.{name}", _seen + (path,))
                          for name, spec in stages.items()}
        for name, spec in data["stages"].items():
            spec.setdefault("name", name)
            if "stages" in spec:
                raise RecipeError(f"{path}: stages.{name} has stages of its own; list every stage in the top recipe")
    return data


def _merge_base(data: dict[str, Any], folder: Path, where: str, seen: tuple[Path, ...]) -> dict[str, Any]:
    base = data.pop("base", None)
    if base is None:
        return data
    if not isinstance(base, str):
        raise RecipeError(f"{where}: `base` must be a path string, got {base!r}")
    base_path = (folder / base).resolve()
    if not base_path.is_file():
        raise RecipeError(f"{where}: base recipe {str(base_path)!r} does not exist (paths are relative to the recipe file)")
    return deep_merge(load_raw(base_path, seen), data)  # without its own name, it takes the base's


def apply_overrides(data: dict[str, Any], overrides: list[str], source: str = "<command line>") -> dict[str, Any]:
    """Apply ``a.b.c=value`` overrides (values parsed as YAML)."""
    data = copy.deepcopy(data)
    for item in overrides:
        if "=" not in item:
            raise RecipeError(f"{source}: override {item!r} is not of the form key=value (e.g. train.steps=100)")
        key, _, text = item.partition("=")
        parts = key.strip().split(".")
        if not all(parts):
            raise RecipeError(f"{source}: override {item!r}: {key!r} is not a dotted key such as train.steps or method.nf")
        try:
            value = parse_value(text)
        except yaml.YAMLError as exc:
            problem = " ".join(str(getattr(exc, "problem", None) or exc).split())
            raise RecipeError(f"{source}: override {item!r}: the value {text!r} is not valid YAML ({problem}). Write "
                              "numbers and words as they are, lists as [1, 2], and quote text that holds [ ] { } : or #, "
                              f"e.g. {key}='\"{text}\"'.") from None
        node = data
        for p in parts[:-1]:
            if not isinstance(node.get(p), dict):
                node[p] = {}
            node = node[p]
        node[parts[-1]] = value
    return data


# ---- validation -------------------------------------------------------------------------------
def _suggest(key: str, options: typing.Iterable[str]) -> str:
    close = difflib.get_close_matches(key, list(options), n=1, cutoff=0.6)
    return f" Did you mean {close[0]!r}?" if close else ""


def _type_name(tp: Any) -> str:
    if typing.get_origin(tp) is Literal:
        return f"one of {list(typing.get_args(tp))}"
    if tp is type(None):
        return "null"
    return getattr(tp, "__name__", None) or str(tp).replace("typing.", "")


def check_type(value: Any, tp: Any, where: str) -> Any:
    """Return ``value`` converted to ``tp`` (int→float only) or raise naming ``where``."""
    if tp is Any or tp is inspect.Parameter.empty:
        return value
    origin = typing.get_origin(tp)
    args = typing.get_args(tp)
    if origin in (typing.Union, getattr(__import__("types"), "UnionType", None)):
        errors = []
        for option in args:
            try:
                return check_type(value, option, where)
            except RecipeError as exc:
                errors.append(exc)
        raise RecipeError(f"{where}: expected {' or '.join(_type_name(a) for a in args)}, got {value!r}")
    if origin is Literal:
        if value in args:
            return value
        raise RecipeError(f"{where}: expected one of {list(args)}, got {value!r}")
    if tp is type(None):
        if value is None:
            return None
        raise RecipeError(f"{where}: expected null, got {value!r}")
    if tp is float:
        if isinstance(value, bool) or not isinstance(value, (int, float)):
            raise RecipeError(f"{where}: expected a number, got {value!r} ({type(value).__name__})")
        return float(value)
    if tp is int:
        if isinstance(value, bool) or not isinstance(value, int):
            raise RecipeError(f"{where}: expected an integer, got {value!r} ({type(value).__name__})")
        return value
    if tp in (bool, str):
        if not isinstance(value, tp):
            raise RecipeError(f"{where}: expected {tp.__name__}, got {value!r} ({type(value).__name__})")
        return value
    if origin in (list, tuple) or tp in (list, tuple):
        if not isinstance(value, (list, tuple)):
            raise RecipeError(f"{where}: expected a list, got {value!r}")
        inner = args[0] if args else Any
        return [check_type(v, inner, f"{where}[{i}]") for i, v in enumerate(value)]
    if origin is dict or tp is dict:
        if not isinstance(value, dict):
            raise RecipeError(f"{where}: expected a mapping, got {value!r}")
        return value
    return value


def _build_dataclass(cls: type, data: Any, where: str) -> Any:
    if not isinstance(data, dict):
        raise RecipeError(f"{where}: expected a mapping, got {data!r}")
    hints = typing.get_type_hints(cls)
    fields = {f.name: f for f in dataclasses.fields(cls) if f.name != "source"}
    kwargs = {}
    for key, value in data.items():
        if key not in fields:
            raise RecipeError(f"{where}: unknown key {key!r}.{_suggest(key, fields)} Valid keys: {', '.join(fields)}")
        kwargs[key] = check_type(value, hints[key], f"{where}.{key}")
    missing = [n for n, f in fields.items() if f.default is dataclasses.MISSING and f.default_factory is dataclasses.MISSING and n not in kwargs]  # type: ignore[misc]
    if missing:
        raise RecipeError(f"{where}: missing required key(s) {', '.join(missing)}")
    return cls(**kwargs)


def check_kwargs(fn: Any, kwargs: Mapping[str, Any], where: str, *, allow_auto: tuple[str, ...] = ()) -> dict[str, Any]:
    """Check ``kwargs`` against the keyword parameters of a class or factory registered by a plugin."""
    target = fn.__init__ if inspect.isclass(fn) else fn
    sig = inspect.signature(fn)  # a class: its constructor's parameters (none for object's own __init__)
    try:
        hints = typing.get_type_hints(target)
    except Exception:
        hints = {}
    params = {n: p for n, p in sig.parameters.items() if n != "self" and p.kind not in (p.VAR_POSITIONAL, p.VAR_KEYWORD)}
    accepts_any = any(p.kind is p.VAR_KEYWORD for p in sig.parameters.values())
    out = {}
    for key, value in kwargs.items():
        if key not in params and not accepts_any:
            raise RecipeError(f"{where}: unknown key {key!r}.{_suggest(key, params)} Valid keys: {', '.join(params)}")
        if key in allow_auto and value == "auto":
            out[key] = value
            continue
        tp = hints.get(key, Any)
        if tp is Any and key in params and params[key].default not in (inspect.Parameter.empty, None):
            default = params[key].default
            tp = float if isinstance(default, float) else type(default) if isinstance(default, (int, bool, str)) else Any
        out[key] = check_type(value, tp, f"{where}.{key}")
    return out


def check_method_kwargs(cls: Any, kwargs: Mapping[str, Any], where: str, *,
                        allow_auto: tuple[str, ...] = ("num_classes",)) -> dict[str, Any]:
    """Check a method's keyword arguments: names and types against its ``__init__``, then the ranges
    and choices it declares in ``constraints``. Raises :class:`RecipeError` naming the method and key."""
    from .constraints import constraint_problems

    from .errors import ConfigError
    from .parts import check_part_spec

    out = check_kwargs(cls, kwargs, where, allow_auto=allow_auto)
    problems = constraint_problems(getattr(cls, "constraints", {}) or {}, out)
    name = getattr(cls, "method_name", "") or cls.__name__
    if problems:
        key, value, problem = problems[0]
        raise RecipeError(f"{where}.{key}: method {name!r} cannot use {key}={value!r}: {key} {problem}.")
    for key, slot in (getattr(cls, "parts", {}) or {}).items():
        if key in out:
            try:
                check_part_spec(slot, out[key], f"{where}.{key}")
            except ConfigError as exc:
                raise RecipeError(f"method {name!r}: {exc}") from None
    return out


def _check_dataset(spec: dict[str, Any], where: str, registry: Any) -> dict[str, Any]:
    if "type" not in spec:
        raise RecipeError(f"{where} needs a `type:` (one of: {', '.join(registry.names('dataset'))})")
    try:
        ds = registry.get("dataset", spec["type"]).obj
    except KeyError as exc:
        raise RecipeError(f"{where}.type: {exc}") from None
    return {"type": spec["type"], **check_kwargs(ds, {k: v for k, v in spec.items() if k != "type"}, where)}


def _check_streams(streams: dict[str, Any], known: tuple[str, ...], where: str, registry: Any) -> dict[str, Any]:
    out = {}
    for name, spec in streams.items():
        if name not in known:
            raise RecipeError(f"{where}: {name!r} is not a data stream of this method.{_suggest(name, known)} "
                              f"Its streams: {', '.join(known)}")
        if isinstance(spec, dict) and "type" in spec:
            out[name] = _check_dataset(spec, f"{where}.{name}", registry)
            continue
        if not isinstance(spec, dict) or set(spec) != {"classes"}:
            raise RecipeError(f"{where}.{name}: expected {{classes: [class names of data.train]}} or a dataset "
                              f"{{type: ..., ...}}, got {spec!r}")
        classes = spec["classes"]
        if isinstance(classes, (str, int)):
            classes = [classes]
        if not isinstance(classes, list) or not classes:
            raise RecipeError(f"{where}.{name}.classes: expected a non-empty list of class names, got {spec['classes']!r}")
        out[name] = {"classes": [str(c) for c in classes]}
    return out


def validate(data: dict[str, Any], source: str | None = None) -> Recipe:
    """Turn a merged recipe mapping into a :class:`Recipe`, checking every key against the registry."""
    from .plugins import get_registry

    where = source or "<recipe>"
    unknown = set(data) - _TOP_KEYS
    if unknown:
        key = sorted(unknown)[0]
        raise RecipeError(f"{where}: unknown top-level key {key!r}.{_suggest(key, _TOP_KEYS)} Valid keys: {', '.join(sorted(_TOP_KEYS - {'base'}))}")
    stages: dict[str, Recipe] = {}
    for stage_name, spec in (data.get("stages") or {}).items():
        stages[stage_name] = validate(_substitute_stage_refs(spec, stages, f"{where}: stages.{stage_name}"),
                                      source=f"{where}: stages.{stage_name}")
    data = _substitute_stage_refs({k: v for k, v in data.items() if k != "stages"}, stages, where)
    for required in ("method", "data"):
        if required not in data:
            raise RecipeError(f"{where}: missing the `{required}:` section")
    registry = get_registry()

    method = data["method"]
    if not isinstance(method, dict) or "name" not in method:
        raise RecipeError(f"{where}: `method:` must be a mapping with a `name:` (one of: {', '.join(registry.names('method'))})")
    try:
        method_cls = registry.get("method", method["name"]).obj
    except KeyError as exc:
        raise RecipeError(f"{where}: method.name: {exc}") from None
    kwargs = {k: v for k, v in method.items() if k != "name"}
    method = {"name": method["name"], **check_method_kwargs(method_cls, kwargs, f"{where}: method")}

    data_cfg = _build_dataclass(DataConfig, data["data"], f"{where}: data")
    for key in ("train", "samples"):
        spec = getattr(data_cfg, key)
        if spec is not None:
            setattr(data_cfg, key, _check_dataset(spec, f"{where}: data.{key}", registry))
    if data_cfg.streams is not None:
        data_cfg.streams = _check_streams(data_cfg.streams, getattr(method_cls, "data_streams", ()), f"{where}: data.streams", registry)
    if data_cfg.crop > data_cfg.new_size:
        raise RecipeError(f"{where}: data.crop ({data_cfg.crop}) is larger than data.new_size ({data_cfg.new_size}); the random crop needs crop <= new_size")
    eval_cfg = None
    if data.get("eval") is not None:
        eval_cfg = _build_dataclass(EvalConfig, data["eval"], f"{where}: eval")
        for key in ("targets", "content"):
            spec = getattr(eval_cfg, key)
            if spec is not None:
                setattr(eval_cfg, key, _check_dataset(spec, f"{where}: eval.{key}", registry))
        for name in eval_cfg.metrics:
            try:
                registry.get("metric", name)
            except KeyError as exc:
                raise RecipeError(f"{where}: eval.metrics: {exc}") from None
        tasks = [t for t in (getattr(method_cls, "tasks", ()) or ()) if t in ("few_shot", "many_class", "two_domain", "paired")]
        if eval_cfg.protocol is None and tasks:
            eval_cfg.protocol = tasks[0]
        if eval_cfg.protocol not in tasks:
            raise RecipeError(f"{where}: eval.protocol: method {method['name']!r} cannot be evaluated with the "
                              f"{eval_cfg.protocol or 'default'} protocol; its protocol is "
                              f"{' or '.join(tasks) or '(none: it does not translate)'}")
    train_cfg = _build_dataclass(TrainConfig, data.get("train") or {}, f"{where}: train")
    if train_cfg.eval_every is not None and eval_cfg is None:
        raise RecipeError(f"{where}: train.eval_every is set but the recipe has no `eval:` section saying what to evaluate")
    for key in ("steps", "batch_size", "log_every", "sample_every", "save_every", "keep_checkpoints", "sample_count"):
        if getattr(train_cfg, key) < 1:
            raise RecipeError(f"{where}: train.{key} must be >= 1, got {getattr(train_cfg, key)}")
    if train_cfg.grad_accum is not None and train_cfg.grad_accum < 1:
        raise RecipeError(f"{where}: train.grad_accum must be >= 1 or null, got {train_cfg.grad_accum}")
    name = data.get("name")
    if not isinstance(name, str) or not re.fullmatch(r"[A-Za-z0-9_.\-]+", name):
        raise RecipeError(f"{where}: name must be a simple string (letters, digits, _ . -), got {name!r}")
    recipe = Recipe(name=name, method=method, data=data_cfg, train=train_cfg, eval=eval_cfg, stages=stages, source=source)
    runs = {stage_name: r.run_dir.resolve() for stage_name, r in stages.items()}
    clash = [n for n, d in runs.items() if d == recipe.run_dir.resolve()]
    clash += [a for a in runs for b in runs if a < b and runs[a] == runs[b]]
    if clash:
        raise RecipeError(f"{where}: stage {clash[0]!r} would write into the same run folder as another stage; "
                          "give each stage its own name or train.run_dir")
    return recipe


def recipe_dirs() -> list[Path]:
    """Folders of shipped recipes: ``./recipes``, the repository's ``recipes/`` and each plugin's
    (``i2ikit_recipe_dirs``), without duplicates."""
    from .plugins import recipe_dirs as plugin_recipe_dirs

    dirs = [Path.cwd() / "recipes", Path(__file__).resolve().parent.parent / "recipes"]
    dirs += [Path(d) for d in plugin_recipe_dirs()]
    seen, out = set(), []
    for d in dirs:
        if d.is_dir() and d.resolve() not in seen:
            seen.add(d.resolve())
            out.append(d)
    return out


def find_recipe(spec: str) -> str:
    """A recipe path as given, or, for a bare name such as ``cyclegan_glyphs``, the shipped recipe of that
    name (``i2ikit recipes`` lists them); unchanged when there is none, so the missing file is reported."""
    if Path(spec).exists() or Path(spec).suffix or "/" in spec or "\\" in spec:
        return spec
    for folder in recipe_dirs():
        candidate = folder / f"{spec}.yaml"
        if candidate.is_file():
            return str(candidate)
    return spec


def load_recipe(path: str | Path, overrides: list[str] | None = None) -> Recipe:
    """Load, merge, override and validate a recipe file (and its stages, e.g. ``stages.prior.train.steps=10``)."""
    raw = load_raw(path)
    raw = apply_overrides(raw, overrides or [])
    return validate(raw, source=str(path))


def _substitute_stage_refs(value: Any, stages: Mapping[str, Recipe], where: str) -> Any:
    """Replace ``${stages.<name>.run_dir}`` / ``${stages.<name>.export}`` in every string of ``value``."""
    if isinstance(value, str):
        def repl(m: re.Match[str]) -> str:
            if m.group(1) not in stages:
                raise RecipeError(f"{where}: {m.group(0)} names no stage; stages: {', '.join(stages) or 'none'}")
            run = stages[m.group(1)].run_dir
            return str(run / "export" if m.group(2) == "export" else run)

        return _STAGE_REF.sub(repl, value)
    if isinstance(value, dict):
        return {k: _substitute_stage_refs(v, stages, where) for k, v in value.items()}
    if isinstance(value, list):
        return [_substitute_stage_refs(v, stages, where) for v in value]
    return value


class _Dumper(yaml.SafeDumper):
    """Writes values that YAML cannot hold (objects passed from Python, not from a file) as their repr."""


_Dumper.add_representer(None, lambda dumper, data: dumper.represent_str(repr(data)))  # type: ignore[arg-type]


def dump_recipe(recipe: Recipe, path: str | Path) -> None:
    Path(path).write_text(yaml.dump(recipe.to_dict(), Dumper=_Dumper, sort_keys=False))
