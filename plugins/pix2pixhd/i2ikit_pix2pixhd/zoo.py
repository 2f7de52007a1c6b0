"""pix2pixHD's official release (NVIDIA/pix2pixHD), as a zoo entry (``i2ikit zoo``, ``i2ikit convert --zoo``).

Facts from the repository's README and scripts (see docs/methods/pix2pixhd.md). Only the 1024p Cityscapes
generator is published: no 512p generator and no discriminator (issues #225, #275).
"""
from __future__ import annotations

from i2ikit.zoo import Release, ReleaseFile

RELEASES: tuple[Release, ...] = (
    Release(
        id="pix2pixhd/label2city_1024p",
        method="pix2pixhd",
        title="pix2pixHD Cityscapes label maps to 2048x1024 street scenes (label2city_1024p, G only)",
        task="paired",
        dataset="Cityscapes",
        licence="bsd-2-clause",
        source="https://github.com/NVIDIA/pix2pixHD",
        paper="https://arxiv.org/abs/1711.11585",
        files=(ReleaseFile("label2city_1024p/latest_net_G.pth",
                           note="LocalEnhancer G (--netG local --ngf 32, 36 input channels, no features) on Google "
                                "Drive (id 1OR-2aEPHOxZKuoOV34DvQxreqGCSLcW9, README.md:73; the pre-2024 id "
                                "1h9SykUnuZul7J3Nbms2QGH1wa85nbN2- is in the git history)"),),
        settings={"label_nc": 35, "no_instance": False, "instance_feat": False, "netG": "local"},
        notes="Generator only: no discriminator or encoder was released, so the export's discriminator is freshly "
              "initialised. Input: Cityscapes labelIds (label_nc 35) and instance maps (the boundary channel). "
              "The official test command is scripts/test_1024p.sh (test.py --name label2city_1024p --netG local "
              "--ngf 32 --resize_or_crop none). A file from PyTorch < 0.4 may hold instance-norm running "
              "statistics, which are dropped on loading. Licence: the repository's LICENSE.txt (BSD-style, NVIDIA "
              "2019, with the pytorch-CycleGAN-and-pix2pix BSD licence). The repository has no metric code; no "
              "reported numbers are recorded here. No checksum is published.",
    ),
)
