"""The GP-UNIT Stage-II translation method (Yang et al., CVPR 2022) as the i2ikit trainer sees it.

Training follows the official ``train.py`` (``williamyang1991/GP-UNIT`` at ``d59695e``, behaviour
re-implemented, nothing copied):

- a **frozen** Stage-I content encoder ``E`` (``content_encoder=<content_encoder.pt>``; parameters never
  receive gradients, but it stays in training mode, so its spectral-norm ``u``/``v`` buffers keep
  updating, as officially; the trainer checkpoints them via :meth:`extra_state_modules`);
- per iteration a source batch ``x`` and a target batch ``y``; the style input ``y_`` is ``y`` flipped
  horizontally (whole batch) with probability 0.5 unless ``flip_style=False`` (``--not_flip_style``);
- **G step first** (official order): ``yhat, masks = G(E(x), y_)``, ``ybar = G(E(y), y_,
  use_skip=use_allskip)``; D called once on ``cat([yhat, y])`` at ``style_layer``;
  ``L = BCE(D(yhat), 1) + lambda_content * L1(E(yhat), c6(x)) + lambda_style * L1(f_D(yhat), f_D(y).detach())
  + lambda_mask * sum_masks mean(m) + lambda_reconstruction * (L1(ybar, y) + VGG(ybar, y))``, plus with
  ``use_idloss`` ``lambda_id * mean(1 - cos(ArcFace(yhat), ArcFace(y)))`` (identity of the *target* image y;
  official ``model/arcface/id_loss.py``, :class:`~i2ikit_gpunit.arcface.IDLoss`);
- **D step**: ``yhat`` regenerated without gradients by the just-updated G from the same ``E(x)`` and
  ``y_``; ``BCE(D(y), 1) + BCE(D(yhat), 0) + R1`` with ``R1 = 0.5 * mean_i ||d D(y_i) / d y_i||^2``
  (StarGAN-v2's ``r1_reg``), D called once on ``cat([yhat, y])``;
- Adam for G and D: lr 1e-4, betas (0, 0.99), weight decay 1e-4; EMA of G (parameters) with 0.999.

Domains: the trainer draws two independent streams, ``source`` and ``target``, from one labelled data
source. Images whose label is in ``source_classes`` form the source domain, those in
``target_classes`` (``None``: every other class) the target domain; each stream contributes the images of
its own domain (see :meth:`GPUNIT.split_domains`). When the two streams have datasets of their own
(``data.streams.<name>: {type: ...}``, e.g. AFHQ dogs and CelebA-HQ faces in different folders, each
numbering its labels from 0), ``domains_from_streams=True`` makes the ``source`` stream the source domain
and the ``target`` stream the target domain, without looking at labels.
"""
from __future__ import annotations

import copy
import functools
import os
import warnings
from pathlib import Path
from typing import Any, Mapping, Sequence

import torch
import torch.nn.functional as F
from torch import nn

from i2ikit.constraints import OneOf, Range, at_least_one, non_negative, positive, unit_interval
from i2ikit.errors import ConfigError, MissingFileError
from i2ikit.losses import r1_penalty
from i2ikit.method import Batch, EMASpec, ExportData, Losses, Method, TrainStep
from i2ikit.nn import NetworkView, eval_mode
from i2ikit.parts import PartSlot, probe_discriminator

from ._version import __version__
from .networks import Generator, Sampler, translate as _translate
from .official import (
    infer_content_encoder_config,
    infer_generator_config,
    infer_sampler_config,
    load_content_encoder,
    load_translation_model,
    read_checkpoint,
    save_content_encoder,
    save_translation_model,
)
from .losses import LazyLoss, VGGPerceptualLoss, resolve_ir_se50, resolve_vgg19
from .sampler_fit import collect_style_codes, fit_sampler as _fit_sampler, mitigate_style_bias as _mitigate

__all__ = ["GPUNIT", "VGGPerceptualLoss", "generator_view", "resolve_ir_se50", "resolve_vgg19"]

# Training sizes the recipe validator accepts (the networks take any power of two >= 64).
IMG_SIZES = (64, 128, 256, 512, 1024)



def _id_loss(weights: str) -> nn.Module:
    from .arcface import IDLoss

    return IDLoss(resolve_ir_se50(weights))


