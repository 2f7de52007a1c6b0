"""DRIT / DRIT++ (Lee, Tseng et al.; ECCV 2018 / IJCV 2020) as the i2ikit trainer sees it.

Faithful to ``HsinYingLee/DRIT`` at ``f19f50a`` (``src/model.py``, ``src/train.py``; re-implemented from
the facts in docs/methods/drit.md, nothing copied). Domain A is stream ``source``, domain B stream
``target``. Each batch of 2n images per stream is split as the official batch of 2 is: the first n are the
"encoded" images, the last n the "random" ones (only the real images of ``disA2``/``disB2``).

Per iteration (:meth:`DRIT.training_steps`): if ``(iteration + 1) % d_iter != 0`` only the content
discriminator is updated (``update_D_content``); otherwise all five discriminators (``update_D``), then the
two encoder/generator steps of ``update_EG``:

1. ``eg``: enc_c, enc_a and gen on the adversarial (encoded path), content-adversarial (target 0.5), KL on
   the attribute (summed; L2 for concat=0), L2 on the noisy content code, cross-cycle and
   self-reconstruction L1 terms;
2. ``g_alone``: enc_c and gen only, on the random-path adversarial terms, DRIT++'s mode seeking and the
   latent regression (on mu).

**The in-place update order.** The official ``update_EG`` steps enc_c/enc_a/gen and then back-propagates
the random-path loss through the *same* retained graph; PyTorch >= 1.5 refuses that (the saved tensors
were changed in place by the optimiser; issue #62), and on PyTorch 0.4 it silently mixed activations from
before the update with weights from after it. Here step 2 **re-runs the forward it needs** (the content
codes of the encoded images, the random-attribute translations and their re-encoded attributes) with the
weights step 1 left and with the **same random draws** (content noise, z_random, z_random2): each update
sees the current weights, and the only difference from the official step is that the activations are
those of the updated networks. Likewise the discriminator step runs the full forward without gradients and
step 1 replays it with the same draws, so the discriminators and step 1 see the same fakes, as officially.

Optimisers: eight Adams (lr 1e-4, content D 4e-5, betas (0.5, 0.999), weight decay 1e-4); the content D's
gradient norm is clipped to 5 before each of its steps, inside its optimiser (:class:`ClippedAdam`), after
both kinds of D step. Learning rate: constant for ``n_ep_decay`` epochs, then linear decay to ``n_ep``
(:meth:`DRIT.lr_factor`), an epoch being ``epoch_iters`` iterations.
"""
from __future__ import annotations

import os
from typing import Any, Mapping

import torch
import torch.nn.functional as F
from torch import nn

from i2ikit.constraints import OneOf, Range, at_least_one, non_negative, positive
from i2ikit.errors import ConfigError
from i2ikit.losses import per_scale
from i2ikit.method import Batch, Losses, Method, TrainStep
from i2ikit.nn import NetworkView, eval_mode
from i2ikit.parts import PartSlot

from ._version import __version__
from .networks import E_attr, E_attr_concat, E_content, G, G_concat

__all__ = ["DRIT", "ClippedAdam", "Draws", "drit_forward", "DIS_NAMES", "MS_EPS"]

DIS_NAMES = ("disA", "disB", "disA2", "disB2", "disContent")
MS_EPS = 1e-5  # mode seeking: 1 / (ratio + 1e-5)


class ClippedAdam(torch.optim.Adam):
    """Adam that clips the gradient norm of its parameters to ``max_norm`` first (0: no clipping): the content
    discriminator's ``clip_grad_norm_(disContent.parameters(), 5)`` before every ``disContent_opt.step()``.
    Inside ``step`` it runs after the backward of every micro-batch, after DDP's all-reduce and after mixed
    precision's unscaling, which a loss function cannot do."""

    def __init__(self, params: Any, *, max_norm: float = 5.0, **kwargs: Any) -> None:
        super().__init__(params, **kwargs)
        self.max_norm = float(max_norm)

    def step(self, closure: Any = None) -> Any:  # type: ignore[override]
        if self.max_norm > 0:
            params = [p for group in self.param_groups for p in group["params"] if p.grad is not None]
            if params:
                nn.utils.clip_grad_norm_(params, self.max_norm)
        return super().step(closure)


class Draws:
    """The random draws of one batch's forward (content noise, reparameterisation eps, z_random), by name,
    drawn at first use and replayed after, so the D step, EG step 1 and EG step 2 see the same ones. A plain
    object, not a dict, so a DDP wrapper hands the same one to the forward instead of a copy."""

    def __init__(self) -> None:
        self.tensors: dict[str, torch.Tensor] = {}

    def randn(self, key: str, like: torch.Tensor, shape: tuple[int, ...] | None = None) -> torch.Tensor:
        if key not in self.tensors:
            self.tensors[key] = torch.randn(shape or tuple(like.shape), device=like.device, dtype=like.dtype)
        return self.tensors[key]


