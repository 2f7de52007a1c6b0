"""The FUNIT method (Liu et al., ICCV 2019) as the i2ikit trainer sees it.

Networks, losses, the discriminator and generator steps, EMA and k-shot translation, following the
official NVlabs/FUNIT ``funit_model.py``/``trainer.py`` with the ``funit_animals.yaml`` defaults.
The trainer does backward passes, optimiser steps, EMA updates and DDP wrapping; each step here
returns named losses whose ``"loss"`` entry is back-propagated once.
"""
from __future__ import annotations

import copy
import inspect
import math
import os
from typing import Any, Mapping

import torch
from torch import nn

from i2ikit.constraints import OneOf, Range, at_least_one, non_negative, positive, unit_interval
from i2ikit.errors import ConfigError
from i2ikit.losses import feature_matching, r1_penalty
from i2ikit.method import Batch, EMASpec, Losses, Method, TrainStep
from i2ikit.nn import eval_mode, init_weights as core_init_weights
from i2ikit.parts import PartSlot, check_discriminator_output

from ._version import __version__

__all__ = ["FUNIT", "init_weights", "INIT_TYPES"]

# FUNIT's official ``init`` values (funit_animals.yaml) in the core's init vocabulary: (scheme, gain).
FUNIT_INIT = {"kaiming": ("kaiming", 0.02), "gaussian": ("normal", 0.02), "xavier": ("xavier", math.sqrt(2)),
              "orthogonal": ("orthogonal", math.sqrt(2)), "default": ("keep", 0.02)}
INIT_TYPES = tuple(FUNIT_INIT)


def init_weights(module: nn.Module, init_type: str) -> None:
    """The official ``weights_init``, through the core's :func:`i2ikit.nn.init_weights`: every conv and
    linear weight re-initialised (``default`` keeps PyTorch's) and every bias zeroed. (The official test,
    "class name starts with Conv/Linear and has ``.weight``", matches exactly the plain convs and linears
    of these networks, as the core's does.)"""
    if init_type not in FUNIT_INIT:
        raise ConfigError(f"init={init_type!r}: unknown initialisation; choose one of {', '.join(INIT_TYPES)}")
    scheme, gain = FUNIT_INIT[init_type]
    core_init_weights(module, scheme, gain)


def _l1(a: torch.Tensor, b: torch.Tensor) -> torch.Tensor:
    return (a - b).abs().mean()


