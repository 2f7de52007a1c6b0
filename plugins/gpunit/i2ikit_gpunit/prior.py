"""GP-UNIT Stage I, generative-prior distillation, as the i2ikit trainer sees it (method ``gpunit_prior``).

Follows the official ``prior_distillation.py`` (``williamyang1991/GP-UNIT`` at ``d59695e``; behaviour
re-implemented, nothing copied). Each iteration draws ``B`` unpaired real images ``x`` (stream
``unpaired``: ImageNet291 + CelebA-HQ faces) and ``B`` cross-class pairs ``(xa, xb)`` rendered from the same
BigGAN latent code (stream ``paired``: synImageNet291), each with its shape mask, and trains the whole
auto-encoder (content encoder ``E``, style encoder, decoder, ``fc``, class embedding, domain classifier
behind gradient reversal) with one Adam step on

- ``L_arec = MSE(rec, img) + VGG(rec, img)`` over all ``3B`` images (weight ``lambda_app_rec`` 1),
- ``L_srec = L1(mask_pred, mask@16)`` (``lambda_shape_rec`` 5),
- ``L_fdist = L1(E(xa), E(xb).detach())``: paired content codes must match (``lambda_feat_dist`` 1),
- ``L_sdist``: decoding xa's style and label with xb's noisy content (and vice versa) must give xa's (xb's)
  mask (``lambda_shape_dist`` 5),
- ``L_reg = 0.001 * ||E(all)||_2 + 1 * CE(C(GRL(E(all))), label)`` (``lambda_reg``, ``lambda_class``),

where ``rec, mask_pred = decode(style(img, flipped with p 0.5 for the whole batch), embed(label),
E(img) + 0.2 * N(0, I))`` and masks are resized bilinearly to twice the code size (16 x 16 at 256 px).
Adam lr 2e-4, betas (0.9, 0.999); Kaiming init; 45 000 iterations at batch 16 per stream. There is no
EMA (the official snapshot's ``ae_ema`` entry is the trained network itself). Only the content encoder
is kept: every export also holds ``content_encoder.pt`` in the official format, which the Stage-II
method ``gpunit`` reads.
"""
from __future__ import annotations

import functools
import os
from pathlib import Path
from typing import Any, Mapping

import torch
import torch.nn.functional as F
from torch import nn

from i2ikit.constraints import OneOf, Range, at_least_one, non_negative, positive, unit_interval
from i2ikit.errors import CheckpointError, ConfigError, MissingFileError
from i2ikit.method import Batch, Losses, Method, TrainStep
from i2ikit.checkpoint_files import load_state_dict_checked, read_safetensors
from i2ikit.nn import NetworkView, eval_mode
from i2ikit.parts import PartSlot

from ._version import __version__
from .losses import LazyLoss, VGGPerceptualLoss, resolve_vgg19
from .networks import PriorAutoEncoder
from .official import load_prior_autoencoder, read_checkpoint, save_content_encoder
from .prior_data import split_item

__all__ = ["GPUNITPrior", "prior_training_forward"]

# Training sizes the recipe validator accepts (the networks take any power of two >= 128).
IMG_SIZES = (128, 256, 512, 1024)


def prior_training_forward(ae: PriorAutoEncoder, imgs: torch.Tensor, labels: torch.Tensor, n: int, flip_ratio: float
                           ) -> tuple[torch.Tensor, ...]:
    """The forward of the auto-encoder's view (:class:`i2ikit.nn.NetworkView`, what the trainer wraps for
    DDP): every Stage-I network call of an iteration, so DDP sees one forward per backward.

    ``imgs`` = cat(x, xa, xb) with ``n`` images each. Returns ``(rec, rec_masks, trans_masks, content,
    class_logits, dead)``; ``trans_masks`` decode xa/xb's style and label with xb/xa's content; ``dead``
    sums the unused style levels (see below)."""
    noisy, content, style = ae.encode(imgs, flip_ratio)
    label_feat = ae.embed(labels)
    rec, rec_masks = ae.decode(style, label_feat, noisy)
    style_ab = [[s[0][n:3 * n], s[1][n:3 * n]] for s in style]
    swapped = torch.cat([noisy[2 * n:3 * n], noisy[n:2 * n]])
    _, trans_masks = ae.decode(style_ab, label_feat[n:3 * n], swapped)
    # The decoder reads style levels 0..2 only; levels 3..5 are computed (as officially) but unused, so
    # their convs get no gradient. ae_step adds 0 * dead so DDP sees every parameter take part.
    dead = sum(level[0].sum() + level[1].sum() for level in style[3:])
    return rec, rec_masks, trans_masks, content, ae.classify(content), dead


