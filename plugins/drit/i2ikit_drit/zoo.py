"""DRIT's official release (HsinYingLee/DRIT), as a zoo entry (``i2ikit zoo``, ``i2ikit convert --zoo``).

Facts from the repository's README "Testing Example" and ``models/download_model.sh`` (see
docs/methods/drit.md). The repository publishes one model and has no LICENSE file.
"""
from __future__ import annotations

from i2ikit.zoo import Release, ReleaseFile

RELEASES: tuple[Release, ...] = (
    Release(
        id="drit/example",
        method="drit",
        title="DRIT example model (yosemite summer/winter, the README's test example)",
        task="two_domain",
        dataset="yosemite (summer <-> winter)",
        licence="other",
        licence_name="all-rights-reserved",
        source="https://github.com/HsinYingLee/DRIT",
        files=(ReleaseFile("example.pth", url="http://vllab.ucmerced.edu/hylee/DRIT/models/example.pth",
                           note="fetched by models/download_model.sh into models/example.pth"),),
        notes="The repository has no LICENSE file: treat the weights as all rights reserved. The dataset is "
              "inferred from the README's test command (--dataroot ../datasets/yosemite), and concat=1 from its "
              "passing no --concat; neither is documented. i2ikit reads concat, nz and the width from the file, and "
              "loads the discriminators only if the file has them, else the export's are freshly initialised "
              "(test.py reads enc_c, enc_a and gen only). Whether example.pth predates the mode-seeking commit is "
              "not stated (the networks are the same either way). The README's \"latest models in a few days\" "
              "are not recorded in the reference. MSGAN's DRIT-Mode-Seeking files (HelenMao/MSGAN) are a third "
              "party's and not listed. No checksum is published; the paper's address is not recorded here.",
    ),
)
