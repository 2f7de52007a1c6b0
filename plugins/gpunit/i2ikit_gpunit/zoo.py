"""GP-UNIT's official releases (williamyang1991/GP-UNIT), as zoo entries (``i2ikit zoo``, ``i2ikit convert --zoo``).

Facts from the reference notes on the repository (README, ``checkpoint/readme.md``; see docs/methods/gpunit.md):
the Stage-I content encoder ``content_encoder.pt`` (a bare state dict) and one Stage-II file per task direction,
``{'g_ema', 'sampler'}``, on Google Drive / Baidu. No discriminator, optimiser state or checksum is published.

A task file needs the content encoder, released separately: the method reads both from one folder
(``content_encoder.pt`` + ``<task>.pt``, as the official ``checkpoint/`` folder holds them), and the entry's
``task`` setting picks the task file when the folder holds several.
"""
from __future__ import annotations

from i2ikit.zoo import Release, ReleaseFile

SOURCE = "https://github.com/williamyang1991/GP-UNIT"
PAPER = "https://arxiv.org/abs/2204.03641"
LICENCE = {"licence": "other", "licence_name": "s-lab-license-1.0"}
WHERE = ("Google Drive / Baidu, links in the README and checkpoint/readme.md (Drive file ids in "
         "notebooks/inference_playground.ipynb MODEL_PATHS)")
FOLDER = "checkpoint"  # inference.py's default folder for content_encoder.pt and the task files

_COMMON = ("No discriminator is released: the export's is freshly initialised (fine-tuning starts D from scratch). "
           "The sampler (latent-guided styles) uses batch statistics, as officially, so sample at least 2 styles. "
           "Trained at 256 px. No checksum is published; the paper's tables are not recorded here.")

# The reference's task table (README section (3)): data and the flags the README gives for the example task.
_CELEBA = "CelebA-HQ (StarGAN-v2 split)"
_AFHQ = "AFHQ 512"
_FACE_ANIMAL = "CelebA-HQ (ImageNet291/train/1001_face) + AFHQ"
_BIRD_DOG = "ImageNet291 (4 bird + 4 dog classes, 600 images each)"
_BIRD_CAR = "ImageNet291 (birds 10, 11, 12, 13_bird; cars 436, 511, 627, 656_vehicle; 600 each)"
_METFACE = "CelebA-HQ + MetFaces"

# task -> (title, dataset, what the reference says about its training flags)
TASKS: dict[str, tuple[str, str, str]] = {
    "male2female": ("male to female faces", _CELEBA,
                    "The README trains male<->female with --style_layer 5 --mitigate_style_bias --use_allskip "
                    "--not_flip_style."),
    "female2male": ("female to male faces", _CELEBA,
                    "The README trains male<->female with --style_layer 5 --mitigate_style_bias --use_allskip "
                    "--not_flip_style."),
    "dog2cat": ("dog to cat", _AFHQ, "The README's AFHQ example is cat2dog (--source_num 4000 --target_num 4000 "
                "--mitigate_style_bias); this direction's flags are not given."),
    "cat2dog": ("cat to dog", _AFHQ, "The README trains it with --source_num 4000 --target_num 4000 "
                "--mitigate_style_bias."),
    "dog2wild": ("dog to wild animal", _AFHQ, "This direction's flags are not given (the README's AFHQ example is "
                 "cat2dog)."),
    "wild2dog": ("wild animal to dog", _AFHQ, "This direction's flags are not given (the README's AFHQ example is "
                 "cat2dog)."),
    "cat2wild": ("cat to wild animal", _AFHQ, "This direction's flags are not given (the README's AFHQ example is "
                 "cat2dog)."),
    "wild2cat": ("wild animal to cat", _AFHQ, "This direction's flags are not given (the README's AFHQ example is "
                 "cat2dog)."),
    "face2cat": ("human face to cat", _FACE_ANIMAL, "The README's face<->animal example is cat2face; this "
                 "direction's flags are not given."),
    "cat2face": ("cat to human face", _FACE_ANIMAL, "The README trains it with --style_layer 5 --mitigate_style_bias "
                 "--not_flip_style --use_idloss (ArcFace identity loss)."),
    "dog2face": ("dog to human face", _FACE_ANIMAL, "The README uses the ID loss for Cat/Dog->Face; the other flags "
                 "of this direction are not given."),
    "face2dog": ("human face to dog", _FACE_ANIMAL, "The README's face<->animal example is cat2face; this "
                 "direction's flags are not given."),
    "bird2dog": ("bird to dog", _BIRD_DOG, "The README gives no extra flags."),
    "dog2bird": ("dog to bird", _BIRD_DOG, "The README gives no extra flags."),
    "bird2car": ("bird to car", _BIRD_CAR, "The README gives no extra flags."),
    "car2bird": ("car to bird", _BIRD_CAR, "The README gives no extra flags."),
    "face2metface": ("human face to MetFaces art portrait", _METFACE, "The README trains it with --use_idloss."),
}

# The evaluation notebook's logged numbers (FID / LPIPS diversity), for runs named *_Waug that may not be the
# released files: given in the notes only, not as the release's reported metrics.
NOTEBOOK = {"male2female": (12.602, 0.355), "female2male": (16.664, 0.393), "dog2cat": (8.504, 0.489),
            "cat2dog": (22.077, 0.533), "cat2face": (16.878, 0.455), "face2cat": (9.200, 0.521),
            "dog2bird": (6.223, 0.625), "bird2dog": (16.347, 0.580), "car2bird": (6.518, 0.627),
            "bird2car": (21.350, 0.587)}


