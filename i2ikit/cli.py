"""The ``i2ikit`` command: plugins, models, recipes, data, train, translate."""
from __future__ import annotations

import argparse
import sys
from pathlib import Path
from typing import Any

from .errors import ConfigError, MissingFileError


def cmd_plugins(args: argparse.Namespace) -> int:
    from .plugins import plugin_infos

    infos = plugin_infos()
    for info in infos:
        status = "ERROR" if info.error else "ok"
        print(f"{info.name} {info.version}  ({info.distribution}: {info.module})  [{status}]")
        if info.error:
            print(f"    {info.error}")
        by_kind: dict[str, list[str]] = {}
        for e in info.registered:
            by_kind.setdefault(e.kind, []).append(e.name)
        for kind in sorted(by_kind):
            print(f"    {kind}: {', '.join(sorted(by_kind[kind]))}")
    return 1 if any(i.error for i in infos) and args.strict else 0


def cmd_models(args: argparse.Namespace) -> int:
    from .plugins import get_registry

    reg = get_registry()
    kind = args.kind or "method"
    names = reg.names(kind, args.pattern)
    for name in names:
        e = reg.get(kind, name)
        tasks = ",".join(getattr(e.obj, "tasks", ()) or ()) if kind == "method" else ""
        print(f"{name:28s} {kind:14s} {e.plugin:10s} {tasks + '  ' if tasks else ''}{e.description}")
    if not names:
        known = reg.names(kind)
        print(f"no {kind} matches {args.pattern!r}; registered {kind}s: {', '.join(known) or '(none)'}", file=sys.stderr)
        return 1
    return 0


def _format_default(value: Any) -> str:
    import inspect

    return "(required)" if value is inspect.Parameter.empty else repr(value)


def cmd_parts(args: argparse.Namespace) -> int:
    """Every registered part with its kind, plugin and keyword arguments, then each method's part slots."""
    from .parts import PART_KINDS, part_signature
    from .plugins import get_registry

    reg = get_registry()
    kinds = [args.kind] if args.kind else list(PART_KINDS)
    shown = 0
    for kind in kinds:
        for name in reg.names(kind, args.pattern):
            entry = reg.get(kind, name)
            labels = f"  labels: {entry.obj.labels}" if kind == "discriminator" else ""
            print(f"{kind:14s} {name:24s} plugin {entry.plugin}{labels}")
            kwargs = ", ".join(f"{k}={_format_default(v)}" for k, v in part_signature(entry.obj))
            print(f"    {kwargs or '(no keyword arguments)'}")
            if entry.description:
                print(f"    {entry.description}")
            shown += 1
    if not shown:
        print(f"no {' or '.join(kinds)} part matches {args.pattern!r}; kinds: {', '.join(PART_KINDS)}", file=sys.stderr)
        return 1
    if not args.kind and args.pattern == "*":
        print("\nslots (method: recipe key -> kind, default part):")
        for name in reg.names("method"):
            slots = getattr(reg.get("method", name).obj, "parts", {}) or {}
            if slots:
                print(f"  {name}: " + "; ".join(f"{key} -> {slot.kind}, {slot.default}" for key, slot in slots.items()))
    return 0


def _recipe_dirs() -> list[Path]:
    from .recipe import recipe_dirs

    return recipe_dirs()


def cmd_recipes(args: argparse.Namespace) -> int:
    import yaml

    for d in _recipe_dirs():
        for f in sorted(d.glob("*.yaml")):
            try:
                method = (yaml.safe_load(f.read_text()) or {}).get("method", {}).get("name", "?")
            except Exception:
                method = "?"
            print(f"{f}  (method: {method})")
    return 0


def cmd_train(args: argparse.Namespace) -> int:
    from .run import main as run_main

    return run_main([args.recipe, *args.overrides] + (["--check"] if args.check else []))


def _image_files(path: Path) -> list[Path]:
    from .data import IMAGE_EXTENSIONS

    if path.is_file():
        return [path]
    if path.is_dir():
        files = sorted(p for p in path.rglob("*") if p.suffix.lower() in IMAGE_EXTENSIONS)
        if files:
            return files
        raise MissingFileError(f"{path} holds no images ({', '.join(sorted(IMAGE_EXTENSIONS))})")
    raise MissingFileError(f"{path} does not exist")


