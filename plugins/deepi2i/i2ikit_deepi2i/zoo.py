"""DeepI2I's official releases (yaxingwang/DeepI2I) and the BigGAN-PyTorch ImageNet checkpoints it starts from
(ajbrock/BigGAN-PyTorch), as zoo entries (``i2ikit zoo``, ``i2ikit convert --zoo``).

Facts from the reference notes on both repositories (see docs/methods/deepi2i.md and docs/weights.md):

- DeepI2I (``DeepI2I_BigGAN/README.md``): trained models for animal faces, NABirds and UECFOOD-256 on Google
  Drive, each a folder of BigGAN-PyTorch-format state dicts that ``test.py`` reads (``G.pth``, ``D.pth``,
  ``E1.pth``, ``A1.pth``; ``*_optim.pth`` / ``state_dict.pth`` are not needed). The networks keep BigGAN's
  1000 ImageNet class rows and dataset label k uses row k (``--N_target_cate`` 149 / 555 / 256), hence the
  ``class_map`` setting.
- BigGAN-PyTorch (README "Pretrained models", Google Drive): the 128x128 ImageNet run (G, G_ema, D, both
  optimisers, the state dict), the checkpoint taken just before collapse that DeepI2I starts from, and an
  earlier one at 100k iterations. ``i2ikit.build("deepi2i", pretrained=<folder>)`` reads such a folder as
  DeepI2I's ``--resume_BigGAN`` start.

The BigGAN-deep weights of pytorch-pretrained-biggan are not listed: no method builds from them (they are a
different architecture); only ``i2ikit data biggan-pairs --weights`` (GP-UNIT's data synthesis) reads them, and a
zoo entry is a convert command.
"""
from __future__ import annotations

from i2ikit.zoo import Release, ReleaseFile

SOURCE = "https://github.com/yaxingwang/DeepI2I"
BIGGAN_SOURCE = "https://github.com/ajbrock/BigGAN-PyTorch"

# Paper Table 1 (papers.md), the DeepI2I and DeepI2I (scratch) rows: RC, FC, mKID x100, mFID at 128 px.
TABLE_1 = {
    "animals": {"rc": 49.5, "fc": 55.4, "mkid_x100": 4.93, "mfid": 68.4},
    "birds": {"rc": 20.8, "fc": 22.5, "mkid_x100": 8.92, "mfid": 146.3},
    "foods": {"rc": 30.2, "fc": 19.3, "mkid_x100": 6.38, "mfid": 130.8},
}
TABLE_1_SCRATCH = {
    "birds": {"rc": 3.24, "fc": 5.84, "mkid_x100": 30.5, "mfid": 301.7},
    "foods": {"rc": 5.83, "fc": 4.67, "mkid_x100": 26.5, "mfid": 278.2},
}

_PARTS = (("G.pth", "generator (BigGAN 128 with feature injection)"), ("D.pth", "projection discriminator"),
          ("E1.pth", "encoder E1 (a copy of BigGAN's D, frozen in training)"), ("A1.pth", "adaptor A1"))
_LICENCE_NOTE = ("The repository has no LICENSE file and the reference records no licence: treat the weights as all "
                 "rights reserved.")
_COMMON = ("The network settings (128 px, ch 96, dim_z 120, shared_dim 128, attention, the 1000 class rows) are read "
           "from the files. Convert the downloaded folder (any name; the entry uses the official experiment name). "
           "i2ikit needs all four of G.pth, D.pth, E1.pth and A1.pth (the reference does not list the "
           "Drive folder's contents; *_optim.pth and state_dict.pth are never read). The README says to put the folder "
           "in result/<dataset>/weights/<experiment>/0, but test.py with --model_ite 0 reads "
           "result/<dataset>/weights/<experiment>/ itself; i2ikit reads whatever folder is given. Translate with "
           "target_class k = dataset label k, in the official class order (class folder names sorted as strings, "
           "class_to_index/<experiment>/I128_imgs.pickle; i2ikit_deepi2i.official_class_order / read_class_index). "
           "Inputs are 128x128 in [-1, 1] (make_hdf5.py: centre crop on the long edge, resize to 128); one noise z "
           "per image. No checksum is published; the paper's address is not recorded here.")


def _deepi2i_release(name: str, folder: str, dataset: str, n_classes: int, classes: str, extra: str) -> Release:
    reported = TABLE_1[name] if name == "animals" else {}
    return Release(
        id=f"deepi2i/{name}",
        method="deepi2i",
        title=f"DeepI2I {dataset} many-class translation, 128 px ({n_classes} classes)",
        task="many_class",
        dataset=dataset,
        licence="other",
        licence_name="all-rights-reserved",
        source=SOURCE,
        files=tuple(ReleaseFile(f, note=f"{what}; in the README's Google Drive folder for {name}")
                    for f, what in _PARTS),
        settings={"class_map": list(range(n_classes))},
        reported=reported,
        reported_source="DeepI2I paper Table 1, DeepI2I row, Animal faces (the paper's model)" if reported else "",
        convert_from=folder,
        notes=(f"class_map [0..{n_classes - 1}]: dataset label k uses BigGAN class row k, as the official code "
               f"(--N_target_cate {n_classes}); {classes} {extra} {_COMMON} {_LICENCE_NOTE}"),
    )


