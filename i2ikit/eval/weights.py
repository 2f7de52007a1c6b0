"""Local network weights for the metrics: a table of the files the field uses, and a resolver.

Nothing here (or anywhere in the metrics) downloads: every network weight is a file the user places
once. :func:`resolve_weights` looks for it in a fixed order and, when it is missing, raises
:class:`MissingWeightsError` with everything needed to fetch it on a machine with internet access
(file name, sha256, the folders searched, the ``I2IKIT_WEIGHTS`` variable and a ``curl`` line).
"""
from __future__ import annotations

import hashlib
import os
import re
from dataclasses import dataclass
from pathlib import Path

from ..errors import CheckpointError, MissingFileError

__all__ = [
    "ENV_VAR",
    "KNOWN_WEIGHTS",
    "ChecksumMismatchError",
    "MissingWeightsError",
    "WeightFile",
    "default_weights_dir",
    "known_weights",
    "resolve_weights",
    "search_dirs",
    "sha256_of",
    "verify_weights",
]

ENV_VAR = "I2IKIT_WEIGHTS"


@dataclass(frozen=True)
class WeightFile:
    """One known weight file.

    ``sha256`` is the full hex digest where it is known, else the hash prefix the file name carries
    (torch hub convention: ``name-<first 8 hex of sha256>.pth``), else ``None``; verification
    compares prefixes, so both forms work. ``aliases`` are other names the same file is published
    under (found in the same folders).
    """

    name: str
    filename: str
    sha256: str | None
    url: str
    used_by: tuple[str, ...]
    description: str = ""
    aliases: tuple[str, ...] = ()
    alias_urls: tuple[str, ...] = ()


# Full digests: the torchvision and torch-fidelity files' names carry the first 8 hex of their
# sha256 (torch hub convention), and the full digests below start with exactly those; they were
# taken from published pin lists (the same list's LPIPS head digests match the files inside the
# installed lpips 0.1.4 package byte for byte). Verify with ``verify=True`` on first use.
# The core's own table: the metrics' networks and the shared perceptual loss. Plugins add the files their
# networks read through the ``i2ikit_weight_files`` hook; :func:`known_weights` has both.
KNOWN_WEIGHTS: dict[str, WeightFile] = {
    "inception": WeightFile(
        name="inception",
        filename="weights-inception-2015-12-05-6726825d.pth",
        sha256="6726825d0af5f729cebd5821db510b11b1cfad8faad88a03f1befd49fb9129b2",
        url="https://github.com/toshas/torch-fidelity/releases/download/v0.2.0/weights-inception-2015-12-05-6726825d.pth",
        used_by=("fid", "mfid", "kid", "mkid"),
        description="FID Inception-v3 (TF graph 2015-12-05 ported to PyTorch; torch-fidelity's state dict)",
        # pytorch-fid publishes the same port under this name (same hash prefix); torch-fidelity's
        # loader reads it as well.
        aliases=("pt_inception-2015-12-05-6726825d.pth",),
        alias_urls=("https://github.com/mseitzer/pytorch-fid/releases/download/fid_weights/pt_inception-2015-12-05-6726825d.pth",),
    ),
    # torchvision's ImageNet Inception-v3 (IMAGENET1K_V1), what `models.inception_v3(pretrained=True)`
    # loads in StarGAN v2's metrics/fid.py. Only the hash prefix in the file name is published here.
    "inception_v3_torchvision": WeightFile(
        name="inception_v3_torchvision",
        filename="inception_v3_google-0cc3c7bd.pth",
        sha256="0cc3c7bd",
        url="https://download.pytorch.org/models/inception_v3_google-0cc3c7bd.pth",
        used_by=("fid, mfid, kid, mkid with features='stargan_v2'",),
        description="torchvision ImageNet Inception-v3 (IMAGENET1K_V1); StarGAN v2's and GP-UNIT's FID network",
    ),
    "vgg16": WeightFile(
        name="vgg16",
        filename="vgg16-397923af.pth",
        sha256="397923af8e79cdbb6a7127f12361acd7a2f83e06b05044ddf496e83de57a5bf0",
        url="https://download.pytorch.org/models/vgg16-397923af.pth",
        used_by=("dipd", "lpips_diversity (net='vgg')"),
        description="VGG16 ImageNet classifier (torchvision IMAGENET1K_V1)",
    ),
    # Only the 8-hex prefix of vgg19's sha256 is published (in its file name); verification compares
    # prefixes, so the prefix is the expected hash until the full digest is recorded from the file.
    "vgg19": WeightFile(
        name="vgg19",
        filename="vgg19-dcbb9e9d.pth",
        sha256="dcbb9e9d",
        url="https://download.pytorch.org/models/vgg19-dcbb9e9d.pth",
        used_by=("the VGG19 perceptual loss (i2ikit.losses.VGGPerceptualLoss; GP-UNIT's vgg_weights)",),
        description="VGG19 ImageNet classifier (torchvision IMAGENET1K_V1); the perceptual loss",
    ),
    "alexnet": WeightFile(
        name="alexnet",
        filename="alexnet-owt-7be5be79.pth",
        sha256="7be5be791159472b1fbf3c69796f7cb30dca7ad8466c2df70058c37116cdee02",
        url="https://download.pytorch.org/models/alexnet-owt-7be5be79.pth",
        used_by=("lpips_diversity (net='alex', the default)",),
        description="AlexNet ImageNet classifier (torchvision IMAGENET1K_V1)",
    ),
}


