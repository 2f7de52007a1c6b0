"""SPADE / GauGAN as an i2ikit method, faithful to ``NVlabs/SPADE`` (``models/pix2pix_model.py``,
``trainers/pix2pix_trainer.py``, ``train.py``; re-implemented from the facts in docs/methods/spade.md).

One data stream, ``pairs`` (dataset type ``paired``: ``[image | label ids | instance ids]``). Per iteration, as
``train.py``: a generator step (every ``D_steps_per_G`` iterations), then a discriminator step on the same
batch:

1. ``G`` (netG and, with ``use_vae``, netE; optimiser ``G``): with VAE, z = mu + eps * sigma of the real image
   and the KL term; the fake; D on ``[label encoding | fake]`` and ``[label encoding | real]`` concatenated on
   the batch axis (one call); the GAN term (averaged over the scales), feature matching (every intermediate D
   output, L1, ``lambda_feat / num_D`` each) and the VGG19 term (``lambda_vgg``).
2. ``D`` (netD; optimiser ``D``): the fake made again without gradients (a second G forward, fresh eps), D on
   fake and real in one call, ``D_fake + D_real`` (no 1/2), each averaged over the scales.

Optimisers: Adam, ``lr`` 2e-4; TTUR (the default): G lr / 2, D lr x 2, betas (0, 0.9); ``no_TTUR``: both lr,
betas (0.5, 0.999). The learning rate is constant for ``niter`` epochs, then falls linearly over
``niter_decay`` epochs (:meth:`SPADE.lr_factor`; an epoch is ``epoch_iters`` iterations).
"""
from __future__ import annotations

import os
import re
import warnings
from pathlib import Path
from typing import Any, Mapping

import torch
import torch.nn.functional as F
from torch import nn

from i2ikit.constraints import OneOf, Range, at_least_one, non_negative, positive
from i2ikit.data import split_paired
from i2ikit.errors import ConfigError, MissingFileError
from i2ikit.losses import GANLoss, HingeLoss, LazyLoss, LSGANLoss, NonSaturatingLoss, VGGPerceptualLoss, resolve_vgg19
from i2ikit.method import Batch, Losses, Method, TrainStep
from i2ikit.nn import NetworkView, eval_mode
from i2ikit.nn.label_maps import encode_label_map, input_channels
from i2ikit.nn.layers import INIT_TYPES
from i2ikit.nn.spade import SN_INITS
from i2ikit.two_domain import pair, random_styles

from ._version import __version__
from .colors import label_colors
from .networks import UPSAMPLING_LAYERS, ConvEncoder, SPADEGenerator, multiscale_discriminator
from .official import (
    DATASET_MODES,
    NETWORKS,
    infer_discriminator_settings,
    infer_encoder_settings,
    infer_generator_settings,
    load_into,
    official_file,
    read_state_dict,
    save_official,
)

__all__ = ["SPADE", "WGANLoss", "GAN_MODES", "SPADE_DATASET_MODES", "kld_loss", "official_files"]


class WGANLoss(GANLoss):
    """SPADE's ``gan_mode w``: D on -mean(real) + mean(fake), G on -mean(fake)."""

    def d_real(self, logits: torch.Tensor) -> torch.Tensor:
        return -logits.mean()

    def d_fake(self, logits: torch.Tensor) -> torch.Tensor:
        return logits.mean()

    def g(self, logits: torch.Tensor) -> torch.Tensor:
        return -logits.mean()


class LSLoss(LSGANLoss):
    """SPADE's ``gan_mode ls``: ``F.mse_loss`` against a target of 1 (real; the generator) or 0 (fake). The core
    :class:`~i2ikit.losses.LSGANLoss` is the same function; written as officially, it gives the same bits."""

    def d_real(self, logits: torch.Tensor) -> torch.Tensor:
        return F.mse_loss(logits, torch.ones_like(logits))

    def d_fake(self, logits: torch.Tensor) -> torch.Tensor:
        return F.mse_loss(logits, torch.zeros_like(logits))

    def g(self, logits: torch.Tensor) -> torch.Tensor:
        return self.d_real(logits)


class BCELoss(NonSaturatingLoss):
    """SPADE's ``gan_mode original``: ``F.binary_cross_entropy_with_logits`` against 1 / 0 (the core softplus form,
    :class:`~i2ikit.losses.NonSaturatingLoss`, written as officially)."""

    def d_real(self, logits: torch.Tensor) -> torch.Tensor:
        return F.binary_cross_entropy_with_logits(logits, torch.ones_like(logits))

    def d_fake(self, logits: torch.Tensor) -> torch.Tensor:
        return F.binary_cross_entropy_with_logits(logits, torch.zeros_like(logits))

    def g(self, logits: torch.Tensor) -> torch.Tensor:
        return self.d_real(logits)