def _used_parts(generator: Generator) -> nn.Module:
    """A container holding the generator's modules that take part in training, under G's own names:
    everything except the ``rgblayer`` of levels 0..4 (officially computed at every level but only the
    last level's RGB is the output, so those convs never get a gradient and keep their init). Keeping them
    out lets DDP run with ``find_unused_parameters=False``; the EMA is applied over the same parts."""
    root = nn.Module()
    root.add_module("style_encoder", generator.style_encoder)
    model = nn.Module()
    last = len(generator.model) - 1
    for i, layer in enumerate(generator.model):
        level = nn.Module()
        for name, child in layer.named_children():
            if name == "rgblayer" and i < last:
                continue
            level.add_module(name, child)
        model.add_module(str(i), level)
    root.add_module("model", model)
    return root


def both_generator_calls(owner: Generator, cfeat_x: Sequence[torch.Tensor], cfeat_y: Sequence[torch.Tensor] | None,
                         style: torch.Tensor, use_allskip: bool = False
                         ) -> tuple[torch.Tensor, list[torch.Tensor], torch.Tensor | None]:
    """The generator view's forward: both Stage-II generator calls in one, so DDP sees one forward per
    backward: the translation ``(yhat, masks)`` and, with ``cfeat_y``, the reconstruction ``ybar``."""
    yhat, masks = owner(cfeat_x, style)
    ybar = None
    if cfeat_y is not None:
        ybar, _ = owner(cfeat_y if use_allskip else cfeat_y[0], style, use_skip=use_allskip)
    return yhat, masks, ybar


def generator_view(generator: Generator) -> NetworkView:
    """What the trainer wraps for G: the trained parts of G (:func:`_used_parts`) under G's names, running
    :func:`both_generator_calls`."""
    return NetworkView(generator, dict(_used_parts(generator).named_children()), fn=both_generator_calls)


def _class_list(value: int | Sequence[int] | None, what: str) -> list[int] | None:
    if value is None:
        return None
    items = [value] if isinstance(value, int) else list(value)
    try:
        out = [int(v) for v in items]
    except (TypeError, ValueError):
        raise ConfigError(f"method 'gpunit': {what} must be a class index or a list of class indices, got {value!r}") from None
    if not out:
        raise ConfigError(f"method 'gpunit': {what} is empty; give at least one class index")
    return out


