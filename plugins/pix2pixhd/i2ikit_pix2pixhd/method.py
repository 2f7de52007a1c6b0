"""pix2pixHD (Wang et al., CVPR 2018) as an i2ikit method, faithful to NVIDIA/pix2pixHD's ``train.py`` and
``models/pix2pixHD_model.py`` (re-implemented from docs/methods/pix2pixhd.md and the reference; nothing copied).

One data stream, ``pairs``: items of the ``paired`` dataset type, ``[image | label ids | instance ids]``
(:func:`i2ikit.data.split_paired`). Per iteration, as the official loop:

1. ``G`` step: the label map is encoded (one-hot, instance edges), the encoder features are added (with
   ``instance_feat`` / ``label_feat``), G synthesises; the loss is the LSGAN term of D on the fake (each
   scale's mean, summed over scales), feature matching against D's features of the real image and the VGG
   term, and G (+E) steps. D takes no gradient here (the official code zeroes the gradients G's backward
   left in D before D's backward: the same thing).
2. ``D`` step: ``0.5 * (D_fake + D_real)`` on the **fake of step 1** (kept, detached) and the real image,
   with D's weights unchanged since step 1, so every loss equals the one of the official single forward.

The learning rate is constant for ``niter`` epochs, then decays linearly for ``niter_decay`` epochs
(:meth:`Pix2PixHD.lr_factor`, an epoch being ``epoch_iters`` iterations). ``niter_fix_global`` trains only
the outermost local enhancer (and E) for its first epochs through a separate Adam, then the full one
starts with a fresh state, as the official ``update_fixed_params`` rebuilds ``optimizer_G``.
"""
from __future__ import annotations

import functools
import math
import os
import warnings
from pathlib import Path
from typing import Any, Mapping

import torch
from torch import nn

from i2ikit.constraints import OneOf, Range, at_least_one, non_negative, positive
from i2ikit.data.paired import split_paired
from i2ikit.errors import CheckpointError, ConfigError, MissingFileError
from i2ikit.losses import LazyLoss, LSGANLoss, NonSaturatingLoss, VGGPerceptualLoss, feature_matching, per_scale, resolve_vgg19
from i2ikit.method import Batch, Losses, Method, TrainStep
from i2ikit.nn import NetworkView, eval_mode
from i2ikit.nn.label_maps import encode_label_map, input_channels

from ._version import __version__
from .colors import label_colors
from .networks import NORMS, Encoder, GlobalGenerator, LocalEnhancer, multiscale_discriminator
from .official import (
    discriminator_settings,
    encoder_settings,
    generator_settings,
    load_discriminator,
    load_encoder,
    load_generator,
    load_pretrain,
    read_official,
    save_official,
)

__all__ = ["Pix2PixHD", "generator_forward", "official_files", "NET_GS"]

NET_GS = ("global", "local")
OFFICIAL_NAMES = {"G": "netG", "D": "netD", "E": "netE"}


def generator_forward(m: "Pix2PixHD", input_label: torch.Tensor, image: torch.Tensor | None = None,
                      pool_ids: torch.Tensor | None = None, features: torch.Tensor | None = None) -> torch.Tensor:
    """The generator side of the official ``forward``: with features on, E's instance-averaged features of
    ``image`` (grouped by ``pool_ids``, or the given ``features``) are concatenated after the label encoding;
    then G. The G view's forward, so one DDP forward holds every call of netG and netE of a step."""
    if m.use_features:
        if features is None:
            features = m.netE(image, pool_ids)
        input_label = torch.cat([input_label, features.to(input_label.dtype)], dim=1)
    return m.netG(input_label)