def _load_model(spec: str, method: str | None, overrides: dict[str, Any]):
    from .api import load_model

    return load_model(spec, method, **overrides)


# Which option of `i2ikit translate` steers which way of translating (Method.translate_modes).
TRANSLATE_OPTIONS = {"class_images": "--class-images", "target_class": "--target-class / --all-classes",
                     "style": "--style", "num_styles": "--num-styles", "direct": "--content alone"}


def _translate_mode(args: argparse.Namespace) -> str:
    if args.class_images:
        return "class_images"
    if args.style:
        return "style"
    if args.num_styles:
        return "num_styles"
    if args.target_class or args.all_classes:
        return "target_class"
    return "direct"


def _check_translate_mode(model: Any, mode: str, spec: str) -> None:
    modes = tuple(getattr(model, "translate_modes", ()) or ())
    name = getattr(model, "method_name", "") or type(model).__name__
    if not modes:
        raise ConfigError(f"--model {spec}: method {name!r} does not translate images (it declares no translate_modes); "
                          "use a translation model's export")
    if mode not in modes:
        fits = " or ".join(TRANSLATE_OPTIONS[m] for m in modes if m in TRANSLATE_OPTIONS)
        raise ConfigError(f"--model {spec}: a {name} model cannot translate with {TRANSLATE_OPTIONS[mode]}; "
                          f"it translates with {fits}")


def _positive_int(text: str) -> int:
    try:
        value = int(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"expected a whole number, got {text!r}") from None
    if value < 1:
        raise argparse.ArgumentTypeError(f"must be >= 1, got {value}")
    return value


def cmd_translate(args: argparse.Namespace) -> int:
    import torch

    from .data import TestTransform, open_image
    from .method import read_export_config
    from .train.samples import save_grid
    from torchvision.utils import save_image

    model = _load_model(args.model, args.method, {})
    _check_translate_mode(model, _translate_mode(args), args.model)
    if "paired" in tuple(getattr(model, "tasks", ()) or ()):  # label maps in (pix2pixHD, SPADE)
        if args.direction is not None:
            raise ConfigError(f"--direction {args.direction}: a {model.method_name} model translates label maps into "
                              "images, one way only; leave --direction out")
        return _translate_label_maps(model, args)
    if args.instance is not None:
        raise ConfigError(f"--instance {args.instance}: instance maps go with label maps; a "
                          f"{getattr(model, 'method_name', '') or type(model).__name__} model translates images")
    if args.direction is not None:  # two-domain methods (i2ikit.two_domain): A -> B or B -> A
        import functools
        import inspect

        if "direction" not in inspect.signature(model.translate).parameters:
            name = getattr(model, "method_name", "") or type(model).__name__
            raise ConfigError(f"--direction {args.direction}: a {name} model translates one way only; leave --direction out")
        model.translate = functools.partial(model.translate, direction=args.direction)
    size = args.size
    if size is None and Path(args.model).is_dir():
        recipe = read_export_config(args.model).get("recipe") or {}
        size = (recipe.get("data") or {}).get("crop")
    transform = TestTransform(size=size or 128)
    contents = _image_files(Path(args.content))
    to_tensor = lambda files: torch.stack([transform(open_image(f), None) for f in files])  # noqa: E731
    out = Path(args.out)
    out.mkdir(parents=True, exist_ok=True)
    save = lambda img, path: save_image((img.clamp(-1, 1) + 1) / 2, path)  # noqa: E731
    if args.class_images:  # few-shot: the mean class code of K example images
        styles = _image_files(Path(args.class_images))
        class_batch = to_tensor(styles)
        outputs = []
        for start in range(0, len(contents), args.batch_size):
            files = contents[start:start + args.batch_size]
            content = to_tensor(files)
            result = model.translate(content, class_batch)
            outputs.append((content, result))
            for f, img in zip(files, result):
                save(img, out / f"{f.stem}.png")
        columns = [("content", torch.cat([c for c, _ in outputs])), ("translation", torch.cat([r for _, r in outputs]))]
        what = f"{len(contents)} translations with {len(styles)} class image(s)"
    elif args.style:  # exemplar-guided: every content image with the style of every style image
        styles = _image_files(Path(args.style))
        content = to_tensor(contents)
        columns = [("content", content)]
        for sf in styles:
            style = to_tensor([sf])
            result = torch.cat([model.translate(content[i:i + args.batch_size], style)
                                for i in range(0, len(content), args.batch_size)])
            columns.append((sf.stem, result))
            for f, img in zip(contents, result):
                save(img, out / f"{f.stem}_to_{sf.stem}.png")
        what = f"{len(contents)} image(s) in the style of {len(styles)} image(s)"
    elif _translate_mode(args) == "direct":  # one fixed mapping (e.g. CycleGAN's source -> target)
        content = to_tensor(contents)
        result = torch.cat([model.translate(content[i:i + args.batch_size]) for i in range(0, len(content), args.batch_size)])
        for f, img in zip(contents, result):
            save(img, out / f"{f.stem}.png")
        columns = [("content", content), ("translation", result)]
        what = f"{len(contents)} translation(s)"
    elif args.num_styles:  # latent-guided: random styles drawn by the model (e.g. GP-UNIT's sampler)
        gen = torch.Generator().manual_seed(args.seed)
        rows = []
        for f in contents:
            result = model.translate(to_tensor([f]), num_styles=args.num_styles, generator=gen)
            rows.append(result)
            for k, img in enumerate(result):
                save(img, out / f"{f.stem}_{k}.png")
        content = to_tensor(contents)
        columns = [("content", content)] + [(f"style {k}", torch.stack([r[k] for r in rows])) for k in range(args.num_styles)]
        what = f"{len(contents)} image(s) with {args.num_styles} random style(s) each"
    else:  # many-class: one image per target class index, and a grid of each input into every class
        count = int(getattr(model, "num_target_classes", None) or model.config["num_classes"])
        targets = list(range(count)) if args.all_classes else args.target_class
        wrong = [t for t in targets if not 0 <= t < count]
        if wrong:
            raise ConfigError(f"--target-class {' '.join(map(str, wrong))}: the model knows {count} classes, "
                              f"numbered 0 to {count - 1}")
        content = to_tensor(contents)
        columns = [("content", content)]
        for t in targets:
            result = torch.cat([model.translate(content[i:i + args.batch_size], t) for i in range(0, len(content), args.batch_size)])
            columns.append((f"class {t}", result))
            for f, img in zip(contents, result):
                save(img, out / f"{f.stem}_class{t:04d}.png")
        what = f"{len(contents)} image(s) into {len(targets)} class(es)"
    save_grid(columns, out / "grid.png")
    print(f"wrote {what} to {out} (grid.png: one row per input)")
    return 0