class GPUNITPrior(Method):
    """GP-UNIT Stage I (prior distillation). Keyword-only hyper-parameters, defaults = official:

    - ``img_size`` (256; >= 128 and a power of two), ``nf`` (64), ``num_classes`` (292 = 291 BigGAN
      classes + faces; ``auto`` = the classes of ``data.train``), ``embed_dim`` (128), ``noise`` (0.2),
      ``flip_ratio`` (0.5: the style input is the flipped batch with probability 1 - 0.5).
    - ``lambda_app_rec`` 1, ``lambda_shape_rec`` 5, ``lambda_feat_dist`` 1, ``lambda_shape_dist`` 5,
      ``lambda_reg`` 0.001, ``lambda_class`` 1; ``lr`` 2e-4, ``betas`` (0.9, 0.999).
    - ``vgg_weights``: local torchvision ``vgg19-dcbb9e9d.pth`` (a path, or ``auto`` to look it up in the
      weights folders, docs/weights.md) for the VGG term of ``L_arec``; ``None`` leaves it out (warns; not
      faithful).
    - ``init_from``: start from a Stage-I snapshot (``prior_distillation-XXXXX.pt``) or an i2ikit export
      (read at construction only).
    """

    method_name = "gpunit_prior"
    plugin_version = __version__
    data_streams = ("unpaired", "paired")
    init_only = ("init_from",)
    # ``paired`` holds cross-class pairs (the same file name in two class folders): two classes at least.
    # ``unpaired`` may be one class (the domain classifier then learns nothing, the auto-encoder still does).
    min_classes = {"unpaired": 1, "paired": 2}
    translate_modes = ()  # Stage I trains the content encoder; Stage II (``gpunit``) translates
    parts = {"autoencoder": PartSlot("generator", "gpunit_prior_autoencoder", "content/style encoders, the decoder "
                                     "of image and mask, the domain classifier", requires=("encode", "decode", "classify"),
                                     supplies=("nf", "ncls", "noise", "input_size", "embed_dim", "init"))}
    constraints = {
        # A power of two >= 128 (the domain classifier needs a 4 x 4 content code); checked exactly when built.
        "img_size": OneOf(IMG_SIZES),
        "nf": at_least_one,
        "num_classes": at_least_one,
        "embed_dim": at_least_one,
        "noise": non_negative,
        "flip_ratio": unit_interval,
        "lambda_app_rec": non_negative,
        "lambda_shape_rec": non_negative,
        "lambda_feat_dist": non_negative,
        "lambda_shape_dist": non_negative,
        "lambda_reg": non_negative,
        "lambda_class": non_negative,
        "lr": positive,
        "betas": Range(ge=0, lt=1),  # torch's Adam refuses a beta of 1
    }

    def __init__(
        self,
        *,
        img_size: int = 256,
        nf: int = 64,
        num_classes: int = 292,
        embed_dim: int = 128,
        noise: float = 0.2,
        flip_ratio: float = 0.5,
        lambda_app_rec: float = 1.0,
        lambda_shape_rec: float = 5.0,
        lambda_feat_dist: float = 1.0,
        lambda_shape_dist: float = 5.0,
        lambda_reg: float = 0.001,
        lambda_class: float = 1.0,
        lr: float = 2e-4,
        betas: tuple[float, float] = (0.9, 0.999),
        vgg_weights: str | None = None,
        init_from: str | None = None,
        autoencoder: str | Mapping[str, Any] | None = None,
    ) -> None:
        super().__init__()
        if img_size < 128 or img_size & (img_size - 1):
            raise ConfigError(f"method 'gpunit_prior': img_size must be a power of two >= 128 (the domain classifier "
                              f"needs a content code of at least 4 x 4), got {img_size}")
        if len(tuple(betas)) != 2:
            raise ConfigError(f"method 'gpunit_prior': betas must be two numbers, got {betas!r}")
        self.img_size, self.flip_ratio = int(img_size), float(flip_ratio)
        self.lambda_app_rec, self.lambda_shape_rec = float(lambda_app_rec), float(lambda_shape_rec)
        self.lambda_feat_dist, self.lambda_shape_dist = float(lambda_feat_dist), float(lambda_shape_dist)
        self.lambda_reg, self.lambda_class = float(lambda_reg), float(lambda_class)
        self.lr, self.betas = float(lr), (float(betas[0]), float(betas[1]))
        self.vgg_weights = vgg_weights  # resolved at the first step, so an export rebuilds without it
        self.autoencoder = self.build_part("autoencoder", autoencoder, nf=nf, ncls=num_classes, noise=noise,
                                           input_size=img_size, embed_dim=embed_dim, init="kaiming")
        if init_from is not None:
            self._init_from(init_from)
        self._view = NetworkView(self.autoencoder, fn=prior_training_forward)
        self._vgg = LazyLoss(None if vgg_weights is None else functools.partial(VGGPerceptualLoss, vgg_weights),
                             "GP-UNIT Stage I: vgg_weights is null, the VGG19 term of the appearance loss is left out "
                             "(the official loss is MSE + VGG)")

    @classmethod
    def check_inputs(cls, kwargs: Mapping[str, Any]) -> None:
        if kwargs.get("vgg_weights") is not None:
            resolve_vgg19(kwargs["vgg_weights"])
        init = kwargs.get("init_from")
        if init is not None and not Path(init).exists():
            raise MissingFileError(f"method.init_from={init!r} does not exist (a prior_distillation-XXXXX.pt snapshot "
                                   "or a gpunit_prior export folder)")

    def _init_from(self, path: str) -> None:
        p = Path(path)
        if p.is_dir():
            file = p / "autoencoder.safetensors"
            if not file.is_file():
                raise MissingFileError(f"init_from={path!r}: {file} not found (expected a gpunit_prior export)")
            load_state_dict_checked(self.autoencoder, read_safetensors(file, "gpunit_prior auto-encoder (init_from)"),
                                    source=str(file), part="auto-encoder",
                                    hint="Set nf, num_classes and embed_dim as in the run that wrote it.")
        else:
            load_prior_autoencoder(p, self.autoencoder)

    @property
    def content_encoder(self) -> nn.Module:
        return self.autoencoder.contentE

    # ---- what the trainer needs ---------------------------------------------------------------
    def networks(self) -> dict[str, nn.Module]:
        return {"AE": self._view}

    def make_optimizers(self) -> dict[str, torch.optim.Optimizer]:
        return {"AE": torch.optim.Adam(self._view.parameters(), lr=self.lr, betas=self.betas)}

    def training_steps(self, iteration: int) -> list[TrainStep]:
        return [TrainStep("ae", self.ae_step, trains=("AE",), optimizers=("AE",))]

    @classmethod
    def values_from_data(cls, *, num_classes: int) -> dict[str, Any]:
        return {"num_classes": num_classes}

    # ---- losses -------------------------------------------------------------------------------
    def _unpack(self, batch: Batch) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor | None, int]:
        x, l = batch["unpaired"]
        p, pl = batch["paired"]
        img_u, mask_u = split_item(x, paired=False)
        img_a, mask_a, img_b, mask_b = split_item(p, paired=True)
        if pl.ndim != 2 or pl.shape[1] != 2:
            raise ConfigError("GP-UNIT Stage I: the `paired` stream must give (label A, label B) per item; use the "
                              "gpunit_prior_images dataset with paired: true")
        n = min(img_u.shape[0], img_a.shape[0])
        imgs = torch.cat([img_u[:n], img_a[:n], img_b[:n]])
        labels = torch.cat([l[:n].reshape(-1), pl[:n, 0], pl[:n, 1]]).long()
        masks = None
        if mask_u is not None and mask_a is not None:
            masks = torch.cat([mask_u[:n], mask_a[:n], mask_b[:n]])
        return imgs, labels, masks, n

    def ae_step(self, batch: Batch, nets: Mapping[str, nn.Module]) -> Losses:
        imgs, labels, masks, n = self._unpack(batch)
        shape_losses = self.lambda_shape_rec != 0 or self.lambda_shape_dist != 0
        if masks is None and shape_losses:
            raise ConfigError(
                "GP-UNIT Stage I: the data has no shape masks, but lambda_shape_rec / lambda_shape_dist are not 0. "
                "Give both datasets masks (mask_root: the official synImageNet291_mask / ImageNet291_mask downloads, "
                "docs/datasets.md), or masks: image for line drawings, or set method.lambda_shape_rec=0 "
                "method.lambda_shape_dist=0 (not faithful)")
        rec, rec_masks, trans_masks, content, logits, dead = nets["AE"](imgs, labels, n, self.flip_ratio)
        vgg = self._vgg(rec, imgs)
        l_arec = (F.mse_loss(rec, imgs) + (vgg if vgg is not None else 0.0)) * self.lambda_app_rec
        l_fdist = F.l1_loss(content[n:2 * n], content[2 * n:].detach()) * self.lambda_feat_dist
        l_reg = torch.linalg.vector_norm(content) * self.lambda_reg + F.cross_entropy(logits, labels) * self.lambda_class
        total = l_arec + l_fdist + l_reg + 0.0 * dead  # zero gradients for the unused style levels (DDP)
        out = {"arec": l_arec.detach(), "fdist": l_fdist.detach(), "reg": l_reg.detach()}
        if masks is not None:
            small = F.interpolate(masks, size=rec_masks.shape[-2:], mode="bilinear", align_corners=False)
            l_srec = F.l1_loss(rec_masks, small) * self.lambda_shape_rec
            l_sdist = F.l1_loss(trans_masks, small[n:]) * self.lambda_shape_dist
            total = total + l_srec + l_sdist
            out.update(srec=l_srec.detach(), sdist=l_sdist.detach())
        else:
            # keep the mask head in the graph (DDP) without changing the loss
            total = total + 0.0 * (rec_masks.sum() + trans_masks.sum())
        with torch.no_grad():
            out["class_acc"] = (logits.argmax(1) == labels).float().mean()
        return {"loss": total, **out}

    # ---- samples, export, official files --------------------------------------------------------
    @torch.no_grad()
    def sample_columns(self, batch: Batch) -> list[tuple[str, torch.Tensor]]:
        """``image A | image B (same code) | reconstruction A | mask A | predicted mask A | mask from B's
        content``: the last two should agree when the content code carries the shape across classes."""
        p, pl = batch["paired"]
        img_a, mask_a, img_b, _ = split_item(p, paired=True)
        ae = self.autoencoder
        with eval_mode(ae):
            # the clean codes, without encode()'s flip draw and noise: a sample grid must not consume the
            # training RNG
            content_a, content_b, style_a = ae.contentE(img_a), ae.contentE(img_b), ae.styleE(img_a)
            label_a = ae.embed(pl[:, 0].long())
            rec, mask_pred = ae.decode(style_a, label_a, content_a)
            _, mask_swap = ae.decode(style_a, label_a, content_b)
        size = img_a.shape[-2:]
        up = lambda m: F.interpolate(m, size=size, mode="nearest").clamp(-1, 1)  # noqa: E731
        cols = [("image A", img_a), ("image B", img_b), ("reconstruction A", rec.clamp(-1, 1))]
        if mask_a is not None:
            cols.append(("mask A", mask_a))
        return cols + [("predicted mask A", up(mask_pred)), ("mask from B's content", up(mask_swap))]

    def export_modules(self) -> dict[str, nn.Module]:
        return {"autoencoder": self.autoencoder}

    def write_export_files(self, directory: Path) -> None:
        """``content_encoder.pt``: the official bare state dict that Stage II (``gpunit``) and the official
        ``train.py`` / ``inference.py`` read."""
        save_content_encoder(self.autoencoder.contentE, directory / "content_encoder.pt")

    @classmethod
    def load_official(cls, path: str | os.PathLike, **overrides: Any) -> "GPUNITPrior":
        """Build from an official Stage-I snapshot ``prior_distillation-XXXXX.pt`` (``{'ae_ema', 'ae_optim'}``)
        or a bare ``AutoEncoder`` state dict; sizes come from the file."""
        obj = read_checkpoint(path)
        sd = obj.get("ae_ema", obj) if isinstance(obj, Mapping) else obj
        try:
            nf = int(sd["contentE.layer1.0.conv.weight_orig"].shape[0])
            ncls, dim = (int(s) for s in sd["embed.weight"].shape)
        except (KeyError, TypeError, AttributeError) as exc:
            raise CheckpointError(f"{path} is not a GP-UNIT Stage-I snapshot (missing {exc}); for content_encoder.pt "
                                  "build the Stage-II method `gpunit` instead") from None
        kwargs = {"nf": nf, "num_classes": ncls, "embed_dim": dim, **overrides, "init_from": str(path)}
        return cls(**kwargs)
