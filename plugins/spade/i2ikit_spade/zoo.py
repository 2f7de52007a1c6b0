"""SPADE's official releases (NVlabs/SPADE), as zoo entries (``i2ikit zoo``, ``i2ikit convert --zoo``).

Facts from the repository's README (see docs/methods/spade.md): ``checkpoints.tar.gz`` on Google Drive holds
``coco_pretrained``, ``ade20k_pretrained`` and ``cityscapes_pretrained``, each a non-VAE generator only
(``latest_net_G.pth``; no discriminator, issue #91). The GauGAN landscape model was not released.
"""
from __future__ import annotations

from i2ikit.zoo import Release, ReleaseFile

SOURCE = "https://github.com/NVlabs/SPADE"
PAPER = "https://arxiv.org/abs/1903.07291"
ARCHIVE = ("in checkpoints.tar.gz on Google Drive (id 12gvlTbMvUcJewQlSEaZdeb2CdOB-b8kQ, README.md:65-79), "
           "unpacked under checkpoints/")
_COMMON = ("Generator only (non-VAE: one image per label map; no discriminator, so no --continue_train, and the "
           "export's discriminator is freshly initialised). The architecture is read from the file, the crop and "
           "upsampling from dataset_mode. The files hold spectral-norm weight_v, i.e. they were written by "
           "PyTorch >= 1.1. The reported numbers are the paper's Table 1 for its model on this data set (mIoU and "
           "accuracy from the data set's segmentation network, FID with pytorch-fid); the repository has no metric "
           "code and does not say the release is that exact checkpoint, and re-evaluations disagree on the "
           "protocol (issues #39, #51, #100). i2ikit computes FID/KID of the set (i2ikit eval --data, "
           "docs/metrics.md), not yet the segmentation scores. No checksum is published.")
# SPADE paper (arXiv 1903.07291) Table 1, SPADE rows: mIoU, pixel accuracy, FID.
TABLE_1 = {"coco_pretrained": {"miou": 37.4, "accuracy": 67.9, "fid": 22.6},
           "ade20k_pretrained": {"miou": 38.5, "accuracy": 79.9, "fid": 33.9},
           "cityscapes_pretrained": {"miou": 62.3, "accuracy": 81.9, "fid": 71.8}}


def _release(name: str, mode: str, dataset: str, what: str, labels: str) -> Release:
    return Release(
        id=f"spade/{name}",
        method="spade",
        title=f"SPADE (GauGAN) {dataset} label maps to images ({name})",
        task="paired",
        dataset=dataset,
        licence="cc-by-nc-sa-4.0",
        source=SOURCE,
        paper=PAPER,
        files=(ReleaseFile(f"checkpoints/{name}/latest_net_G.pth", note=f"{what} generator, {ARCHIVE}"),),
        settings={"dataset_mode": mode, "use_vae": False},
        reported=TABLE_1[name],
        reported_source="SPADE paper Table 1 (the paper's model)",
        notes=f"Official test: test.py --name {name} --dataset_mode {mode}. {labels} {_COMMON}",
    )


RELEASES: tuple[Release, ...] = (
    _release("coco_pretrained", "coco", "COCO-Stuff", "COCO-Stuff (256x256)",
             "Labels 0-181 with 255 (unlabeled) as the don't-care channel 182, plus instance maps (184 channels)."),
    _release("ade20k_pretrained", "ade20k", "ADE20K", "ADE20K (256x256)",
             "Labels enter raw, 0 = unknown and 1-150 the classes (the official shift is a no-op the model was "
             "trained with), no instance maps (151 channels)."),
    _release("cityscapes_pretrained", "cityscapes", "Cityscapes", "Cityscapes (512x256)",
             "Cityscapes labelIds (35) plus instance maps (36 channels), 512x256, num_upsampling_layers more."),
)