# ---- label maps (paired methods: pix2pixHD, SPADE) ------------------------------------------------------
def _read_label_map(path: Path, what: str):
    """A label or instance map as 1 x 1 x H x W float ids (the paired dataset's reader: ids, never colours)."""
    import torch

    from .data.paired import read_label_ids

    return torch.from_numpy(read_label_ids(path, what).astype("float32"))[None, None]


def _instance_partner(label_file: Path, instances: list[Path], given: str, single: bool) -> Path:
    """The instance map of a label map: the one given for a single label map, else the same file name (stem),
    or for Cityscapes ``*_labelIds`` the ``*_instanceIds`` of the same city_sequence_frame."""
    if single and Path(given).is_file():
        return instances[0]
    by_stem = {p.stem: p for p in instances}
    if label_file.stem in by_stem:
        return by_stem[label_file.stem]
    if label_file.stem.endswith("_labelIds"):
        twin = label_file.stem[: -len("_labelIds")] + "_instanceIds"
        if twin in by_stem:
            return by_stem[twin]
    raise MissingFileError(f"--instance {given}: no instance map for the label map {label_file} (they are paired by file "
                           f"name, {label_file.stem}.png; Cityscapes *_labelIds.png with *_instanceIds.png). Add it, or "
                           "leave --instance out for a model trained without instance maps")


