"""MUNIT (Huang, Liu, Belongie, Kautz, ECCV 2018) as an i2ikit method, faithful to NVlabs/MUNIT's trainer.

Per iteration, as ``train.py``: the lr schedule, then one discriminator step, then one generator step on the
same batch (domain A from stream ``source``, B from ``target``). Losses, weights, optimisers, schedule and
initialisation are the official ones; see ``docs/methods/munit.md``.
"""
from __future__ import annotations

import itertools
import os
from pathlib import Path
from typing import Any, Mapping

import torch
import torch.nn.functional as F
from torch import nn

from i2ikit.constraints import OneOf, Range, at_least_one, non_negative, positive
from i2ikit.errors import ConfigError
from i2ikit.losses import InstanceNormVGGLoss, LazyLoss, per_scale
from i2ikit.method import Batch, Losses, Method, TrainStep
from i2ikit.nn import NetworkView, eval_mode, init_weights
from i2ikit.parts import PartSlot
from i2ikit.two_domain import is_a2b, pair, random_styles, step_decay

from ._version import __version__
from .official import load_pair, read_pair, gen_settings, save_pair

# MUNIT's weights_init names, mapped to i2ikit.nn.init_weights (Conv*/Linear* weights, biases 0).
INITS = ("gaussian", "kaiming", "xavier", "orthogonal", "default")
MSIMAGE_DIS = {"num_scales": 3, "discriminator": "munit_patch"}  # MsImageDis: 3 scales of munit_patch


def munit_init(module: nn.Module, init: str) -> None:
    """``utils.weights_init(init)``: gaussian N(0, 0.02), kaiming (normal, fan_in), xavier / orthogonal with
    gain sqrt(2), or ``default`` (PyTorch's); biases set to 0 except for ``default``."""
    if init == "gaussian":
        init_weights(module, "normal", 0.02)
    elif init in ("xavier", "orthogonal"):
        init_weights(module, init, 2 ** 0.5)
    elif init == "kaiming":
        init_weights(module, "kaiming")
    elif init != "default":
        raise ConfigError(f"init must be one of {', '.join(INITS)}, got {init!r}")


def munit_forward(method: "MUNIT", x_a: torch.Tensor, x_b: torch.Tensor, s_a: torch.Tensor, s_b: torch.Tensor,
                  cycle: bool) -> dict[str, torch.Tensor]:
    """Every generator call of ``gen_update`` in one forward (what the trainer wraps for DDP is called once)."""
    ga, gb = method.gen_a, method.gen_b
    c_a, s_a_prime = ga.encode(x_a)
    c_b, s_b_prime = gb.encode(x_b)
    out = {"c_a": c_a, "c_b": c_b, "x_a_recon": ga.decode(c_a, s_a_prime), "x_b_recon": gb.decode(c_b, s_b_prime),
           "x_ba": ga.decode(c_b, s_a), "x_ab": gb.decode(c_a, s_b)}
    out["c_b_recon"], out["s_a_recon"] = ga.encode(out["x_ba"])
    out["c_a_recon"], out["s_b_recon"] = gb.encode(out["x_ab"])
    if cycle:  # the style-augmented cycle uses each image's own encoded style
        out["x_aba"] = ga.decode(out["c_a_recon"], s_a_prime)
        out["x_bab"] = gb.decode(out["c_b_recon"], s_b_prime)
    return out