def _sides(m: "DRIT", a: torch.Tensor, b: torch.Tensor, draws: Draws) -> dict[str, torch.Tensor]:
    """Content and attribute of the encoded images (official ``forward`` steps 1-3)."""
    out = {"z_c_a": m.enc_c.forward_a(a, lambda h: draws.randn("noise_a", h)),
           "z_c_b": m.enc_c.forward_b(b, lambda h: draws.randn("noise_b", h))}
    out.update(_attributes(m, a, b, draws, "", ""))
    h = a.shape[0]
    out["z_random"] = draws.randn("z_random", out["z_c_a"], (h, m.nz))
    if m.mode_seeking:
        out["z_random2"] = draws.randn("z_random2", out["z_c_a"], (h, m.nz))
    return out


def _attributes(m: "DRIT", a: torch.Tensor, b: torch.Tensor, draws: Draws, tag: str, out_tag: str) -> dict[str, torch.Tensor]:
    """``z_attr`` of A and B images; for concat=1 also mu and log sigma^2, z = mu + eps * exp(logvar / 2)."""
    if not m.concat:
        za, zb = m.enc_a.forward_a(a), m.enc_a.forward_b(b)
        return {f"z_attr{out_tag}_a": za, f"z_attr{out_tag}_b": zb}
    mu_a, logvar_a = m.enc_a.forward_a(a)
    mu_b, logvar_b = m.enc_a.forward_b(b)
    za = draws.randn(f"eps{tag}_a", mu_a) * logvar_a.mul(0.5).exp() + mu_a
    zb = draws.randn(f"eps{tag}_b", mu_b) * logvar_b.mul(0.5).exp() + mu_b
    return {f"mu{out_tag}_a": mu_a, f"logvar{out_tag}_a": logvar_a, f"mu{out_tag}_b": mu_b, f"logvar{out_tag}_b": logvar_b,
            f"z_attr{out_tag}_a": za, f"z_attr{out_tag}_b": zb}


def drit_forward(m: "DRIT", a: torch.Tensor, b: torch.Tensor, draws: Draws, part: str = "eg") -> dict[str, torch.Tensor]:
    """The official ``DRIT.forward`` on the encoded halves ``a``, ``b``, or the part of it a step needs:

    - ``content``: the noisy content codes (``forward_content``, the content-D step);
    - ``dis``: content, attributes and the first translations (``fake_A_encoded``, ``fake_AA_encoded``,
      ``fake_A_random``, ``fake_A_random2`` and the B ones; the D step);
    - ``eg``: ``dis`` plus the re-encoding of the encoded fakes and the cross-cycle reconstructions (step 1);
    - ``random``: content codes and the random-attribute translations with their re-encoded attributes
      (step 2: mode seeking and latent regression).

    The EG view's forward, so one DDP forward holds every call of enc_c, enc_a and gen of a step."""
    if part == "content":
        return {"z_c_a": m.enc_c.forward_a(a, lambda h: draws.randn("noise_a", h)),
                "z_c_b": m.enc_c.forward_b(b, lambda h: draws.randn("noise_b", h))}
    if part == "random":
        out = {"z_c_a": m.enc_c.forward_a(a, lambda h: draws.randn("noise_a", h)),
               "z_c_b": m.enc_c.forward_b(b, lambda h: draws.randn("noise_b", h))}
        h = a.shape[0]
        zs = [draws.randn("z_random", out["z_c_a"], (h, m.nz))]
        if m.mode_seeking:
            zs.append(draws.randn("z_random2", out["z_c_a"], (h, m.nz)))
        fa = m.gen.forward_a(torch.cat([out["z_c_b"]] * len(zs)), torch.cat(zs)).split(h)
        fb = m.gen.forward_b(torch.cat([out["z_c_a"]] * len(zs)), torch.cat(zs)).split(h)
        out.update(z_random=zs[0], fake_A_random=fa[0], fake_B_random=fb[0])
        if m.mode_seeking:
            out.update(z_random2=zs[1], fake_A_random2=fa[1], fake_B_random2=fb[1])
        _latent(m, out)
        return out
    if part not in ("dis", "eg"):
        raise ValueError(f"drit_forward: unknown part {part!r}")
    out = _sides(m, a, b, draws)
    h = a.shape[0]
    # One generator call per output domain, batched as officially: [cross, self, random, random2].
    attrs_a = [out["z_attr_a"], out["z_attr_a"], out["z_random"]] + ([out["z_random2"]] if m.mode_seeking else [])
    attrs_b = [out["z_attr_b"], out["z_attr_b"], out["z_random"]] + ([out["z_random2"]] if m.mode_seeking else [])
    cont_a = [out["z_c_b"], out["z_c_a"]] + [out["z_c_b"]] * (len(attrs_a) - 2)
    cont_b = [out["z_c_a"], out["z_c_b"]] + [out["z_c_a"]] * (len(attrs_b) - 2)
    fa = m.gen.forward_a(torch.cat(cont_a), torch.cat(attrs_a)).split(h)
    fb = m.gen.forward_b(torch.cat(cont_b), torch.cat(attrs_b)).split(h)
    out.update(fake_A_encoded=fa[0], fake_AA_encoded=fa[1], fake_A_random=fa[2],
               fake_B_encoded=fb[0], fake_BB_encoded=fb[1], fake_B_random=fb[2])
    if m.mode_seeking:
        out.update(fake_A_random2=fa[3], fake_B_random2=fb[3])
    if part == "dis":
        return out
    # Re-encode the cross translations: fake_A_encoded (an A image with B's content) through convA.
    out["z_c_recon_b"] = m.enc_c.forward_a(out["fake_A_encoded"], lambda t: draws.randn("noise_recon_b", t))
    out["z_c_recon_a"] = m.enc_c.forward_b(out["fake_B_encoded"], lambda t: draws.randn("noise_recon_a", t))
    out.update(_attributes(m, out["fake_A_encoded"], out["fake_B_encoded"], draws, "_recon", "_recon"))
    out["fake_A_recon"] = m.gen.forward_a(out["z_c_recon_a"], out["z_attr_recon_a"])
    out["fake_B_recon"] = m.gen.forward_b(out["z_c_recon_b"], out["z_attr_recon_b"])
    return out