def _label_size(model: Any, size: int | None, h: int, w: int) -> tuple[int, int]:
    """(H, W) a label map is resized to: the model's own ``label_size`` when it has one (a fixed-size generator),
    else width ``--size`` with the aspect kept (the official scale_width), else the file's size; then each side
    rounded to the model's ``size_multiple`` (the official ``--resize_or_crop none`` rounding)."""
    fixed = getattr(model, "label_size", None)
    if fixed is not None:
        h, w = int(fixed[0]), int(fixed[1])
    elif size is not None:
        h, w = max(1, int(size * h / w)), size
    m = int(getattr(model, "size_multiple", 1) or 1)
    return max(m, round(h / m) * m), max(m, round(w / m) * m)


def _resized_ids(ids: Any, hw: tuple[int, int]) -> Any:
    """Nearest-neighbour resize of 1 x 1 x H x W ids (as the paired data resizes maps, so ids stay ids)."""
    import numpy as np
    import torch
    from PIL import Image

    if tuple(ids.shape[2:]) == hw:
        return ids
    img = Image.fromarray(ids[0, 0].numpy().astype(np.int32), mode="I").resize((hw[1], hw[0]), Image.Resampling.NEAREST)
    return torch.from_numpy(np.asarray(img, dtype=np.float32).copy())[None, None]


def _translate_label_maps(model: Any, args: argparse.Namespace) -> int:
    """``i2ikit translate`` for methods whose input is a label map (``Method.tasks`` holds ``paired``).

    Each ``--content`` file is read as label ids (PNG mode L, P or 16-bit; a colour image is refused), with its
    ``--instance`` map (paired by name) when given, resized as :func:`_label_size` says, and handed to the model
    one at a time as ``model.translate(label, instance=inst)`` (``direct``), ``model.translate(label,
    instance=inst, style_image=style)`` for each ``--style`` image (resized to the label map's size, [-1, 1]),
    or ``model.translate(label, instance=inst, num_styles=N, generator=gen)`` (``--num-styles``, N images back).
    ``label`` and ``inst`` are 1 x 1 x H x W float ids (``inst`` None without ``--instance``)."""
    import torch
    from PIL import Image
    from torchvision.utils import save_image

    from .data import open_image
    from .data.transforms import _to_unit_range
    from .errors import UserError, with_context
    from .train.samples import save_grid

    labels = _image_files(Path(args.content))
    instances = _image_files(Path(args.instance)) if args.instance is not None else None
    styles = _image_files(Path(args.style)) if args.style else []
    out = Path(args.out)
    out.mkdir(parents=True, exist_ok=True)
    save = lambda img, path: save_image((img.clamp(-1, 1) + 1) / 2, path)  # noqa: E731
    gen = torch.Generator().manual_seed(args.seed)
    show = getattr(model, "label_image", None)
    rows: list[list[torch.Tensor]] = []
    names: list[str] = []
    for f in labels:
        ids = _read_label_map(f, "label map")
        hw = _label_size(model, args.size, *ids.shape[2:])
        label = _resized_ids(ids, hw)
        inst = None
        if instances is not None:
            inst_file = _instance_partner(f, instances, args.instance, single=len(labels) == 1)
            inst = _read_label_map(inst_file, "instance map")
            if inst.shape != ids.shape:
                raise ConfigError(f"instance map {inst_file} is {inst.shape[3]}x{inst.shape[2]}, its label map {f} "
                                  f"{ids.shape[3]}x{ids.shape[2]}; a pair must have one size")
            inst = _resized_ids(inst, hw)
        try:
            if styles:
                results, names = [], [s.stem for s in styles]
                for sf in styles:
                    style = _to_unit_range(open_image(sf).resize((hw[1], hw[0]), Image.Resampling.BICUBIC))[None]
                    results.append(model.translate(label, instance=inst, style_image=style))
                    save(results[-1][0], out / f"{f.stem}_to_{sf.stem}.png")
                result = torch.cat(results)
            elif args.num_styles:
                result = model.translate(label, instance=inst, num_styles=args.num_styles, generator=gen)
                names = [f"style {k}" for k in range(result.shape[0])]
                for k, img in enumerate(result):
                    save(img, out / f"{f.stem}_{k}.png")
            else:
                result, names = model.translate(label, instance=inst), ["synthesized"]
                save(result[0], out / f"{f.stem}.png")
        except UserError as exc:  # e.g. an id >= label_nc (LabelValueError): name the file
            raise with_context(exc, f"{f}: ") from None
        shown = show(label) if callable(show) else label.repeat(1, 3, 1, 1) / max(1.0, float(label.max())) * 2 - 1
        rows.append([shown[0].cpu(), *(r.cpu() for r in result)])
    what = f"{len(labels)} label map(s)" + (f" x {len(styles)} style image(s)" if styles else
                                            f" x {args.num_styles} random style(s)" if args.num_styles else "")
    if len({tuple(r[0].shape) for r in rows}) == 1:
        columns = [("label", torch.stack([r[0] for r in rows]))]
        columns += [(n, torch.stack([r[1 + k] for r in rows])) for k, n in enumerate(names)]
        save_grid(columns, out / "grid.png")
        print(f"wrote {what} to {out} (grid.png: one row per label map)")
    else:
        print(f"wrote {what} to {out} (no grid.png: the label maps have different sizes)")
    return 0


