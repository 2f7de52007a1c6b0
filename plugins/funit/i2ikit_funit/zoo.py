"""FUNIT's official release (NVlabs/FUNIT), as a zoo entry (``i2ikit zoo``, ``i2ikit convert --zoo``).

Facts from the reference notes on NVlabs/FUNIT (see docs/methods/funit.md): the released
``pretrained/animal149_gen.pt`` is a generator file ``{'gen', 'gen_test'}`` (``gen_test`` is the EMA generator,
the one for inference); the discriminator is not in the released tarball. No checksum is published.
"""
from __future__ import annotations

from i2ikit.zoo import Release, ReleaseFile

SOURCE = "https://github.com/NVlabs/FUNIT"
PAPER = "https://arxiv.org/abs/1905.01723"

RELEASES: tuple[Release, ...] = (
    Release(
        id="funit/animal149",
        method="funit",
        title="FUNIT animal faces generator (the official animal149 checkpoint, few-shot)",
        task="few_shot",
        dataset="Animal Faces",
        licence="cc-by-nc-sa-4.0",
        source=SOURCE,
        paper=PAPER,
        files=(ReleaseFile("animal149_gen.pt",
                           note="generator file {'gen', 'gen_test'}, pretrained/animal149_gen.pt in the released "
                                "tarball (the README's download)"),),
        reported={"top5_accuracy_1shot": 82.36, "top5_accuracy_5shot": 96.05},
        reported_source="FUNIT paper Table 1, Animal Faces, FUNIT-1 / FUNIT-5 Top-5 translation accuracy",
        notes="Generator only: the widths are read from the file, gen_test (the EMA generator) translates and gen is "
              "kept for training; the discriminator is not released, so the export's is freshly initialised with "
              "num_classes 119 (funit_animals.yaml; pass --set num_classes=N to size it for fine-tuning). Animal "
              "Faces: 149 ImageNet carnivore classes (119 source / 30 target in the paper); the name and imaginaire's "
              "matching class149 config suggest the release saw all 149 classes, which is an inference, not "
              "documented: if so, evaluating it on the 30 'unseen' classes is not a fair few-shot test. The reported "
              "numbers are the paper's for its model on Animal Faces (probably the target-class classifier column, "
              "not confirmed); the repository does not say the release is that model, and the paper's other Table 1 "
              "cells are not recorded here. The tarball's name and address and any checksum are not recorded here. "
              "The official test resizes images to 128x128 (test_k_shot.py).",
    ),
)
