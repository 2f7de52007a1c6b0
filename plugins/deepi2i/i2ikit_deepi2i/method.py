"""The DeepI2I method (Wang et al., NeurIPS 2020) as the i2ikit trainer sees it.

Training follows the official ``DeepI2I_BigGAN`` code (``train.py``, ``train_fns.py``, ``BigGAN.py:
G_D``, ``losses.py``) with the ``scripts/DeepI2I.sh`` settings:

- two independently shuffled streams of the same data: ``real`` ``(x, y)`` for the discriminator and
  ``source`` ``(t_x, t_y)`` for translation (official ``loaders`` / ``loaders_t``);
- per sample a target class drawn uniformly from the dataset's classes and noise ``z ~ N(0, I)``;
  translation ``G(z, G.shared(row(y_tgt)), A(E(t_x)))``;
- D step: hinge loss on ``cat([translation, x])`` with classes ``cat([row(y_tgt), row(y)])`` in one D
  call; the translation is computed without gradients;
- G step (adaptor, plus G in phase two, plus E when training from scratch): ``-mean D(translation)``
  plus the feature reconstruction loss ``sum_l w_l * MSE(D_l(t_x), D_l(translation))`` at 4/8/16/32
  with ``w = {4: .1, 8: .1, 16: .1, 32: .01}`` (``D_fea_w``), D called once on
  ``cat([translation, t_x])``. ``feature_loss="official"`` reproduces the official indexing, which
  compares sample 0 with sample 1 of that concatenation (see :func:`feature_reconstruction_loss`);
- phase one (``phase_one_iters`` = 500 iterations): D and the adaptor are trained, G is frozen but in
  train mode (its BN statistics and SN vectors still move); phase two adds G. E is frozen throughout,
  unless ``from_scratch`` (the paper's "DeepI2I (scratch)": phase two from the first iteration, E
  trained with D's settings, injection weights ``{4: 1, 8: 1, 16: 1, 32: .1}``);
- Adam (weight decay 0, betas (0, 0.999), eps 1e-6): G 1e-4, D / adaptor / encoder 4e-4; with a BigGAN
  folder the Adam moments of G and D come from ``G_optim.pth`` / ``D_optim.pth`` as officially;
- no EMA (the DeepI2I scripts do not pass ``--ema``); ``ema_decay`` enables BigGAN-PyTorch's.

The trainer does the backward passes (dividing by the accumulation count, as the official code divides
by ``num_D_accumulations``), optimiser steps and DDP wrapping. Networks that DDP wraps are *views*
(:class:`i2ikit.nn.NetworkView`): modules that register only the parts of a network that receive gradients, so
the adaptor's and encoder's unused ``linear``/``embed`` heads stay outside DDP and
``find_unused_parameters=False`` works.
"""
from __future__ import annotations

import copy
import os
import warnings
from pathlib import Path
from typing import Any, Literal, Mapping

import torch
import torch.nn.functional as F
from torch import nn

from i2ikit.constraints import OneOf, Range, at_least_one, non_negative, positive, unit_interval
from i2ikit.errors import CheckpointError, ConfigError, MissingFileError
from i2ikit.parts import PartSlot
from i2ikit.method import Batch, EMASpec, Losses, Method, TrainStep
from i2ikit.checkpoint_files import load_checkpoint_file
from i2ikit.nn import NetworkView

from ._version import __version__
from .networks import (
    DEFAULT_FEATURE_SIZES,
    Adaptor,
    Generator,
    discriminator_arch,
    generator_arch,
)
from .official import (
    infer_discriminator_config,
    infer_generator_config,
    load_biggan_weights,
    load_deepi2i_weights,
    read_state_dict,
)

__all__ = [
    "DeepI2I",
    "feature_reconstruction_loss",
    "DEFAULT_FEATURE_LOSS_WEIGHTS",
    "SCRATCH_INJECTION_WEIGHTS",
    "TRANSFER_INJECTION_WEIGHTS",
]

# ``D_fea_w`` (the paper's alpha_l): weights of the feature reconstruction loss per spatial size.
DEFAULT_FEATURE_LOSS_WEIGHTS: dict[int, float] = {4: 0.1, 8: 0.1, 16: 0.1, 32: 0.01}
# ``E1_fea_w``: how strongly the adapted features are added to G's activations.
TRANSFER_INJECTION_WEIGHTS: dict[int, float] = {4: 0.1, 8: 0.1, 16: 0.1, 32: 0.1}
SCRATCH_INJECTION_WEIGHTS: dict[int, float] = {4: 1.0, 8: 1.0, 16: 1.0, 32: 0.1}