def data_commands() -> dict[str, tuple[str, Any]]:
    """``{name: (plugin, main)}`` from every plugin's ``i2ikit_data_commands`` hook (the first plugin
    loaded, the core first, keeps a name; a plugin whose hook fails is skipped)."""
    from .plugins import commands

    return commands("i2ikit_data_commands")


def cmd_data(argv: list[str]) -> int:
    commands = data_commands()
    if not argv or argv[0] in ("-h", "--help") or argv[0] not in commands:
        names = " | ".join(sorted(commands)) or "(none: no plugin provides one)"
        print(f"usage: i2ikit data {{{names}}} [--help]", file=sys.stderr)
        for name, (plugin, fn) in sorted(commands.items()):
            doc = ((getattr(fn, "__doc__", None) or "").strip().splitlines() or [""])[0]
            print(f"  {name:14s} {doc}  [{plugin}]", file=sys.stderr)
        if argv and argv[0] not in ("-h", "--help"):
            print(f"error: unknown data command {argv[0]!r}", file=sys.stderr)
        return 0 if argv[:1] in (["-h"], ["--help"]) else 2
    return commands[argv[0]][1](argv[1:]) or 0


def cmd_zoo(args: argparse.Namespace) -> int:
    """The official releases i2ikit loads (every plugin's ``i2ikit_zoo_entries``), as a table or JSON."""
    import json

    from .zoo import zoo_entries

    entries = zoo_entries(args.pattern)
    if args.json:
        print(json.dumps([e.as_dict() for e in entries], indent=2))
        return 0
    if not entries:
        print(f"no release matches {args.pattern!r}; `i2ikit zoo` lists them all", file=sys.stderr)
        return 1
    print(f"{'id':34s} {'method':10s} {'task':10s} {'licence':18s} dataset")
    for e in entries:
        licence = e.licence_name if e.licence == "other" else e.licence
        print(f"{e.id:34s} {e.method:10s} {e.task:10s} {licence:18s} {e.dataset}")
        files = ", ".join(f.name + (f" (sha256 {f.sha256[:12]}...)" if f.sha256 else "") for f in e.files)
        print(f"    files: {files}")
        print(f"    from: {e.source}")
        if e.reported:
            shown = ", ".join(f"{k} {v}" for k, v in e.reported.items())
            print(f"    reported: {shown} ({e.reported_source or 'the authors'})")
        print(f"    convert: {e.convert_command}" if e.convert_command else f"    use: {e.command}")
    print(f"\n{len(entries)} release(s). Download the files from the page named, then run the convert (or use) command; "
          "`--json` gives every field.")
    return 0


def cmd_convert(args: argparse.Namespace) -> int:
    from .convert import convert
    from .recipe import parse_value

    settings: dict[str, Any] = {}
    for item in args.settings:
        key, sep, text = item.partition("=")
        if not sep or not key.strip():
            raise ConfigError(f"convert: setting {item!r} is not of the form key=value (e.g. dataset_mode=cityscapes)")
        settings[key.strip()] = parse_value(text)
    out = convert(args.source, args.out, method=args.method, release_id=args.zoo, settings=settings)
    print(f"wrote {out} (config.json, safetensors, README.md model card); load it with "
          f"i2ikit.build(pretrained={str(out)!r}) or i2ikit translate --model {out}")
    return 0


def cmd_demo(args: argparse.Namespace) -> int:
    from .demo import launch

    launch(args.model, method=args.method, host=args.host, port=args.port, size=args.size, share=args.share)
    return 0