class GPUNIT(Method):
    """GP-UNIT Stage II: frozen content encoder ``E``, generator ``G`` (dynamic skips, AdaIN), discriminator
    ``D`` (non-saturating GAN, R1, feature-mean style loss), EMA generator ``G_ema`` and the latent
    sampler (exported with the model; fitted before every training export, see :meth:`before_export`).

    Hyper-parameters (keyword-only; defaults = official ``train.py``):

    - ``content_encoder``: path to the Stage-I ``content_encoder.pt`` (read at construction only,
      ``init_only``). ``None`` keeps a random (Kaiming) encoder: for smoke runs only, a warning says so.
    - ``img_size`` (256): training size; sets D's depth and the encoder's input resize. ``nef``/``ngf``
      (64): encoder / generator width (must be equal for the skips).
    - ``discriminator`` (``gpunit_discriminator``, width ``nf`` 64; any registered discriminator that
      works without labels, e.g. ``{name: funit_patch, nf: 32}``) and ``gan_loss`` (``nonsaturating``):
      the parts. ``style_layer`` indexes the discriminator's ``features`` (1-based).
      ``style_dim`` (256), ``style_nef`` (64): the generator's style encoder; ``noise_dim`` (128): sampler input.
    - ``style_layer`` (4; 5 for faces), ``use_allskip`` (False), ``flip_style`` (True; official flag
      ``--not_flip_style`` = False).
    - ``use_idloss`` (False; official ``--use_idloss``, for Cat/Dog -> Face and Face -> MetFace): adds
      ``lambda_id`` (1) x the ArcFace identity loss between the translation and the **target** image ``y``
      (:class:`~i2ikit_gpunit.arcface.IDLoss`: frozen IR-SE50 in eval mode, face crop ``[35:223, 32:220]``
      of the 256 px image, logged as ``id``). ``id_weights``: TreB1eN's ``model_ir_se50.pth`` (a path, or
      ``auto``: the weights folders of docs/weights.md), loaded lazily at the first step; unused otherwise.
    - ``lambda_content`` 1, ``lambda_style`` 50, ``lambda_mask`` 1, ``lambda_reconstruction`` 1,
      ``lambda_adv`` 1, ``lambda_r1`` 1 (the R1 term already carries the official 0.5).
    - ``lr`` 1e-4, ``betas`` (0, 0.99), ``weight_decay`` 1e-4, ``ema_decay`` 0.999.
    - ``vgg_weights``: local torchvision ``vgg19-dcbb9e9d.pth`` (a path, or ``auto``: the weights folders of
      docs/weights.md) for the reconstruction's VGG term
      (loaded lazily at the first step). ``None`` drops the VGG term (not faithful; warns once).
    - ``source_classes`` (0) / ``target_classes`` (``None``: every class not in ``source_classes``, i.e.
      class 1 of a two-class folder): which dataset labels form the two domains.
    - ``domains_from_streams`` (False): the ``source`` stream is the source domain and the ``target`` stream
      the target domain, labels ignored (``source_classes``/``target_classes`` are then unused): for streams
      with datasets of their own (``data.streams.<name>: {type: ...}``), whose labels all start at 0.
    - ``fit_sampler`` (True): fit a fresh latent sampler on ``G_ema``'s style codes of the target training
      images before every training export, as the official code does at every save (``train_sampler``).
      ``sampler_epochs`` (``None``: the official ``int(2e6 / N)`` for N codes) sets its epochs;
      ``mitigate_style_bias`` (False; official flag ``--mitigate_style_bias``) over-samples the rare codes
      first (:func:`i2ikit_gpunit.sampler_fit.mitigate_style_bias`).
    """

    method_name = "gpunit"
    plugin_version = __version__
    data_streams = ("source", "target")
    init_only = ("content_encoder",)
    # Each stream is one domain: a single class per stream is the normal case.
    min_classes = {"source": 1, "target": 1}
    translate_modes = ("style", "num_styles")
    tasks = ("two_domain",)
    parts = {
        "encoder": PartSlot("encoder", "gpunit_content_encoder", "the frozen Stage-I content encoder (its file: "
                            "content_encoder)", supplies=("nef", "input_size", "init")),
        "generator": PartSlot("generator", "gpunit_generator", "dynamic-skip AdaIN generator with its style encoder",
                              supplies=("ngf", "style_dim", "style_nef", "init")),
        "discriminator": PartSlot("discriminator", "gpunit_discriminator", "real/fake on the target domain; its "
                                  "features[style_layer - 1] give the style loss", supplies=("img_size",)),
        "gan_loss": PartSlot("gan_loss", "nonsaturating", "adversarial loss of both steps (R1 is added on real images)"),
    }
    constraints = {
        # A power of two >= 64 (the content code is img_size/32 square); checked exactly when built.
        "img_size": OneOf(IMG_SIZES),
        "nef": at_least_one,
        "ngf": at_least_one,
        "style_dim": at_least_one,
        "style_nef": at_least_one,
        "noise_dim": at_least_one,
        "style_layer": at_least_one,  # at most the discriminator's number of features (checked when built)
        "lambda_id": non_negative,
        "lambda_adv": non_negative,
        "lambda_content": non_negative,
        "lambda_style": non_negative,
        "lambda_mask": non_negative,
        "lambda_reconstruction": non_negative,
        "lambda_r1": non_negative,
        "lr": positive,
        "betas": Range(ge=0, lt=1),  # torch's Adam refuses a beta of 1
        "weight_decay": non_negative,
        "ema_decay": unit_interval,
        "source_classes": non_negative,
        "target_classes": non_negative,
        "sampler_epochs": non_negative,
    }

    def __init__(
        self,
        *,
        content_encoder: str | None = None,
        img_size: int = 256,
        nef: int = 64,
        ngf: int = 64,
        style_dim: int = 256,
        style_nef: int = 64,
        noise_dim: int = 128,
        style_layer: int = 4,
        use_allskip: bool = False,
        flip_style: bool = True,
        use_idloss: bool = False,
        lambda_id: float = 1.0,
        id_weights: str | None = "auto",
        lambda_adv: float = 1.0,
        lambda_content: float = 1.0,
        lambda_style: float = 50.0,
        lambda_mask: float = 1.0,
        lambda_reconstruction: float = 1.0,
        lambda_r1: float = 1.0,
        lr: float = 1e-4,
        betas: tuple[float, float] = (0.0, 0.99),
        weight_decay: float = 1e-4,
        ema_decay: float = 0.999,
        vgg_weights: str | None = None,
        source_classes: int | list[int] = 0,
        target_classes: int | list[int] | None = None,
        domains_from_streams: bool = False,
        fit_sampler: bool = True,
        sampler_epochs: int | None = None,
        mitigate_style_bias: bool = False,
        encoder: str | Mapping[str, Any] | None = None,
        generator: str | Mapping[str, Any] | None = None,
        discriminator: str | Mapping[str, Any] | None = None,
        gan_loss: str | Mapping[str, Any] | None = None,
    ) -> None:
        super().__init__()
        if nef != ngf:
            raise ConfigError(f"method 'gpunit': nef ({nef}) and ngf ({ngf}) must be equal: the dynamic skips take the "
                              "encoder's c4/c3")
        if use_idloss and id_weights is None:
            raise ConfigError("method 'gpunit': use_idloss needs id_weights: TreB1eN's model_ir_se50.pth (a path, or auto; "
                              "docs/weights.md)")
        if img_size < 64 or img_size & (img_size - 1):
            raise ConfigError(f"method 'gpunit': img_size must be a power of two >= 64 (the content code is img_size/32 "
                              f"square and instance-normalised), got {img_size}")
        if len(tuple(betas)) != 2:
            raise ConfigError(f"method 'gpunit': betas must be two numbers, got {betas!r}")
        self.img_size, self.style_layer = int(img_size), int(style_layer)
        self.use_allskip, self.flip_style = bool(use_allskip), bool(flip_style)
        self.lambda_adv, self.lambda_content, self.lambda_style = float(lambda_adv), float(lambda_content), float(lambda_style)
        self.lambda_mask, self.lambda_reconstruction, self.lambda_r1 = float(lambda_mask), float(lambda_reconstruction), float(lambda_r1)
        self.lr, self.betas, self.weight_decay = float(lr), (float(betas[0]), float(betas[1])), float(weight_decay)
        self.ema_decay = float(ema_decay)
        self.vgg_weights = vgg_weights
        self.use_idloss, self.lambda_id, self.id_weights = bool(use_idloss), float(lambda_id), id_weights
        self.domains_from_streams = bool(domains_from_streams)
        self.source_classes = _class_list(source_classes, "source_classes")
        self.target_classes = _class_list(target_classes, "target_classes")
        if self.target_classes is not None and set(self.source_classes) & set(self.target_classes):
            raise ConfigError(f"method 'gpunit': source_classes {self.source_classes} and target_classes "
                              f"{self.target_classes} overlap; a class belongs to one domain")
        if sampler_epochs is not None and int(sampler_epochs) < 0:
            raise ConfigError(f"method 'gpunit': sampler_epochs must be >= 0 or null (official int(2e6 / N)), got "
                              f"{sampler_epochs}")
        self.fit_sampler = bool(fit_sampler)
        self.sampler_epochs = None if sampler_epochs is None else int(sampler_epochs)
        self.mitigate_style_bias = bool(mitigate_style_bias)
        self.sampler_fit_info: dict[str, Any] | None = None

        # Children in export order. E: frozen; official training builds it then loads the file.
        self.content_encoder = self.build_part("encoder", encoder, nef=nef, input_size=img_size, init="kaiming")
        self.G = self.build_part("generator", generator, ngf=ngf, style_dim=style_dim, style_nef=style_nef, init="kaiming")
        self.D = self.build_part("discriminator", discriminator, img_size=img_size)
        self._check_style_layer()
        self.adv_loss = self.build_part("gan_loss", gan_loss)
        self.G_ema = copy.deepcopy(self.G).requires_grad_(False)
        self.sampler = Sampler(noise_dim, style_dim)
        if content_encoder is not None:
            load_content_encoder(content_encoder, self.content_encoder)
        self.content_encoder.requires_grad_(False)
        self.sampler.requires_grad_(False)
        self._from_random_encoder = content_encoder is None
        self._views = {"G": generator_view(self.G)}
        # EMA target: G_ema's parts that match the view's (the dead RGB convs are equal in G and G_ema).
        object.__setattr__(self, "_G_ema_parts", _used_parts(self.G_ema))
        self._pending: dict[int, tuple] = {}
        self._last_domain: dict[str, torch.Tensor] = {}
        # Loss networks, built at the first step, are kept outside the module tree (object.__setattr__), so
        # they are not exported, not checkpointed and not put in training mode with the method.
        self._vgg = LazyLoss(None if vgg_weights is None else functools.partial(VGGPerceptualLoss, vgg_weights),
                             "GP-UNIT: vgg_weights is null, the VGG19 term of the reconstruction loss is left out "
                             "(the official loss is L1 + VGG)")
        self._idloss = LazyLoss(functools.partial(_id_loss, id_weights) if use_idloss else None)
        self._warned: set[str] = set()

    def _check_style_layer(self) -> None:
        """``style_layer`` must name one of the discriminator's features: count them on the official part
        from its layers, on any other part by running it once (eval mode, no gradients: nothing changes)."""
        if self.config["discriminator"]["name"] == type(self).parts["discriminator"].default:
            count = len(self.D.model)
        else:
            count = len(probe_discriminator(self.D, self.config["discriminator"]["name"], self.img_size, labels=False).features)
        if not 1 <= self.style_layer <= count:
            raise ConfigError(f"method 'gpunit': style_layer={self.style_layer}, but discriminator "
                              f"{self.config['discriminator']['name']!r} exposes {count} feature(s) at {self.img_size} px; "
                              f"set style_layer to 1..{count}")

    @classmethod
    def upgrade_config(cls, config: dict[str, Any]) -> dict[str, Any]:
        """Exports of i2ikit 0.1.0 give the discriminator's width as ``dis_nf``: today the ``discriminator`` spec."""
        config = dict(config)
        if "dis_nf" in config:
            config["discriminator"] = {"name": "gpunit_discriminator", "nf": config.pop("dis_nf")}
        return config

    @classmethod
    def check_inputs(cls, kwargs: Mapping[str, Any]) -> None:
        if kwargs.get("vgg_weights") is not None:
            resolve_vgg19(kwargs["vgg_weights"])
        if kwargs.get("use_idloss"):
            if kwargs.get("id_weights", "auto") is None:
                raise ConfigError("method.use_idloss needs method.id_weights: TreB1eN's model_ir_se50.pth (a path, "
                                  "or auto; docs/weights.md)")
            resolve_ir_se50(kwargs.get("id_weights", "auto"))
        enc = kwargs.get("content_encoder")
        if enc is not None and not Path(enc).is_file():
            raise MissingFileError(
                f"method.content_encoder={enc!r} does not exist. It is the Stage-I content encoder: the released "
                "content_encoder.pt (docs/weights.md, GP-UNIT) or the content_encoder.pt of a gpunit_prior run's export")

    # ---- what the trainer needs ---------------------------------------------------------------
    def networks(self) -> dict[str, nn.Module]:
        return {"G": self._views["G"], "D": self.D}

    def make_optimizers(self) -> dict[str, torch.optim.Optimizer]:
        def adam(module: nn.Module) -> torch.optim.Adam:
            return torch.optim.Adam(module.parameters(), lr=self.lr, betas=self.betas, weight_decay=self.weight_decay)

        return {"G": adam(self._views["G"]), "D": adam(self.D)}

    def training_steps(self, iteration: int) -> list[TrainStep]:
        self._pending.clear()
        if self._from_random_encoder and "encoder" not in self._warned:
            self._warned.add("encoder")
            warnings.warn("GP-UNIT is training with a random content encoder (content_encoder: null): a smoke run "
                          "only; pass the Stage-I content_encoder.pt for real training", stacklevel=2)
        return [
            TrainStep("gen", self.g_step, trains=("G",), optimizers=("G",)),
            TrainStep("dis", self.d_step, trains=("D",), optimizers=("D",)),
        ]

    def ema_specs(self) -> list[EMASpec]:
        return [EMASpec("_G_ema_parts", "G", self.ema_decay, buffers=False)]

    def extra_state_modules(self) -> dict[str, nn.Module]:
        return {"content_encoder": self.content_encoder}  # its spectral-norm vectors move in training mode

    # ---- data -----------------------------------------------------------------------------------
    def domain_of(self, labels: torch.Tensor) -> torch.Tensor:
        """0 = source domain, 1 = target domain, -1 = neither, per label."""
        src = torch.isin(labels, torch.tensor(self.source_classes, device=labels.device))
        if self.target_classes is None:
            tgt = ~src
        else:
            tgt = torch.isin(labels, torch.tensor(self.target_classes, device=labels.device))
        return torch.where(src, 0, torch.where(tgt, 1, -1))

    def split_domains(self, batch: Batch) -> tuple[torch.Tensor, torch.Tensor]:
        """``(x, y)``: the source-domain images of stream ``source`` and the target-domain images of stream
        ``target``. A stream holding none of its domain borrows from the other stream; if neither holds
        any, the last batch seen of that domain is reused (raises if there is none yet). The two batches
        may differ in size; the translation pairs ``x[i]`` with ``y[i]``, cut to the shorter length.
        With ``domains_from_streams``: all of stream ``source`` and all of stream ``target``, labels ignored."""
        if self.domains_from_streams:
            x, y = batch["source"][0], batch["target"][0]
            n = min(x.shape[0], y.shape[0])
            return x[:n], y[:n]
        streams = {name: batch[name] for name in ("source", "target")}
        out = []
        for d, (name, other) in enumerate((("source", "target"), ("target", "source"))):
            imgs, labels = streams[name]
            pick = imgs[self.domain_of(labels) == d]
            if pick.shape[0] == 0:
                o_imgs, o_labels = streams[other]
                pick = o_imgs[self.domain_of(o_labels) == d]
            if pick.shape[0] == 0:
                if name not in self._last_domain:
                    raise ConfigError(
                        f"GP-UNIT: the batch holds no image of the {name} domain (classes "
                        f"{self.source_classes if d == 0 else (self.target_classes or 'not in source_classes')}); "
                        "check source_classes/target_classes against the data's labels")
                pick = self._last_domain[name]
            self._last_domain[name] = pick.detach()
            out.append(pick)
        x, y = out
        n = min(x.shape[0], y.shape[0])
        return x[:n], y[:n]

    # ---- losses -----------------------------------------------------------------------------------
    def _prepare(self, batch: Batch) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor, list[torch.Tensor], list[torch.Tensor]]:
        x, y = self.split_domains(batch)
        with torch.no_grad():
            cfeat_x = self.content_encoder(x, get_feature=True)
            cfeat_y = self.content_encoder(y, get_feature=True)
        flip = self.flip_style and bool(torch.rand(()) >= 0.5)
        y_ = y.flip(3) if flip else y
        return x, y, y_, cfeat_x, cfeat_y

    def g_step(self, batch: Batch, nets: Mapping[str, nn.Module]) -> Losses:
        x, y, y_, cfeat_x, cfeat_y = self._prepare(batch)
        self._pending[id(batch)] = (y, y_, cfeat_x)
        yhat, masks, ybar = nets["G"](cfeat_x, cfeat_y, y_, self.use_allskip)
        logits, features = nets["D"](torch.cat([yhat, y]))
        sfeats = features[self.style_layer - 1]  # B x C x 1 x 1 for the official part (spatial means)
        if sfeats.shape[2:] != (1, 1):  # another part's feature maps: their spatial means, as the official style loss
            sfeats = sfeats.mean(dim=(2, 3), keepdim=True)
        n = yhat.shape[0]
        l_adv = self.adv_loss.g(logits[:n]) * self.lambda_adv
        l_con = F.l1_loss(self.content_encoder(yhat), cfeat_x[0]) * self.lambda_content
        l_sty = F.l1_loss(sfeats[:n], sfeats[n:].detach()) * self.lambda_style
        l_msk = torch.stack([m.mean() for m in masks]).sum() * self.lambda_mask if masks else yhat.new_zeros(())
        l_l1 = F.l1_loss(ybar, y)
        l_vgg = self._vgg(ybar, y)
        l_rec = (l_l1 if l_vgg is None else l_l1 + l_vgg) * self.lambda_reconstruction
        total = l_adv + l_con + l_sty + l_msk + l_rec
        out = {"g_adv": l_adv.detach(), "con": l_con.detach(), "sty": l_sty.detach(),
               "msk": l_msk.detach(), "rec": l_rec.detach()}
        if self.use_idloss:  # official: Lid = id_loss(yhat, y) * lambda_id, the last term of g_loss
            l_id = self._idloss(yhat, y) * self.lambda_id
            total = total + l_id
            out["id"] = l_id.detach()
        out = {"loss": total, **out}
        if l_vgg is not None:
            out["rec_vgg"] = l_vgg.detach()
        return out

    def d_step(self, batch: Batch, nets: Mapping[str, nn.Module]) -> Losses:
        pending = self._pending.pop(id(batch), None)
        if pending is None:  # run on its own: draw the pair and the flip here
            _, y, y_, cfeat_x, _ = self._prepare(batch)
        else:
            y, y_, cfeat_x = pending
        with torch.no_grad():
            yhat, _ = self.G(cfeat_x, y_)
        y = y.detach().requires_grad_(True)
        logits, _ = nets["D"](torch.cat([yhat, y]))
        n = yhat.shape[0]
        fake, real = logits[:n], logits[n:]
        l_adv = self.adv_loss.d_real(real) + self.adv_loss.d_fake(fake)
        # StarGAN-v2 r1_reg: 0.5 * mean_i ||d sum_j D(y_j) / d y_i||^2 = 0.5 * B^2 * i2ikit's r1_penalty (one logit per image)
        l_r1 = 0.5 * real.shape[0] ** 2 * r1_penalty(real, y) * self.lambda_r1
        return {"loss": l_adv + l_r1, "d_adv": l_adv.detach(), "r1": l_r1.detach()}

    # ---- the latent sampler (official train_sampler, at every save) ---------------------------------
    def before_export(self, data: ExportData) -> None:
        """Fit the latent sampler before an export is written (the official code does it at every save).

        ``G_ema``'s style codes of every target-domain image of stream ``target`` (one augmented pass, labels
        filtered by :meth:`domain_of`), optionally :func:`~i2ikit_gpunit.sampler_fit.mitigate_style_bias`,
        then a **fresh** sampler (official: a new ``_netT`` with PyTorch's default init per save) fitted by
        :func:`~i2ikit_gpunit.sampler_fit.fit_sampler` for ``sampler_epochs`` epochs (``None``:
        ``int(2e6 / N)``). Initialisation and fitting are seeded from the run's seed and ``data.step``. ``sampler_fit_info``
        records ``{"step", "codes", "epochs", "final_loss"}``. Does nothing when ``fit_sampler`` is False."""
        if not self.fit_sampler:
            return
        encoder = self.G_ema.style_encoder
        with eval_mode(encoder):  # no normalisation or dropout inside: the mode changes nothing, as officially (eval)
            batches = ((images if self.domains_from_streams else images[self.domain_of(labels) == 1],)
                       for images, labels in data.one_pass("target"))
            codes = collect_style_codes(encoder, batches, allow_empty=True)
        if codes.shape[0] == 0 and self.domains_from_streams:
            raise ConfigError("GP-UNIT: stream 'target' holds no image to fit the latent sampler on; check "
                              "data.streams.target (or set method.fit_sampler: false)")
        if codes.shape[0] == 0:
            raise ConfigError(
                "GP-UNIT: no target-domain image to fit the latent sampler on: stream 'target' holds no image "
                f"with a label in target_classes={self.target_classes if self.target_classes is not None else 'null'} "
                f"(source_classes={self.source_classes}); check them against the data's labels (or set "
                "fit_sampler: false)")
        if self.mitigate_style_bias:
            codes = _mitigate(codes)
        device = next(self.sampler.parameters()).device
        codes = codes.to(device)
        from i2ikit.data import stable_hash

        seed = stable_hash("sampler", data.seed, data.step) % 2**63
        with torch.random.fork_rng(devices=[]):
            torch.manual_seed(seed)
            fresh = Sampler(self.sampler.noise_dim, self.sampler.style_dim)
        self.sampler.load_state_dict(fresh.state_dict())
        epochs = int(2e6 / codes.shape[0]) if self.sampler_epochs is None else self.sampler_epochs
        gen = torch.Generator(device="cpu").manual_seed(seed)
        losses = _fit_sampler(self.sampler, codes, epochs=epochs, generator=gen)
        self.sampler_fit_info = {"step": int(data.step), "codes": int(codes.shape[0]), "epochs": epochs,
                                 "final_loss": losses[-1] if losses else None}

    def write_export_files(self, directory: Path) -> None:
        """The official files next to the safetensors: ``content_encoder.pt`` and ``translation_model.pt``
        (``{'g_ema', 'sampler'}``, as ``train.py``'s ``{task}-{iter}.pt``), so an export folder also works with
        the official ``inference.py`` and with :meth:`load_official`."""
        save_content_encoder(self.content_encoder, directory / "content_encoder.pt")
        save_translation_model(self.G_ema, self.sampler, directory / "translation_model.pt")

    # ---- inference ------------------------------------------------------------------------------
    @torch.no_grad()
    def translate(self, content: torch.Tensor, style_image: torch.Tensor | None = None, z: torch.Tensor | None = None, *,
                  num_styles: int | None = None, use_ema: bool = True, generator: torch.Generator | None = None) -> torch.Tensor:
        """Exemplar-guided (``style_image``) or latent-guided (``z``: N x 128 noise, or ``num_styles`` fresh
        draws mapped by the sampler with batch statistics, as officially) translation of ``content``
        (B x 3 x H x W in [-1, 1]) with ``G_ema`` (``use_ema``) or ``G``. E and G run in eval mode; the
        images are resized to ``img_size`` (``align_corners=True``, as ``inference.py``)."""
        g = self.G_ema if use_ema else self.G
        device = next(g.parameters()).device
        modules = (g, self.content_encoder)
        modes = [m.training for m in modules]
        for m in modules:
            m.eval()
        try:
            return _translate(g, self.content_encoder, content.to(device),
                              None if style_image is None else style_image.to(device),
                              None if z is None else z.to(device), sampler=self.sampler, num_styles=num_styles,
                              generator_rng=generator, size=self.img_size)
        finally:
            for m, mode in zip(modules, modes):
                m.train(mode)

    @torch.no_grad()
    def sample_columns(self, batch: Batch) -> list[tuple[str, torch.Tensor]]:
        """``content | style | translation (G_ema)``: each content image of stream ``source`` with the style
        of the image in the same row of stream ``target`` (labels are not filtered, for a fixed grid)."""
        x = batch["source"][0]
        y = batch["target"][0][: x.shape[0]]
        x = x[: y.shape[0]]
        out = self.translate(x, y)
        if out.shape[-1] != x.shape[-1]:
            out = F.interpolate(out, size=x.shape[-2:], mode="bilinear", align_corners=False)
        return [("content", x), ("style", y), ("translation", out)]

    # ---- official checkpoints ---------------------------------------------------------------------
    @classmethod
    def load_official(cls, path: str | os.PathLike, **overrides: Any) -> "GPUNIT":
        """Build from official files: a task file ``{'g_ema', 'sampler'}`` (e.g. ``cat2dog.pt``) together with
        ``content_encoder=<content_encoder.pt>`` in ``overrides``, or a folder holding ``content_encoder.pt``
        and exactly one task file (or name it with ``task='cat2dog'``), or a bare ``content_encoder.pt``
        (generator random). ``g_ema`` goes into both ``G`` and ``G_ema``; D stays random (not released)."""
        path = Path(path)
        task = overrides.pop("task", None)
        if path.is_dir():
            enc = path / "content_encoder.pt"
            if task is not None:
                files = [path / f"{task}.pt"]
            else:
                files = sorted(p for p in path.glob("*.pt") if p.name != "content_encoder.pt")
            if not enc.is_file() or len(files) != 1 or not files[0].is_file():
                raise MissingFileError(f"{path}: expected content_encoder.pt and one task file (e.g. cat2dog.pt; "
                                       f"name it with task=...), found {sorted(p.name for p in path.glob('*.pt'))}")
            overrides.setdefault("content_encoder", str(enc))
            path = files[0]
        obj = read_checkpoint(path)
        if isinstance(obj, Mapping) and "g_ema" in obj:
            if overrides.get("content_encoder") is None:
                raise ConfigError(f"{path} is a GP-UNIT task file; also pass content_encoder=<content_encoder.pt> "
                                  "(released separately)")
            g_cfg = infer_generator_config(obj["g_ema"])
            ngf = g_cfg.get("ngf", 64)
            kwargs: dict[str, Any] = {"ngf": ngf, "nef": ngf}
            for key in ("style_dim", "style_nef"):
                if key in g_cfg:
                    kwargs[key] = g_cfg[key]
            if isinstance(obj.get("sampler"), Mapping):
                kwargs["noise_dim"] = infer_sampler_config(obj["sampler"]).get("noise_dim", 128)
            kwargs.update(overrides)
            model = cls(**kwargs)
            g, s = load_translation_model(path, model.G, model.sampler)
            model.G_ema.load_state_dict(g.state_dict())
            model.G.train()
            return model
        # a bare content encoder
        nef = infer_content_encoder_config(obj).get("nef", 64) if isinstance(obj, Mapping) else 64
        kwargs = {"nef": nef, "ngf": nef, **overrides, "content_encoder": str(path)}
        return cls(**kwargs)