def _latent(m: "DRIT", out: dict[str, torch.Tensor]) -> None:
    """Latent-regression targets: mu (concat=1; #10) or the attribute (concat=0) of the random translations."""
    if m.concat:
        mu_a, logvar_a = m.enc_a.forward_a(out["fake_A_random"])
        mu_b, logvar_b = m.enc_a.forward_b(out["fake_B_random"])
        # log sigma^2 takes no part in the loss; it is kept so every enc_a parameter is in the graph (DDP).
        out.update(z_latent_a=mu_a, z_latent_b=mu_b, unused=0.0 * (logvar_a.sum() + logvar_b.sum()))
    else:
        out.update(z_latent_a=m.enc_a.forward_a(out["fake_A_random"]), z_latent_b=m.enc_a.forward_b(out["fake_B_random"]))


class DRIT(Method):
    """DRIT / DRIT++: content encoders ``enc_c`` (shared last block), attribute encoders ``enc_a``, generators
    ``gen``, image discriminators ``disA``/``disB`` (encoded path) and ``disA2``/``disB2`` (random path), and the
    content discriminator ``disContent``. Child names and state-dict keys are the official ones.

    Keyword arguments (defaults = the official options and hard-coded values):

    - ``concat`` (1): 1 concatenates the attribute (VAE attribute encoder ``E_attr_concat``, generator
      ``G_concat``); 0 is the "feature-wise transform" generator ``G`` with the deterministic ``E_attr``
      (the README's choice for shape-changing tasks such as cat <-> dog and portrait).
    - ``nz`` (8): attribute size. ``dim`` (64): base width of encoders and generator (the content code has
      4 x dim channels); smaller for CPU smoke runs only.
    - ``discriminator``: the part of each of the four image discriminators (default ``multiscale`` of 3
      ``drit_patch`` scales, the official ``MultiScaleDis``). ``dis_scale``: the official ``--dis_scale``
      instead of that spec (> 1: that many scales; <= 1: the single-scale ``drit_dis``); leave it null when
      giving ``discriminator``.
    - ``content_discriminator``: the content discriminator part (``drit_content``; official layout n_down 3,
      one logit per sample at crop 216; e.g. ``{n_down: 1}`` at crop 64).
    - ``gan_loss`` (``nonsaturating``: sigmoid + BCE in logits form): every adversarial term; the encoder's
      content term uses the 0.5 target, ``0.5 * (d_real + d_fake)``.
    - ``instance_norm_fix`` (False): insert the InstanceNorm the official content discriminator asks for
      (the ``'norm'`` typo drops it; PR #31). Not faithful when True.
    - ``mode_seeking`` (True): DRIT++'s mode-seeking term and second random attribute (``--no_ms`` = False).
    - ``lambda_adv`` (1): image adversarial terms of both EG steps; ``lambda_adv_content`` (1): content
      adversarial term; ``lambda_kl`` (0.01): KL (concat=1, summed over batch and dims) or L2 (concat=0) on
      the attribute; ``lambda_kl_content`` (0.01): L2 on the noisy content code; ``lambda_cross_cycle`` (10)
      and ``lambda_self_rec`` (10): L1 terms; ``lambda_latent`` (10): latent regression; ``lambda_ms`` (1):
      mode seeking.
    - ``lr`` (1e-4): every network but the content D, whose lr is ``lr_content`` (4e-5 = lr / 2.5);
      ``betas`` (0.5, 0.999); ``weight_decay`` (1e-4); ``content_clip`` (5): the content D's gradient norm
      clip (0: off).
    - ``d_iter`` (3): one full update every d_iter iterations, content-D-only updates in between (on the
      global iteration; the official per-epoch index and its tail rule are not reproduced, see the docs).
    - ``n_ep`` (1200), ``n_ep_decay`` (600), ``lr_policy`` (``lambda``; ``step``: x0.1 every n_ep_decay
      epochs), ``epoch_iters`` (None): iterations per official epoch, ``max(|A|, |B|) // batch_size``
      (recipes set it); None keeps the learning rate constant.
    """

    method_name = "drit"
    plugin_version = __version__
    data_streams = ("source", "target")
    min_classes = {"source": 1, "target": 1}  # a stream is a domain; labels are not used
    translate_modes = ("style", "num_styles")
    tasks = ("two_domain",)
    parts = {
        "discriminator": PartSlot("discriminator", "multiscale", "each of the four image discriminators (disA, disB, "
                                  "disA2, disB2)", defaults={"num_scales": 3, "discriminator": "drit_patch"}),
        "content_discriminator": PartSlot("discriminator", "drit_content", "the content discriminator (disContent); "
                                          "it sees content codes", supplies=("in_dim", "instance_norm_fix")),
        "gan_loss": PartSlot("gan_loss", "nonsaturating", "every adversarial term (official: sigmoid + BCE)"),
    }
    constraints = {
        "concat": OneOf((0, 1)),
        "nz": at_least_one,
        "dim": at_least_one,
        "dis_scale": non_negative,
        "lambda_adv": non_negative,
        "lambda_adv_content": non_negative,
        "lambda_kl": non_negative,
        "lambda_kl_content": non_negative,
        "lambda_cross_cycle": non_negative,
        "lambda_self_rec": non_negative,
        "lambda_latent": non_negative,
        "lambda_ms": non_negative,
        "lr": positive,
        "lr_content": positive,
        "betas": Range(ge=0, lt=1),
        "weight_decay": non_negative,
        "content_clip": non_negative,
        "d_iter": at_least_one,
        "n_ep": at_least_one,
        "n_ep_decay": non_negative,
        "lr_policy": OneOf(("lambda", "step")),
        "epoch_iters": at_least_one,
    }

    def __init__(
        self,
        *,
        concat: int = 1,
        nz: int = 8,
        dim: int = 64,
        discriminator: str | Mapping[str, Any] | None = None,
        content_discriminator: str | Mapping[str, Any] | None = None,
        gan_loss: str | Mapping[str, Any] | None = None,
        dis_scale: int | None = None,
        instance_norm_fix: bool = False,
        mode_seeking: bool = True,
        lambda_adv: float = 1.0,
        lambda_adv_content: float = 1.0,
        lambda_kl: float = 0.01,
        lambda_kl_content: float = 0.01,
        lambda_cross_cycle: float = 10.0,
        lambda_self_rec: float = 10.0,
        lambda_latent: float = 10.0,
        lambda_ms: float = 1.0,
        lr: float = 1e-4,
        lr_content: float = 4e-5,
        betas: tuple[float, float] = (0.5, 0.999),
        weight_decay: float = 1e-4,
        content_clip: float = 5.0,
        d_iter: int = 3,
        n_ep: int = 1200,
        n_ep_decay: int = 600,
        lr_policy: str = "lambda",
        epoch_iters: int | None = None,
    ) -> None:
        super().__init__()
        if concat not in (0, 1):
            raise ConfigError(f"method 'drit': concat must be 1 (concatenated attribute) or 0 (feature-wise transform), "
                              f"got {concat!r}")
        if len(tuple(betas)) != 2:
            raise ConfigError(f"method 'drit': betas must be two numbers, got {betas!r}")
        if lr_policy == "lambda" and n_ep_decay > n_ep:
            raise ConfigError(f"method 'drit': n_ep_decay ({n_ep_decay}) must be at most n_ep ({n_ep}): the linear decay "
                              "runs from epoch n_ep_decay to n_ep")
        if dis_scale is not None:
            if discriminator is not None:
                raise ConfigError("method 'drit': give either dis_scale (the official --dis_scale) or discriminator "
                                  f"(a part spec), not both (dis_scale={dis_scale!r}, discriminator={discriminator!r})")
            discriminator = ({"name": "multiscale", "num_scales": int(dis_scale), "discriminator": "drit_patch"}
                             if dis_scale > 1 else "drit_dis")
        self.concat, self.nz, self.dim = int(concat), int(nz), int(dim)
        self.mode_seeking = bool(mode_seeking)
        self.lambda_adv, self.lambda_adv_content = float(lambda_adv), float(lambda_adv_content)
        self.lambda_kl, self.lambda_kl_content = float(lambda_kl), float(lambda_kl_content)
        self.lambda_cross_cycle, self.lambda_self_rec = float(lambda_cross_cycle), float(lambda_self_rec)
        self.lambda_latent, self.lambda_ms = float(lambda_latent), float(lambda_ms)
        self.lr, self.lr_content = float(lr), float(lr_content)
        self.betas, self.weight_decay = (float(betas[0]), float(betas[1])), float(weight_decay)
        self.content_clip = float(content_clip)
        self.d_iter, self.n_ep, self.n_ep_decay = int(d_iter), int(n_ep), int(n_ep_decay)
        self.lr_policy, self.epoch_iters = lr_policy, None if epoch_iters is None else int(epoch_iters)

        # Children in the official construction order, under the official names.
        self.disA = self.build_part("discriminator", discriminator)
        self.disB = self.build_part("discriminator", discriminator)
        self.disA2 = self.build_part("discriminator", discriminator)
        self.disB2 = self.build_part("discriminator", discriminator)
        self.config["dis_scale"] = None  # folded into the discriminator spec, which the export records
        self.disContent = self.build_part("content_discriminator", content_discriminator, in_dim=4 * self.dim,
                                          instance_norm_fix=bool(instance_norm_fix))
        self.enc_c = E_content(self.dim)
        self.enc_a = E_attr_concat(self.dim, self.nz) if self.concat else E_attr(self.dim, self.nz)
        self.gen = G_concat(self.dim, self.nz) if self.concat else G(self.dim, self.nz)
        self.adv = self.build_part("gan_loss", gan_loss)
        # Not a child (object.__setattr__): the view shares enc_c, enc_a and gen, it must not own them twice.
        object.__setattr__(self, "_eg", NetworkView(self, ["enc_c", "enc_a", "gen"], fn=drit_forward))
        self._draws: dict[int, Draws] = {}  # by batch: what the D step drew, replayed by the EG steps
        self._enc_a_grads_stale = False
        self.official_info: dict[str, Any] = {}

    # ---- what the trainer needs -----------------------------------------------------------------
    def networks(self) -> dict[str, nn.Module]:
        return {"EG": self._eg, **{name: getattr(self, name) for name in DIS_NAMES}}

    def make_optimizers(self) -> dict[str, torch.optim.Optimizer]:
        def adam(name: str) -> torch.optim.Adam:
            return torch.optim.Adam(getattr(self, name).parameters(), lr=self.lr, betas=self.betas,
                                    weight_decay=self.weight_decay)

        opts = {name: adam(name) for name in ("disA", "disB", "disA2", "disB2")}
        opts["disContent"] = ClippedAdam(self.disContent.parameters(), max_norm=self.content_clip, lr=self.lr_content,
                                         betas=self.betas, weight_decay=self.weight_decay)
        opts.update({name: adam(name) for name in ("enc_c", "enc_a", "gen")})
        return opts

    def training_steps(self, iteration: int) -> list[TrainStep]:
        self._draws.clear()
        if (iteration + 1) % self.d_iter != 0:
            return [TrainStep("dis_content", self.content_d_step, trains=("disContent",), optimizers=("disContent",))]
        return [
            TrainStep("dis", self.d_step, trains=DIS_NAMES, optimizers=DIS_NAMES),
            TrainStep("eg", self.eg_step, trains=("EG",), optimizers=("enc_c", "enc_a", "gen")),
            TrainStep("g_alone", self.g_alone_step, trains=("EG",), optimizers=("enc_c", "gen")),
        ]

    def lr_factor(self, optimizer: str, iteration: int) -> float:
        """The official per-epoch LambdaLR, ``1 - max(0, ep - n_ep_decay) / (n_ep - n_ep_decay + 1)`` (never below
        0), or StepLR(n_ep_decay, 0.1), with ``ep = iteration // epoch_iters``; 1.0 without ``epoch_iters``."""
        if self.epoch_iters is None:
            return 1.0
        ep = iteration // self.epoch_iters
        if self.lr_policy == "step":
            return 0.1 ** (ep // max(1, self.n_ep_decay))
        return max(0.0, 1.0 - max(0, ep - self.n_ep_decay) / float(self.n_ep - self.n_ep_decay + 1))

    # ---- data -------------------------------------------------------------------------------------
    def halves(self, batch: Batch) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor, torch.Tensor]:
        """``(a_encoded, a_random, b_encoded, b_random)``: each stream's batch split in two equal halves, as the
        official batch of 2 is split into one "encoded" and one "random" image."""
        a, b = batch["source"][0], batch["target"][0]
        n = min(a.shape[0], b.shape[0])
        if n % 2 or n == 0:
            raise ConfigError(f"method 'drit': each batch is split into an encoded half and a random half (official "
                              f"batch 2 = one image each), so train.batch_size must be even; got {n} images per "
                              "stream. Set train.batch_size to 2 (official) or another even number.")
        h = n // 2
        return a[:h], a[h:n], b[:h], b[h:n]

    def _draws_of(self, batch: Batch) -> Draws:
        return self._draws.setdefault(id(batch), Draws())

    # ---- losses ---------------------------------------------------------------------------------------
    def _content_d_loss(self, dis: nn.Module, z_c_a: torch.Tensor, z_c_b: torch.Tensor) -> torch.Tensor:
        """``backward_contentD``: content of B -> real (1), content of A -> fake (0), both detached."""
        h = z_c_a.shape[0]
        logits = dis(torch.cat([z_c_a, z_c_b]).detach()).logits
        return self.adv.d_fake(logits[:h]) + self.adv.d_real(logits[h:])

    def content_d_step(self, batch: Batch, nets: Mapping[str, nn.Module]) -> Losses:
        """``update_D_content``: one content-D step on a fresh encoding of the encoded halves."""
        a, _, b, _ = self.halves(batch)
        with torch.no_grad():
            out = drit_forward(self, a, b, Draws(), "content")
        loss = self._content_d_loss(nets["disContent"], out["z_c_a"], out["z_c_b"])
        return {"loss": loss, "disContent": loss.detach()}

    def _image_d_loss(self, dis: nn.Module, real: torch.Tensor, fakes: list[torch.Tensor]) -> torch.Tensor:
        """``backward_D`` once per fake (so with mode seeking the real term of disA2/disB2 counts twice), each
        term summed over scales; one discriminator call on [real, fakes...]."""
        h = real.shape[0]
        logits = dis(torch.cat([real, *(f.detach() for f in fakes)])).logits

        def loss(part: torch.Tensor) -> torch.Tensor:
            return sum(self.adv.d_real(part[:h]) + self.adv.d_fake(part[h * (k + 1):h * (k + 2)]) for k in range(len(fakes)))

        return per_scale(loss, dis, logits)

    def d_step(self, batch: Batch, nets: Mapping[str, nn.Module]) -> Losses:
        """``update_D``: the full forward (no gradients, draws kept for the EG steps), then the four image
        discriminators and the content discriminator, each on its own loss."""
        a, a_rand, b, b_rand = self.halves(batch)
        with torch.no_grad():
            out = drit_forward(self, a, b, self._draws_of(batch), "dis")
        rand2 = lambda side: [out[f"fake_{side}_random2"]] if self.mode_seeking else []  # noqa: E731
        losses = {
            "disA": self._image_d_loss(nets["disA"], a, [out["fake_A_encoded"]]),
            "disA2": self._image_d_loss(nets["disA2"], a_rand, [out["fake_A_random"], *rand2("A")]),
            "disB": self._image_d_loss(nets["disB"], b, [out["fake_B_encoded"]]),
            "disB2": self._image_d_loss(nets["disB2"], b_rand, [out["fake_B_random"], *rand2("B")]),
            "disContent": self._content_d_loss(nets["disContent"], out["z_c_a"], out["z_c_b"]),
        }
        return {"loss": sum(losses.values()), **{k: v.detach() for k, v in losses.items()}}

    def _g_adv(self, dis: nn.Module, fakes: list[torch.Tensor]) -> torch.Tensor:
        """``backward_G_GAN`` for each fake (target 1, summed over scales); one call on the fakes together."""
        h = fakes[0].shape[0]
        logits = dis(torch.cat(fakes)).logits
        return per_scale(lambda part: sum(self.adv.g(part[h * k:h * (k + 1)]) for k in range(len(fakes))), dis, logits)

    def _content_adv(self, dis: nn.Module, z_c_a: torch.Tensor, z_c_b: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        """``backward_G_GAN_content``: both domains' content pushed to 0.5, BCE(sigmoid(x), 0.5) =
        ``0.5 * (d_real + d_fake)`` of the GAN loss."""
        h = z_c_a.shape[0]
        logits = dis(torch.cat([z_c_a, z_c_b])).logits
        half = lambda part: 0.5 * (self.adv.d_real(part) + self.adv.d_fake(part))  # noqa: E731
        return half(logits[:h]), half(logits[h:])

    def eg_step(self, batch: Batch, nets: Mapping[str, nn.Module]) -> Losses:
        """``backward_EG`` (step 1; enc_c, enc_a, gen): replays the D step's forward with the same draws."""
        if self._enc_a_grads_stale:  # the official update_EG starts with enc_a_opt.zero_grad()
            for p in self.enc_a.parameters():
                p.grad = None
            self._enc_a_grads_stale = False
        a, _, b, _ = self.halves(batch)
        out = nets["EG"](a, b, self._draws_of(batch), "eg")
        terms: dict[str, torch.Tensor] = {}
        terms["gan_content_a"], terms["gan_content_b"] = (
            self.lambda_adv_content * t for t in self._content_adv(nets["disContent"], out["z_c_a"], out["z_c_b"]))
        terms["gan_a"] = self.lambda_adv * self._g_adv(nets["disA"], [out["fake_A_encoded"]])
        terms["gan_b"] = self.lambda_adv * self._g_adv(nets["disB"], [out["fake_B_encoded"]])
        for side in ("a", "b"):
            if self.concat:  # -1/2 sum(1 + logvar - mu^2 - exp(logvar)), summed over batch and dims (#10)
                mu, logvar = out[f"mu_{side}"], out[f"logvar_{side}"]
                kl = -0.5 * torch.sum(1 + logvar - mu.pow(2) - logvar.exp())
            else:
                kl = out[f"z_attr_{side}"].pow(2).mean()
            terms[f"kl_za_{side}"] = self.lambda_kl * kl
            terms[f"kl_zc_{side}"] = self.lambda_kl_content * out[f"z_c_{side}"].pow(2).mean()
        terms["cc_a"] = self.lambda_cross_cycle * F.l1_loss(out["fake_A_recon"], a)
        terms["cc_b"] = self.lambda_cross_cycle * F.l1_loss(out["fake_B_recon"], b)
        terms["rec_aa"] = self.lambda_self_rec * F.l1_loss(out["fake_AA_encoded"], a)
        terms["rec_bb"] = self.lambda_self_rec * F.l1_loss(out["fake_BB_encoded"], b)
        return {"loss": sum(terms.values()), **{k: v.detach() for k, v in terms.items()}}

    def g_alone_step(self, batch: Batch, nets: Mapping[str, nn.Module]) -> Losses:
        """``backward_G_alone`` (step 2; enc_c and gen stepped): re-runs the random path with the weights step 1
        left and the same draws. enc_a gets gradients here (as officially) but is not stepped; they are
        cleared before the next step 1, as the official ``enc_a_opt.zero_grad()`` does."""
        a, _, b, _ = self.halves(batch)
        draws = self._draws.pop(id(batch), None) or Draws()
        out = nets["EG"](a, b, draws, "random")
        self._enc_a_grads_stale = True
        rand2 = lambda side: [out[f"fake_{side}_random2"]] if self.mode_seeking else []  # noqa: E731
        terms = {"gan2_a": self.lambda_adv * self._g_adv(nets["disA2"], [out["fake_A_random"], *rand2("A")]),
                 "gan2_b": self.lambda_adv * self._g_adv(nets["disB2"], [out["fake_B_random"], *rand2("B")])}
        if self.mode_seeking:
            dz = torch.mean(torch.abs(out["z_random2"] - out["z_random"]))
            lz_ab = torch.mean(torch.abs(out["fake_B_random2"] - out["fake_B_random"])) / dz
            lz_ba = torch.mean(torch.abs(out["fake_A_random2"] - out["fake_A_random"])) / dz
            terms["ms_ab"] = self.lambda_ms / (lz_ab + MS_EPS)
            terms["ms_ba"] = self.lambda_ms / (lz_ba + MS_EPS)
        terms["latent_a"] = self.lambda_latent * torch.mean(torch.abs(out["z_latent_a"] - out["z_random"]))
        terms["latent_b"] = self.lambda_latent * torch.mean(torch.abs(out["z_latent_b"] - out["z_random"]))
        loss = sum(terms.values()) + out.get("unused", 0.0)
        return {"loss": loss, **{k: v.detach() for k, v in terms.items()}}

    # ---- inference ---------------------------------------------------------------------------------
    def _device(self) -> torch.device:
        return next(self.gen.parameters()).device

    def _randn(self, n: int, generator: torch.Generator | None, device: torch.device) -> torch.Tensor:
        if generator is None:
            return torch.randn(n, self.nz, device=device)
        return torch.randn(n, self.nz, generator=generator, device=generator.device).to(device)

    @torch.no_grad()
    def encode_attribute(self, images: torch.Tensor, side: str = "b", *, generator: torch.Generator | None = None
                         ) -> torch.Tensor:
        """The attribute of ``images`` of domain ``side`` (``a`` or ``b``), as ``test_forward_transfer``: for
        concat=1 sampled, mu + eps * sigma (so exemplar-guided output is stochastic, as officially; pass a
        ``generator`` to fix eps), for concat=0 the deterministic code. In eval mode."""
        device = self._device()
        with eval_mode(self.enc_a):
            enc = self.enc_a.forward_a if side == "a" else self.enc_a.forward_b
            if not self.concat:
                return enc(images.to(device))
            mu, logvar = enc(images.to(device))
            return self._randn(mu.shape[0], generator, device) * logvar.mul(0.5).exp() + mu

    @torch.no_grad()
    def translate(self, content: torch.Tensor, style_image: torch.Tensor | None = None, z: torch.Tensor | None = None, *,
                  num_styles: int | None = None, direction: str = "a2b", generator: torch.Generator | None = None
                  ) -> torch.Tensor:
        """Translate ``content`` (B x 3 x H x W in [-1, 1], domain A for ``direction='a2b'``, B for ``'b2a'``) as
        ``test.py`` / ``test_transfer.py`` do, in eval mode (no content noise). The attribute comes from ``z``
        (N x nz), or ``num_styles`` draws of N(0, I) (from ``generator`` when given), or the other domain's
        attribute encoder on ``style_image`` (:meth:`encode_attribute`); with none of them, one random
        attribute per content image. Batches pair element-wise; a batch of 1 on either side broadcasts.
        Fully convolutional: the output is 4 * ceil(H / 4) x 4 * ceil(W / 4), no resize inside."""
        if direction not in ("a2b", "b2a"):
            raise ConfigError(f"method 'drit': direction must be 'a2b' (A -> B) or 'b2a' (B -> A), got {direction!r}")
        given = [k for k, v in (("style_image", style_image), ("z", z), ("num_styles", num_styles)) if v is not None]
        if len(given) > 1:
            raise ConfigError(f"method 'drit': translate takes one attribute source, got {' and '.join(given)}; give a "
                              "style image, z, or num_styles")
        device = self._device()
        content = content.to(device)
        with eval_mode(self.enc_c, self.enc_a, self.gen):
            a2b = direction == "a2b"
            code = self.enc_c.forward_a(content) if a2b else self.enc_c.forward_b(content)
            if z is not None:
                if z.ndim != 2 or z.shape[1] != self.nz:
                    raise ConfigError(f"method 'drit': z must be N x {self.nz} (nz), got {tuple(z.shape)}")
                attr = z.to(device=device, dtype=code.dtype)
            elif style_image is not None:
                attr = self.encode_attribute(style_image, "b" if a2b else "a", generator=generator)
            else:
                n = int(num_styles) if num_styles is not None else content.shape[0]
                if n < 1:
                    raise ConfigError(f"method 'drit': num_styles must be >= 1, got {num_styles!r}")
                attr = self._randn(n, generator, device)
            b, n = code.shape[0], attr.shape[0]
            if b != n and 1 not in (b, n):
                raise ConfigError(f"method 'drit': {b} content images and {n} attributes; the batches must match or "
                                  "one of them must be 1")
            if b != n:
                code = code.expand(max(b, n), *code.shape[1:])
                attr = attr.expand(max(b, n), attr.shape[1])
            return self.gen.forward_b(code, attr) if a2b else self.gen.forward_a(code, attr)

    @torch.no_grad()
    def sample_columns(self, batch: Batch) -> list[tuple[str, torch.Tensor]]:
        """``A | A->B (random attr) | A->B (B's attr) | B | B->A (random attr) | B->A (A's attr)``; the random
        attributes and exemplar eps come from a fixed seed, so grids of different steps compare."""
        a, b = batch["source"][0], batch["target"][0]
        n = min(a.shape[0], b.shape[0])
        a, b = a[:n].to(self._device()), b[:n].to(self._device())
        gen = lambda: torch.Generator().manual_seed(0)  # noqa: E731
        return [("A", a), ("A->B (random attr)", self.translate(a, generator=gen())),
                ("A->B (B's attr)", self.translate(a, b, generator=gen())),
                ("B", b), ("B->A (random attr)", self.translate(b, direction="b2a", generator=gen())),
                ("B->A (A's attr)", self.translate(b, a, direction="b2a", generator=gen()))]

    # ---- official checkpoints ------------------------------------------------------------------------
    @classmethod
    def load_official(cls, path: str | os.PathLike, **overrides: Any) -> "DRIT":
        """Build from an official ``.pth`` (``example.pth``, ``train.py``'s ``%05d.pth``, MSGAN's DRIT files):
        ``concat``, ``nz``, ``dim`` and the discriminators' layout are read from the file (``overrides`` win),
        E/G and every discriminator present are loaded strictly, ``ep``/``total_it`` kept in ``official_info``.
        The optimiser states are not read (i2ikit resumes its own runs)."""
        from .official import infer_config, load_into, read_official

        ckpt = read_official(path)
        kwargs = {**infer_config(ckpt, str(path)), **overrides}
        if "dis_scale" in overrides:
            kwargs.pop("discriminator", None)
        model = cls(**kwargs)
        model.official_info = {"file": os.fspath(path), "loaded": load_into(model, ckpt, str(path)),
                               **{k: ckpt[k] for k in ("ep", "total_it") if isinstance(ckpt.get(k), int)}}
        return model
