"""UNIT's official releases (mingyuliutw/UNIT master), as zoo entries (``i2ikit zoo``, ``i2ikit convert --zoo``).

Facts from the repository's TUTORIAL.md "Pretrained models" and README (see docs/methods/unit.md). Master
publishes one model; no checksum is published.
"""
from __future__ import annotations

from i2ikit.zoo import Release, ReleaseFile

SOURCE = "https://github.com/mingyuliutw/UNIT"

RELEASES: tuple[Release, ...] = (
    Release(
        id="unit/gta2city",
        method="unit",
        title="UNIT GTA to Cityscapes (master code, the one released UNIT model)",
        task="two_domain",
        dataset="gta2cityscape",
        licence="cc-by-nc-sa-4.0",
        source=SOURCE,
        files=(ReleaseFile("unit_gta2city.pt",
                           note="gen file {'a', 'b'} on Google Drive (drive.google.com/open?id="
                                "1R9MH_p8tDmUsIAjKCu-jgoilWgANfObx, TUTORIAL.md 'Pretrained models'), to be saved "
                                "as models/unit_gta2city.pt"),),
        notes="The official test.py runs it with configs/unit_gta2city_list.yaml (new_size_a/b 512: the shorter "
              "side resized to 512 before translation). That config has vgg_w 1, which the official trainer needs "
              "VGG16 for even at test time; inference here does not use it. The generator settings are read from "
              "the file; PyTorch 0.3 instance-norm statistics, if the file has them, are dropped as test.py does. "
              "Master shares no layers between the domains (the NIPS paper's results come from the version_02 "
              "branch). The README's 2017 synthia-to-cityscape model predates master's code layout and is not "
              "listed. No checksum is published; the paper's address is not recorded here.",
    ),
)