def cmd_push(args: argparse.Namespace) -> int:
    from .hub import push_export

    url = push_export(args.export, args.repo_id, private=args.private, commit_message=args.message)
    print(f"pushed {args.export} to {args.repo_id}: {url}; load it with i2ikit.build(pretrained={args.repo_id!r})")
    return 0


def cmd_plot(args: argparse.Namespace) -> int:
    from .train.report import plot_run

    written = plot_run(args.run_dir, smooth=args.smooth)
    for path in written:
        print(f"wrote {path}")
    print(f"wrote {Path(args.run_dir) / 'index.html'} (the curves and every sample grid; open it in a browser)")
    return 0


def build_parser() -> argparse.ArgumentParser:
    from .registry import KINDS

    p = argparse.ArgumentParser(prog="i2ikit", description="Image-to-image translation toolkit. A mistake in the input is "
                                "reported in one paragraph (exit status 2); --debug (or I2IKIT_DEBUG=1) adds tracebacks.")
    p.add_argument("--debug", action="store_true", help="show the traceback of every error")
    sub = p.add_subparsers(dest="command", required=True)

    sp = sub.add_parser("plugins", help="list plugins, their versions and what they registered")
    sp.add_argument("--strict", action="store_true", help="exit 1 when a plugin failed to load")
    sp.set_defaults(fn=cmd_plugins)

    sp = sub.add_parser("models", help="list registered methods (or another kind) matching a wildcard")
    sp.add_argument("pattern", nargs="?", default="*")
    sp.add_argument("--kind", default=None, choices=KINDS, help="what to list (default: method)")
    sp.set_defaults(fn=cmd_models)

    from .parts import PART_KINDS

    sp = sub.add_parser("parts", help="list the parts methods are assembled from: kind, keyword arguments, plugin")
    sp.add_argument("pattern", nargs="?", default="*")
    sp.add_argument("--kind", default=None, choices=PART_KINDS, help="only this kind of part")
    sp.set_defaults(fn=cmd_parts)

    sp = sub.add_parser("recipes", help="list the recipes shipped in recipes/ folders")
    sp.set_defaults(fn=cmd_recipes)

    sp = sub.add_parser("train", help="train from a recipe (same as python -m i2ikit.run)")
    sp.add_argument("recipe")
    sp.add_argument("overrides", nargs="*")
    sp.add_argument("--check", action="store_true")
    sp.set_defaults(fn=cmd_train)

    sp = sub.add_parser("plot", help="draw a run's loss curves and evaluation metrics as PNG and refresh its "
                                     "index.html of sample grids")
    sp.add_argument("run_dir", help="the run folder (runs/<name>)")
    sp.add_argument("--smooth", type=_positive_int, default=None, help="moving-average window (default: steps / 50)")
    sp.set_defaults(fn=cmd_plot)

    sp = sub.add_parser("zoo", help="list the official releases i2ikit loads: method, dataset, licence, files, "
                                    "reported metrics and the convert command")
    sp.add_argument("pattern", nargs="?", default="*", help="wildcard on the id, method or dataset (e.g. '*spade*')")
    sp.add_argument("--json", action="store_true", help="every field, as JSON")
    sp.set_defaults(fn=cmd_zoo)

    sp = sub.add_parser("convert", help="convert an official checkpoint file or folder into an i2ikit export "
                                        "(config.json + safetensors + model card)")
    sp.add_argument("source", help="the official file or folder, as downloaded")
    sp.add_argument("--method", default=None, help="the method the files belong to (default: the --zoo entry's)")
    sp.add_argument("--zoo", default=None, metavar="ID", help="the release (`i2ikit zoo`): its method, settings, "
                    "licence, checksums and reported metrics go into the export and its card")
    sp.add_argument("--out", required=True, help="the export folder to write")
    sp.add_argument("--set", dest="settings", nargs="+", action="extend", default=[], metavar="KEY=VALUE",
                    help="more settings for the method (YAML values), e.g. --set dataset_mode=cityscapes")
    sp.set_defaults(fn=cmd_convert)

    sp = sub.add_parser("push", help="upload an export (config.json, safetensors, model card) to a Hugging Face Hub "
                                     "model repo")
    sp.add_argument("export", help="the export folder (runs/<name>/export, or what i2ikit convert wrote)")
    sp.add_argument("repo_id", help="<user or organisation>/<name>; created when missing (log in first: hf auth login)")
    sp.add_argument("--private", action="store_true", help="create the repo private")
    sp.add_argument("--message", default=None, help="the commit message")
    sp.set_defaults(fn=cmd_push)

    sp = sub.add_parser("demo", help="a web page (Gradio, the [demo] extra) that translates uploaded images with a "
                                     "model: class images, target classes, styles, as the model allows")
    sp.add_argument("--model", required=True, help="i2ikit export folder, Hub repo id (<user>/<repo>) or official "
                    "checkpoint file (with --method)")
    sp.add_argument("--method", default=None, help="method name, needed for official checkpoint files")
    sp.add_argument("--host", default="127.0.0.1", help="address to listen on (default 127.0.0.1: this machine only)")
    sp.add_argument("--port", type=_positive_int, default=7860)
    sp.add_argument("--size", type=_positive_int, default=None,
                    help="input size in pixels (default: the export's training crop, else 128)")
    sp.add_argument("--share", action="store_true", help="also open a public gradio.live link (needs the internet)")
    sp.set_defaults(fn=cmd_demo)

    sp = sub.add_parser("translate", help="translate images with an export folder or an official checkpoint")
    sp.add_argument("--model", required=True, help="i2ikit export folder, Hub repo id (<user>/<repo>) or official "
                    "checkpoint file")
    sp.add_argument("--method", default=None, help="method name, needed for official checkpoint files")
    sp.add_argument("--content", required=True, help="a content image or a folder of them (paired methods such as "
                    "pix2pixHD: label-map PNGs of class ids)")
    sp.add_argument("--instance", default=None, help="paired methods: the instance map(s) of the --content label maps, a "
                    "file or a folder (paired by file name)")
    target = sp.add_mutually_exclusive_group()  # none: a method with one fixed mapping (translate_modes "direct")
    target.add_argument("--class-images", help="few-shot methods: a folder of K images of the target class (their codes are averaged)")
    target.add_argument("--target-class", type=int, nargs="+", help="many-class methods: target class indices (one output each)")
    target.add_argument("--all-classes", action="store_true", help="many-class methods: every class the model knows")
    target.add_argument("--style", help="exemplar-guided: a style image or a folder of them (one output per content x style)")
    target.add_argument("--num-styles", type=_positive_int, help="latent-guided (GP-UNIT, MUNIT, DRIT): N random styles per content image")
    sp.add_argument("--direction", choices=("a2b", "b2a"), default=None,
                    help="two-domain methods (UNIT, MUNIT, DRIT): a2b (source -> target domain, the default) or b2a")
    sp.add_argument("--seed", type=int, default=0, help="seed of the random styles (--num-styles)")
    sp.add_argument("--out", required=True)
    sp.add_argument("--size", type=_positive_int, default=None, help="resize to SIZExSIZE (default: the export's crop, else "
                    "128); label maps: width SIZE, aspect kept (default: their own size), rounded to the model's multiple")
    sp.add_argument("--batch-size", type=_positive_int, default=16)
    sp.set_defaults(fn=cmd_translate)

    sub.add_parser("eval", help="evaluate a model, or run an evaluation command (`i2ikit eval --help` lists them; "
                                "plugins add more)")
    sub.add_parser("data", help="build and check datasets (`i2ikit data --help` lists the commands; plugins add more)")
    return p


def _dispatch(argv: list[str]) -> int:
    # `data` and `eval` hand all their arguments (including --help) to their own parsers.
    if argv[:1] == ["data"]:
        return cmd_data(argv[1:])
    if argv[:1] == ["eval"]:
        from .eval.command import main as eval_main

        return eval_main(argv[1:])
    args = build_parser().parse_args(argv)
    return args.fn(args)


def main(argv: list[str] | None = None) -> int:
    """Run one ``i2ikit`` command. A user's mistake is printed as one paragraph (exit 2); a traceback is
    shown for bugs, or for everything with ``--debug`` / ``I2IKIT_DEBUG=1``."""
    from .errors import run_main

    return run_main(_dispatch, sys.argv[1:] if argv is None else argv)


if __name__ == "__main__":
    sys.exit(main())