WEIGHTS_DOC = "docs/weights.md"
# BigGAN-PyTorch has G and D tables for 32..256 px, but the four injected feature sizes 4/8/16/32 need a
# discriminator of 64 px or more.
RESOLUTIONS = (64, 128, 256)




def _int_keys(weights: Mapping[Any, Any], what: str) -> dict[int, float]:
    """``{4: .1}`` from YAML or ``{"4": .1}`` from a JSON export config."""
    try:
        return {int(k): float(v) for k, v in weights.items()}
    except (TypeError, ValueError):
        raise ConfigError(f"method 'deepi2i': {what} must map spatial sizes (4, 8, 16, 32) to numbers, got {weights!r}") from None


def generator_with_rows(owner: nn.Module, z: torch.Tensor, rows: torch.Tensor, features: Any, **kwargs: Any) -> Any:
    """The generator view's forward: ``G(z, G.shared(rows), features)``, so ``G.shared`` runs inside the
    wrapped forward (a DDP-wrapped module must only be called)."""
    return owner(z, owner.shared(rows), features, **kwargs)


def feature_reconstruction_loss(
    features: Mapping[int, torch.Tensor],
    weights: Mapping[int, float],
    mode: Literal["intended", "official"] = "intended",
) -> torch.Tensor:
    """DeepI2I's reconstruction loss on discriminator features.

    ``features[s]`` is D's feature at size ``s`` for ``cat([translations, sources])`` (2B x C x s x s).

    - ``intended`` (the paper, and ``DeepI2I_StyleGAN/train.py``): ``sum_s w_s * MSE(f[:B], f[B:])``,
      each source image against its own translation, averaged over the batch and all elements;
    - ``official`` (``DeepI2I_BigGAN/losses.py``): ``sum_s w_s * MSE(f[0], f[1])``, i.e. sample 0 against
      sample 1 of the concatenation: two translations when B > 1, translation 0 and source 0 when B == 1.

    Sizes without a weight are ignored, as the official loop runs over D's feature keys and looks up
    ``D_fea_w[key]``.
    """
    total: torch.Tensor | None = None
    for size, feat in features.items():
        if size not in weights:
            continue
        if mode == "official":
            term = F.mse_loss(feat[0], feat[1])
        else:
            half = feat.shape[0] // 2
            term = F.mse_loss(feat[:half], feat[half:])
        total = weights[size] * term if total is None else total + weights[size] * term
    if total is None:
        raise ConfigError(f"no feature size has a weight: the discriminator's features are at {sorted(features)}, "
                          f"the weights (method.feature_loss_weights) are for {sorted(weights)}; give a weight for at "
                          "least one of those sizes")
    return total


def _check_attention_widths(resolution: int, ch: int, g_attention: str, d_attention: str) -> None:
    """Self-attention needs at least 8 channels where it sits (it uses C/8 query channels): name the keys
    when ``ch`` is too small for the chosen attention resolutions."""
    try:
        g_arch = generator_arch(ch, resolution, g_attention)
        d_arch = discriminator_arch(ch, resolution, d_attention)
    except ValueError:
        return  # an unknown resolution or attention string: the networks say so themselves
    for what, key, attn, arch in (("generator", "g_attention", g_attention, g_arch),
                                  ("discriminator", "d_attention", d_attention, d_arch)):
        narrow = sorted({r for r, on, c in zip(arch.resolution, arch.attention, arch.out_channels) if on and c < 8})
        if narrow:
            raise ConfigError(
                f"method 'deepi2i': ch={ch} gives the {what}'s self-attention at {narrow[0]} px fewer than 8 channels "
                f"(it uses C/8 query channels); raise ch (the official value is 96) or move/turn off {key} "
                f"(now {attn!r}; '0' = none)")