GAN_MODES: dict[str, type[GANLoss]] = {"hinge": HingeLoss, "ls": LSLoss, "original": BCELoss, "w": WGANLoss}
"""The official ``--gan_mode`` values: hinge (default), ls (least squares), original (BCE on logits), w."""

SPADE_DATASET_MODES: dict[str, dict[str, Any]] = {
    **{mode: {k: v for k, v in s.items()} for mode, s in DATASET_MODES.items()},
    "custom": {"label_nc": 13, "contain_dontcare_label": False, "instance": True, "crop_size": 256,
               "aspect_ratio": 1.0, "num_upsampling_layers": "normal"},
}
"""What each official ``--dataset_mode`` sets: the label-map encoding and the crop (``custom``: 13 labels, no
don't-care label; instance maps unless ``no_instance``, as officially without ``--instance_dir``)."""

_PRESET_KEYS = ("label_nc", "contain_dontcare_label", "crop_size", "aspect_ratio", "num_upsampling_layers")


def kld_loss(mu: torch.Tensor, logvar: torch.Tensor) -> torch.Tensor:
    """The official ``KLDLoss``: -1/2 sum(1 + logvar - mu^2 - exp(logvar)), summed over batch and dimensions."""
    mu, logvar = mu.float(), logvar.float()
    return -0.5 * torch.sum(1 + logvar - mu.pow(2) - logvar.exp())


def spade_vgg_loss(weights: str | os.PathLike) -> VGGPerceptualLoss:
    """SPADE's ``VGGLoss``: VGG19 relu1_1 ... relu5_1, weights 1/32 ... 1, raw [-1, 1] input. Built with the CPU RNG
    forked: the official code builds it before training, so building it at the first step must not shift the
    random draws (the VAE's eps) that follow."""
    with torch.random.fork_rng(devices=[]):
        return VGGPerceptualLoss(weights, layer_weights=VGGPerceptualLoss.PIX2PIXHD_LAYER_WEIGHTS,
                                 imagenet_normalize=False)


def generate(m: "SPADE", seg: torch.Tensor, image: torch.Tensor | None) -> dict[str, torch.Tensor]:
    """The official ``generate_fake``: with VAE, z = mu + eps * exp(logvar / 2) of ``image`` through netE (eps from
    the global RNG, as ``randn_like``), then netG. The G view's forward, so one DDP call holds netG and netE."""
    out: dict[str, torch.Tensor] = {}
    z = None
    if m.use_vae:
        mu, logvar = m.netE(image)
        std = torch.exp(0.5 * logvar)
        z = torch.randn_like(std).mul(std) + mu
        out.update(mu=mu, logvar=logvar)
    out["fake"] = m.netG(seg, z)
    return out


def official_files(path: str | os.PathLike, which_epoch: str | int = "latest") -> dict[str, Path | None]:
    """``{"G": file, "D": file or None, "E": file or None}`` of an official checkpoint folder (``<which_epoch>_net_*``)
    or of one ``<epoch>_net_G.pth`` (its ``_net_D`` / ``_net_E`` siblings of the same epoch)."""
    path = Path(path)
    if path.is_dir():
        files = {net: official_file(path, net, which_epoch) for net in NETWORKS}
        if not files["G"].is_file():
            present = sorted(p.name for p in path.glob("*_net_*.pth"))
            raise MissingFileError(f"{files['G']} does not exist: an official SPADE checkpoint folder holds "
                                   f"<epoch>_net_G.pth (and _net_D.pth, _net_E.pth); {path} has "
                                   f"{', '.join(present) or 'none'}. Pass which_epoch=<epoch> for another epoch")
    else:
        m = re.fullmatch(r"(.+)_net_G\.pth", path.name)
        if m is None:
            raise MissingFileError(f"{path} is not an official SPADE generator file (<epoch>_net_G.pth, e.g. "
                                   "latest_net_G.pth) nor a checkpoint folder holding one")
        files = {net: path.with_name(f"{m.group(1)}_net_{net}.pth") for net in NETWORKS}
    return {net: (f if f.is_file() else None) if net != "G" else f for net, f in files.items()}


