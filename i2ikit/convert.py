"""``i2ikit convert``: an official release -> an i2ikit export (``config.json`` + safetensors) with a model card.

The official files are read by the method's ``load_official`` (``weights_only=True``, nothing unpickled) through
``i2ikit.build(method, pretrained=<file or folder>, **settings)``; the settings come from the zoo entry
(``--zoo <id>``) and the command line. The export's ``README.md`` is a Hugging Face model card: its metadata
block names the library, tags, licence, datasets, the sha256 of every source file and the metrics the authors
report, so an export pushed to the Hub is described as the release it came from.
"""
from __future__ import annotations

import os
import sys
from pathlib import Path
from typing import Any, Mapping

from .errors import ConfigError, MissingFileError
from .zoo import LICENCES, Release, find_release

__all__ = ["source_hashes", "model_card", "convert"]

_HIDDEN = (".", "__")


def source_hashes(source: str | os.PathLike) -> dict[str, str]:
    """``{file name: sha256}`` of an official file, or of every file in an official folder (recursively, names
    relative to it; hidden files left out)."""
    from .eval.weights import sha256_of

    path = Path(source)
    if path.is_file():
        return {path.name: sha256_of(path)}
    files = sorted(p for p in path.rglob("*") if p.is_file() and not any(part.startswith(_HIDDEN)
                                                                          for part in p.relative_to(path).parts))
    return {p.relative_to(path).as_posix(): sha256_of(p) for p in files}


def _check_against_release(hashes: Mapping[str, str], release: Release) -> list[str]:
    """Warnings for files whose sha256 differs from the one the release publishes (another epoch, a damaged
    download): the conversion goes on, since the files loaded, but the card will not claim to be the release."""
    warnings = []
    for f in release.files:
        if f.sha256 is None:
            continue
        got = hashes.get(f.name) or next((h for n, h in hashes.items() if Path(n).name == Path(f.name).name), None)
        if got is not None and got != f.sha256:
            warnings.append(f"{f.name}: sha256 {got} is not the release's {f.sha256} (another epoch or a damaged "
                            "download?); the export is converted from the file as it is")
    return warnings


def _yaml_card(metadata: Mapping[str, Any], body: str) -> str:
    from huggingface_hub import ModelCard, ModelCardData

    data = ModelCardData(**dict(metadata))
    return str(ModelCard(f"---\n{data.to_yaml()}\n---\n\n{body}"))


def model_card(method: str, tasks: tuple[str, ...] | list[str], *, release: Release | None = None,
               hashes: Mapping[str, str] | None = None, name: str | None = None) -> str:
    """The ``README.md`` of an export: a Hugging Face model card (metadata block + text).

    ``method``, ``tasks``: the method's name and tasks (tags). ``release``: the zoo entry it was converted from
    (licence, datasets, source, reported metrics), if any. ``hashes``: ``{source file: sha256}``. ``name``: the
    model's name (default: the release id, else the method)."""
    from huggingface_hub import EvalResult

    name = name or (release.id if release else method)
    tags = ["i2ikit", "image-to-image", method, *(t.replace("_", "-") for t in tasks)]
    meta: dict[str, Any] = {"library_name": "i2ikit", "pipeline_tag": "image-to-image", "tags": tags,
                            "model_name": name}
    if release is not None:
        meta["license"] = release.licence
        if release.licence == "other":
            meta["license_name"] = release.licence_name
        if release.hf_datasets:
            meta["datasets"] = list(release.hf_datasets)
        meta["i2ikit_release"] = release.id
        meta["source_url"] = release.source
        if release.reported:
            task = (release.task or (tasks[0] if tasks else "image-to-image")).replace("_", "-")
            meta["eval_results"] = [
                EvalResult(task_type="image-to-image", task_name=task, dataset_type=release.dataset,
                           dataset_name=release.dataset, metric_type=key, metric_name=key, metric_value=value,
                           source_name=release.reported_source or "reported by the authors",
                           source_url=release.paper or release.source)
                for key, value in release.reported.items()]
    if hashes:
        meta["source_sha256"] = dict(hashes)

    lines = [f"# {name}", ""]
    if release is not None:
        licence = release.licence_name if release.licence == "other" else LICENCES.get(release.licence, release.licence)
        lines += [f"{release.title}. An i2ikit export of the official `{release.method}` release, "
                  "converted with `i2ikit convert`: the weights as safetensors and the settings as `config.json`, "
                  "so it loads without unpickling anything.", "",
                  f"- Method: `{release.method}` ({release.task.replace('_', '-')})",
                  f"- Trained on: {release.dataset}",
                  f"- Licence: {licence} (the release's own; the weights keep it)",
                  f"- Source: {release.source}"]
        if release.paper:
            lines.append(f"- Paper: {release.paper}")
        if release.notes:
            lines += ["", release.notes]
        if release.reported:
            lines += ["", f"Reported by the authors ({release.reported_source or 'see the source'}), not measured "
                      "on this export:", "", "| metric | value |", "|---|---|"]
            lines += [f"| {k} | {v} |" for k, v in release.reported.items()]
    else:
        lines += [f"An i2ikit export of the `{method}` method: `config.json` and safetensors weights."]
    if hashes:
        lines += ["", "Converted from (sha256):", ""] + [f"- `{n}`: `{h}`" for n, h in hashes.items()]
    lines += ["", "## Use", "", "```python", "import i2ikit", "", 'model = i2ikit.build(pretrained="<this folder or Hub id>")',
              "```", "", "```bash", "i2ikit translate --model <this folder or Hub id> --content <image or folder> --out out/ ...",
              "```", ""]
    return _yaml_card(meta, "\n".join(lines))


def convert(source: str | os.PathLike, out: str | os.PathLike, *, method: str | None = None,
            release_id: str | None = None, settings: Mapping[str, Any] | None = None) -> Path:
    """Convert an official file or folder into an i2ikit export at ``out`` (written atomically) with its model card.

    ``method``: the method whose official files these are; ``release_id``: a zoo entry, whose method and settings
    are used (``method`` must then agree); ``settings``: more keyword arguments for ``i2ikit.build`` (they win over
    the entry's). Returns ``out``."""
    from .api import build, list_models

    source = Path(source)
    if not source.exists():
        raise MissingFileError(f"{source}: no such file or folder to convert; download the release first "
                               "(`i2ikit zoo` lists where each one is published)")
    release = find_release(release_id) if release_id else None
    if release is not None and release.command:
        raise ConfigError(f"--zoo {release.id}: this release is not converted into an export; i2ikit reads its files "
                          f"as they are: {release.command}")
    if release is not None and method is not None and method != release.method:
        raise ConfigError(f"--method {method} disagrees with --zoo {release.id}, a {release.method!r} release; leave "
                          "--method out or give the release's method")
    method = method or (release.method if release else None)
    if method is None:
        raise ConfigError(f"{source}: say which method the official files belong to with --method "
                          f"({', '.join(list_models())}) or name the release with --zoo <id> (`i2ikit zoo` lists them)")
    kwargs = {**(dict(release.settings) if release else {}), **dict(settings or {})}
    model = build(method, pretrained=source, **kwargs)
    hashes = source_hashes(source)
    if release is not None:
        for warning in _check_against_release(hashes, release):
            print(f"warning: {warning}", file=sys.stderr)
    card = model_card(model.method_name, tuple(getattr(model, "tasks", ()) or ()), release=release, hashes=hashes)
    converted = {"from": source.name, "sha256": hashes, "release": release.id if release else None,
                 "settings": kwargs}
    return model.save_pretrained(out, extra={"converted": converted}, files={"README.md": card})