class MissingWeightsError(MissingFileError):
    """A weight file the metric needs is not on this machine (nothing is ever downloaded)."""


class ChecksumMismatchError(CheckpointError):
    """A weight file is there but its sha256 is not the expected one (wrong or truncated file)."""


def default_weights_dir() -> Path:
    """``~/.cache/i2ikit/weights``: the folder searched when ``I2IKIT_WEIGHTS`` does not have the file."""
    return Path.home() / ".cache" / "i2ikit" / "weights"


def _torch_hub_checkpoints() -> Path | None:
    # Where torchvision / torch-fidelity keep what they downloaded earlier; reading it downloads nothing.
    try:
        import torch.hub

        return Path(torch.hub.get_dir()) / "checkpoints"
    except Exception:  # pragma: no cover - torch always has hub
        return None


def search_dirs() -> list[Path]:
    """Folders searched, in order: each entry of ``$I2IKIT_WEIGHTS`` (``os.pathsep``-separated),
    ``~/.cache/i2ikit/weights``, then torch hub's checkpoint folder (files torchvision or
    torch-fidelity downloaded before keep their published names there)."""
    dirs: list[Path] = []
    env = os.environ.get(ENV_VAR, "")
    dirs += [Path(p).expanduser() for p in env.split(os.pathsep) if p]
    dirs.append(default_weights_dir())
    hub = _torch_hub_checkpoints()
    if hub is not None:
        dirs.append(hub)
    out: list[Path] = []
    for d in dirs:
        if d not in out:
            out.append(d)
    return out


def sha256_of(path: str | os.PathLike[str], chunk: int = 1 << 20) -> str:
    h = hashlib.sha256()
    with open(path, "rb") as f:
        for block in iter(lambda: f.read(chunk), b""):
            h.update(block)
    return h.hexdigest()


def _expected_hash(entry: WeightFile, filename: str) -> str | None:
    if entry.sha256:
        return entry.sha256.lower()
    m = re.search(r"-([0-9a-f]{8,64})\.[A-Za-z0-9]+$", filename)
    return m.group(1) if m else None


def verify_weights(path: str | os.PathLike[str], expected: str | None) -> str:
    """Check ``path``'s sha256 against ``expected`` (full digest or a prefix); return the digest.

    ``expected=None`` only computes the digest. Raises :class:`ChecksumMismatchError`.
    """
    digest = sha256_of(path)
    if expected and not digest.startswith(expected.lower()):
        raise ChecksumMismatchError(
            f"weights file {str(path)!r} has sha256 {digest}, expected {expected}"
            f"{' (prefix)' if len(expected) < 64 else ''}: the file is wrong or incomplete; download it again"
        )
    return digest