def official_files(path: str | os.PathLike) -> dict[str, Path | None]:
    """``{"G": file, "D": file or None, "E": file or None}`` of an official checkpoint: a folder holding
    ``latest_net_G.pth`` (and ``latest_net_D.pth``, ``latest_net_E.pth``: a ``checkpoints/<name>`` folder or an
    i2ikit export of this method), or one ``<epoch>_net_G.pth`` file with its siblings of the same epoch."""
    path = Path(path)
    if path.is_dir():
        prefix, folder = "latest", path
        if not (folder / "latest_net_G.pth").is_file():
            held = sorted(p.name for p in folder.glob("*_net_G.pth"))
            raise MissingFileError(
                f"{path} holds no latest_net_G.pth, the generator file the official train.py writes (checkpoints/<name>/"
                f"latest_net_G.pth){'; it holds ' + ', '.join(held) + ': give one of those files instead' if held else ''}")
    else:
        if not path.is_file():
            raise MissingFileError(f"{path}: no such pix2pixHD checkpoint file or folder")
        if not path.name.endswith("_net_G.pth"):
            raise CheckpointError(f"{path} is not a pix2pixHD generator file: official files are named "
                                  "<epoch>_net_G.pth (e.g. latest_net_G.pth); give that file or its folder")
        prefix, folder = path.name[: -len("_net_G.pth")], path.parent
    found = {kind: folder / f"{prefix}_net_{kind}.pth" for kind in ("G", "D", "E")}
    return {kind: (f if kind == "G" or f.is_file() else None) for kind, f in found.items()}


