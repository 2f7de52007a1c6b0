"""MUNIT's official releases (NVlabs/MUNIT), as zoo entries (``i2ikit zoo``, ``i2ikit convert --zoo``).

Facts from the repository's README / USAGE.md / TUTORIAL.md "Pretrained models" and its issue threads (see
docs/methods/munit.md). The files are gen-only ``{'a', 'b'}`` dicts in one Google Drive folder; no checksum
is published. ``edges2handbags`` and ``summer2winter_yosemite256`` are "coming soon" there, so not listed.
"""
from __future__ import annotations

from i2ikit.zoo import Release, ReleaseFile

SOURCE = "https://github.com/NVlabs/MUNIT"
FOLDER = "Google Drive folder drive.google.com/drive/folders/10IEa7gibOWmQQuJUIUOkh-CV4cm6k8__"

_COMMON = ("The generator settings are read from the file; whether it was written by PyTorch 0.3 is not "
           "documented (its instance-norm statistics are dropped as test.py does). Gen file only: no "
           "discriminators. No checksum is published; the paper's address is not recorded here.")

RELEASES: tuple[Release, ...] = (
    Release(
        id="munit/edges2shoes",
        method="munit",
        title="MUNIT edges to shoes (the documented released model)",
        task="two_domain",
        dataset="edges2shoes",
        licence="cc-by-nc-sa-4.0",
        source=SOURCE,
        files=(ReleaseFile("edges2shoes.pt", note=f"gen file {{'a', 'b'}} in the {FOLDER}, to be saved as "
                                                  "models/edges2shoes.pt (USAGE.md, TUTORIAL.md)"),),
        notes="Trained with configs/edges2shoes_folder.yaml (recon_x_cyc_w 0, i2ikit's default). " + _COMMON,
    ),
    Release(
        id="munit/housecat2dog",
        method="munit",
        title="MUNIT house cat to dog (an animal model of the release folder)",
        task="two_domain",
        dataset="housecat2dog",
        licence="cc-by-nc-sa-4.0",
        source=SOURCE,
        files=(ReleaseFile("housecat2dog.pt", note=f"gen file {{'a', 'b'}} in the {FOLDER}"),),
        notes="Not in the README's table: issues #46 and #55 report it in the release folder, and the maintainer "
              "says (#46) the animal models use the edges2shoes hyper-parameters. The training data is not "
              "documented; reproductions of its results were off (#55). " + _COMMON,
    ),
)