def _scratch_numbers(name: str) -> str:
    t, s = TABLE_1[name], TABLE_1_SCRATCH[name]
    fmt = "RC {rc}, FC {fc}, mKID x100 {mkid_x100}, mFID {mfid}"
    return (f"The paper's Table 1 gives DeepI2I {fmt.format(**t)} and DeepI2I (scratch) {fmt.format(**s)} on this "
            "data set; which of the two this file is, is not documented, so neither is given as its numbers.")


_SCRATCH = ("The official training script's (commented-out) block for this data set uses --training_scratch, "
            "not --resume_BigGAN; whether the released model was trained that way is not documented. If it was, "
            "convert it with --set from_scratch=true (its feature injection weights are then {4: 1, 8: 1, 16: 1, "
            "32: 0.1} instead of 0.1 everywhere); the entry keeps the default (BigGAN-transfer) weights.")

DEEPI2I = (
    _deepi2i_release("animals", "DeepI2I_animals", "Animal faces", 149,
                     "the 149 classes are FUNIT's ImageNet carnivore synsets n02085620 ... n02138441 (117,574 images).",
                     "Trained from BigGAN-PyTorch's 128 px ImageNet checkpoint (--resume --resume_BigGAN, "
                     "scripts/DeepI2I.sh). The reported numbers are the paper's for its model on this data set; the "
                     "README does not say the release is that exact model."),
    _deepi2i_release("birds", "DeepI2I_NABirds", "NABirds", 555,
                     "the 555 classes are the NABirds folders 0295 ... 1010 (48,527 images).",
                     f"{_SCRATCH} {_scratch_numbers('birds')}"),
    _deepi2i_release("foods", "DeepI2I_UECFOOD256", "UECFOOD-256", 256,
                     "the 256 classes are the folders 1 ... 256 sorted as strings (1, 10, 100, 101, ...; "
                     "31,395 images).",
                     f"{_SCRATCH} {_scratch_numbers('foods')}"),
)

_BIGGAN_FILES = (
    ("G_ema.pth", "EMA generator: DeepI2I's G (preferred; the DeepI2I README copies it over G.pth)"),
    ("G.pth", "raw generator, used when G_ema.pth is absent"),
    ("D.pth", "discriminator: DeepI2I's D and its encoder E"),
    ("G_optim.pth", "G's Adam state (optional; not kept in the export)"),
    ("D_optim.pth", "D's Adam state (optional; not kept in the export)"),
    ("state_dict.pth", "training state: never read (it pickles nn.ReLU objects; i2ikit loads weights only)"),
)
_BIGGAN_COMMON = ("Convert the downloaded folder (any name). Converting gives DeepI2I's --resume_BigGAN start, "
                  "not a translator: G from G_ema.pth, D and the encoder E from D.pth, the adaptor A freshly "
                  "initialised with PyTorch's default init (as officially: it is never loaded), so translations are "
                  "meaningless until trained, and two conversions differ in A. To train DeepI2I, recipes read the "
                  "folder itself with method.biggan: <folder> (the deepi2i_animals / _birds / _foods recipes), which "
                  "also starts G's and D's Adam moments from the *_optim.pth files; the export keeps the weights "
                  "only. BigGAN: ch 96, dim_z 120 (hierarchical), shared_dim 128, attention at 64, 1000 ImageNet "
                  "classes, read from the files. The repository's LICENSE is MIT (the README gives no separate terms "
                  "for the weights, which were trained on ImageNet). No checksum is published; the BigGAN paper's "
                  "address is not recorded here.")


def _biggan_release(name: str, title: str, folder: str, extra: str) -> Release:
    return Release(
        id=f"deepi2i/{name}",
        method="deepi2i",
        title=title,
        task="many_class",
        dataset="ImageNet (128x128)",
        licence="mit",
        source=BIGGAN_SOURCE,
        files=tuple(ReleaseFile(f, note=f"{what}; from the README's \"Pretrained models\" Google Drive link")
                    for f, what in _BIGGAN_FILES),
        convert_from=folder,
        notes=f"{extra} {_BIGGAN_COMMON}",
    )


BIGGAN = (
    _biggan_release("biggan_imagenet128", "BigGAN-PyTorch 128 px ImageNet checkpoint (DeepI2I's starting point)",
                    "BigGAN_weights",
                    "The main checkpoint: BigGAN trained on ImageNet at 128x128 with batch 256 x 8 accumulations, "
                    "taken just before collapse (last logged iteration 138000), TF Inception Score 97.35 +/- 1.79 as "
                    "the README reports (for BigGAN's image generation, not for translation). DeepI2I's "
                    "--resume_BigGAN reads it from DeepI2I_BigGAN/BigGAN_weights/."),
    _biggan_release("biggan_imagenet128_100k", "BigGAN-PyTorch 128 px ImageNet checkpoint at 100k iterations",
                    "BigGAN_weights_100k",
                    "The README's earlier checkpoint of the same run, at 100k iterations; DeepI2I starts from the "
                    "main one (deepi2i/biggan_imagenet128), so its phase and results refer to that one."),
)

RELEASES: tuple[Release, ...] = (*DEEPI2I, *BIGGAN)
