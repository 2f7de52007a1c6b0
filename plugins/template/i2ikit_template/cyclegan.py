"""A complete two-domain method assembled from registered parts: CycleGAN (Zhu et al., ICCV 2017).

Copy this file to start a method of your own. Everything a method needs is here, top to bottom:
the parts it is built from (a ResNet generator registered below, any registered discriminator and GAN
loss), its recipe keys and their constraints, its networks and optimisers, its training steps, its
translate function and its sample grid. The trainer does the rest (devices, DDP, mixed precision,
accumulation, checkpoints, resume, logging, exports).

Differences from the official CycleGAN code, to keep the template short: no 50-image history pool of
fakes, a constant learning rate (no linear decay), PatchGAN from this plugin and the core's LSGAN by default.
"""
from __future__ import annotations

import itertools
from typing import Any, Mapping

import torch
import torch.nn.functional as F
from torch import nn

from i2ikit.constraints import at_least_one, non_negative, positive
from i2ikit.method import Batch, Losses, Method, TrainStep
from i2ikit.nn import NetworkView, eval_mode
from i2ikit.parts import PartSlot

from ._version import __version__


# ---- a part: the ResNet generator (registered as generator "resnet_generator") ------------------------
class ResnetBlock(nn.Module):
    """``x + conv(relu(norm(conv(x))))`` with reflection padding and instance norm."""

    def __init__(self, ch: int) -> None:
        super().__init__()
        self.block = nn.Sequential(nn.ReflectionPad2d(1), nn.Conv2d(ch, ch, 3), nn.InstanceNorm2d(ch), nn.ReLU(True),
                                   nn.ReflectionPad2d(1), nn.Conv2d(ch, ch, 3), nn.InstanceNorm2d(ch))

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return x + self.block(x)


