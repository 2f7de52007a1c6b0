"""i2ikit exports on the Hugging Face Hub: fetch one by repo id into the standard cache, publish one with its card.

Only the export's own files travel: ``config.json``, the ``*.safetensors`` weights and the ``README.md`` model
card. Official-format copies an export may also hold (``latest_net_G.pth`` ...) are pickles for other tools and
are neither uploaded nor fetched, so nothing fetched from the Hub is ever unpickled. Fetching uses
``huggingface_hub.snapshot_download`` (its cache, ``HF_HOME`` / ``HF_HUB_CACHE``, tokens and mirrors) and honours
``HF_HUB_OFFLINE``: offline, the cached snapshot is used, and a repo that was never fetched is named as such.
"""
from __future__ import annotations

import os
import re
from pathlib import Path
from typing import Any

from .errors import ConfigError, MissingFileError

__all__ = ["EXPORT_PATTERNS", "looks_like_hub_id", "hub_offline", "download_export", "push_export"]

EXPORT_PATTERNS = ["config.json", "*.safetensors", "README.md"]
"""The files of an export that go to and come from the Hub."""

_REPO_ID = re.compile(r"[A-Za-z0-9][A-Za-z0-9_.-]*/[A-Za-z0-9][A-Za-z0-9_.-]*")


def looks_like_hub_id(spec: Any) -> bool:
    """True for ``"<user>/<repo>"`` (optionally ``@<revision>``) when no local file or folder has that name."""
    if not isinstance(spec, str) or Path(spec).exists():
        return False
    repo = spec.split("@", 1)[0]
    return bool(_REPO_ID.fullmatch(repo)) and not repo.startswith((".", "~")) and ".." not in repo


def hub_offline() -> bool:
    """``HF_HUB_OFFLINE`` as huggingface_hub reads it, read now (so setting it after import still counts)."""
    return os.environ.get("HF_HUB_OFFLINE", "").strip().upper() in ("1", "ON", "YES", "TRUE")


def download_export(spec: str, *, cache_dir: str | os.PathLike | None = None) -> Path:
    """The local folder of the export ``"<user>/<repo>[@<revision>]"``, fetched into the Hugging Face cache (or
    found there when offline). A missing repo, revision or file is a one-paragraph error naming it."""
    from huggingface_hub import snapshot_download
    from huggingface_hub.errors import (
        GatedRepoError,
        HfHubHTTPError,
        LocalEntryNotFoundError,
        RepositoryNotFoundError,
        RevisionNotFoundError,
    )

    from . import __version__
    from .method import CONFIG_NAME

    repo_id, _, revision = spec.partition("@")
    where = f"pretrained={spec!r}"
    try:
        path = Path(snapshot_download(repo_id, revision=revision or None, allow_patterns=EXPORT_PATTERNS,
                                      cache_dir=cache_dir, local_files_only=hub_offline(), library_name="i2ikit",
                                      library_version=__version__))
    except LocalEntryNotFoundError:
        state = "HF_HUB_OFFLINE is set" if hub_offline() else "the Hub could not be reached"
        raise MissingFileError(f"{where}: not in the Hugging Face cache and {state}. Fetch it once with a connection "
                               f"(i2ikit.build(pretrained={repo_id!r}) or `hf download {repo_id}`), or give the "
                               "path of a local export folder") from None
    except GatedRepoError:
        raise ConfigError(f"{where}: the repo is gated; accept its terms on the Hub and log in (`hf auth login`)") from None
    except RepositoryNotFoundError:
        raise MissingFileError(f"{where}: no such model repo on the Hub (or it is private: log in with `hf auth "
                               "login`); check the id, or give the path of a local export folder") from None
    except RevisionNotFoundError:
        raise MissingFileError(f"{where}: the repo has no revision {revision!r}") from None
    except HfHubHTTPError as exc:
        raise MissingFileError(f"{where}: the Hub answered {exc}; try again, or give a local export folder") from None
    if not (path / CONFIG_NAME).is_file():
        raise ConfigError(f"{where}: the Hub repo holds no config.json, so it is not an i2ikit export (an export is "
                          "config.json + *.safetensors, written by save_pretrained or i2ikit convert)")
    return path


def push_export(export: str | os.PathLike, repo_id: str, *, private: bool = False, token: str | None = None,
                commit_message: str | None = None) -> str:
    """Upload an export folder's ``config.json``, safetensors and model card to the model repo ``repo_id`` (created
    when missing). An export without ``README.md`` gets a card made from its config. Returns the commit's URL."""
    from huggingface_hub import HfApi

    from .api import method_class, not_an_export
    from .convert import model_card
    from .method import CONFIG_NAME, read_export_config

    export = Path(export)
    if not export.is_dir():
        raise MissingFileError(f"{export}: no such export folder to push")
    why = not_an_export(export)
    if why or not (export / CONFIG_NAME).is_file():
        raise ConfigError(f"{export}: {why or 'not an i2ikit export (no config.json)'}")
    if not list(export.glob("*.safetensors")):
        raise ConfigError(f"{export}: holds no .safetensors weights; write it again with save_pretrained")
    if not _REPO_ID.fullmatch(repo_id):
        raise ConfigError(f"{repo_id!r} is not a Hub repo id of the form <user or organisation>/<name>")
    api = HfApi(token=token)
    api.create_repo(repo_id, repo_type="model", private=private, exist_ok=True)
    message = commit_message or f"Upload i2ikit export {export.name}"
    if not (export / "README.md").is_file():
        method = str(read_export_config(export).get("method"))
        try:
            tasks = tuple(getattr(method_class(method), "tasks", ()) or ())
        except KeyError:
            tasks = ()
        card = model_card(method, tasks, name=repo_id.split("/")[1])
        api.upload_file(path_or_fileobj=card.encode(), path_in_repo="README.md", repo_id=repo_id,
                        commit_message=message + " (model card)")
    info = api.upload_folder(folder_path=str(export), repo_id=repo_id, allow_patterns=EXPORT_PATTERNS,
                             commit_message=message)
    return str(getattr(info, "commit_url", info))
