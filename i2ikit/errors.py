"""Errors that are the user's to fix, and the one place that turns them into a message.

A :class:`UserError` is a mistake in something the user gave i2ikit: a recipe key, a method value, an
image, a weight file, a folder. Its message names the culprit (file, key or value) and says what to do.
Every command (``i2ikit ...``, ``python -m i2ikit.run``, ``accelerate launch -m i2ikit.run``) prints it
as one paragraph, without a traceback, and exits with status 2. Operating-system errors (permission
denied, disk full, a missing file) are the user's too. Anything else escaping a command is a bug in
i2ikit or a plugin and keeps its traceback. ``--debug`` (or ``I2IKIT_DEBUG=1``) shows the traceback
of a user error as well.

The classes keep the built-in exception they refine (``ConfigError`` is a ``ValueError``,
``MissingFileError`` a ``FileNotFoundError``), so Python callers can catch either.
"""
from __future__ import annotations

import os
import sys
import traceback
from typing import Callable, Sequence


class UserError(Exception):
    """Something the user gave i2ikit is wrong or missing; the message says what and how to fix it.

    Raised in a DataLoader worker, it reaches the main process rebuilt by PyTorch as
    ``type(exc)("Caught ... in DataLoader worker process N.\nOriginal Traceback ...")``; the constructor
    takes the original message back out of that text, so the user sees it without the worker's traceback.
    """

    def __init__(self, *args: object) -> None:
        if len(args) == 1 and isinstance(args[0], str):
            args = (_unwrap_worker_message(args[0], type(self)),)
        super().__init__(*args)


class ConfigError(UserError, ValueError):
    """A key or value of a recipe, a method, a dataset or a command-line option is wrong."""


class MissingFileError(UserError, FileNotFoundError):
    """A file or folder the user named (or that a recipe needs) does not exist."""


class CheckpointError(UserError, ValueError):
    """A weight, export or run-state file cannot be used: damaged, truncated, needs pickle, or does not fit."""


class TrainingDiverged(UserError, FloatingPointError):
    """A loss became NaN or infinite; training stopped before the step was logged or saved."""


def _unwrap_worker_message(text: str, cls: type) -> str:
    if not (text.startswith("Caught ") and "\nOriginal Traceback" in text):
        return text
    marker = f"{cls.__module__}.{cls.__qualname__}: "
    at = text.rfind(marker)
    return text[at + len(marker):].strip() if at >= 0 else text


def with_context(exc: UserError, prefix: str) -> UserError:
    """The same error with ``prefix`` (e.g. ``recipes/x.yaml: data.train: ``) in front of its message."""
    try:
        new = type(exc)(f"{prefix}{exc}")
    except TypeError:  # a constructor that takes other arguments
        exc.add_note(f"(in {prefix.rstrip(': ')})")
        return exc
    for note in getattr(exc, "__notes__", ()):
        new.add_note(note)
    return new


DEBUG_ENV = "I2IKIT_DEBUG"
USER_ERROR_EXIT = 2
BUG_EXIT = 1


def debug_requested(argv: Sequence[str] = ()) -> bool:
    return "--debug" in argv or os.environ.get(DEBUG_ENV, "").strip().lower() not in ("", "0", "false", "no")


def _rank_prefix() -> str:
    """``[process 1/4] `` under a multi-process launch, so the failing process is named."""
    world = os.environ.get("WORLD_SIZE")
    if world and world.isdigit() and int(world) > 1:
        return f"[process {os.environ.get('RANK', '?')}/{world}] "
    return ""


def describe_os_error(exc: OSError) -> str:
    """One line for an operating-system error, naming the path: ``permission denied: runs/x``."""
    reason = exc.strerror or str(exc) or type(exc).__name__
    paths = [p for p in (exc.filename, getattr(exc, "filename2", None)) if p]
    where = f": {os.fsdecode(paths[0])}" if paths else ""
    hint = {
        "PermissionError": " Check the permissions of that path, or choose another (e.g. train.run_dir=...).",
        "FileNotFoundError": " Check the path.",
    }.get(type(exc).__name__, "")
    if getattr(exc, "errno", None) == 28:  # ENOSPC
        hint = " Free some disk space (old runs/<name>/state folders are safe to delete) or choose another folder."
    return f"{reason}{where}.{hint}"


def report(exc: BaseException, *, debug: bool = False, file=None) -> int:
    """Print ``exc`` for the user and return the exit status: 2 for their mistakes, 1 for a bug."""
    file = file or sys.stderr
    prefix = _rank_prefix()
    if isinstance(exc, UserError):
        if debug:
            traceback.print_exception(exc, file=file)
        text = "\n".join([str(exc).strip(), *getattr(exc, "__notes__", ())])
        print(f"{prefix}error: {text}", file=file)
        return USER_ERROR_EXIT
    if isinstance(exc, OSError):
        if debug:
            traceback.print_exception(exc, file=file)
        print(f"{prefix}error: {describe_os_error(exc)}", file=file)
        return USER_ERROR_EXIT
    traceback.print_exception(exc, file=file)
    print(f"{prefix}This is a bug in i2ikit or one of its plugins (`i2ikit plugins` lists them), not a mistake in "
          "your input: please report it with the traceback above.", file=file)
    return BUG_EXIT


def run_main(main: Callable[[list[str]], int], argv: Sequence[str]) -> int:
    """Call a command's ``main(argv)`` and turn whatever escapes it into a message and an exit status.
    ``--debug`` is taken out of ``argv`` here, so every command accepts it anywhere."""
    argv = list(argv)
    debug = debug_requested(argv)
    argv = [a for a in argv if a != "--debug"]
    try:
        return int(main(argv) or 0)
    except KeyboardInterrupt:
        print(f"{_rank_prefix()}interrupted", file=sys.stderr)
        return 130
    except SystemExit:
        raise
    except BaseException as exc:  # noqa: BLE001 - this is the one top-level handler
        return report(exc, debug=debug)