class ResnetGenerator(nn.Module):
    """CycleGAN's generator: a 7x7 conv, ``n_down`` strided convs, ``n_blocks`` residual blocks, as many
    transposed convs back up, a 7x7 conv to RGB and tanh. ``forward(x) -> image`` in [-1, 1], same size.

    ``ngf``: width of the first conv (doubled at each downsampling); ``n_blocks``: residual blocks (the
    paper: 9 at 256 px, 6 at 128 px); ``n_down``: downsamplings.
    """

    constraints = {"ngf": at_least_one, "n_blocks": non_negative, "n_down": non_negative}

    def __init__(self, ngf: int = 64, n_blocks: int = 9, n_down: int = 2) -> None:
        super().__init__()
        layers: list[nn.Module] = [nn.ReflectionPad2d(3), nn.Conv2d(3, ngf, 7), nn.InstanceNorm2d(ngf), nn.ReLU(True)]
        ch = ngf
        for _ in range(n_down):
            layers += [nn.Conv2d(ch, ch * 2, 3, 2, 1), nn.InstanceNorm2d(ch * 2), nn.ReLU(True)]
            ch *= 2
        layers += [ResnetBlock(ch) for _ in range(n_blocks)]
        for _ in range(n_down):
            layers += [nn.ConvTranspose2d(ch, ch // 2, 3, 2, 1, output_padding=1), nn.InstanceNorm2d(ch // 2), nn.ReLU(True)]
            ch //= 2
        layers += [nn.ReflectionPad2d(3), nn.Conv2d(ch, 3, 7), nn.Tanh()]
        self.model = nn.Sequential(*layers)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.model(x)


# ---- the method -------------------------------------------------------------------------------------
def cycle(method: "CycleGAN", a: torch.Tensor, b: torch.Tensor) -> dict[str, torch.Tensor]:
    """Every generator call of a step in one forward (what the trainer wraps for DDP must be called once
    per backward): both translations, both reconstructions and, when used, both identity mappings."""
    out = {"fake_b": method.G_ab(a), "fake_a": method.G_ba(b)}
    out["rec_a"], out["rec_b"] = method.G_ba(out["fake_b"]), method.G_ab(out["fake_a"])
    if method.lambda_identity > 0:
        out["idt_a"], out["idt_b"] = method.G_ba(a), method.G_ab(b)
    return out


class CycleGAN(Method):
    """Unpaired two-domain translation: generators ``G_ab``/``G_ba``, discriminators ``D_a``/``D_b``, an
    adversarial loss on each domain, L1 cycle consistency (``lambda_cycle``) and identity
    (``lambda_identity`` x ``lambda_cycle``); Adam (``lr``, betas 0.5/0.999). Each data stream is one domain."""

    method_name = "cyclegan"
    plugin_version = __version__
    data_streams = ("source", "target")
    min_classes = {"source": 1, "target": 1}  # a stream is a domain; its labels are not used
    translate_modes = ("direct",)  # translate(content): source -> target, nothing to choose
    tasks = ("two_domain",)  # i2ikit eval: the two-domain protocol
    parts = {
        "generator": PartSlot("generator", "resnet_generator", "both generators (source->target, target->source)"),
        "discriminator": PartSlot("discriminator", "patchgan", "one per domain; no class labels"),
        "gan_loss": PartSlot("gan_loss", "lsgan", "adversarial loss of both domains"),
    }
    constraints = {"lambda_cycle": non_negative, "lambda_identity": non_negative, "lr": positive}

    def __init__(
        self,
        *,
        generator: str | Mapping[str, Any] | None = None,
        discriminator: str | Mapping[str, Any] | None = None,
        gan_loss: str | Mapping[str, Any] | None = None,
        lambda_cycle: float = 10.0,
        lambda_identity: float = 0.5,
        lr: float = 2e-4,
    ) -> None:
        super().__init__()
        self.lambda_cycle, self.lambda_identity, self.lr = float(lambda_cycle), float(lambda_identity), float(lr)
        self.G_ab = self.build_part("generator", generator)
        self.G_ba = self.build_part("generator", generator)
        self.D_a = self.build_part("discriminator", discriminator)
        self.D_b = self.build_part("discriminator", discriminator)
        self.adv = self.build_part("gan_loss", gan_loss)
        # Not a child module (object.__setattr__): the view shares G_ab and G_ba, it must not own them twice.
        object.__setattr__(self, "_generators", NetworkView(self, ["G_ab", "G_ba"], fn=cycle))
        self._fakes: dict[int, tuple[torch.Tensor, torch.Tensor]] = {}  # by batch: what the D step reads

    # what the trainer needs
    def networks(self) -> dict[str, nn.Module]:
        return {"G": self._generators, "D_a": self.D_a, "D_b": self.D_b}

    def make_optimizers(self) -> dict[str, torch.optim.Optimizer]:
        adam = lambda *nets: torch.optim.Adam(itertools.chain(*(n.parameters() for n in nets)), lr=self.lr,  # noqa: E731
                                              betas=(0.5, 0.999))
        return {"G": adam(self.G_ab, self.G_ba), "D": adam(self.D_a, self.D_b)}

    def training_steps(self, iteration: int) -> list[TrainStep]:
        return [TrainStep("gen", self.g_step, trains=("G",), optimizers=("G",)),
                TrainStep("dis", self.d_step, trains=("D_a", "D_b"), optimizers=("D",))]

    # training steps: each returns its losses; "loss" is back-propagated
    def g_step(self, batch: Batch, nets: Mapping[str, nn.Module]) -> Losses:
        a, b = batch["source"][0], batch["target"][0]
        out = nets["G"](a, b)
        self._fakes[id(batch)] = (out["fake_a"].detach(), out["fake_b"].detach())  # the D step of this batch reads them
        g_adv = self.adv.g(nets["D_b"](out["fake_b"]).logits) + self.adv.g(nets["D_a"](out["fake_a"]).logits)
        cyc = F.l1_loss(out["rec_a"], a) + F.l1_loss(out["rec_b"], b)
        loss = g_adv + self.lambda_cycle * cyc
        logs = {"g_adv": g_adv.detach(), "cycle": cyc.detach()}
        if self.lambda_identity > 0:
            idt = F.l1_loss(out["idt_a"], a) + F.l1_loss(out["idt_b"], b)
            loss = loss + self.lambda_cycle * self.lambda_identity * idt
            logs["identity"] = idt.detach()
        return {"loss": loss, **logs}

    def d_step(self, batch: Batch, nets: Mapping[str, nn.Module]) -> Losses:
        a, b = batch["source"][0], batch["target"][0]
        fakes = self._fakes.pop(id(batch), None)
        if fakes is None:  # run on its own: translate here
            with torch.no_grad():
                fakes = (self.G_ba(b), self.G_ab(a))
        fake_a, fake_b = fakes
        n = a.shape[0]
        logits_a, logits_b = nets["D_a"](torch.cat([a, fake_a])).logits, nets["D_b"](torch.cat([b, fake_b])).logits
        d_real = self.adv.d_real(logits_a[:n]) + self.adv.d_real(logits_b[:n])
        d_fake = self.adv.d_fake(logits_a[n:]) + self.adv.d_fake(logits_b[n:])
        return {"loss": 0.5 * (d_real + d_fake), "d_real": d_real.detach(), "d_fake": d_fake.detach()}

    # inference
    @torch.no_grad()
    def translate(self, content: torch.Tensor) -> torch.Tensor:
        """Source-domain images (B x 3 x H x W in [-1, 1]) into the target domain."""
        with eval_mode(self.G_ab):
            return self.G_ab(content.to(next(self.G_ab.parameters()).device))

    @torch.no_grad()
    def sample_columns(self, batch: Batch) -> list[tuple[str, torch.Tensor]]:
        a, b = batch["source"][0], batch["target"][0]
        with eval_mode(self.G_ab, self.G_ba):
            fake_b, fake_a = self.G_ab(a), self.G_ba(b)
            return [("source", a), ("to target", fake_b), ("back", self.G_ba(fake_b)),
                    ("target", b), ("to source", fake_a)]