def munit_translations(method: "MUNIT", x_a: torch.Tensor, x_b: torch.Tensor, s_a: torch.Tensor,
                       s_b: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
    """``(x_ba, x_ab)`` with random styles: the fakes of ``dis_update``."""
    c_a, _ = method.gen_a.encode(x_a)
    c_b, _ = method.gen_b.encode(x_b)
    return method.gen_a.decode(c_b, s_a), method.gen_b.decode(c_a, s_b)


class MUNITFamily(Method):
    """What MUNIT's and UNIT's official trainers share (``trainer.py`` holds both): two generators
    ``gen_a``/``gen_b`` and two discriminators ``dis_a``/``dis_b`` built from the method's part slots, the
    initialisation, the two Adams, the step lr schedule, the step order (D, then G) and the LSGAN
    discriminator loss summed over scales. Subclasses set ``parts`` and write ``gen_update`` and the fakes."""

    def _build_shared(self, *, generator: Any, discriminator: Any, gan_loss: Any, forward: Any, init: str, lr: float,
                      beta1: float, beta2: float, weight_decay: float, lr_policy: str, step_size: int, gamma: float,
                      vgg_w: float, vgg_weights: str | None) -> None:
        self.lr, self.betas, self.weight_decay = float(lr), (float(beta1), float(beta2)), float(weight_decay)
        self.lr_policy, self.step_size, self.gamma = lr_policy, int(step_size), float(gamma)
        if vgg_w > 0 and vgg_weights is None:
            raise ConfigError(f"method {self.method_name!r}: vgg_w > 0 needs vgg_weights: the vgg16.weight file the "
                              "official train.py converts (docs/weights.md), or vgg_w: 0")
        self.gen_a = self.build_part("generator", generator)
        self.gen_b = self.build_part("generator", generator)
        self.dis_a = self.build_part("discriminator", discriminator)
        self.dis_b = self.build_part("discriminator", discriminator)
        self.adv = self.build_part("gan_loss", gan_loss)
        # As the official trainer: init on everything, then the discriminators re-initialised gaussian.
        for net in (self.gen_a, self.gen_b, self.dis_a, self.dis_b):
            munit_init(net, init)
        for net in (self.dis_a, self.dis_b):
            munit_init(net, "gaussian")
        self.vgg = LazyLoss((lambda: InstanceNormVGGLoss(vgg_weights)) if vgg_w > 0 else None)
        object.__setattr__(self, "_gens", NetworkView(self, ["gen_a", "gen_b"], fn=forward))

    # ---- what the trainer needs ------------------------------------------------------------------
    def networks(self) -> dict[str, nn.Module]:
        return {"gen": self._gens, "dis_a": self.dis_a, "dis_b": self.dis_b}

    def make_optimizers(self) -> dict[str, torch.optim.Optimizer]:
        def adam(*nets: nn.Module) -> torch.optim.Optimizer:  # a weight shared by both (UNIT's option) appears once
            params = list({id(p): p for p in itertools.chain(*(n.parameters() for n in nets)) if p.requires_grad}.values())
            return torch.optim.Adam(params, lr=self.lr, betas=self.betas, weight_decay=self.weight_decay)

        return {"gen": adam(self.gen_a, self.gen_b), "dis": adam(self.dis_a, self.dis_b)}

    def lr_factor(self, optimizer: str, iteration: int) -> float:
        return step_decay(iteration, self.step_size, self.gamma) if self.lr_policy == "step" else 1.0

    def training_steps(self, iteration: int) -> list[TrainStep]:
        return [TrainStep("dis", self.dis_update, trains=("dis_a", "dis_b"), optimizers=("dis",)),
                TrainStep("gen", self.gen_update, trains=("gen",), optimizers=("gen",))]

    def fakes(self, x_a: torch.Tensor, x_b: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        """``(x_ba, x_ab)`` for the discriminator step (no gradients)."""
        raise NotImplementedError

    def gen_update(self, batch: Batch, nets: Mapping[str, nn.Module]) -> Losses:
        raise NotImplementedError

    def dis_update(self, batch: Batch, nets: Mapping[str, nn.Module]) -> Losses:
        x_a, x_b = batch["source"][0], batch["target"][0]
        with torch.no_grad():
            x_ba, x_ab = self.fakes(x_a, x_b)
        n = x_ba.shape[0]
        losses = {}
        for name, fake, real in (("a", x_ba, x_a), ("b", x_ab, x_b)):
            dis = nets[f"dis_{name}"]
            logits = dis(torch.cat([fake, real])).logits  # one forward per step (DDP)
            losses[name] = per_scale(self.adv.d_fake, dis, logits[:n]) + per_scale(self.adv.d_real, dis, logits[n:])
        return {"loss": self.gan_w * (losses["a"] + losses["b"]), "loss_dis_a": losses["a"].detach(),
                "loss_dis_b": losses["b"].detach()}

    def adversarial(self, nets: Mapping[str, nn.Module], x_ba: torch.Tensor, x_ab: torch.Tensor) -> torch.Tensor:
        """The generators' LSGAN loss on both domains, summed over scales."""
        return (per_scale(self.adv.g, nets["dis_a"], nets["dis_a"](x_ba).logits)
                + per_scale(self.adv.g, nets["dis_b"], nets["dis_b"](x_ab).logits))

    # ---- official files ----------------------------------------------------------------------------
    def write_export_files(self, directory: Path) -> None:
        """``gen.pt`` / ``dis.pt`` in the official ``{'a', 'b'}`` format, for the official ``test.py``."""
        save_pair(directory / "gen.pt", self.gen_a, self.gen_b)
        save_pair(directory / "dis.pt", self.dis_a, self.dis_b, dis=True)

    @classmethod
    def load_official(cls, path: str | os.PathLike, **overrides: Any) -> "MUNITFamily":
        """Build from an official ``gen_XXXXXXXX.pt`` ``{'a', 'b'}`` file (or a released one); the generator settings
        are read from its shapes, PyTorch 0.3 IN statistics are dropped as ``test.py`` does.
        ``dis=<dis_XXXXXXXX.pt>`` also loads the discriminators."""
        dis_file = overrides.pop("dis", None)
        what = f"{cls.method_name.upper()} generator"
        sd_a, _ = read_pair(path, what)
        spec = {**gen_settings(sd_a, munit=cls.method_name == "munit", source=str(path)),
                **dict(overrides.pop("generator", None) or {})}
        model = cls(generator=spec, **overrides)
        load_pair(path, model.gen_a, model.gen_b, what)
        if dis_file is not None:
            load_dis(dis_file, model.dis_a, model.dis_b)
        return model


class MUNIT(MUNITFamily):
    """Multimodal unsupervised translation: per domain an AdaIN auto-encoder (``gen_a``/``gen_b``: content and
    style encoders, AdaIN decoder) and a multi-scale LSGAN discriminator (``dis_a``/``dis_b``).

    Parts (official defaults): ``generator`` (``munit_generator``: dim 64, style_dim 8, mlp_dim 256,
    n_downsample 2, n_res 4, relu, reflect: the config's ``gen:``), ``discriminator`` (``multiscale`` of 3
    ``munit_patch`` scales: dim 64, n_layer 4, norm none, lrelu, reflect: ``dis:``), ``gan_loss`` (``lsgan``,
    summed over the scales).

    - ``gan_w`` 1, ``recon_x_w`` 10, ``recon_s_w`` 1, ``recon_c_w`` 1: adversarial, image, style and content
      reconstruction weights (all L1 as a mean).
    - ``recon_x_cyc_w``: the style-augmented cycle (0 in edges2shoes, 10 in summer2winter).
    - ``vgg_w`` (0) with ``vgg_weights`` (the converted ``vgg16.weight``): the domain-invariant perceptual loss.
    - ``lr`` 1e-4, ``beta1`` 0.5, ``beta2`` 0.999, ``weight_decay`` 1e-4: both Adams.
    - ``lr_policy`` (``step`` or ``constant``), ``step_size`` 100000, ``gamma`` 0.5: StepLR stepped before each
      iteration.
    - ``init`` (``kaiming``): the generators' init; the discriminators get ``gaussian``, as the trainer does.
    """

    method_name = "munit"
    plugin_version = __version__
    data_streams = ("source", "target")  # domain A, domain B
    min_classes = {"source": 1, "target": 1}
    translate_modes = ("style", "num_styles")
    tasks = ("two_domain",)
    parts = {
        "generator": PartSlot("generator", "munit_generator", "one AdaIN auto-encoder per domain (encode, decode)",
                              requires=("encode", "decode")),
        "discriminator": PartSlot("discriminator", "multiscale", "one per domain (MsImageDis: 3 scales of munit_patch)",
                                  defaults=MSIMAGE_DIS),
        "gan_loss": PartSlot("gan_loss", "lsgan", "adversarial loss, summed over the discriminator's scales"),
    }
    constraints = {"gan_w": non_negative, "recon_x_w": non_negative, "recon_s_w": non_negative, "recon_c_w": non_negative,
                   "recon_x_cyc_w": non_negative, "vgg_w": non_negative, "lr": positive, "beta1": Range(ge=0, lt=1),
                   "beta2": Range(ge=0, lt=1), "weight_decay": non_negative, "lr_policy": OneOf(("step", "constant")),
                   "step_size": at_least_one, "gamma": positive, "init": OneOf(INITS)}

    def __init__(
        self,
        *,
        generator: str | Mapping[str, Any] | None = None,
        discriminator: str | Mapping[str, Any] | None = None,
        gan_loss: str | Mapping[str, Any] | None = None,
        gan_w: float = 1.0,
        recon_x_w: float = 10.0,
        recon_s_w: float = 1.0,
        recon_c_w: float = 1.0,
        recon_x_cyc_w: float = 0.0,
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
    ) -> None:
        super().__init__()
        self.gan_w = float(gan_w)
        self.w = {"gan": float(gan_w), "recon_x": float(recon_x_w), "recon_s": float(recon_s_w),
                  "recon_c": float(recon_c_w), "cycrecon_x": float(recon_x_cyc_w), "vgg": float(vgg_w)}
        self._build_shared(generator=generator, discriminator=discriminator, gan_loss=gan_loss, forward=munit_forward,
                           init=init, lr=lr, beta1=beta1, beta2=beta2, weight_decay=weight_decay, lr_policy=lr_policy,
                           step_size=step_size, gamma=gamma, vgg_w=vgg_w, vgg_weights=vgg_weights)
        self.style_dim = int(self.gen_a.style_dim)

    def _styles(self, x: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        shape = (self.style_dim, 1, 1)
        return (random_styles(x.shape[0], shape, device=x.device, dtype=x.dtype),
                random_styles(x.shape[0], shape, device=x.device, dtype=x.dtype))

    def fakes(self, x_a: torch.Tensor, x_b: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        s_a, s_b = self._styles(x_a)  # fresh styles, as dis_update draws them
        return munit_translations(self, x_a, x_b, s_a, s_b)

    def gen_update(self, batch: Batch, nets: Mapping[str, nn.Module]) -> Losses:
        x_a, x_b = batch["source"][0], batch["target"][0]
        s_a, s_b = self._styles(x_a)
        out = nets["gen"](x_a, x_b, s_a, s_b, self.w["cycrecon_x"] > 0)
        terms = {
            "recon_x": F.l1_loss(out["x_a_recon"], x_a) + F.l1_loss(out["x_b_recon"], x_b),
            "recon_s": F.l1_loss(out["s_a_recon"], s_a) + F.l1_loss(out["s_b_recon"], s_b),
            "recon_c": F.l1_loss(out["c_a_recon"], out["c_a"]) + F.l1_loss(out["c_b_recon"], out["c_b"]),
            "gan": self.adversarial(nets, out["x_ba"], out["x_ab"]),
        }
        if self.w["cycrecon_x"] > 0:
            terms["cycrecon_x"] = F.l1_loss(out["x_aba"], x_a) + F.l1_loss(out["x_bab"], x_b)
        if self.w["vgg"] > 0:  # x_ba against x_b and x_ab against x_a, as the official code
            terms["vgg"] = self.vgg(out["x_ba"], x_b) + self.vgg(out["x_ab"], x_a)
        loss = sum(self.w[k] * v for k, v in terms.items())
        return {"loss": loss, **{f"loss_gen_{k}": v.detach() for k, v in terms.items()}}

    # ---- inference ---------------------------------------------------------------------------------
    @torch.no_grad()
    def translate(self, content: torch.Tensor, style_image: torch.Tensor | None = None, z: torch.Tensor | None = None, *,
                  num_styles: int | None = None, direction: str = "a2b", generator: torch.Generator | None = None) -> torch.Tensor:
        """As ``test.py``: the content code of the source domain's encoder, decoded by the other domain's
        generator with an exemplar's style (``style_image``: the target-domain style encoder), given codes
        (``z``: N x style_dim), or ``num_styles`` draws of N(0, I) (default: one per content image).
        ``direction``: ``a2b`` or ``b2a``. Images B x 3 x H x W in [-1, 1] (H, W multiples of 4)."""
        src, dst = (self.gen_a, self.gen_b) if is_a2b(direction, self.method_name) else (self.gen_b, self.gen_a)
        device = next(src.parameters()).device
        given = [k for k, v in (("style_image", style_image), ("z", z), ("num_styles", num_styles)) if v is not None]
        if len(given) > 1:
            raise ConfigError(f"method 'munit': translate takes one style source, got {', '.join(given)}")
        with eval_mode(src, dst):
            c, _ = src.encode(content.to(device))
            if style_image is not None:
                _, s = dst.encode(style_image.to(device))
            elif z is not None:
                s = z.to(device).reshape(z.shape[0], self.style_dim, 1, 1)
            else:
                s = random_styles(num_styles or c.shape[0], (self.style_dim, 1, 1), device=device, generator=generator)
            c, s = pair(c, s, self.method_name)
            return dst.decode(c, s)

    @torch.no_grad()
    def sample_columns(self, batch: Batch) -> list[tuple[str, torch.Tensor]]:
        x_a, x_b = batch["source"][0], batch["target"][0]
        n = min(x_a.shape[0], x_b.shape[0])
        x_a, x_b = x_a[:n], x_b[:n]
        gen = torch.Generator().manual_seed(0)  # fixed display styles, as the official trainer's
        with eval_mode(self.gen_a, self.gen_b):
            return [("A", x_a), ("A recon", self.gen_a(x_a)),
                    ("A->B random", self.translate(x_a, num_styles=n, generator=gen)),
                    ("A->B style of B", self.translate(x_a, x_b)),
                    ("B", x_b), ("B recon", self.gen_b(x_b)),
                    ("B->A random", self.translate(x_b, num_styles=n, direction="b2a", generator=gen)),
                    ("B->A style of A", self.translate(x_b, x_a, direction="b2a"))]


def load_dis(path: str | os.PathLike, dis_a: nn.Module, dis_b: nn.Module) -> None:
    """An official ``dis_XXXXXXXX.pt`` into two multi-scale discriminators (``cnns.`` -> ``scales.``)."""
    from i2ikit.checkpoint_files import load_state_dict_checked

    from .official import dis_from_official

    sd_a, sd_b = read_pair(path, "discriminator")
    for name, net, sd in (("a", dis_a, sd_a), ("b", dis_b, sd_b)):
        load_state_dict_checked(net, dis_from_official(sd), source=str(path), part=f"discriminator '{name}'")
