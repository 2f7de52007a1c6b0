"""UNIT (Liu, Breuel, Kautz, NIPS 2017) as an i2ikit method, faithful to mingyuliutw/UNIT master.

Master is UNIT re-written in MUNIT's code: its ``UNIT_Trainer`` shares MUNIT's schedule (the lr step, then one
discriminator step, then one generator step on the same batch), optimisers, initialisation and discriminator.
Master shares no layers between the domains, and the released model comes from that code, so that is the
default; ``shared_blocks`` offers the paper's sharing of the high-level layers. See ``docs/methods/unit.md``.
"""
from __future__ import annotations

from typing import Any, Mapping

import torch
import torch.nn.functional as F
from torch import nn

from i2ikit.constraints import OneOf, Range, at_least_one, non_negative, positive
from i2ikit.errors import ConfigError
from i2ikit.method import Batch, Losses
from i2ikit.nn import eval_mode
from i2ikit.parts import PartSlot
from i2ikit.two_domain import is_a2b
from i2ikit_munit.method import INITS, MSIMAGE_DIS, MUNITFamily

from ._version import __version__


def unit_forward(method: "UNIT", x_a: torch.Tensor, x_b: torch.Tensor, cycle: bool) -> dict[str, torch.Tensor]:
    """Every generator call of ``gen_update`` in one forward. The same noise sample serves the within-domain
    and the cross-domain decode, as officially."""
    ga, gb = method.gen_a, method.gen_b
    h_a, n_a = ga.encode(x_a)
    h_b, n_b = gb.encode(x_b)
    out = {"h_a": h_a, "h_b": h_b, "x_a_recon": ga.decode(h_a + n_a), "x_b_recon": gb.decode(h_b + n_b),
           "x_ba": ga.decode(h_b + n_b), "x_ab": gb.decode(h_a + n_a)}
    h_b_recon, n_b_recon = ga.encode(out["x_ba"])
    h_a_recon, n_a_recon = gb.encode(out["x_ab"])
    out.update(h_a_recon=h_a_recon, h_b_recon=h_b_recon)
    if cycle:
        out["x_aba"] = ga.decode(h_a_recon + n_a_recon)
        out["x_bab"] = gb.decode(h_b_recon + n_b_recon)
    return out


def kl(mu: torch.Tensor) -> torch.Tensor:
    """UNIT's "KL" to N(0, I) of a unit-variance posterior: the mean of mu squared (constants dropped)."""
    return mu.pow(2).mean()