def _missing_message(entry: WeightFile, searched: list[Path], explicit: Path | None) -> str:
    target = default_weights_dir()
    lines = [
        f"weights file {entry.filename!r} not found ({entry.description or entry.name}; used by: {', '.join(entry.used_by)}).",
        f"  expected sha256: {entry.sha256 or 'unknown (not published; check the file against its source)'}"
        + (" (the prefix in the published file name; the full digest is not published)" if entry.sha256 and len(entry.sha256) < 64 else ""),
    ]
    if explicit is not None:
        lines.append(f"  the path given does not exist or does not hold it: {explicit}")
    lines.append("  searched: " + (", ".join(str(p) for p in searched) if searched else "(nothing)"))
    env = os.environ.get(ENV_VAR)
    lines.append(f"  ${ENV_VAR}: {env!r}" if env else f"  ${ENV_VAR} is not set")
    if entry.aliases:
        lines.append(f"  also accepted under the name(s): {', '.join(entry.aliases)}")
    lines += [
        "  i2ikit never downloads weights. Put the file into a folder named by the environment variable "
        f"{ENV_VAR} (e.g. export {ENV_VAR}=/data/weights), or into {target}, or pass its path explicitly.",
        "  On a machine with internet access, download it once with:",
        f"    mkdir -p {target} && curl -L -o {target / entry.filename} {entry.url}",
        f"  then check: sha256sum {target / entry.filename}",
    ]
    return "\n".join(lines)


def known_weights() -> dict[str, WeightFile]:
    """The core's :data:`KNOWN_WEIGHTS` and every plugin's ``i2ikit_weight_files`` entries (the core, then
    the plugin loaded first, keeps a name)."""
    from ..plugins import get_plugin_manager

    table = dict(KNOWN_WEIGHTS)
    for entries in reversed(get_plugin_manager().hook.i2ikit_weight_files()):  # pluggy: last registered first
        for entry in entries or ():
            table.setdefault(entry.name, entry)
    return table


def resolve_weights(name: str, path: str | os.PathLike[str] | None = None, *, verify: bool = False) -> Path:
    """The local path of the known weight file ``name`` (a key of :func:`known_weights`).

    Order: ``path`` if given (a file, or a folder holding the file under its published name), else
    ``$I2IKIT_WEIGHTS/<filename>``, else ``~/.cache/i2ikit/weights/<filename>``, else torch hub's
    checkpoint folder. ``verify=True`` also checks the sha256 (prefix match). Raises
    :class:`MissingWeightsError` (a ``FileNotFoundError``) naming the file, its hash, the folders
    searched, the variable and the download URL.
    """
    table = known_weights()
    try:
        entry = table[name]
    except KeyError:
        raise KeyError(f"unknown weights {name!r}; known: {', '.join(sorted(table))}") from None
    names = (entry.filename, *entry.aliases)
    found: Path | None = None
    explicit: Path | None = None
    searched: list[Path] = []
    if path is not None:
        explicit = Path(path).expanduser()
        if explicit.is_dir():
            candidates = [explicit / n for n in names]
            searched += candidates
            found = next((c for c in candidates if c.is_file()), None)
        else:
            searched.append(explicit)
            found = explicit if explicit.is_file() else None
        if found is None:
            raise MissingWeightsError(_missing_message(entry, searched, explicit))
    else:
        for d in search_dirs():
            for n in names:
                candidate = d / n
                searched.append(candidate)
                if candidate.is_file():
                    found = candidate
                    break
            if found is not None:
                break
        if found is None:
            raise MissingWeightsError(_missing_message(entry, searched, None))
    if verify:
        verify_weights(found, _expected_hash(entry, found.name))
    return found