class Pix2PixHD(Method):
    """pix2pixHD: a generator ``netG`` (global G1, or G1 + local enhancers G2), a multi-scale discriminator
    ``netD`` on (label encoding, image) and, with instance-wise features, the encoder ``netE``. Keyword
    arguments are the official options (``options/*.py``) and their defaults:

    - ``label_nc`` (35): label ids (one-hot width); ids must be ``0..label_nc-1`` (no don't-care label).
    - ``no_instance`` (False): leave the instance-boundary channel out (no instance maps needed).
    - ``instance_feat`` / ``label_feat`` (False): add ``feat_num`` (3) encoder features averaged per instance /
      per label; ``nef`` (16) and ``n_downsample_E`` (4) size the encoder. E trains in G's optimiser.
    - ``netG`` (``global``), ``ngf`` (64; the 1024p model uses ``local`` with 32), ``n_downsample_global`` (4),
      ``n_blocks_global`` (9), ``n_local_enhancers`` (1), ``n_blocks_local`` (3), ``norm`` (``instance``).
    - ``num_D`` (2), ``n_layers_D`` (3), ``ndf`` (64): the discriminator.
    - ``lambda_feat`` (10): feature matching, each term weighted ``4/(n_layers_D+1) / num_D * lambda_feat``, and
      the VGG term. ``no_ganFeat_loss`` / ``no_vgg_loss`` (False) drop them (no feature matching also gives D the
      official flat key layout). ``no_lsgan`` (False): the logistic GAN loss instead of LSGAN.
    - ``vgg_weights`` (``auto``): the local torchvision ``vgg19-dcbb9e9d.pth`` (a path, or ``auto``: the weights
      folders, docs/weights.md); read at the first training step, never downloaded.
    - ``lr`` (2e-4) and ``beta1`` (0.5): both Adams (beta2 0.999).
    - ``niter`` (100), ``niter_decay`` (100): epochs at ``lr``, then of linear decay; ``niter_fix_global`` (0):
      epochs training only the outermost local enhancer; ``epoch_iters``: iterations per epoch (dataset size //
      batch size; recipes set it). Without it the learning rate stays constant.
    - ``load_pretrain``: the official ``--load_pretrain``, an official ``checkpoints/<name>`` folder or an
      i2ikit export of this method (its ``latest_net_*.pth``): every tensor whose key the networks share
      (512p G into a 1024p local G, a 2-scale D into a 3-scale one). Only used when building from scratch.
    """

    method_name = "pix2pixhd"
    plugin_version = __version__
    data_streams = ("pairs",)
    init_only = ("load_pretrain",)
    translate_modes = ("direct",)
    tasks = ("paired",)
    constraints = {
        "label_nc": at_least_one, "feat_num": at_least_one, "nef": at_least_one, "n_downsample_E": non_negative,
        "netG": OneOf(NET_GS), "ngf": at_least_one, "n_downsample_global": non_negative, "n_blocks_global": non_negative,
        "n_local_enhancers": at_least_one, "n_blocks_local": non_negative, "norm": OneOf(NORMS),
        "num_D": at_least_one, "n_layers_D": at_least_one, "ndf": at_least_one, "lambda_feat": non_negative,
        "lr": positive, "beta1": Range(ge=0, lt=1), "niter": non_negative, "niter_decay": non_negative,
        "niter_fix_global": non_negative, "epoch_iters": at_least_one,
    }

    def __init__(
        self,
        *,
        label_nc: int = 35,
        no_instance: bool = False,
        instance_feat: bool = False,
        label_feat: bool = False,
        feat_num: int = 3,
        nef: int = 16,
        n_downsample_E: int = 4,
        netG: str = "global",
        ngf: int = 64,
        n_downsample_global: int = 4,
        n_blocks_global: int = 9,
        n_local_enhancers: int = 1,
        n_blocks_local: int = 3,
        norm: str = "instance",
        num_D: int = 2,
        n_layers_D: int = 3,
        ndf: int = 64,
        lambda_feat: float = 10.0,
        no_ganFeat_loss: bool = False,
        no_vgg_loss: bool = False,
        no_lsgan: bool = False,
        vgg_weights: str | None = "auto",
        lr: float = 2e-4,
        beta1: float = 0.5,
        niter: int = 100,
        niter_decay: int = 100,
        niter_fix_global: int = 0,
        epoch_iters: int | None = None,
        load_pretrain: str | None = None,
    ) -> None:
        super().__init__()
        if instance_feat and no_instance and not label_feat:
            raise ConfigError("method 'pix2pixhd': instance_feat averages the encoder's features inside each instance, "
                              "so it needs the instance maps; drop no_instance, or use label_feat (per label)")
        if niter_fix_global and netG != "local":
            raise ConfigError(f"method 'pix2pixhd': niter_fix_global={niter_fix_global} trains only the local enhancer "
                              f"first, but netG is {netG!r}; it needs netG: local (officially a global G leaves "
                              "optimizer_G empty), or niter_fix_global: 0")
        if niter_fix_global and epoch_iters is None:
            raise ConfigError("method 'pix2pixhd': niter_fix_global counts epochs, so it needs epoch_iters (iterations "
                              "per epoch: training pairs // train.batch_size)")
        if not no_vgg_loss and vgg_weights is None:
            raise ConfigError("method 'pix2pixhd': the VGG term is on (no_vgg_loss: false) but vgg_weights is null; give "
                              "the local vgg19-dcbb9e9d.pth (a path or auto, docs/weights.md) or set no_vgg_loss: true")
        self.label_nc, self.use_instance = int(label_nc), not no_instance
        self.label_feat = bool(label_feat)
        self.use_features = bool(instance_feat or label_feat)
        self.feat_num = int(feat_num)
        self.netG_kind, self.n_local_enhancers = netG, int(n_local_enhancers)
        self.num_D, self.n_layers_D = int(num_D), int(n_layers_D)
        self.lambda_feat = float(lambda_feat)
        self.gan_feat, self.use_vgg = not no_ganFeat_loss, not no_vgg_loss
        self.lr, self.betas = float(lr), (float(beta1), 0.999)
        self.niter, self.niter_decay, self.niter_fix_global = int(niter), int(niter_decay), int(niter_fix_global)
        self.epoch_iters = None if epoch_iters is None else int(epoch_iters)
        self.translate_modes = ("style",) if self.use_features else ("direct",)

        label_in = input_channels(self.label_nc, instance=self.use_instance)
        g_in = label_in + (self.feat_num if self.use_features else 0)
        # Built in the official order: G, D, then E (each runs the official weights_init).
        if netG == "global":
            self.netG: nn.Module = GlobalGenerator(g_in, 3, ngf, n_downsample_global, n_blocks_global, norm)
        else:
            self.netG = LocalEnhancer(g_in, 3, ngf, n_downsample_global, n_blocks_global, n_local_enhancers,
                                      n_blocks_local, norm)
        self.netD = multiscale_discriminator(label_in + 3, num_D, ndf, n_layers_D, norm, get_interm_feat=self.gan_feat)
        multiple = self.netG.size_multiple
        if self.use_features:
            self.netE = Encoder(3, self.feat_num, nef, n_downsample_E, norm)
            multiple = math.lcm(multiple, 2 ** int(n_downsample_E))
        self.size_multiple = multiple
        self.adv = NonSaturatingLoss() if no_lsgan else LSGANLoss()
        self.vgg = LazyLoss(functools.partial(VGGPerceptualLoss, vgg_weights, imagenet_normalize=False,
                                              layer_weights=VGGPerceptualLoss.PIX2PIXHD_LAYER_WEIGHTS)
                            if self.use_vgg else None)
        gen = ["netG", "netE"] if self.use_features else ["netG"]
        # Not a child: the view shares netG (and netE), it must not own them twice.
        object.__setattr__(self, "_gen", NetworkView(self, gen, fn=generator_forward))
        self._fakes: dict[int, tuple[torch.Tensor, torch.Tensor]] = {}  # by batch: the G step's fake, for the D step
        self.official_info: dict[str, Any] = {}
        if load_pretrain is not None:
            self.official_info["load_pretrain"] = self._load_pretrain(load_pretrain)

    # ---- inputs ---------------------------------------------------------------------------------------
    def encode(self, label: torch.Tensor, instance: torch.Tensor | None, where: str = "label map") -> torch.Tensor:
        """The official ``encode_input``: one-hot of the ids (``label_nc`` channels), then the instance-boundary
        channel unless ``no_instance``. An id outside ``0..label_nc-1`` is a :class:`LabelValueError`."""
        if not self.use_instance:
            return encode_label_map(label, self.label_nc, where=where)
        if instance is None:
            raise ConfigError("method 'pix2pixhd': this model takes instance maps (it was built with no_instance: false), "
                              "but none was given: pass instance= (i2ikit translate --instance), use a dataset with "
                              "instance maps (<phase>_inst, Cityscapes *_instanceIds.png), or set no_instance: true")
        return encode_label_map(label, self.label_nc, instance=instance, where=where)

    def _pool_ids(self, label: torch.Tensor, instance: torch.Tensor | None) -> torch.Tensor | None:
        """What E averages its features over: the label map with ``label_feat``, else the instance map."""
        return label if self.label_feat else instance

    def _check_size(self, x: torch.Tensor) -> None:
        h, w = x.shape[-2:]
        if h % self.size_multiple or w % self.size_multiple:
            raise ConfigError(
                f"method 'pix2pixhd': the label maps are {w}x{h} (W x H), not multiples of {self.size_multiple}, "
                f"which this generator needs to return the input's size; resize or crop them to multiples of "
                f"{self.size_multiple} (the paired data's crop_size / load_size; preprocess: none rounds to 32)")

    def split(self, batch: Batch) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor | None]:
        """``(image, label ids, instance ids or None)`` of the ``pairs`` stream, checked."""
        try:
            image, label, instance = split_paired(batch["pairs"][0])
        except ValueError as exc:
            raise ConfigError(f"method 'pix2pixhd': {exc}") from None
        if self.use_instance and instance is None:
            raise ConfigError("method 'pix2pixhd': the training pairs have no instance maps, but the model uses them "
                              "(no_instance: false); add the dataset's instance maps (<phase>_inst, Cityscapes "
                              "*_instanceIds.png) or set method.no_instance: true")
        self._check_size(image)
        return image, label, instance

    # ---- what the trainer needs ---------------------------------------------------------------------
    def networks(self) -> dict[str, nn.Module]:
        return {"G": self._gen, "D": self.netD}

    def _gen_params(self, local_only: bool) -> list[nn.Parameter]:
        if local_only:  # officially: netG parameters named model<n_local_enhancers>*, i.e. the outermost enhancer
            prefix = f"model{self.n_local_enhancers}"
            params = [p for n, p in self.netG.named_parameters() if n.startswith(prefix)]
        else:
            params = list(self.netG.parameters())
        return params + (list(self.netE.parameters()) if self.use_features else [])

    def make_optimizers(self) -> dict[str, torch.optim.Optimizer]:
        adam = functools.partial(torch.optim.Adam, lr=self.lr, betas=self.betas)
        opts = {"G": adam(self._gen_params(False)), "D": adam(self.netD.parameters())}
        if self.niter_fix_global:  # the official optimizer_G of the first epochs; "G" starts fresh after them
            opts["G_local"] = adam(self._gen_params(True))
        return opts

    def fixing_global(self, iteration: int) -> bool:
        """Whether ``iteration`` (0-based) lies in the first ``niter_fix_global`` epochs."""
        return bool(self.niter_fix_global) and iteration < self.niter_fix_global * (self.epoch_iters or 0)

    def training_steps(self, iteration: int) -> list[TrainStep]:
        self._fakes.clear()
        g_opt = "G_local" if self.fixing_global(iteration) else "G"
        return [TrainStep("G", self.g_step, trains=("G",), optimizers=(g_opt,)),
                TrainStep("D", self.d_step, trains=("D",), optimizers=("D",))]

    def lr_factor(self, optimizer: str, iteration: int) -> float:
        """Epoch ``e = iteration // epoch_iters + 1`` trains at ``lr * (1 - max(0, e - 1 - niter) / niter_decay)``:
        ``lr`` for epochs 1..niter+1, then ``lr / niter_decay`` less each epoch, ``lr / niter_decay`` in the last
        (the official ``update_learning_rate`` after every epoch > niter, G and D alike). 0 after the last epoch;
        1.0 without ``epoch_iters`` or ``niter_decay``."""
        if self.epoch_iters is None or self.niter_decay == 0:
            return 1.0
        done = iteration // self.epoch_iters  # epochs finished before this iteration
        return max(0.0, 1.0 - max(0, done - self.niter) / self.niter_decay)

    # ---- losses -------------------------------------------------------------------------------------
    def feat_weight(self) -> float:
        """The weight of each feature-matching term: ``4/(n_layers_D+1) * 1/num_D * lambda_feat`` (5 by default)."""
        return 4.0 / (self.n_layers_D + 1) / self.num_D * self.lambda_feat

    def g_step(self, batch: Batch, nets: Mapping[str, nn.Module]) -> Losses:
        """G (+E): ``G_GAN + G_GAN_Feat + G_VGG``; the fake is kept for the D step."""
        image, label, instance = self.split(batch)
        input_label = self.encode(label, instance)
        fake = nets["G"](input_label, image, self._pool_ids(label, instance))
        dis = nets["D"]
        with torch.no_grad():  # the real image's features are targets only (detached officially)
            pred_real = dis(torch.cat([input_label, image], dim=1))
        pred_fake = dis(torch.cat([input_label, fake], dim=1))
        terms = {"G_GAN": per_scale(self.adv.g, dis, pred_fake.logits)}
        if self.gan_feat:
            n = len(pred_fake.features)
            terms["G_GAN_Feat"] = feature_matching(pred_fake.features, pred_real.features, weights=[self.feat_weight()] * n)
        if self.use_vgg:
            terms["G_VGG"] = self.vgg(fake, image) * self.lambda_feat
        self._fakes[id(batch)] = (input_label, fake.detach())
        return {"loss": sum(terms.values()), **{k: v.detach() for k, v in terms.items()}}

    def _clear_generator_grads(self) -> None:
        """While only the local enhancer steps, the global part still receives gradients that no optimiser clears
        (officially too: ``optimizer_G.zero_grad`` holds only the enhancer); the official rebuilt ``optimizer_G``
        zeroes them before its first backward, so they are dropped here, after every G step."""
        for p in self._gen.parameters():
            p.grad = None

    def d_step(self, batch: Batch, nets: Mapping[str, nn.Module]) -> Losses:
        """D: ``0.5 * (D_fake + D_real)``, one D call on [fake; real], with the fake of this batch's G step."""
        if self.niter_fix_global:
            self._clear_generator_grads()
        image, label, instance = self.split(batch)
        stored = self._fakes.pop(id(batch), None)
        if stored is None:  # a D step without a G step before it (e.g. a benchmark): make the fake now
            with torch.no_grad():
                input_label = self.encode(label, instance)
                stored = (input_label, self._gen(input_label, image, self._pool_ids(label, instance)))
        input_label, fake = stored
        n = image.shape[0]
        dis = nets["D"]
        logits = dis(torch.cat([torch.cat([input_label, fake.to(image.dtype)], dim=1),
                                torch.cat([input_label, image], dim=1)])).logits
        d_fake = per_scale(self.adv.d_fake, dis, logits[:n])
        d_real = per_scale(self.adv.d_real, dis, logits[n:])
        return {"loss": 0.5 * (d_fake + d_real), "D_fake": d_fake.detach(), "D_real": d_real.detach()}

    # ---- inference ------------------------------------------------------------------------------------
    def _device(self) -> torch.device:
        return next(self.netG.parameters()).device

    @torch.no_grad()
    def translate(self, label: torch.Tensor, instance: torch.Tensor | None = None, *,
                  style_image: torch.Tensor | None = None, features: torch.Tensor | None = None,
                  generator: torch.Generator | None = None) -> torch.Tensor:
        """Synthesise images from label maps, as the official ``inference``: ``label`` B x 1 x H x W ids (float or
        integer), ``instance`` B x 1 x H x W ids (needed unless ``no_instance``); H and W multiples of
        :attr:`size_multiple`. Returns B x 3 x H x W in [-1, 1], in eval mode.

        With ``instance_feat`` / ``label_feat`` the features come from ``features`` (B x feat_num x H x W) or from
        the encoder on ``style_image`` (B or 1 x 3 x H x W in [-1, 1], the official ``--use_encoded_image``).
        The official default, random cluster centres of ``encode_features.py``, is not offered. ``generator`` is
        accepted for a uniform interface; pix2pixHD draws nothing."""
        del generator
        device = self._device()
        if label.ndim != 4 or label.shape[1] != 1:
            raise ConfigError(f"method 'pix2pixhd': translate takes label maps as B x 1 x H x W ids, got shape "
                              f"{tuple(label.shape)}")
        label = label.to(device)
        instance = None if instance is None else instance.to(device)
        if instance is not None and instance.shape != label.shape:
            raise ConfigError(f"method 'pix2pixhd': the instance map is {tuple(instance.shape)}, the label map "
                              f"{tuple(label.shape)}; they must have one shape")
        self._check_size(label)
        input_label = self.encode(label, instance)
        feats = None
        if not self.use_features:
            if style_image is not None or features is not None:
                raise ConfigError("method 'pix2pixhd': this model has no feature encoder (instance_feat and label_feat "
                                  "are off), so a label map has one translation; leave style_image / features out")
        elif features is not None:
            want = (label.shape[0], self.feat_num, *label.shape[2:])
            if tuple(features.shape) != want:
                raise ConfigError(f"method 'pix2pixhd': features must be {want} (B x feat_num x H x W), got "
                                  f"{tuple(features.shape)}")
            feats = features.to(device)
        elif style_image is not None:
            if style_image.ndim != 4 or style_image.shape[1] != 3 or style_image.shape[2:] != label.shape[2:]:
                raise ConfigError(f"method 'pix2pixhd': style_image must be B x 3 x {label.shape[2]} x {label.shape[3]} "
                                  f"(the label map's size), got {tuple(style_image.shape)}")
            style = style_image.to(device)
            if style.shape[0] != label.shape[0]:
                if style.shape[0] != 1:
                    raise ConfigError(f"method 'pix2pixhd': {style.shape[0]} style images for {label.shape[0]} label "
                                      "maps; give one, or one per label map")
                style = style.expand(label.shape[0], -1, -1, -1)
            with eval_mode(self.netE):
                feats = self.netE(style, self._pool_ids(label, instance))
        else:
            raise ConfigError("method 'pix2pixhd': this model uses encoder features (instance_feat / label_feat); give "
                              "style_image= (a real image of the scene to encode, the official --use_encoded_image; "
                              "i2ikit translate --style) or features=. The official random cluster features "
                              "(encode_features.py) are not supported")
        with eval_mode(self.netG):
            return generator_forward(self, input_label, features=feats)

    def label_image(self, label: torch.Tensor) -> torch.Tensor:
        """Label ids in colour (B x 3 x H x W in [-1, 1]), as the official visualiser shows them."""
        return label_colors(label, self.label_nc)

    @torch.no_grad()
    def sample_columns(self, batch: Batch) -> list[tuple[str, torch.Tensor]]:
        """``input label | synthesized image | real image``, the official training visuals."""
        image, label, instance = self.split(batch)
        fake = self.translate(label, instance, style_image=image if self.use_features else None)
        return [("input label", self.label_image(label)), ("synthesized image", fake), ("real image", image)]

    # ---- official files -------------------------------------------------------------------------------
    def write_export_files(self, directory: Path) -> None:
        """``latest_net_G.pth``, ``latest_net_D.pth`` (and ``latest_net_E.pth``) in the official layout: the official
        ``test.py`` reads them, and ``load_pretrain`` of a later stage (512p -> 1024p) points at the export."""
        save_official(self.netG, directory / "latest_net_G.pth")
        save_official(self.netD, directory / "latest_net_D.pth")
        if self.use_features:
            save_official(self.netE, directory / "latest_net_E.pth")

    def _load_pretrain(self, path: str | os.PathLike) -> dict[str, Any]:
        """The official ``--load_pretrain``: G must exist; D and E are loaded when their files are there (the
        official code only prints when they are not). Returns what was loaded and what was left untouched."""
        files = official_files(path)
        done: dict[str, Any] = {"path": os.fspath(path)}
        nets = {"G": self.netG, "D": self.netD, **({"E": self.netE} if self.use_features else {})}
        for kind, net in nets.items():
            file = files[kind]
            if file is None:
                warnings.warn(f"pix2pixHD load_pretrain: {path} has no {kind} file; {OFFICIAL_NAMES[kind]} keeps its "
                              "initialisation (as officially)", stacklevel=3)
                continue
            done[kind] = {"file": str(file), "untouched": load_pretrain(net, file, kind)}
        return done

    @classmethod
    def check_inputs(cls, kwargs: Mapping[str, Any]) -> None:
        """Before training: the VGG19 file (unless ``no_vgg_loss``) and the ``load_pretrain`` generator file exist."""
        if not kwargs.get("no_vgg_loss", False) and kwargs.get("vgg_weights", "auto") is not None:
            resolve_vgg19(kwargs.get("vgg_weights", "auto"))
        if kwargs.get("load_pretrain") is not None:
            official_files(kwargs["load_pretrain"])

    @classmethod
    def load_official(cls, path: str | os.PathLike, **overrides: Any) -> "Pix2PixHD":
        """Build from official files: a ``checkpoints/<name>`` folder (``latest_net_G.pth``, and ``latest_net_D.pth``
        / ``latest_net_E.pth`` when present) or one ``<epoch>_net_G.pth``. The architecture (``netG``, ``ngf``,
        depths, ``norm``; D's ``num_D``, ``n_layers_D``, ``ndf``; E's ``feat_num``, ``nef``, ``n_downsample_E``) is
        read from the files; ``label_nc``,
        ``no_instance`` and ``instance_feat`` / ``label_feat`` must be given as trained (defaults: 35, instance
        maps, no features), and are checked against G's input channels. Files load strictly with
        ``weights_only=True``."""
        files = official_files(path)
        g_state = read_official(files["G"], "G")
        settings = dict(generator_settings(g_state, str(files["G"])))
        name = settings.pop("name")
        read = {"netG": "global" if name == "pix2pixhd_global" else "local", "ngf": settings["ngf"], "norm": settings["norm"]}
        if read["netG"] == "global":
            read.update(n_downsample_global=settings["n_downsampling"], n_blocks_global=settings["n_blocks"])
        else:
            read.update(n_downsample_global=settings["n_downsample_global"], n_blocks_global=settings["n_blocks_global"],
                        n_local_enhancers=settings["n_local_enhancers"], n_blocks_local=settings["n_blocks_local"])
        if files["D"] is not None:
            ds = discriminator_settings(read_official(files["D"], "D"), str(files["D"]))
            read.update(num_D=ds["num_D"], n_layers_D=ds["n_layers"], ndf=ds["ndf"])
            if not ds["get_interm_feat"]:
                read["no_ganFeat_loss"] = True
        if files["E"] is not None:
            es = encoder_settings(read_official(files["E"], "E"), str(files["E"]))
            read.update(feat_num=es["output_nc"], nef=es["ngf"], n_downsample_E=es["n_downsampling"])
        clash = {k: (v, read[k]) for k, v in overrides.items() if k in read and v != read[k]}
        if clash:
            detail = ", ".join(f"{k}={given!r} (the file: {have!r})" for k, (given, have) in clash.items())
            raise CheckpointError(f"{path}: {detail}. These settings are read from the official files; leave them out "
                                  "(a train/test flag mismatch is what the official test.py fails on, issue #51)")
        kwargs = {**read, **overrides}
        label_nc = int(kwargs.get("label_nc", 35))
        inst = not kwargs.get("no_instance", False)
        feats = bool(kwargs.get("instance_feat") or kwargs.get("label_feat"))
        want = input_channels(label_nc, instance=inst) + (int(kwargs.get("feat_num", 3)) if feats else 0)
        if settings["input_nc"] != want:
            raise CheckpointError(
                f"{files['G']}: the generator takes {settings['input_nc']} input channels, but label_nc={label_nc}, "
                f"no_instance={not inst}, instance_feat/label_feat={feats} make {want} (label_nc + 1 for the instance "
                "edges + feat_num for features). Pass the label_nc / no_instance / instance_feat the model was trained with "
                "(the released label2city_1024p: label_nc 35 with instance maps, no features = 36)")
        model = cls(**kwargs)
        load_generator(files["G"], model.netG)
        loaded = {"G": str(files["G"])}
        if files["D"] is not None:
            load_discriminator(files["D"], model.netD)
            loaded["D"] = str(files["D"])
        if model.use_features:
            if files["E"] is None:
                warnings.warn(f"{path}: the model uses encoder features but there is no *_net_E.pth next to the "
                              "generator; netE keeps random weights, so translate with features= only", stacklevel=2)
            else:
                load_encoder(files["E"], model.netE)
                loaded["E"] = str(files["E"])
        model.official_info = {"loaded": loaded}
        return model