def _task_release(task: str) -> Release:
    title, dataset, flags = TASKS[task]
    logged = ""
    if task in NOTEBOOK:
        fid, lpips = NOTEBOOK[task]
        logged = (f" The official notebooks/evaluation.ipynb logs FID {fid} and LPIPS diversity {lpips} for a "
                  f"{task} '_Waug' run (StarGAN-v2 metric code, 10 latent styles per test image, FID against the "
                  "target domain's training images); 'Waug' is not explained and those runs may be the TPAMI-era "
                  "models, so they are not given as this file's numbers.")
    return Release(
        id=f"gpunit/{task}",
        method="gpunit",
        title=f"GP-UNIT {title} (Stage-II task model)",
        task="two_domain",
        dataset=dataset,
        source=SOURCE,
        paper=PAPER,
        files=(ReleaseFile(f"{task}.pt", note=f"task file {{'g_ema', 'sampler'}}, {WHERE}"),
               ReleaseFile("content_encoder.pt", note="the Stage-I content encoder the task file needs, released "
                                                      "separately (zoo entry gpunit/content_encoder)")),
        settings={"task": task},
        convert_from=FOLDER,
        notes=(f"Put {task}.pt and content_encoder.pt in one folder ({FOLDER}/, as the official inference.py expects) "
               f"and convert the folder; task={task!r} picks {task}.pt when the folder holds other task files (all "
               "files in the folder are hashed into the model card, so a folder of just these two gives a clean "
               "card). Or convert the task file itself with --set content_encoder=<path to content_encoder.pt>. "
               "g_ema fills G and G_ema; the content encoder is frozen and kept in the export. "
               f"{flags} These flags only affect training. {_COMMON}{logged}"),
        **LICENCE,
    )


CONTENT_ENCODER = Release(
    id="gpunit/content_encoder",
    method="gpunit",
    title="GP-UNIT Stage-I content encoder (the generative prior every task model needs)",
    task="two_domain",
    dataset="synImageNet291 (BigGAN-deep-128 pairs) + ImageNet291 (+ CelebA-HQ faces)",
    source=SOURCE,
    paper=PAPER,
    files=(ReleaseFile("content_encoder.pt", note=f"bare ContentEncoder state dict (legacy spectral norm), {WHERE}"),),
    notes=("The Stage-I content encoder, distilled from BigGAN's generative prior (prior_distillation.py writes it "
           "as content_encoder-45000.pt after its 45000 iterations). It is not a translator by itself: converting it "
           "gives a gpunit export with this frozen encoder and a freshly initialised (untrained) generator and "
           "sampler, a starting point only. Every gpunit/<task> entry needs this file next to its task file. For "
           "Stage-II training a recipe reads the file directly (method.content_encoder=<path>/content_encoder.pt with "
           "stages=null, docs/weights.md). The author says (issue #2) it generalises to domains beyond its "
           "training data. The Stage-I training snapshots (prior_distillation-XXXXX.pt, method gpunit_prior) are "
           "not released. No checksum is published; the paper's tables are not recorded here."),
    **LICENCE,
)



def _biggan_deep(size: int) -> Release:
    """pytorch-pretrained-biggan's BigGAN-deep generator at ``size``: the data-synthesis weights, used as they are."""
    base = f"https://s3.amazonaws.com/models.huggingface.co/biggan/biggan-deep-{size}"
    note = "rename to {} in one folder (the package's from_pretrained(folder) layout)"
    return Release(
        id=f"gpunit/biggan_deep_{size}",
        method="gpunit",
        title=f"BigGAN-deep-{size} generator (pytorch-pretrained-biggan), for i2ikit data biggan-pairs",
        task="two_domain",
        dataset="ImageNet (1000 classes)",
        licence="apache-2.0",
        source="https://github.com/huggingface/pytorch-pretrained-BigGAN",
        files=(ReleaseFile("config.json", url=f"{base}-config.json", note=note.format("config.json")),
               ReleaseFile("pytorch_model.bin", url=f"{base}-pytorch_model.bin", note=note.format("pytorch_model.bin"))),
        command=f"i2ikit data biggan-pairs --weights biggan-deep-{size}/ --out data/synImageNet291",
        notes=(f"DeepMind's BigGAN-deep-{size} as ported by pytorch-pretrained-biggan (generator only; the "
               "discriminator was never released). The files are read as they are, not converted: "
               "`i2ikit data biggan-pairs` synthesises GP-UNIT's Stage-I pairs (synImageNet291) with them"
               + (" at 128 px, the size the paper used." if size == 128 else
                  "; GP-UNIT's paper used the 128 px model, so this one gives other pairs than the paper's.")
               + " The paper made its pairs with the TF-Hub original, not this port, so re-synthesised data "
               "differ from the released dataset. The licence is the package's (Apache 2.0, its PyPI metadata); "
               "the Hugging Face Hub mirror osanseviero/BigGAN-deep-128 holds the same two files for 128. "
               "No checksum is published."),
    )


BIGGAN_DEEP = tuple(_biggan_deep(size) for size in (128, 256, 512))

RELEASES: tuple[Release, ...] = (CONTENT_ENCODER, *(_task_release(t) for t in TASKS), *BIGGAN_DEEP)