class UNIT(MUNITFamily):
    """Unsupervised translation through a shared latent space: per domain a VAE-like encoder/decoder
    (``gen_a``/``gen_b``) and a multi-scale LSGAN discriminator (``dis_a``/``dis_b``).

    Parts (official defaults): ``generator`` (``unit_generator``: dim 64, n_downsample 2, n_res 4, relu,
    reflect), ``discriminator`` (``multiscale`` of 3 ``munit_patch`` scales), ``gan_loss`` (``lsgan``, summed
    over the scales).

    - ``gan_w`` 1, ``recon_x_w`` 10, ``recon_kl_w`` 0.01, ``recon_x_cyc_w`` 10, ``recon_kl_cyc_w`` 0.01: the
      adversarial, reconstruction, latent, cycle and cycle-latent weights.
    - ``vgg_w`` (0; 1 in gta2city) with ``vgg_weights`` (the converted ``vgg16.weight``): perceptual loss.
    - ``lr`` 1e-4, ``beta1`` 0.5, ``beta2`` 0.999, ``weight_decay`` 1e-4; ``lr_policy`` ``step``,
      ``step_size`` 100000, ``gamma`` 0.5; ``init`` ``kaiming`` (the discriminators: gaussian).
    - ``shared_blocks`` (0, master): share the encoders' last and the decoders' first k residual blocks between
      the domains, the paper's (``version_02``) weight sharing of the high-level layers.
    """

    method_name = "unit"
    plugin_version = __version__
    data_streams = ("source", "target")  # domain A, domain B
    min_classes = {"source": 1, "target": 1}
    translate_modes = ("direct",)  # through the shared latent's mean: deterministic
    tasks = ("two_domain",)
    parts = {
        "generator": PartSlot("generator", "unit_generator", "one encoder/decoder per domain (encode, decode)",
                              requires=("encode", "decode")),
        "discriminator": PartSlot("discriminator", "multiscale", "one per domain (MsImageDis: 3 scales of munit_patch)",
                                  defaults=MSIMAGE_DIS),
        "gan_loss": PartSlot("gan_loss", "lsgan", "adversarial loss, summed over the discriminator's scales"),
    }
    constraints = {"gan_w": non_negative, "recon_x_w": non_negative, "recon_kl_w": non_negative,
                   "recon_x_cyc_w": non_negative, "recon_kl_cyc_w": non_negative, "vgg_w": non_negative,
                   "lr": positive, "beta1": Range(ge=0, lt=1), "beta2": Range(ge=0, lt=1), "weight_decay": non_negative,
                   "lr_policy": OneOf(("step", "constant")), "step_size": at_least_one, "gamma": positive,
                   "init": OneOf(INITS), "shared_blocks": Range(ge=0)}

    def __init__(
        self,
        *,
        generator: str | Mapping[str, Any] | None = None,
        discriminator: str | Mapping[str, Any] | None = None,
        gan_loss: str | Mapping[str, Any] | None = None,
        gan_w: float = 1.0,
        recon_x_w: float = 10.0,
        recon_kl_w: float = 0.01,
        recon_x_cyc_w: float = 10.0,
        recon_kl_cyc_w: float = 0.01,
        vgg_w: float = 0.0,
        vgg_weights: str | None = None,
        lr: float = 1e-4,
        beta1: float = 0.5,
        beta2: float = 0.999,
        weight_decay: float = 1e-4,
        lr_policy: str = "step",
        step_size: int = 100000,
        gamma: float = 0.5,
        init: str = "kaiming",
        shared_blocks: int = 0,
    ) -> None:
        super().__init__()
        self.gan_w = float(gan_w)
        self.w = {"gan": float(gan_w), "recon_x": float(recon_x_w), "recon_kl": float(recon_kl_w),
                  "cyc_x": float(recon_x_cyc_w), "recon_kl_cyc": float(recon_kl_cyc_w), "vgg": float(vgg_w)}
        self._build_shared(generator=generator, discriminator=discriminator, gan_loss=gan_loss, forward=unit_forward,
                           init=init, lr=lr, beta1=beta1, beta2=beta2, weight_decay=weight_decay, lr_policy=lr_policy,
                           step_size=step_size, gamma=gamma, vgg_w=vgg_w, vgg_weights=vgg_weights)
        self.shared_blocks = int(shared_blocks)
        if self.shared_blocks:
            self._share(self.shared_blocks)

    def _share(self, k: int) -> None:
        """gen_b uses gen_a's modules for the shared blocks (one set of weights, saved under both names)."""
        blocks = getattr(self.gen_a, "shared_blocks", None)
        if blocks is None or k > getattr(self.gen_a, "n_res", 0):
            raise ConfigError(f"method 'unit': shared_blocks={k} needs a generator with at least {k} residual blocks "
                              "in its encoder and decoder (unit_generator's n_res)")
        enc_b, dec_b = self.gen_b.enc.model[-1].model, self.gen_b.dec.model[0].model
        n = len(enc_b)
        for i, (enc_block, dec_block) in enumerate(self.gen_a.shared_blocks(k)):
            enc_b[n - k + i] = enc_block
            dec_b[i] = dec_block

    def fakes(self, x_a: torch.Tensor, x_b: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        """Cross-domain decodes of mean + noise, as dis_update."""
        h_a, n_a = self.gen_a.encode(x_a)
        h_b, n_b = self.gen_b.encode(x_b)
        return self.gen_a.decode(h_b + n_b), self.gen_b.decode(h_a + n_a)

    def gen_update(self, batch: Batch, nets: Mapping[str, nn.Module]) -> Losses:
        x_a, x_b = batch["source"][0], batch["target"][0]
        out = nets["gen"](x_a, x_b, self.w["cyc_x"] > 0)
        terms = {
            "recon_x": F.l1_loss(out["x_a_recon"], x_a) + F.l1_loss(out["x_b_recon"], x_b),
            "recon_kl": kl(out["h_a"]) + kl(out["h_b"]),
            "recon_kl_cyc": kl(out["h_a_recon"]) + kl(out["h_b_recon"]),
            "gan": self.adversarial(nets, out["x_ba"], out["x_ab"]),
        }
        if self.w["cyc_x"] > 0:  # the official code always computes it (and fails with a weight of 0)
            terms["cyc_x"] = F.l1_loss(out["x_aba"], x_a) + F.l1_loss(out["x_bab"], x_b)
        if self.w["vgg"] > 0:
            terms["vgg"] = self.vgg(out["x_ba"], x_b) + self.vgg(out["x_ab"], x_a)
        loss = sum(self.w[k] * v for k, v in terms.items())
        return {"loss": loss, **{f"loss_gen_{k}": v.detach() for k, v in terms.items()}}

    # ---- inference ---------------------------------------------------------------------------------
    @torch.no_grad()
    def translate(self, content: torch.Tensor, style_image: torch.Tensor | None = None, z: torch.Tensor | None = None, *,
                  num_styles: int | None = None, direction: str = "a2b", generator: torch.Generator | None = None) -> torch.Tensor:
        """As ``test.py``: the source encoder's latent mean (the noise discarded), decoded by the other domain's
        decoder; deterministic. UNIT has no style: ``style_image``, ``z`` and ``num_styles`` are refused.
        ``direction``: ``a2b`` or ``b2a``. Images B x 3 x H x W in [-1, 1] (H, W multiples of 4)."""
        if style_image is not None or z is not None or num_styles not in (None, 1):
            raise ConfigError("method 'unit' translates through its shared latent and has no style to choose; "
                              "translate(content, direction=...) only")
        src, dst = (self.gen_a, self.gen_b) if is_a2b(direction, self.method_name) else (self.gen_b, self.gen_a)
        device = next(src.parameters()).device
        with eval_mode(src, dst):
            h, _ = src.encode(content.to(device))
            return dst.decode(h)

    @torch.no_grad()
    def sample_columns(self, batch: Batch) -> list[tuple[str, torch.Tensor]]:
        x_a, x_b = batch["source"][0], batch["target"][0]
        with eval_mode(self.gen_a, self.gen_b):
            return [("A", x_a), ("A recon", self.gen_a(x_a)), ("A->B", self.translate(x_a)),
                    ("B", x_b), ("B recon", self.gen_b(x_b)), ("B->A", self.translate(x_b, direction="b2a"))]