class DeepI2I(Method):
    """DeepI2I: BigGAN generator + projection discriminator, an encoder (a copy of D) and adaptors that
    add the source image's features to the generator; many-class translation with noise.

    Hyper-parameters (keyword-only; defaults are the official 128 px settings):

    - ``resolution``, ``ch`` (G and D width), ``dim_z``, ``shared_dim``, ``g_attention``,
      ``d_attention``: BigGAN-PyTorch's ``--resolution --G_ch/--D_ch --dim_z --shared_dim --G_attn
      --D_attn``. ``num_classes``: the class count the networks are built with (1000 for ImageNet
      BigGAN weights; ``auto`` in a recipe = the dataset's classes).
    - ``class_map``: dataset class k -> BigGAN class row (``G.shared`` / ``D.embed``). Its length is the
      number of target classes. ``None`` = identity over all ``num_classes`` rows. The official code
      uses row k for label k (``class_map = [0, 1, ..., N-1]``).
    - ``phase_one_iters``: adaptor-only iterations (500 officially). Ignored when ``from_scratch``.
    - ``lr_gen``, ``lr_dis``, ``lr_adaptor``, ``lr_encoder``, ``betas``, ``adam_eps``: Adam settings.
    - ``feature_loss_weights``: ``D_fea_w``; ``feature_loss``: ``intended`` or ``official``.
    - ``injection_weights``: ``E1_fea_w``; None = ``{4: .1, 8: .1, 16: .1, 32: .1}``, or
      ``{4: 1, 8: 1, 16: 1, 32: .1}`` when ``from_scratch``.
    - ``from_scratch``: random init (``ortho``) for every network, E trained, no phase one.
    - ``biggan``: a BigGAN-PyTorch weights folder read at construction (``G_ema.pth``, else ``G.pth`` ->
      G; ``D.pth`` -> D and E). ``load_optimizer_state``: also start G's and D's Adam moments from
      ``G_optim.pth`` / ``D_optim.pth`` when present (official ``--resume_BigGAN``).
    - ``ema_decay``: None (DeepI2I trains without EMA); a number enables BigGAN-PyTorch's EMA of G
      (BigGAN uses 0.9999), which copies G until iteration ``ema_start``.
    - ``real_stream``: draw D's real images from their own stream (official); False uses the source batch.
    """

    method_name = "deepi2i"
    plugin_version = __version__
    data_streams = ("source", "real")
    init_only = ("biggan",)
    sample_targets = 4  # target classes shown in training sample grids
    # Many-class translation: the discriminator learns every target class from the labels of the
    # ``real`` stream (with ``real_stream=False`` from ``source``, which then is the same data).
    # ``source`` only feeds images to translate and may show a single class.
    min_classes = {"real": 2}
    translate_modes = ("target_class",)
    tasks = ("many_class",)
    # G, D and E are built with the method's BigGAN settings (each part gets those its constructor takes);
    # a BigGAN folder (biggan=) initialises the official parts only.
    _BIGGAN = ("resolution", "ch", "num_classes", "attention", "sn_eps", "feature_sizes", "init")
    parts = {
        "generator": PartSlot("generator", "deepi2i_generator", "BigGAN generator with feature injection",
                              supplies=_BIGGAN + ("dim_z", "shared_dim", "hier", "feature_weights")),
        "discriminator": PartSlot("discriminator", "biggan_projection", "projection discriminator; its features "
                                  "at the feature_loss_weights sizes give the feature loss", labels=True,
                                  conditional=True, supplies=_BIGGAN),
        "encoder": PartSlot("encoder", "deepi2i_encoder", "E1: the source image's features at 32/16/8/4 px",
                            supplies=_BIGGAN),
        "gan_loss": PartSlot("gan_loss", "hinge", "adversarial loss of both steps (BigGAN's hinge)"),
    }
    constraints = {
        "resolution": OneOf(RESOLUTIONS),
        "ch": at_least_one,
        "dim_z": at_least_one,
        "shared_dim": non_negative,  # 0: no shared embedding, G uses dim_z (BigGAN-PyTorch)
        "num_classes": at_least_one,
        "class_map": non_negative,  # each entry a class row < num_classes (checked when built)
        "phase_one_iters": non_negative,
        "lr_gen": positive,
        "lr_dis": positive,
        "lr_adaptor": positive,
        "lr_encoder": positive,
        "betas": Range(ge=0, lt=1),  # torch's Adam refuses a beta of 1
        "adam_eps": non_negative,
        "feature_loss": OneOf(("intended", "official")),
        "ema_decay": unit_interval,
        "ema_start": non_negative,
    }

    def __init__(
        self,
        *,
        resolution: int = 128,
        ch: int = 96,
        dim_z: int = 120,
        shared_dim: int = 128,
        num_classes: int = 1000,
        g_attention: str = "64",
        d_attention: str = "64",
        class_map: list[int] | None = None,
        phase_one_iters: int = 500,
        lr_gen: float = 1e-4,
        lr_dis: float = 4e-4,
        lr_adaptor: float = 4e-4,
        lr_encoder: float = 4e-4,
        betas: tuple[float, float] = (0.0, 0.999),
        adam_eps: float = 1e-6,
        feature_loss_weights: Mapping[int, float] = DEFAULT_FEATURE_LOSS_WEIGHTS,
        feature_loss: Literal["intended", "official"] = "intended",
        injection_weights: Mapping[int, float] | None = None,
        from_scratch: bool = False,
        biggan: str | None = None,
        load_optimizer_state: bool = True,
        ema_decay: float | None = None,
        ema_start: int = 0,
        real_stream: bool = True,
        generator: str | Mapping[str, Any] | None = None,
        discriminator: str | Mapping[str, Any] | None = None,
        encoder: str | Mapping[str, Any] | None = None,
        gan_loss: str | Mapping[str, Any] | None = None,
    ) -> None:
        super().__init__()
        if resolution not in RESOLUTIONS:
            raise ConfigError(f"method 'deepi2i': resolution must be one of {', '.join(map(str, RESOLUTIONS))} (the "
                              f"adaptor injects features at 4/8/16/32 px, which a smaller BigGAN discriminator lacks), "
                              f"got {resolution}")
        if num_classes < 1:
            raise ConfigError(f"method 'deepi2i': num_classes must be >= 1, got {num_classes}")
        if phase_one_iters < 0:
            raise ConfigError(f"method 'deepi2i': phase_one_iters must be >= 0, got {phase_one_iters}")
        if feature_loss not in ("intended", "official"):
            raise ConfigError(f"method 'deepi2i': feature_loss must be 'intended' or 'official', got {feature_loss!r}")
        if len(tuple(betas)) != 2:
            raise ConfigError(f"method 'deepi2i': betas must be two numbers, got {betas!r}")
        if ema_decay is not None and not 0.0 <= ema_decay <= 1.0:
            raise ConfigError(f"method 'deepi2i': ema_decay must lie in [0, 1] or be null, got {ema_decay}")
        if biggan is not None and from_scratch:
            raise ConfigError(
                "method 'deepi2i': biggan= and from_scratch=True exclude each other (the official scripts use either "
                "--resume --resume_BigGAN or --training_scratch); drop one"
            )
        if class_map is not None:
            class_map = [int(c) for c in class_map]
            if not class_map:
                raise ConfigError("method 'deepi2i': class_map is empty: give one BigGAN class row per dataset class, "
                                  "or null for the identity")
            bad = [c for c in class_map if not 0 <= c < num_classes]
            if bad:
                raise ConfigError(f"method 'deepi2i': class_map rows {bad[:5]} lie outside the networks' {num_classes} "
                                  "classes (num_classes)")
        _check_attention_widths(resolution, ch, g_attention, d_attention)

        self.phase_one_iters, self.from_scratch = int(phase_one_iters), bool(from_scratch)
        self.lr_gen, self.lr_dis, self.lr_adaptor, self.lr_encoder = float(lr_gen), float(lr_dis), float(lr_adaptor), float(lr_encoder)
        self.betas, self.adam_eps = (float(betas[0]), float(betas[1])), float(adam_eps)
        self.feature_loss_weights = _int_keys(feature_loss_weights, "feature_loss_weights")
        self.feature_loss = feature_loss
        if injection_weights is None:
            injection_weights = SCRATCH_INJECTION_WEIGHTS if from_scratch else TRANSFER_INJECTION_WEIGHTS
        self.injection_weights = _int_keys(injection_weights, "injection_weights")
        self.biggan = None if biggan is None else Path(biggan)
        self.load_optimizer_state = bool(load_optimizer_state)
        self.ema_decay, self.ema_start = (None if ema_decay is None else float(ema_decay)), int(ema_start)
        if not real_stream:
            self.data_streams = ("source",)
        self.num_target_classes = len(class_map) if class_map is not None else num_classes
        rows = torch.tensor(class_map if class_map is not None else range(num_classes), dtype=torch.long)
        self.register_buffer("class_rows", rows, persistent=False)

        self.adv_loss = self.build_part("gan_loss", gan_loss)
        common = dict(resolution=resolution, num_classes=num_classes, sn_eps=1e-6, feature_sizes=DEFAULT_FEATURE_SIZES)
        d_init = "ortho" if biggan is None else "default"  # overwritten by D.pth anyway (official: skip_init)
        # Registration order G, D, E, A is the export's (and the official files') part order.
        self.G = self.build_part("generator", generator, ch=ch, dim_z=dim_z, shared_dim=shared_dim, hier=True,
                                 attention=g_attention, feature_weights=self.injection_weights, init="ortho", **common)
        self.D = self.build_part("discriminator", discriminator, ch=ch, attention=d_attention, init=d_init, **common)
        self.E = self.build_part("encoder", encoder, ch=ch, attention=d_attention, init=d_init, **common)
        # Official: --resume sets skip_init, so the adaptor keeps PyTorch's default init; from scratch: ortho.
        self.A = Adaptor(ch=ch, g_ch=ch, attention=d_attention, g_attention=g_attention,
                         init="ortho" if from_scratch else "default", **common)
        if self.biggan is not None:
            self._load_biggan(self.biggan)

        # The heads never take part in a loss: frozen, left out of the views and of the optimisers.
        for head in (self.A.linear, self.A.embed, self.E.linear, self.E.embed):
            head.requires_grad_(False)
        if not from_scratch:
            self.E.requires_grad_(False)
        if self.ema_decay is not None:
            self.G_ema = copy.deepcopy(self.G).requires_grad_(False)
            self._ema_specs = [EMASpec("G_ema", "G", self.ema_decay, buffers=True)]
        else:
            self._ema_specs = []
        self._views = {
            "G": NetworkView(self.G, fn=generator_with_rows),
            "A": NetworkView(self.A, ["blocks"]),
            "E": NetworkView(self.E, ["blocks"]),
        }
        self._labels_checked = False
        self._warned_random = False

    # ---- construction helpers -------------------------------------------------------------------
    def _load_biggan(self, folder: Path) -> None:
        if not folder.is_dir():
            raise MissingFileError(
                f"biggan={str(folder)!r}: no such folder. DeepI2I starts from ajbrock's BigGAN-PyTorch 128 px "
                f"ImageNet checkpoint (G_ema.pth or G.pth, D.pth, optionally G_optim.pth and D_optim.pth); see "
                f"{WEIGHTS_DOC} for where to get it and the folder layout, or set biggan: null with from_scratch: true"
            )
        try:
            load_biggan_weights({"G": self.G, "D": self.D, "E": self.E}, folder)
        except FileNotFoundError as exc:
            raise MissingFileError(f"{exc}. A BigGAN-PyTorch folder needs G_ema.pth (or G.pth) and D.pth; see {WEIGHTS_DOC}") from None

    # ---- what the trainer needs ---------------------------------------------------------------
    def networks(self) -> dict[str, nn.Module]:
        nets: dict[str, nn.Module] = {"G": self._views["G"], "D": self.D, "A": self._views["A"]}
        if self.from_scratch:
            nets["E"] = self._views["E"]
        return nets

    def _adam(self, module: nn.Module, lr: float) -> torch.optim.Adam:
        params = [p for p in module.parameters() if p.requires_grad]
        return torch.optim.Adam(params, lr=lr, betas=self.betas, eps=self.adam_eps, weight_decay=0.0)

    def make_optimizers(self) -> dict[str, torch.optim.Optimizer]:
        nets = self.networks()
        for net in nets.values():  # the trainer may have toggled requires_grad; views hold only trainable parts
            net.requires_grad_(True)
        opts: dict[str, torch.optim.Optimizer] = {
            "G": self._adam(nets["G"], self.lr_gen),
            "D": self._adam(self.D, self.lr_dis),
            "A": self._adam(nets["A"], self.lr_adaptor),
        }
        if self.from_scratch:
            opts["E"] = self._adam(nets["E"], self.lr_encoder)
        if self.biggan is not None and self.load_optimizer_state:
            for name, file in (("G", "G_optim.pth"), ("D", "D_optim.pth")):
                self._load_optimizer_state(opts[name], self.biggan / file, name)
        return opts

    def _load_optimizer_state(self, opt: torch.optim.Optimizer, path: Path, name: str) -> None:
        """Adam moments from a BigGAN-PyTorch ``*_optim.pth`` (official ``--resume_BigGAN``). The file's
        lr/betas/eps are replaced by this method's (ajbrock's file holds the same values)."""
        if not path.is_file():
            warnings.warn(f"{path} not found: {name}'s Adam starts without BigGAN's moments (the official run loads them)", stacklevel=3)
            return
        state = load_checkpoint_file(path)
        try:
            opt.load_state_dict(state)
        except (ValueError, KeyError, TypeError) as exc:
            raise CheckpointError(f"{path} does not fit {name}'s Adam ({exc}); was it saved for the same network settings? "
                                  "(or set load_optimizer_state: false)") from None
        lr = {"G": self.lr_gen, "D": self.lr_dis}[name]
        for group in opt.param_groups:
            group.update(lr=lr, betas=self.betas, eps=self.adam_eps, weight_decay=0.0)

    def in_phase_one(self, iteration: int) -> bool:
        return not self.from_scratch and iteration < self.phase_one_iters

    def training_steps(self, iteration: int) -> list[TrainStep]:
        if self.biggan is None and not self.from_scratch and not self._warned_random:
            self._warned_random = True
            warnings.warn(
                "DeepI2I is training without BigGAN weights (biggan: null) and without from_scratch: the frozen "
                "encoder (and the generator in phase one) keep their random initialisation. Set biggan: <folder> "
                f"({WEIGHTS_DOC}) or from_scratch: true.",
                stacklevel=2,
            )
        for spec in self._ema_specs:  # BigGAN-PyTorch's ema_start: copy G until then
            spec.decay = 0.0 if iteration < self.ema_start else float(self.ema_decay)
        if self.in_phase_one(iteration):
            g_trains: tuple[str, ...] = ("A",)
        elif self.from_scratch:
            g_trains = ("G", "A", "E")
        else:
            g_trains = ("G", "A")
        return [
            TrainStep("dis", self.d_step, trains=("D",), optimizers=("D",)),
            TrainStep("gen", self.g_step, trains=g_trains, optimizers=g_trains),
        ]

    def ema_specs(self) -> list[EMASpec]:
        return self._ema_specs

    # ---- training steps -----------------------------------------------------------------------
    def _check_batch(self, images: torch.Tensor, labels: torch.Tensor) -> None:
        if images.shape[-1] != self.G.resolution or images.shape[-2] != self.G.resolution:
            raise ConfigError(
                f"DeepI2I at resolution {self.G.resolution} got {tuple(images.shape[-2:])} images: set data.crop "
                f"(and data.new_size) to {self.G.resolution} or method.resolution to the image size"
            )
        if not self._labels_checked:
            top = int(labels.max())
            if top >= self.num_target_classes:
                raise ConfigError(
                    f"the data has class label {top} but DeepI2I knows {self.num_target_classes} dataset classes "
                    "(len(class_map), or num_classes without a class_map): give one class_map entry per dataset class"
                )
            self._labels_checked = True

    def _draw_targets(self, batch_size: int, device: torch.device) -> tuple[torch.Tensor, torch.Tensor]:
        """Target dataset classes (uniform, torch's global RNG, checkpointed with the run) and their BigGAN rows."""
        target = torch.randint(self.num_target_classes, (batch_size,), device=device)
        return target, self.class_rows[target]

    def _features(self, nets: Mapping[str, nn.Module], x: torch.Tensor, *, grad_encoder: bool) -> dict[int, torch.Tensor]:
        if "E" in nets:
            encoder = nets["E"]
        else:
            encoder = self.E  # frozen: not one of the trained networks
        if grad_encoder:
            return encoder(x)
        with torch.no_grad():
            return encoder(x)

    def d_step(self, batch: Batch, nets: Mapping[str, nn.Module]) -> Losses:
        """Hinge loss on real images and translations (one D call on the concatenation).

        As in ``G_D.forward(train_G=False)``, E, A and G run without gradients; G keeps its mode (train),
        so its batch-norm statistics move, as officially.
        """
        gen, dis, adaptor = nets["G"], nets["D"], nets["A"]
        x_src, y_src = batch["source"]
        x_real, y_real = batch["real"] if "real" in batch else batch["source"]
        self._check_batch(x_src, y_src)
        self._check_batch(x_real, y_real)
        b = x_src.shape[0]
        _, rows_tgt = self._draw_targets(b, x_src.device)
        z = torch.randn(b, self.G.dim_z, device=x_src.device)
        with torch.no_grad():
            fake = gen(z, rows_tgt, adaptor(self._features(nets, x_src, grad_encoder=False)))
        out = dis(torch.cat([fake, x_real]), torch.cat([rows_tgt, self.class_rows[y_real]])).logits
        d_fake_out, d_real_out = torch.split(out, [b, x_real.shape[0]])
        d_real = self.adv_loss.d_real(d_real_out)
        d_fake = self.adv_loss.d_fake(d_fake_out)
        return {"loss": d_real + d_fake, "d_real": d_real.detach(), "d_fake": d_fake.detach()}

    def g_step(self, batch: Batch, nets: Mapping[str, nn.Module]) -> Losses:
        """``-mean D(translation) + sum_l w_l MSE(D_l(source), D_l(translation))``.

        Gradients reach the adaptor through G whether or not G itself is trained (phase one: G's
        parameters are frozen, the activations are not), and E only when training from scratch.
        """
        gen, dis, adaptor = nets["G"], nets["D"], nets["A"]
        x_src, y_src = batch["source"]
        self._check_batch(x_src, y_src)
        b = x_src.shape[0]
        _, rows_tgt = self._draw_targets(b, x_src.device)
        z = torch.randn(b, self.G.dim_z, device=x_src.device)
        features = self._features(nets, x_src, grad_encoder=self.from_scratch)
        fake = gen(z, rows_tgt, adaptor(features))
        out, dis_features = dis(torch.cat([fake, x_src]), torch.cat([rows_tgt, self.class_rows[y_src]]))
        feats = {f.shape[-1]: f for f in dis_features}  # by spatial size, as the feature weights are given
        g_adv = self.adv_loss.g(out[:b])
        g_feat = feature_reconstruction_loss(feats, self.feature_loss_weights, self.feature_loss)
        return {"loss": g_adv + g_feat, "g_adv": g_adv.detach(), "g_feat": g_feat.detach()}

    # ---- inference ----------------------------------------------------------------------------
    @property
    def inference_generator(self) -> Generator:
        """The EMA generator when there is one, else G."""
        return self.G_ema if self.ema_decay is not None else self.G

    def target_rows(self, target_class: int | torch.Tensor, batch_size: int, device: torch.device) -> torch.Tensor:
        """BigGAN class rows for dataset classes (an int for the whole batch or a (B,) tensor)."""
        if isinstance(target_class, int):
            target = torch.full((batch_size,), target_class, dtype=torch.long, device=device)
        else:
            target = torch.as_tensor(target_class, device=device).long().reshape(-1)
            if target.numel() == 1 and batch_size != 1:
                target = target.expand(batch_size)
        if target.shape != (batch_size,):
            raise ValueError(f"target_class must be an int or {batch_size} class indices, got shape {tuple(target.shape)}")
        if bool((target < 0).any()) or bool((target >= self.num_target_classes).any()):
            raise ConfigError(f"target_class: DeepI2I translates to dataset classes 0..{self.num_target_classes - 1}, "
                              f"got {target.tolist()}")
        return self.class_rows.to(device)[target]

    @torch.no_grad()
    def translate(
        self,
        images: torch.Tensor,
        target_class: int | torch.Tensor,
        z: torch.Tensor | None = None,
        *,
        generator: torch.Generator | None = None,
    ) -> torch.Tensor:
        """Translate ``images`` (B x 3 x res x res in [-1, 1]) to dataset class ``target_class`` (an int, or a
        (B,) tensor of classes, each mapped through ``class_map``). ``z`` (B x dim_z) gives the noise; None
        draws it from N(0, I) (with ``generator`` if given). Runs E, A and G (the EMA G if there is one)
        in eval mode, as the official test. Returns B x 3 x res x res in [-1, 1]."""
        g = self.inference_generator
        device = next(g.parameters()).device
        images = images.to(device)
        b = images.shape[0]
        rows = self.target_rows(target_class, b, device)
        if z is None:
            z = torch.randn(b, g.dim_z, device=device, generator=generator)
        elif z.shape != (b, g.dim_z):
            raise ValueError(f"z must be {b} x {g.dim_z}, got {tuple(z.shape)}")
        modules = (g, self.E, self.A)
        modes = [m.training for m in modules]
        for m in modules:
            m.eval()
        try:
            return g(z.to(device), g.shared(rows), self.A(self.E(images)))
        finally:
            for m, mode in zip(modules, modes):
                m.train(mode)

    def sample_target_classes(self) -> list[int]:
        n = min(self.sample_targets, self.num_target_classes)
        return sorted({int(k * self.num_target_classes / n) for k in range(n)})

    @torch.no_grad()
    def sample_columns(self, batch: Batch) -> list[tuple[str, torch.Tensor]]:
        """``source | to class k ...`` for a few evenly spaced target classes; one fixed z per row, the
        same in every column and at every step (drawn from a local generator, so the training RNG is
        not touched)."""
        x = batch["source"][0]
        rng = torch.Generator(device=x.device).manual_seed(0)
        z = torch.randn(x.shape[0], self.inference_generator.dim_z, device=x.device, generator=rng)
        columns = [("source", x)]
        for k in self.sample_target_classes():
            columns.append((f"to class {k}", self.translate(x, k, z)))
        return columns

    # ---- official checkpoints -----------------------------------------------------------------
    @classmethod
    def load_official(cls, path: str | os.PathLike, **overrides: Any) -> "DeepI2I":
        """Build from an official folder: a DeepI2I run / released model (``G.pth``, ``D.pth``, ``E1.pth``,
        ``A1.pth``; loaded strictly into G, D, E, A) or a BigGAN-PyTorch run (``G_ema.pth``/``G.pth``,
        ``D.pth``; becomes ``biggan=``). Network settings (resolution, ch, dim_z, shared_dim,
        num_classes, attention) are read from the files; ``overrides`` set the rest, e.g.
        ``from_scratch=True`` for a model trained with ``--training_scratch`` (its injection weights
        differ) or ``class_map=[...]``."""
        folder = Path(path)
        if not folder.is_dir():
            raise MissingFileError(
                f"{folder} is not a folder: DeepI2I's official weights are folders holding G.pth, D.pth, E1.pth and "
                f"A1.pth (a DeepI2I model) or G_ema.pth/G.pth and D.pth (BigGAN-PyTorch); see {WEIGHTS_DOC}"
            )
        deepi2i = (folder / "E1.pth").is_file()
        g_name = "G.pth" if deepi2i or not (folder / "G_ema.pth").is_file() else "G_ema.pth"
        for name in (g_name, "D.pth"):
            if not (folder / name).is_file():
                present = sorted(p.name for p in folder.glob("*.pth"))
                raise MissingFileError(f"{folder / name} not found (the folder holds {present}); see {WEIGHTS_DOC}")
        g_cfg = infer_generator_config(read_state_dict(folder / g_name))
        d_cfg = infer_discriminator_config(read_state_dict(folder / "D.pth"))
        if not g_cfg or not d_cfg:
            raise CheckpointError(f"{folder}: {g_name}/D.pth do not look like BigGAN-PyTorch state dicts")
        if not g_cfg["hier"]:
            raise CheckpointError(f"{folder / g_name} is a non-hierarchical BigGAN generator; DeepI2I uses --hier")
        if g_cfg["ch"] != d_cfg["ch"] or g_cfg["resolution"] != d_cfg["resolution"]:
            raise CheckpointError(f"{folder}: G ({g_cfg}) and D ({d_cfg}) differ in width or resolution; DeepI2I uses one ch for both")
        kwargs: dict[str, Any] = {
            "resolution": g_cfg["resolution"], "ch": g_cfg["ch"], "dim_z": g_cfg["dim_z"], "shared_dim": g_cfg["shared_dim"],
            "num_classes": g_cfg["num_classes"], "g_attention": g_cfg["attention"],
        }
        kwargs.update(overrides)
        if deepi2i:
            model = cls(**kwargs)
            parts = {"G": model.G, "D": model.D, "E": model.E, "A": model.A}
            if model.ema_decay is not None:
                parts["G_ema"] = model.G_ema
            load_deepi2i_weights(parts, folder)
            return model
        kwargs.setdefault("biggan", str(folder))
        return cls(**kwargs)