class FUNIT(Method):
    """Few-shot unsupervised image-to-image translation: ``FewShotGen`` + ``GPPatchMcResDis``, hinge GAN
    with R1 on real class images, L1 reconstruction and feature matching, RMSprop, EMA generator."""

    method_name = "funit"
    plugin_version = __version__
    data_streams = ("content", "class")
    # FUNIT translates between classes: both streams must show at least two.
    min_classes = {"content": 2, "class": 2}
    translate_modes = ("class_images",)
    tasks = ("few_shot",)
    parts = {
        "generator": PartSlot("generator", "funit_generator", "content and class encoders, MLP, AdaIN decoder; built "
                              "with the method's widths", requires=("encode_content", "encode_class", "decode"),
                              supplies=("nf", "nf_mlp", "latent_dim", "n_mlp_blks", "n_res_blks", "n_downs_content",
                                        "n_downs_class")),
        "discriminator": PartSlot("discriminator", "funit_patch", "multi-task patch discriminator: class y's logits "
                                  "and the features of feature matching", labels=True, supplies=("num_classes",)),
        "gan_loss": PartSlot("gan_loss", "hinge", "adversarial loss of both steps (R1 is added on real images)"),
    }
    constraints = {
        "nf": at_least_one,
        "n_res_blks": at_least_one,
        "nf_mlp": at_least_one,
        "latent_dim": at_least_one,
        "n_mlp_blks": Range(ge=2),  # the MLP has a first and a last layer
        "n_downs_content": non_negative,
        "n_downs_class": Range(ge=2),  # the class encoder's two doubling convs
        "num_classes": at_least_one,
        "gan_w": non_negative,
        "fm_w": non_negative,
        "r_w": non_negative,
        "r1_w": non_negative,
        "lr_gen": positive,
        "lr_dis": positive,
        "weight_decay": non_negative,
        "ema_decay": unit_interval,
        "init": OneOf(INIT_TYPES),
    }

    def __init__(
        self,
        *,
        nf: int = 64,
        n_res_blks: int = 2,
        nf_mlp: int = 256,
        latent_dim: int = 64,
        n_mlp_blks: int = 3,
        n_downs_content: int = 3,
        n_downs_class: int = 4,
        num_classes: int = 119,
        gan_w: float = 1.0,
        fm_w: float = 1.0,
        r_w: float = 0.1,
        r1_w: float = 10.0,
        lr_gen: float = 1e-4,
        lr_dis: float = 1e-4,
        weight_decay: float = 1e-4,
        ema_decay: float = 0.999,
        init: str = "kaiming",
        generator: str | Mapping[str, Any] | None = None,
        discriminator: str | Mapping[str, Any] | None = None,
        gan_loss: str | Mapping[str, Any] | None = None,
    ) -> None:
        super().__init__()
        if not 0.0 <= ema_decay <= 1.0:
            raise ConfigError(f"method 'funit': ema_decay must lie in [0, 1], got {ema_decay}")
        if init not in INIT_TYPES:
            raise ConfigError(f"method 'funit': init={init!r} is unknown; choose one of {', '.join(INIT_TYPES)}")
        if num_classes < 1:
            raise ConfigError(f"method 'funit': num_classes must be >= 1, got {num_classes}")
        self.gan_w, self.fm_w, self.r_w, self.r1_w = float(gan_w), float(fm_w), float(r_w), float(r1_w)
        self.lr_gen, self.lr_dis, self.weight_decay = float(lr_gen), float(lr_dis), float(weight_decay)
        self.ema_decay = float(ema_decay)

        self.adv_loss = self.build_part("gan_loss", gan_loss)
        self.gen = self.build_part("generator", generator, nf=nf, nf_mlp=nf_mlp, latent_dim=latent_dim,
                                   n_mlp_blks=n_mlp_blks, n_res_blks=n_res_blks, n_downs_content=n_downs_content,
                                   n_downs_class=n_downs_class)
        self.dis = self.build_part("discriminator", discriminator, num_classes=num_classes)

        init_weights(self.gen, init)
        if "init" not in inspect.signature(type(self.dis).__init__).parameters:
            init_weights(self.dis, init)  # a part that takes `init` initialises itself
        self.gen_ema = copy.deepcopy(self.gen).requires_grad_(False)
        self._dis_output_checked = False

    @classmethod
    def upgrade_config(cls, config: dict[str, Any]) -> dict[str, Any]:
        """Exports of i2ikit 0.1.0 name the discriminator's width and depth as ``dis_nf``/``dis_n_res_blks``
        and its extra arguments as ``discriminator_kwargs``: today they are the ``discriminator`` spec."""
        config = dict(config)
        legacy = {k: config.pop(k) for k in ("dis_nf", "dis_n_res_blks", "discriminator_kwargs", "inplace_quirks")
                  if k in config}
        if legacy:
            spec = config.get("discriminator") or "funit_patch"
            spec = dict(spec) if isinstance(spec, Mapping) else {"name": spec}
            if spec["name"] == "funit_patch":
                for old, new in (("dis_nf", "nf"), ("dis_n_res_blks", "n_res_blks"), ("inplace_quirks", "inplace_quirks")):
                    if legacy.get(old) is not None:
                        spec.setdefault(new, legacy[old])
            spec.update(legacy.get("discriminator_kwargs") or {})
            config["discriminator"] = spec
        return config

    # ---- what the trainer needs ---------------------------------------------------------------
    def networks(self) -> dict[str, nn.Module]:
        return {"gen": self.gen, "dis": self.dis}

    def make_optimizers(self) -> dict[str, torch.optim.Optimizer]:
        # The official trainer gives dis_opt lr_gen and gen_opt lr_dis; both are 1e-4, so it is moot.
        return {
            "gen": torch.optim.RMSprop([p for p in self.gen.parameters() if p.requires_grad],
                                       lr=self.lr_gen, weight_decay=self.weight_decay),
            "dis": torch.optim.RMSprop([p for p in self.dis.parameters() if p.requires_grad],
                                       lr=self.lr_dis, weight_decay=self.weight_decay),
        }

    def training_steps(self, iteration: int) -> list[TrainStep]:
        return [
            TrainStep("dis", self.d_step, trains=("dis",), optimizers=("dis",)),
            TrainStep("gen", self.g_step, trains=("gen",), optimizers=("gen",)),
        ]

    def ema_specs(self) -> list[EMASpec]:
        return [EMASpec("gen_ema", "gen", self.ema_decay)]  # parameters only, as the official update_average

    # ---- training steps -----------------------------------------------------------------------
    def d_step(self, batch: Batch, nets: Mapping[str, nn.Module]) -> Losses:
        """Hinge loss on real class images and on translations, plus R1 on the real class images.

        ``nets["dis"]`` may be a DDP wrapper, so it is only called. The total is returned for a single
        backward pass (the official code runs three backward passes whose gradients sum to the same).
        """
        gen, dis = nets["gen"], nets["dis"]
        xa, _la = batch["content"]
        xb, lb = batch["class"]
        xb_real = xb.detach().requires_grad_(True)  # a copy, so the batch tensor itself is not changed
        out = dis(xb_real, lb)
        if not self._dis_output_checked:  # once: a part that breaks the contract is named, not misused
            check_discriminator_output(out, self.config["discriminator"]["name"], xb_real.shape[0])
            self._dis_output_checked = True
        resp_real = out[0]
        d_real = self.adv_loss.d_real(resp_real)
        r1 = r1_penalty(resp_real, xb_real)
        with torch.no_grad():
            xt = gen(xa, xb)  # the trained generator, not the EMA one
        resp_fake, _ = dis(xt.detach(), lb)
        d_fake = self.adv_loss.d_fake(resp_fake)
        loss = self.gan_w * d_real + self.r1_w * r1 + self.gan_w * d_fake
        with torch.no_grad():
            acc = 0.5 * ((resp_fake < 0).float().mean() + (resp_real >= 0).float().mean())
        return {"loss": loss, "d_real": d_real.detach(), "d_fake": d_fake.detach(), "r1": r1.detach(), "d_acc": acc}

    def g_step(self, batch: Batch, nets: Mapping[str, nn.Module]) -> Losses:
        """Adversarial (translation and reconstruction), L1 reconstruction and feature matching.

        ``L_G = gan_w * L_adv + r_w * L_x + fm_w * (l_c + l_m)``; the content term ``l_c`` is in the
        official code but not in the paper. All generator computation is one call of ``nets["gen"]``.
        """
        gen, dis = nets["gen"], nets["dis"]
        xa, la = batch["content"]
        xb, lb = batch["class"]
        xt, xr = gen(xa, xb, reconstruct=True)
        (resp_t, feat_t), (resp_r, feat_r) = self._dis_calls(dis, (xt, lb), (xr, la))
        with torch.no_grad():  # targets of feature matching: no gradient reaches G through them
            (_, feat_b), (_, feat_a) = self._dis_calls(dis, (xb, lb), (xa, la))
        g_adv = 0.5 * (self.adv_loss.g(resp_t) + self.adv_loss.g(resp_r))
        g_rec = _l1(xr, xa)
        # on the spatial means of the deepest features the discriminator exposes (FUNIT's own: what its head reads)
        g_fm = feature_matching([feat_r[-1], feat_t[-1]], [feat_a[-1], feat_b[-1]], spatial_mean=True)
        loss = self.gan_w * g_adv + self.r_w * g_rec + self.fm_w * g_fm
        with torch.no_grad():
            acc = 0.5 * ((resp_t >= 0).float().mean() + (resp_r >= 0).float().mean())
        return {"loss": loss, "g_adv": g_adv.detach(), "g_rec": g_rec.detach(), "g_fm": g_fm.detach(), "g_acc": acc}

    def _dis_calls(self, dis: nn.Module, *inputs: tuple[torch.Tensor, torch.Tensor]) -> list[tuple[torch.Tensor, list]]:
        """``[dis(x, y) for x, y in inputs]``, as one call on the concatenated batch when the discriminator says
        its samples are independent (``batch_independent``: no batch statistics): the same numbers, bit for bit
        (the G step does not train D, so no weight gradient sums over the larger batch), in fewer, larger
        convolutions. Any other discriminator part is called once per input, as the official code does."""
        if len(inputs) == 1 or not getattr(self.dis, "batch_independent", False):
            return [tuple(dis(x, y)) for x, y in inputs]
        sizes = [x.shape[0] for x, _ in inputs]
        resp, feats = dis(torch.cat([x for x, _ in inputs]), torch.cat([y for _, y in inputs]))
        resps, per_feat = resp.split(sizes), [f.split(sizes) for f in feats]
        return [(resps[i], [f[i] for f in per_feat]) for i in range(len(inputs))]

    # ---- inference ----------------------------------------------------------------------------
    @torch.no_grad()
    def translate(self, content: torch.Tensor, class_images: torch.Tensor, k: int | None = None) -> torch.Tensor:
        """Translate ``content`` (B x 3 x H x W, [-1, 1]) to the class shown by ``class_images`` with the EMA generator.

        ``k=None``: ``class_images`` are K shots shared by every content image; the class code is the
        arithmetic mean of their K codes (as ``test_k_shot.py``). ``k`` given: ``class_images`` holds
        B*k images, k consecutive ones per content image (as ``translate_k_shot``). Returns B x 3 x H x W in [-1, 1].
        """
        g = self.gen_ema
        device = next(g.parameters()).device
        content, class_images = content.to(device), class_images.to(device)
        with eval_mode(g):
            codes = g.encode_class(class_images)
            if k is None:
                code = codes.mean(dim=0, keepdim=True)
            else:
                b = content.shape[0]
                if k < 1 or codes.shape[0] != b * k:
                    raise ValueError(f"translate: k={k} needs {b}*{k}={b * k} class images, got {codes.shape[0]}")
                code = codes.view(b, k, *codes.shape[1:]).mean(dim=1)
            return g.decode(g.encode_content(content), code)

    @torch.no_grad()
    def sample_columns(self, batch: Batch) -> list[tuple[str, torch.Tensor]]:
        xa, xb = batch["content"][0], batch["class"][0]
        g = self.gen_ema
        with eval_mode(g):
            xt, xr = g(xa, xb, reconstruct=True)
        return [("content", xa), ("class", xb), ("translation", xt), ("reconstruction", xr)]

    # ---- official checkpoints -----------------------------------------------------------------
    @classmethod
    def load_official(cls, path: str | os.PathLike, **overrides: Any) -> "FUNIT":
        """Build from an official ``{'gen', 'gen_test'}`` file (``gen_test`` -> ``gen_ema``); optional
        ``dis_checkpoint=`` path to a ``{'dis': sd}`` file. See :func:`i2ikit_funit.official.load_official`."""
        from .official import load_official

        return load_official(cls, path, **overrides)