class SPADE(Method):
    """SPADE (GauGAN): label maps -> images; hinge GAN, feature matching, VGG, KL, TTUR; official *_net_G.pth files load.

    Networks: ``netG`` (:class:`~i2ikit_spade.SPADEGenerator`), ``netD`` (the core ``multiscale`` wrapper of
    ``num_D`` ``spade_patch`` scales, on the label encoding and the image concatenated) and, with ``use_vae``,
    ``netE`` (:class:`~i2ikit_spade.ConvEncoder`). Keyword arguments are the official options and their defaults
    (``options/*.py``, ``data/<mode>_dataset.py``):

    - ``dataset_mode`` (``coco``, the official default; ``cityscapes``, ``ade20k``, ``facades``, ``custom``): sets
      the defaults of ``label_nc``, ``contain_dontcare_label``, ``no_instance``, ``crop_size``, ``aspect_ratio``
      and ``num_upsampling_layers`` (None below = the mode's value), as ``--dataset_mode`` does.
    - ``label_nc``: label ids (coco 182, cityscapes 35, ade20k 150, facades and custom 13).
      ``contain_dontcare_label``: 255 marks unlabelled pixels, one more one-hot channel (coco, ade20k).
      ``no_instance``: no instance-boundary channel (ade20k, facades).
    - ``crop_size`` / ``aspect_ratio`` (256 / 1; cityscapes 512 / 2): the training crop, which fixes the output size;
      ``num_upsampling_layers`` (``normal``; cityscapes ``more``; ``most``).
    - ``ngf`` (64): generator width, also the encoder's (``--nef`` is unused officially). ``z_dim`` (256): the latent
      length (officially hard-coded 256 in the encoder). ``use_vae`` (False): the style encoder and the KL term.
    - ``norm_G`` (``spectralspadesyncbatch3x3``), ``norm_D`` / ``norm_E`` (``spectralinstance``), ``ndf`` (64),
      ``num_D`` (2), ``n_layers_D`` (4): the networks. ``init_type`` (xavier), ``init_variance`` (0.02), ``sn_init``
      (``pytorch``: the spectral-norm layers keep PyTorch's default init, as every official GPU run; see
      :func:`i2ikit.nn.spade.spade_init_weights`).
    - ``gan_mode`` (``hinge``; ``ls``, ``original``, ``w``): the adversarial loss, averaged over the scales.
    - ``no_ganFeat_loss`` (False) / ``lambda_feat`` (10): feature matching; ``no_vgg_loss`` (False) / ``lambda_vgg``
      (10) with ``vgg_weights`` (``auto``: the local torchvision ``vgg19-dcbb9e9d.pth``, docs/weights.md; read at
      the first step, never downloaded); ``lambda_kld`` (0.05): the KL term with ``use_vae``.
    - ``lr`` (2e-4), ``no_TTUR`` (False), ``beta1`` / ``beta2`` (None: 0 / 0.9 with TTUR, 0.5 / 0.999 without).
    - ``niter`` (50), ``niter_decay`` (0): epochs at ``lr``, then of linear decay; ``epoch_iters``: iterations per
      epoch (training pairs // batch size; recipes set it). Without it the learning rate stays constant.
    - ``D_steps_per_G`` (1): a generator step every that many iterations (of the epoch), a D step every iteration.
    """

    method_name = "spade"
    plugin_version = __version__
    data_streams = ("pairs",)
    min_classes = {"pairs": 1}
    translate_modes = ("direct", "style", "num_styles")  # style / num_styles: models with use_vae (set per model)
    tasks = ("paired",)
    constraints = {
        "dataset_mode": OneOf(tuple(SPADE_DATASET_MODES)), "label_nc": at_least_one, "crop_size": at_least_one,
        "aspect_ratio": positive, "num_upsampling_layers": OneOf(tuple(UPSAMPLING_LAYERS)), "ngf": Range(ge=2),
        "z_dim": at_least_one, "ndf": at_least_one, "num_D": at_least_one, "n_layers_D": at_least_one,
        "init_type": OneOf(INIT_TYPES), "init_variance": non_negative, "sn_init": OneOf(SN_INITS),
        "gan_mode": OneOf(tuple(GAN_MODES)), "lambda_feat": non_negative, "lambda_vgg": non_negative,
        "lambda_kld": non_negative, "lr": positive, "beta1": Range(ge=0, lt=1), "beta2": Range(ge=0, lt=1),
        "niter": non_negative, "niter_decay": non_negative, "epoch_iters": at_least_one, "D_steps_per_G": at_least_one,
    }

    def __init__(
        self,
        *,
        dataset_mode: str = "coco",
        label_nc: int | None = None,
        contain_dontcare_label: bool | None = None,
        no_instance: bool | None = None,
        crop_size: int | None = None,
        aspect_ratio: float | None = None,
        num_upsampling_layers: str | None = None,
        ngf: int = 64,
        z_dim: int = 256,
        use_vae: bool = False,
        norm_G: str = "spectralspadesyncbatch3x3",
        norm_D: str = "spectralinstance",
        norm_E: str = "spectralinstance",
        ndf: int = 64,
        num_D: int = 2,
        n_layers_D: int = 4,
        init_type: str = "xavier",
        init_variance: float = 0.02,
        sn_init: str = "pytorch",
        gan_mode: str = "hinge",
        no_ganFeat_loss: bool = False,
        lambda_feat: float = 10.0,
        no_vgg_loss: bool = False,
        lambda_vgg: float = 10.0,
        vgg_weights: str | None = "auto",
        lambda_kld: float = 0.05,
        lr: float = 0.0002,
        no_TTUR: bool = False,
        beta1: float | None = None,
        beta2: float | None = None,
        niter: int = 50,
        niter_decay: int = 0,
        epoch_iters: int | None = None,
        D_steps_per_G: int = 1,
    ) -> None:
        super().__init__()
        if dataset_mode not in SPADE_DATASET_MODES:
            raise ConfigError(f"method 'spade': dataset_mode {dataset_mode!r} is not one of "
                              f"{', '.join(SPADE_DATASET_MODES)} (the official --dataset_mode values)")
        if gan_mode not in GAN_MODES:
            raise ConfigError(f"method 'spade': gan_mode {gan_mode!r} is not one of {', '.join(GAN_MODES)} "
                              "(official default hinge)")
        preset = SPADE_DATASET_MODES[dataset_mode]
        given = {"label_nc": label_nc, "contain_dontcare_label": contain_dontcare_label, "crop_size": crop_size,
                 "aspect_ratio": aspect_ratio, "num_upsampling_layers": num_upsampling_layers}
        resolved = {k: preset[k] if given[k] is None else given[k] for k in _PRESET_KEYS}
        resolved["no_instance"] = (not preset["instance"]) if no_instance is None else bool(no_instance)
        self.dataset_mode = dataset_mode
        self.label_nc, self.contain_dontcare_label = int(resolved["label_nc"]), bool(resolved["contain_dontcare_label"])
        self.no_instance = bool(resolved["no_instance"])
        self.semantic_nc = input_channels(self.label_nc, contain_dontcare_label=self.contain_dontcare_label,
                                          instance=not self.no_instance)
        self.use_vae, self.z_dim, self.num_D = bool(use_vae), int(z_dim), int(num_D)
        self.gan_mode, self.adv = gan_mode, GAN_MODES[gan_mode]()
        self.no_ganFeat_loss, self.lambda_feat = bool(no_ganFeat_loss), float(lambda_feat)
        self.no_vgg_loss, self.lambda_vgg, self.lambda_kld = bool(no_vgg_loss), float(lambda_vgg), float(lambda_kld)
        self.lr, self.no_TTUR = float(lr), bool(no_TTUR)
        default_betas = (0.5, 0.999) if self.no_TTUR else (0.0, 0.9)
        self.betas = (default_betas[0] if beta1 is None else float(beta1), default_betas[1] if beta2 is None else float(beta2))
        self.niter, self.niter_decay = int(niter), int(niter_decay)
        self.epoch_iters = None if epoch_iters is None else int(epoch_iters)
        self.D_steps_per_G = int(D_steps_per_G)
        if not self.no_vgg_loss and vgg_weights is None:
            raise ConfigError("method 'spade': the VGG term (no_vgg_loss: false) needs vgg_weights: the local torchvision "
                              "vgg19-dcbb9e9d.pth (a path, or auto: the weights folders; docs/weights.md), or set "
                              "no_vgg_loss: true")
        # The record says what was built: the dataset mode's values written out, so an export needs no preset.
        self.config.update({**resolved, "beta1": self.betas[0], "beta2": self.betas[1]})

        init = {"init_type": init_type, "init_variance": init_variance, "sn_init": sn_init}
        self.netG = SPADEGenerator(self.semantic_nc, ngf=ngf, z_dim=self.z_dim,
                                   num_upsampling_layers=resolved["num_upsampling_layers"],
                                   crop_size=resolved["crop_size"], aspect_ratio=resolved["aspect_ratio"],
                                   use_vae=self.use_vae, norm_G=norm_G, **init)
        self.netD = multiscale_discriminator(num_D=self.num_D, input_dim=self.semantic_nc + 3, ndf=ndf,
                                             n_layers_D=n_layers_D, norm_D=norm_D, no_ganFeat_loss=self.no_ganFeat_loss,
                                             **init)
        if self.use_vae:
            self.netE = ConvEncoder(ngf=ngf, z_dim=self.z_dim, norm_E=norm_E, **init)
        # Models without the encoder have one translation per label map.
        self.translate_modes = ("direct", "style", "num_styles") if self.use_vae else ("direct",)
        self.vgg = LazyLoss(None if self.no_vgg_loss else (lambda: spade_vgg_loss(vgg_weights)))
        # Not a child (object.__setattr__): the view shares netG and netE, it must not own them twice.
        object.__setattr__(self, "_gen", NetworkView(self, ["netG", "netE"] if self.use_vae else ["netG"], fn=generate))
        self.official_info: dict[str, Any] = {}

    # ---- inputs ---------------------------------------------------------------------------------------
    @property
    def label_size(self) -> tuple[int, int]:
        """``(H, W)`` of the images the generator makes (fixed by the training crop); label maps are given at it."""
        return self.netG.output_size

    def encode(self, label: torch.Tensor, instance: torch.Tensor | None, where: str = "label map") -> torch.Tensor:
        """The official ``preprocess_input``: one-hot of the ids (255 -> ``label_nc`` with ``contain_dontcare_label``),
        then the instance-boundary channel unless ``no_instance``. A bad id is a :class:`LabelValueError`."""
        if self.no_instance:
            return encode_label_map(label, self.label_nc, contain_dontcare_label=self.contain_dontcare_label, where=where)
        if instance is None:
            raise ConfigError("method 'spade': this model takes instance maps (no_instance: false), but none was given: "
                              "pass instance= (i2ikit translate --instance), use a dataset with instance maps "
                              "(<phase>_inst, Cityscapes *_instanceIds.png), or train with no_instance: true")
        return encode_label_map(label, self.label_nc, contain_dontcare_label=self.contain_dontcare_label,
                                instance=instance.to(label.device), where=where)

    def split(self, batch: Batch) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor | None]:
        """``(image, label ids, instance ids or None)`` of the ``pairs`` stream, checked against the model."""
        try:
            image, label, instance = split_paired(batch["pairs"][0])
        except ValueError as exc:
            raise ConfigError(f"method 'spade': {exc}") from None
        if not self.no_instance and instance is None:
            raise ConfigError("method 'spade': the training pairs have no instance maps, but the model uses them "
                              "(no_instance: false); add the dataset's instance maps (<phase>_inst, Cityscapes "
                              "*_instanceIds.png) or set method.no_instance: true")
        want = self.netG.output_size
        if tuple(image.shape[-2:]) != tuple(want):
            c = self.config
            raise ConfigError(
                f"method 'spade': the training images are {image.shape[-1]}x{image.shape[-2]} (W x H), but the "
                f"generator makes {want[1]}x{want[0]} (crop_size {c['crop_size']}, aspect_ratio {c['aspect_ratio']}, "
                f"num_upsampling_layers {c['num_upsampling_layers']!r}); set the paired data's crop_size / "
                "aspect_ratio / preprocess to give that size, or the method's crop_size and aspect_ratio to the data's")
        return image, label, instance

    # ---- what the trainer needs ---------------------------------------------------------------------
    def networks(self) -> dict[str, nn.Module]:
        return {"G": self._gen, "D": self.netD}

    def make_optimizers(self) -> dict[str, torch.optim.Optimizer]:
        """``create_optimizers``: G (netG + netE) and D, Adam; TTUR: G lr / 2 and D lr x 2."""
        g_lr, d_lr = (self.lr, self.lr) if self.no_TTUR else (self.lr / 2, self.lr * 2)
        return {"G": torch.optim.Adam(self._gen.parameters(), lr=g_lr, betas=self.betas),
                "D": torch.optim.Adam(self.netD.parameters(), lr=d_lr, betas=self.betas)}

    def training_steps(self, iteration: int) -> list[TrainStep]:
        i = iteration % self.epoch_iters if self.epoch_iters else iteration  # train.py's index within the epoch
        steps = [TrainStep("G", self.g_step, trains=("G",), optimizers=("G",))] if i % self.D_steps_per_G == 0 else []
        return steps + [TrainStep("D", self.d_step, trains=("D",), optimizers=("D",))]

    def lr_factor(self, optimizer: str, iteration: int) -> float:
        """``update_learning_rate`` after every epoch past ``niter`` takes lr / niter_decay off: in the 0-based epoch
        ``ep = iteration // epoch_iters`` the factor is ``1 - max(0, ep - niter) / niter_decay`` (never below 0), for
        G and D alike (TTUR's /2 and x2 are in the initial rates); 1.0 without ``epoch_iters`` or ``niter_decay``."""
        if self.epoch_iters is None or self.niter_decay <= 0:
            return 1.0
        ep = iteration // self.epoch_iters
        return max(0.0, 1.0 - max(0, ep - self.niter) / float(self.niter_decay))

    # ---- losses ---------------------------------------------------------------------------------------
    def _discriminate(self, dis: nn.Module, seg: torch.Tensor, fake: torch.Tensor, real: torch.Tensor
                      ) -> tuple[list[torch.Tensor], list[torch.Tensor], list[list[torch.Tensor]], list[list[torch.Tensor]]]:
        """The official ``discriminate``: fake and real concatenated on the batch axis, one D call. Returns per-scale
        ``(fake logits, real logits, fake features, real features)``."""
        n = fake.shape[0]
        out = dis(torch.cat([torch.cat([seg, fake], 1), torch.cat([seg, real], 1)], 0))
        scales = getattr(dis, "module", dis).split(out.logits)
        per = len(out.features) // len(scales)
        feats = [out.features[k * per:(k + 1) * per] for k in range(len(scales))]
        return ([s[:n] for s in scales], [s[n:] for s in scales], [[f[:n] for f in fs] for fs in feats],
                [[f[n:] for f in fs] for fs in feats])

    def _mean_over_scales(self, loss: Any, logits: list[torch.Tensor]) -> torch.Tensor:
        return sum(loss(x) for x in logits) / len(logits)

    def g_step(self, batch: Batch, nets: Mapping[str, nn.Module]) -> Losses:
        """``compute_generator_loss``: GAN + GAN_Feat + VGG (+ KLD)."""
        image, label, instance = self.split(batch)
        seg = self.encode(label, instance, "training label map")
        out = nets["G"](seg, image)
        fake = out["fake"]
        terms: dict[str, torch.Tensor] = {}
        if self.use_vae:
            terms["KLD"] = kld_loss(out["mu"], out["logvar"]) * self.lambda_kld
        pred_fake, _, feat_fake, feat_real = self._discriminate(nets["D"], seg, fake, image)
        terms["GAN"] = self._mean_over_scales(self.adv.g, pred_fake)
        if not self.no_ganFeat_loss:
            feat = fake.new_zeros(())
            for fs_fake, fs_real in zip(feat_fake, feat_real):
                for f, r in zip(fs_fake, fs_real):
                    feat = feat + F.l1_loss(f, r.detach()) * self.lambda_feat / self.num_D
            terms["GAN_Feat"] = feat
        if not self.no_vgg_loss:
            terms["VGG"] = self.vgg(fake, image) * self.lambda_vgg
        return {"loss": sum(terms.values()), **{k: v.detach() for k, v in terms.items()}}

    def d_step(self, batch: Batch, nets: Mapping[str, nn.Module]) -> Losses:
        """``compute_discriminator_loss``: a fresh fake without gradients (netG in training mode, as officially),
        then ``D_Fake + D_real``."""
        image, label, instance = self.split(batch)
        seg = self.encode(label, instance, "training label map")
        with torch.no_grad():
            fake = generate(self, seg, image)["fake"].detach()
        pred_fake, pred_real, _, _ = self._discriminate(nets["D"], seg, fake, image)
        d_fake = self._mean_over_scales(self.adv.d_fake, pred_fake)
        d_real = self._mean_over_scales(self.adv.d_real, pred_real)
        return {"loss": d_fake + d_real, "D_Fake": d_fake.detach(), "D_real": d_real.detach()}

    # ---- inference ------------------------------------------------------------------------------------
    def _device(self) -> torch.device:
        return next(self.netG.parameters()).device

    def _eps(self, like: torch.Tensor, generator: torch.Generator | None) -> torch.Tensor:
        if generator is None:
            return torch.randn_like(like)
        return torch.randn(like.shape, generator=generator).to(device=like.device, dtype=like.dtype)

    @torch.no_grad()
    def encode_style(self, style_image: torch.Tensor, *, generator: torch.Generator | None = None) -> torch.Tensor:
        """z of ``style_image`` (B x 3 x H x W in [-1, 1], any size: netE resizes to 256 x 256) as the official
        inference draws it: mu + eps * exp(logvar / 2), eps ~ N(0, I) (from ``generator`` when given), in eval mode."""
        if not self.use_vae:
            raise ConfigError("method 'spade': this model has no style encoder (use_vae: false), so it has no styles")
        if style_image.ndim != 4 or style_image.shape[1] != 3:
            raise ConfigError(f"method 'spade': style_image must be B x 3 x H x W in [-1, 1], got {tuple(style_image.shape)}")
        with eval_mode(self.netE):
            mu, logvar = self.netE(style_image.to(self._device()))
        std = torch.exp(0.5 * logvar)
        return self._eps(std, generator).mul(std) + mu

    @torch.no_grad()
    def translate(self, label: torch.Tensor, instance: torch.Tensor | None = None, *,
                  style_image: torch.Tensor | None = None, z: torch.Tensor | None = None, num_styles: int | None = None,
                  generator: torch.Generator | None = None) -> torch.Tensor:
        """Synthesise images from label maps, in eval mode (batch norms on their running statistics), as the official
        ``inference``: ``label`` B x 1 x H x W ids (float or integer), ``instance`` B x 1 x H x W ids (needed unless
        ``no_instance``). Returns images in [-1, 1] of the generator's size (:attr:`label_size`), whatever H x W.

        With ``use_vae`` the style comes from ``style_image`` (the encoder, mu + eps * sigma as officially:
        :meth:`encode_style`), ``z`` (N x z_dim) or ``num_styles`` draws of N(0, I); with none of them, one random
        z per label map. ``generator`` makes the draws repeatable. Label maps and styles pair element-wise; a batch
        of one on either side broadcasts. Without VAE these options are an error."""
        given = [k for k, v in (("style_image", style_image), ("z", z), ("num_styles", num_styles)) if v is not None]
        if given and not self.use_vae:
            raise ConfigError(f"method 'spade': {' and '.join(given)} steer the style of a model with the style encoder "
                              "(use_vae: true); this model has none and makes one image per label map. Leave "
                              f"{' and '.join(given)} out")
        if len(given) > 1:
            raise ConfigError(f"method 'spade': translate takes one style source, got {' and '.join(given)}")
        if label.ndim != 4 or label.shape[1] != 1:
            raise ConfigError(f"method 'spade': translate takes label maps as B x 1 x H x W ids, got shape "
                              f"{tuple(label.shape)}")
        if instance is not None and instance.shape != label.shape:
            raise ConfigError(f"method 'spade': the instance map is {tuple(instance.shape)}, the label map "
                              f"{tuple(label.shape)}; they must have one shape")
        device = self._device()
        seg = self.encode(label.to(device), None if instance is None else instance.to(device))
        with eval_mode(self.netG):
            if not self.use_vae:
                return self.netG(seg)
            if style_image is not None:
                codes = self.encode_style(style_image, generator=generator)
            elif z is not None:
                if z.ndim != 2 or z.shape[1] != self.z_dim:
                    raise ConfigError(f"method 'spade': z must be N x {self.z_dim} (z_dim), got {tuple(z.shape)}")
                codes = z.to(device=device, dtype=torch.float32)
            else:
                n = seg.shape[0] if num_styles is None else int(num_styles)
                if n < 1:
                    raise ConfigError(f"method 'spade': num_styles must be >= 1, got {num_styles!r}")
                codes = random_styles(n, (self.z_dim,), device=device, generator=generator)
            b, n = seg.shape[0], codes.shape[0]
            if b != n and 1 not in (b, n):
                raise ConfigError(f"method 'spade': {b} label maps and {n} styles; the batches must match or one of them "
                                  "must be 1")
            seg, codes = pair(seg, codes, self.method_name)
            return self.netG(seg, codes)

    def label_image(self, label: torch.Tensor) -> torch.Tensor:
        """Label ids in colour (B x 3 x H x W in [-1, 1]), as the official visualiser shows them."""
        return label_colors(label, self.label_nc)

    @torch.no_grad()
    def sample_columns(self, batch: Batch) -> list[tuple[str, torch.Tensor]]:
        """``input label | synthesized image | real image`` (the official training visuals; the synthesis in eval
        mode, with VAE in the style of the real image) and, with VAE, one random style (fixed seed)."""
        image, label, instance = self.split(batch)
        if not self.use_vae:
            return [("input label", self.label_image(label)), ("synthesized image", self.translate(label, instance)),
                    ("real image", image)]
        gen = lambda: torch.Generator().manual_seed(0)  # noqa: E731 - the same draws at every step
        return [("input label", self.label_image(label)),
                ("synthesized image", self.translate(label, instance, style_image=image, generator=gen())),
                ("real image", image), ("random style", self.translate(label, instance, generator=gen()))]

    # ---- official files -------------------------------------------------------------------------------
    def write_export_files(self, directory: Path) -> None:
        """``latest_net_G.pth``, ``latest_net_D.pth`` (and ``latest_net_E.pth``) in the official layout, which the
        official ``test.py`` (``--which_epoch latest``) and ``--continue_train`` read."""
        save_official(self.netG, directory / "latest_net_G.pth")
        save_official(self.netD, directory / "latest_net_D.pth")
        if self.use_vae:
            save_official(self.netE, directory / "latest_net_E.pth")

    @classmethod
    def check_inputs(cls, kwargs: Mapping[str, Any]) -> None:
        """Before training: the VGG19 file exists unless ``no_vgg_loss``."""
        if not kwargs.get("no_vgg_loss", False) and kwargs.get("vgg_weights", "auto") is not None:
            resolve_vgg19(kwargs.get("vgg_weights", "auto"))

    @classmethod
    def load_official(cls, path: str | os.PathLike, **overrides: Any) -> "SPADE":
        """Build from official files: a ``checkpoints/<name>`` folder (``<which_epoch>_net_G.pth``, default ``latest``,
        and ``_net_D.pth`` / ``_net_E.pth`` when present) or one ``<epoch>_net_G.pth``. The architecture (``ngf``,
        ``use_vae``, ``z_dim``, ``norm_G``, ``most``; D's ``num_D``, ``n_layers_D``, ``ndf``, ``norm_D``; ``norm_E``)
        is read from the files. What they cannot show (the crop, ``normal`` vs ``more``) comes from
        ``dataset_mode``; without it, the mode whose label encoding has the file's width (36 cityscapes, 151
        ade20k, 184 coco, 13 facades). Files load strictly with ``weights_only=True``. A VAE generator without
        its ``_net_E.pth`` keeps a random encoder (random styles work, style images do not mean anything)."""
        which_epoch = overrides.pop("which_epoch", "latest")
        files = official_files(path, which_epoch)
        g_sd = read_state_dict(files["G"], "SPADE generator")
        found = infer_generator_settings(g_sd, str(files["G"]))
        kwargs: dict[str, Any] = {k: found[k] for k in ("ngf", "use_vae", "norm_G") if k in found}
        if "z_dim" in found:
            kwargs["z_dim"] = found["z_dim"]
        if "num_upsampling_layers" in found:
            kwargs["num_upsampling_layers"] = found["num_upsampling_layers"]
        encoding = ("label_nc", "contain_dontcare_label", "no_instance")
        if "dataset_mode" not in overrides and not any(k in overrides for k in encoding):
            fits = [m for m, s in DATASET_MODES.items()
                    if input_channels(s["label_nc"], contain_dontcare_label=s["contain_dontcare_label"],
                                      instance=s["instance"]) == found["semantic_nc"]]
            if len(fits) != 1:
                raise ConfigError(f"{files['G']} takes a {found['semantic_nc']}-channel label encoding, which is no "
                                  "official dataset mode's (cityscapes 36, ade20k 151, coco 184, facades 13); pass "
                                  "dataset_mode=custom with label_nc, contain_dontcare_label and no_instance as trained, "
                                  "and crop_size / aspect_ratio / num_upsampling_layers")
            kwargs["dataset_mode"] = fits[0]
        if files["D"] is not None:
            d = infer_discriminator_settings(discriminator_state(files["D"]), str(files["D"]))
            kwargs.update(num_D=d["num_D"], ndf=d["ndf"], n_layers_D=d["n_layers_D"])
            if "norm_D" in d:
                kwargs["norm_D"] = d["norm_D"]
        if files["E"] is not None:
            kwargs["norm_E"] = infer_encoder_settings(read_state_dict(files["E"], "SPADE encoder"))["norm_E"]
        kwargs.update(overrides)
        model = cls(**kwargs)
        if model.semantic_nc != found["semantic_nc"]:
            raise ConfigError(f"{files['G']} takes a {found['semantic_nc']}-channel label encoding, but label_nc "
                              f"{model.label_nc}, contain_dontcare_label {model.contain_dontcare_label} and no_instance "
                              f"{model.no_instance} (dataset_mode {model.dataset_mode!r}) give {model.semantic_nc}; pass "
                              "the values the model was trained with")
        load_into(model.netG, files["G"])
        if files["D"] is not None:
            load_into(model.netD, files["D"])
        if model.use_vae:
            if files["E"] is not None:
                load_into(model.netE, files["E"])
            else:
                e_name = Path(files["G"]).name.replace("_net_G", "_net_E")
                warnings.warn(f"SPADE: {files['G']} is a VAE generator but there is no {e_name} next to it; the style "
                              "encoder keeps its initialisation (random styles still work)", stacklevel=2)
        model.official_info = {"files": {k: (str(v) if v is not None else None) for k, v in files.items()},
                               "dataset_mode": model.dataset_mode}
        return model


def discriminator_state(path: Path) -> dict[str, torch.Tensor]:
    """An official D file's state dict (official ``discriminator_<k>.`` keys)."""
    return read_state_dict(path, "SPADE discriminator")
