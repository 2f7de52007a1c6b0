"""DeepI2I networks (Wang et al., NeurIPS 2020), faithful to the official ``DeepI2I_BigGAN`` code.

DeepI2I is built on ajbrock/BigGAN-PyTorch. Four networks:

- :class:`Generator` (G): BigGAN generator (hierarchical z, shared class embedding, conditional BN,
  self-attention, spectral norm) that adds adapted encoder features to its activations;
- :class:`ProjectionDiscriminator` (D): BigGAN projection discriminator; it can also return its
  intermediate features (for DeepI2I's feature-matching loss);
- :class:`Encoder` (E1): a full copy of D (same keys, initialised from BigGAN's ``D.pth``) whose forward
  returns the features at 32/16/8/4 (at 128 px);
- :class:`Adaptor` (A1, the official ``Alignment``): four wide pre-activation residual blocks that map
  the encoder features to the generator's channel counts.

State-dict keys and shapes are those of BigGAN-PyTorch / DeepI2I, so their ``G.pth``, ``G_ema.pth``,
``D.pth``, ``E1.pth`` and ``A1.pth`` load with ``strict=True`` (see :mod:`i2ikit_deepi2i.official`).
The architecture tables are BigGAN-PyTorch's ``G_arch``/``D_arch``; the official code only runs at
128 px, and the generalisation to other resolutions is described in :func:`injection_channels`.
"""
from __future__ import annotations

from dataclasses import dataclass
from typing import Iterable, Mapping, Sequence

import torch
import torch.nn.functional as F
from torch import nn

from i2ikit.errors import ConfigError
from i2ikit.parts import DiscriminatorOutput
from .layers import (
    DBlock,
    GBlock,
    SelfAttention,
    SNConv2d,
    SNEmbedding,
    SNLinear,
    SNSettings,
    StoredBatchNorm2d,
    init_biggan_weights,
)

__all__ = [
    "GeneratorArch",
    "DiscriminatorArch",
    "generator_arch",
    "discriminator_arch",
    "parse_attention",
    "injection_channels",
    "Generator",
    "ProjectionDiscriminator",
    "Encoder",
    "Adaptor",
    "encode_features",
    "translate",
    "DEFAULT_FEATURE_SIZES",
    "DEFAULT_FEATURE_WEIGHTS",
]

# Spatial sizes at which DeepI2I hands encoder features to the generator (res/32 ... res/4 at 128 px),
# and the weight of each addition (utils.py ``--E1_fea_w``; ``--training_scratch`` uses {4:1, 8:1, 16:1, 32:.1}).
DEFAULT_FEATURE_SIZES: tuple[int, ...] = (4, 8, 16, 32)
DEFAULT_FEATURE_WEIGHTS: dict[int, float] = {4: 0.1, 8: 0.1, 16: 0.1, 32: 0.1}

# Channel multipliers of BigGAN-PyTorch's G_arch (in, out per block; one block per doubling from 4x4).
_G_MULTS: dict[int, tuple[tuple[int, ...], tuple[int, ...]]] = {
    512: ((16, 16, 8, 8, 4, 2, 1), (16, 8, 8, 4, 2, 1, 1)),
    256: ((16, 16, 8, 8, 4, 2), (16, 8, 8, 4, 2, 1)),
    128: ((16, 16, 8, 4, 2), (16, 8, 4, 2, 1)),
    64: ((16, 16, 8, 4), (16, 8, 4, 2)),
    32: ((4, 4, 4), (4, 4, 4)),
}
# D_arch: (in multipliers after the RGB input, out multipliers, downsample flags, output resolution).
_D_TABLE: dict[int, tuple[tuple[int, ...], tuple[int, ...], tuple[bool, ...], tuple[int, ...]]] = {
    256: ((1, 2, 4, 8, 8, 16), (1, 2, 4, 8, 8, 16, 16), (True,) * 6 + (False,), (128, 64, 32, 16, 8, 4, 4)),
    128: ((1, 2, 4, 8, 16), (1, 2, 4, 8, 16, 16), (True,) * 5 + (False,), (64, 32, 16, 8, 4, 4)),
    64: ((1, 2, 4, 8), (1, 2, 4, 8, 16), (True,) * 4 + (False,), (32, 16, 8, 4, 4)),
    32: ((4, 4, 4), (4, 4, 4, 4), (True, True, False, False), (16, 16, 16, 16)),
}


def parse_attention(attention: str | int | Iterable[int] | None) -> frozenset[int]:
    """BigGAN's ``--G_attn``/``--D_attn`` strings: ``"64"``, ``"32_64"``; ``""``/``"0"``/None: none."""
    if attention is None:
        return frozenset()
    if isinstance(attention, int):
        return frozenset({attention}) if attention > 0 else frozenset()
    if isinstance(attention, str):
        parts = [p for p in attention.replace(",", "_").split("_") if p.strip()]
        try:
            return frozenset(int(p) for p in parts if int(p) > 0)
        except ValueError:
            raise ConfigError(f"attention (g_attention / d_attention) must be resolutions joined by '_' (e.g. '64' or "
                              f"'32_64'; '0' for none), got {attention!r}") from None
    return frozenset(int(a) for a in attention if int(a) > 0)


@dataclass(frozen=True)
class GeneratorArch:
    """One entry of BigGAN-PyTorch's ``G_arch``: per block, channels, output resolution, attention."""

    in_channels: tuple[int, ...]
    out_channels: tuple[int, ...]
    resolution: tuple[int, ...]
    attention: tuple[bool, ...]

    def channels_at(self, size: int, bottom_width: int = 4) -> int:
        """Channels of G's activation at spatial ``size`` (the reshaped linear output at ``bottom_width``)."""
        if size == bottom_width:
            return self.in_channels[0]
        if size in self.resolution:
            return self.out_channels[self.resolution.index(size)]
        raise ValueError(f"the generator has no {size}x{size} activation (block outputs: {list(self.resolution)})")


@dataclass(frozen=True)
class DiscriminatorArch:
    """One entry of BigGAN-PyTorch's ``D_arch`` (also DeepI2I's ``E_arch`` and ``A_arch``)."""

    in_channels: tuple[int, ...]
    out_channels: tuple[int, ...]
    downsample: tuple[bool, ...]
    resolution: tuple[int, ...]
    attention: tuple[bool, ...]

    def channels_at(self, size: int) -> int:
        """Channels of the *last* block output at spatial ``size`` (the one the encoder returns)."""
        idx = [i for i, r in enumerate(self.resolution) if r == size]
        if not idx:
            raise ValueError(f"the discriminator has no {size}x{size} block output (outputs: {list(self.resolution)})")
        return self.out_channels[idx[-1]]


def generator_arch(ch: int = 96, resolution: int = 128, attention: str | Iterable[int] | None = "64") -> GeneratorArch:
    """BigGAN-PyTorch ``G_arch(ch, attention)[resolution]`` (resolutions 32, 64, 128, 256, 512)."""
    if resolution not in _G_MULTS:
        raise ConfigError(f"no BigGAN generator table for resolution {resolution}; choose one of {sorted(_G_MULTS)}")
    ins, outs = _G_MULTS[resolution]
    res = tuple(8 * 2**i for i in range(len(ins)))
    attn = parse_attention(attention)
    return GeneratorArch(tuple(ch * m for m in ins), tuple(ch * m for m in outs), res, tuple(r in attn for r in res))


def discriminator_arch(ch: int = 96, resolution: int = 128, attention: str | Iterable[int] | None = "64") -> DiscriminatorArch:
    """BigGAN-PyTorch ``D_arch(ch, attention)[resolution]`` (resolutions 32, 64, 128, 256)."""
    if resolution not in _D_TABLE:
        raise ConfigError(f"no BigGAN discriminator table for resolution {resolution}; choose one of {sorted(_D_TABLE)}")
    ins, outs, down, res = _D_TABLE[resolution]
    attn = parse_attention(attention)
    return DiscriminatorArch(
        (3,) + tuple(ch * m for m in ins), tuple(ch * m for m in outs), down, res, tuple(r in attn for r in res)
    )


def injection_channels(
    resolution: int = 128,
    d_ch: int = 96,
    g_ch: int = 96,
    feature_sizes: Sequence[int] = DEFAULT_FEATURE_SIZES,
    d_attention: str | Iterable[int] | None = "64",
    g_attention: str | Iterable[int] | None = "64",
    bottom_width: int = 4,
) -> list[tuple[int, int, int]]:
    """``(size, encoder_channels, generator_channels)`` per feature size, largest size first.

    The adaptor block for ``size`` maps the encoder's channels there to the generator's. At 128 px this
    reproduces the official ``Alignment`` exactly (``A_arch = D_arch`` blocks 2..5): 32: 192->384,
    16: 384->768, 8: 768->1536, 4: 1536->1536 at ch=96. The official code hard-codes the sizes 32/16/8/4
    (``L_feat_input[32/2**index]``) and therefore runs only at 128 px; at 64 and 256 px i2ikit keeps the
    same four sizes 4/8/16/32 (the first four generator resolutions) and derives the channels the same way.
    """
    d_arch = discriminator_arch(d_ch, resolution, d_attention)
    g_arch = generator_arch(g_ch, resolution, g_attention)
    out = []
    for size in sorted(feature_sizes, reverse=True):
        out.append((size, d_arch.channels_at(size), g_arch.channels_at(size, bottom_width)))
    return out


def _sn(sn_eps: float, num_svs: int, num_itrs: int) -> SNSettings:
    return SNSettings(num_svs=num_svs, num_itrs=num_itrs, eps=sn_eps)


def _check_feature_sizes(feature_sizes: Sequence[int]) -> tuple[int, ...]:
    sizes = tuple(sorted({int(s) for s in feature_sizes}))
    if not sizes:
        raise ValueError("feature_sizes must name at least one spatial size")
    return sizes


class Generator(nn.Module):
    """BigGAN generator with DeepI2I's feature injection (official ``Generator`` in ``BigGAN.py``).

    ``forward(z, y_embedded, features=None)``: ``y_embedded`` is ``self.shared(y)`` (B x shared_dim), as in
    the official code; ``features`` maps a spatial size to an adapted feature (B x C x s x s). With
    hierarchical z, ``z`` (B x dim_z) is split into ``len(blocks) + 1`` chunks: chunk 0 feeds ``linear``,
    whose output is viewed as (B, 16ch, 4, 4); block i is conditioned on ``cat(y_embedded, chunk i+1)``.
    Injection: ``h += w[4] * features[4]`` right after that reshape, then after *every* module of every
    block (GBlock and attention alike) whose output size ``s`` is in ``feature_sizes``:
    ``h += w[s] * features[s]``. With ``features=None`` it is the plain BigGAN generator.
    Output: ``tanh(conv3x3(ReLU(bn(h))))`` in [-1, 1].

    Defaults are DeepI2I's 128 px settings (ch 96, dim_z 120, shared 128, hier, attention at 64,
    BN eps 1e-5, SN eps 1e-6): 70,433,988 parameters, 166 state-dict entries.
    ``init``: BigGAN's ``ortho`` (the official G always runs it), ``N02``, ``glorot`` or ``default``.
    """

    def __init__(
        self,
        *,
        resolution: int = 128,
        ch: int = 96,
        dim_z: int = 120,
        shared_dim: int = 128,
        num_classes: int = 1000,
        hier: bool = True,
        attention: str = "64",
        bottom_width: int = 4,
        bn_eps: float = 1e-5,
        sn_eps: float = 1e-6,
        num_svs: int = 1,
        num_itrs: int = 1,
        feature_sizes: Sequence[int] = DEFAULT_FEATURE_SIZES,
        feature_weights: Mapping[int, float] | None = None,
        init: str = "ortho",
    ) -> None:
        super().__init__()
        self.arch = generator_arch(ch, resolution, attention)
        self.resolution, self.ch, self.num_classes, self.hier = resolution, ch, num_classes, hier
        self.bottom_width = bottom_width
        self.shared_dim = shared_dim if shared_dim > 0 else dim_z
        n_blocks = len(self.arch.out_channels)
        if hier:
            self.num_slots = n_blocks + 1
            self.z_chunk_size = dim_z // self.num_slots
            self.dim_z = self.z_chunk_size * self.num_slots  # BigGAN rounds dim_z down to equal chunks
        else:
            self.num_slots, self.z_chunk_size, self.dim_z = 1, 0, dim_z
        self.feature_sizes = _check_feature_sizes(feature_sizes)
        weights = dict(DEFAULT_FEATURE_WEIGHTS if feature_weights is None else feature_weights)
        self.feature_weights = {int(k): float(v) for k, v in weights.items()}
        missing = [s for s in self.feature_sizes if s not in self.feature_weights]
        if missing:
            raise ConfigError(f"the injection weights (DeepI2I's injection_weights) have no weight for feature size(s) "
                              f"{missing}; give one per size of {list(self.feature_sizes)}")
        reachable = {bottom_width, *self.arch.resolution}
        bad = [s for s in self.feature_sizes if s not in reachable]
        if bad:
            raise ValueError(f"the {resolution} px generator has no activation of size {bad}; sizes: {sorted(reachable)}")

        sn = _sn(sn_eps, num_svs, num_itrs)
        cond_dim = self.shared_dim + self.z_chunk_size
        # Registration order = BigGAN-PyTorch key order: shared, linear, blocks, output_layer.
        self.shared = nn.Embedding(num_classes, self.shared_dim)  # no spectral norm on G's class embedding
        self.linear = SNLinear(self.dim_z // self.num_slots, self.arch.in_channels[0] * bottom_width**2, sn=sn)
        blocks = []
        for i, (cin, cout) in enumerate(zip(self.arch.in_channels, self.arch.out_channels)):
            stage: list[nn.Module] = [GBlock(cin, cout, cond_dim, upsample=True, bn_eps=bn_eps, sn=sn)]
            if self.arch.attention[i]:
                stage.append(SelfAttention(cout, sn=sn))
            blocks.append(nn.ModuleList(stage))
        self.blocks = nn.ModuleList(blocks)
        out_ch = self.arch.out_channels[-1]
        # BigGAN builds this BN with its default eps 1e-5, whatever --BN_eps says.
        self.output_layer = nn.Sequential(StoredBatchNorm2d(out_ch), nn.ReLU(), SNConv2d(out_ch, 3, 3, padding=1, sn=sn))
        init_biggan_weights(self, init)

    def injection_channels(self) -> dict[int, int]:
        """Channels each injected feature must have, by spatial size."""
        return {s: self.arch.channels_at(s, self.bottom_width) for s in self.feature_sizes}

    def sample_z(self, batch_size: int, *, device: torch.device | str | None = None, generator: torch.Generator | None = None) -> torch.Tensor:
        """Standard-normal noise (B x dim_z), untruncated, as DeepI2I draws it."""
        device = device if device is not None else self.linear.weight.device
        return torch.randn(batch_size, self.dim_z, device=device, generator=generator)

    def _inject(self, h: torch.Tensor, features: Mapping[int, torch.Tensor], weights: Mapping[int, float]) -> torch.Tensor:
        size = h.shape[-1]
        if size not in self.feature_sizes:
            return h
        try:
            feat = features[size]
        except KeyError:
            raise KeyError(f"features has no {size}x{size} entry (has {sorted(features)}); the generator injects at {list(self.feature_sizes)}") from None
        return h + weights[size] * feat

    def forward(
        self,
        z: torch.Tensor,
        y_embedded: torch.Tensor,
        features: Mapping[int, torch.Tensor] | None = None,
        feature_weights: Mapping[int, float] | None = None,
    ) -> torch.Tensor:
        if z.shape[-1] != self.dim_z:
            raise ValueError(f"z has {z.shape[-1]} dims, the generator expects dim_z={self.dim_z}")
        weights = self.feature_weights if feature_weights is None else {int(k): float(v) for k, v in feature_weights.items()}
        if self.hier:
            chunks = torch.split(z, self.z_chunk_size, dim=1)
            z0 = chunks[0]
            conds = [torch.cat([y_embedded, c], dim=1) for c in chunks[1:]]
        else:
            z0 = z
            conds = [y_embedded] * len(self.blocks)
        h = self.linear(z0).view(z.shape[0], -1, self.bottom_width, self.bottom_width)
        if features is not None:
            h = self._inject(h, features, weights)
        for stage, cond in zip(self.blocks, conds):
            for module in stage:
                h = module(h, cond)
                if features is not None:
                    h = self._inject(h, features, weights)
        return torch.tanh(self.output_layer(h))


class _BigGANDiscriminatorBody(nn.Module):
    """BigGAN-PyTorch D layout shared by D and E1: ``blocks`` (DBlocks + attention), ``linear``, ``embed``."""

    def __init__(
        self,
        *,
        resolution: int = 128,
        ch: int = 96,
        num_classes: int = 1000,
        attention: str = "64",
        wide: bool = True,
        output_dim: int = 1,
        sn_eps: float = 1e-6,
        num_svs: int = 1,
        num_itrs: int = 1,
        feature_sizes: Sequence[int] = DEFAULT_FEATURE_SIZES,
        relu_quirk: bool = True,
        init: str = "ortho",
    ) -> None:
        super().__init__()
        self.arch = discriminator_arch(ch, resolution, attention)
        self.resolution, self.ch, self.num_classes = resolution, ch, num_classes
        self.feature_sizes = _check_feature_sizes(feature_sizes)
        self.relu_quirk = relu_quirk
        sn = _sn(sn_eps, num_svs, num_itrs)
        blocks = []
        for i, (cin, cout) in enumerate(zip(self.arch.in_channels, self.arch.out_channels)):
            stage: list[nn.Module] = [
                DBlock(cin, cout, wide=wide, preactivation=i > 0, downsample=self.arch.downsample[i], sn=sn)
            ]
            if self.arch.attention[i]:
                stage.append(SelfAttention(cout, sn=sn))
            blocks.append(nn.ModuleList(stage))
        self.blocks = nn.ModuleList(blocks)
        self.linear = SNLinear(self.arch.out_channels[-1], output_dim, sn=sn)
        self.embed = SNEmbedding(num_classes, self.arch.out_channels[-1], sn=sn)
        init_biggan_weights(self, init)

    def trunk(self, x: torch.Tensor) -> tuple[torch.Tensor, dict[int, torch.Tensor]]:
        """Run the blocks. Returns ``(relu(h_last), features)``; ``features[s]`` is the output of the last
        module whose output is s x s, for s in ``feature_sizes`` (pre-activation).

        Quirk of the official code (``--D_nl inplace_relu``): the final ``relu(h)`` before sum pooling is
        in place, and the last feature entry (4x4 at 128 px, block 5's output) *is* that tensor, so the
        returned 4x4 feature is post-ReLU. ``relu_quirk=True`` (default) reproduces that.
        """
        h = x
        feats: dict[int, torch.Tensor] = {}
        for stage in self.blocks:
            for module in stage:
                h = module(h)
                if h.shape[-1] in self.feature_sizes:
                    feats[h.shape[-1]] = h
        activated = F.relu(h)
        if self.relu_quirk:
            feats = {s: (activated if f is h else f) for s, f in feats.items()}
        return activated, feats


class ProjectionDiscriminator(_BigGANDiscriminatorBody):
    """BigGAN projection discriminator (official ``Discriminator``).

    ``out = linear(sum_hw(relu(h))) + sum(embed(y) * sum_hw(relu(h)))`` (B x output_dim), returned as
    :class:`~i2ikit.parts.DiscriminatorOutput` ``(out, features)``: ``features`` are the maps DeepI2I's
    feature loss uses, largest first (``32, 16, 8, 4`` px at 128 px; the 4x4 one is post-ReLU, see
    :meth:`trunk`). ``y=None`` drops the projection term (unconditional). Defaults (128 px, ch 96, 1000
    classes): 87,982,370 parameters, 88 state-dict entries. Blocks: wide DBlocks, the first without
    preactivation, SAGAN attention after the 64x64 block, AvgPool downsampling in all but the last block.
    """

    labels = "required"  # the projection term is how it learns each class

    def forward(self, x: torch.Tensor, y: torch.Tensor | None = None) -> DiscriminatorOutput:
        activated, feats = self.trunk(x)
        pooled = activated.sum(dim=(2, 3))
        out = self.linear(pooled)
        if y is not None:
            out = out + (self.embed(y) * pooled).sum(dim=1, keepdim=True)
        return DiscriminatorOutput(out, list(feats.values()))


class Encoder(_BigGANDiscriminatorBody):
    """DeepI2I encoder E1: a copy of the BigGAN discriminator returning its intermediate features.

    Same modules and state-dict keys as :class:`ProjectionDiscriminator` (``linear`` and ``embed`` are
    kept although the features never use them), so BigGAN's ``D.pth`` initialises it.
    ``forward(x, y=None)`` ignores ``y`` and returns ``{size: feature}`` for ``feature_sizes``; at 128 px
    and ch 96: ``{32: 192ch, 16: 384ch, 8: 768ch, 4: 1536ch}``, the 32/16/8 features pre-activation and
    the 4x4 one post-ReLU (official quirk, ``relu_quirk``). As in the official code the unused
    ``linear`` head is still evaluated, so its spectral-norm vector updates in training mode too.
    """

    def forward(self, x: torch.Tensor, y: torch.Tensor | None = None) -> dict[int, torch.Tensor]:
        activated, feats = self.trunk(x)
        self.linear(activated.sum(dim=(2, 3)))  # result unused (as officially); keeps SN buffer updates faithful
        return feats


class Adaptor(nn.Module):
    """DeepI2I adaptor A1 (official ``Alignment``): one wide pre-activation DBlock per feature size.

    Each block is ``ReLU -> SNConv3x3(c_in->c_out) -> ReLU -> SNConv3x3(c_out->c_out)`` plus an SNConv1x1
    shortcut when ``c_in != c_out`` (identity otherwise), without attention or downsampling. Blocks are
    ordered by decreasing size; at 128 px, ch 96: ``blocks.0`` 32: 192->384, ``blocks.1`` 16: 384->768,
    ``blocks.2`` 8: 768->1536, ``blocks.3`` 4: 1536->1536 (channels from :func:`injection_channels`).
    The official module also builds D's unused ``linear`` (SNLinear(16ch, 1)) and ``embed``
    (SNEmbedding(num_classes, 16ch)); they are kept (``keep_unused_heads``) so that ``A1.pth`` loads
    strictly: 87,368,065 parameters at the defaults.

    ``init="default"`` (PyTorch's conv init) is what DeepI2I's BigGAN-initialised runs get: ``--resume``
    sets ``skip_init``, and the adaptor is the one module not loaded from a checkpoint. Training from
    scratch (``--training_scratch``) uses ``ortho``.
    """

    def __init__(
        self,
        *,
        resolution: int = 128,
        ch: int = 96,
        g_ch: int | None = None,
        num_classes: int = 1000,
        attention: str = "64",
        g_attention: str = "64",
        bottom_width: int = 4,
        wide: bool = True,
        output_dim: int = 1,
        sn_eps: float = 1e-6,
        num_svs: int = 1,
        num_itrs: int = 1,
        feature_sizes: Sequence[int] = DEFAULT_FEATURE_SIZES,
        keep_unused_heads: bool = True,
        init: str = "default",
    ) -> None:
        super().__init__()
        g_ch = ch if g_ch is None else g_ch
        self.resolution, self.ch, self.g_ch = resolution, ch, g_ch
        self.feature_sizes = _check_feature_sizes(feature_sizes)
        self.plan = injection_channels(resolution, ch, g_ch, self.feature_sizes, attention, g_attention, bottom_width)
        sn = _sn(sn_eps, num_svs, num_itrs)
        self.blocks = nn.ModuleList(
            nn.ModuleList([DBlock(cin, cout, wide=wide, preactivation=True, downsample=False, sn=sn)])
            for _, cin, cout in self.plan
        )
        if keep_unused_heads:
            last = discriminator_arch(ch, resolution, attention).out_channels[-1]
            self.linear = SNLinear(last, output_dim, sn=sn)
            self.embed = SNEmbedding(num_classes, last, sn=sn)
        init_biggan_weights(self, init)

    def forward(self, features: Mapping[int, torch.Tensor]) -> dict[int, torch.Tensor]:
        out: dict[int, torch.Tensor] = {}
        for (size, cin, _), stage in zip(self.plan, self.blocks):
            try:
                h = features[size]
            except KeyError:
                raise KeyError(f"the adaptor needs a {size}x{size} encoder feature; got sizes {sorted(features)}") from None
            if h.shape[1] != cin or h.shape[-1] != size:
                raise ValueError(f"the {size}x{size} feature should have {cin} channels, got shape {tuple(h.shape)}")
            for module in stage:
                h = module(h)
            out[size] = h
        return out


def encode_features(encoder: Encoder, adaptor: Adaptor, x: torch.Tensor) -> dict[int, torch.Tensor]:
    """``A1(E1(x))``: the adapted source features that the generator adds to its activations."""
    return adaptor(encoder(x))


def translate(
    generator: Generator,
    encoder: Encoder,
    adaptor: Adaptor,
    x: torch.Tensor,
    y_target: torch.Tensor | int,
    z: torch.Tensor | None = None,
    *,
    feature_weights: Mapping[int, float] | None = None,
    rng: torch.Generator | None = None,
) -> torch.Tensor:
    """Translate source images ``x`` (B x 3 x res x res in [-1, 1]) to class ``y_target``.

    The official path (``G_D.forward``; ``test.py`` -> ``sample_sheet_all_cate``): ``E1(x)`` -> features
    at 32/16/8/4 -> ``A1`` -> ``G(z, G.shared(y), features)`` with ``z ~ N(0, I)`` (no truncation);
    the generator adds ``0.1 * feature`` (``feature_weights``) at 4, 8, 16 and 32. Modes and gradients are
    left to the caller: the official test runs E1, A1 and G in eval mode under ``torch.no_grad()``.
    ``y_target`` is an int (same class for all) or a (B,) tensor of class indices. Returns B x 3 x res x res
    in [-1, 1].
    """
    b = x.shape[0]
    if isinstance(y_target, int):
        y_target = torch.full((b,), y_target, dtype=torch.long, device=x.device)
    y_target = y_target.to(device=x.device, dtype=torch.long)
    if y_target.shape != (b,):
        raise ValueError(f"y_target must be an int or a ({b},) tensor of class indices, got shape {tuple(y_target.shape)}")
    if z is None:
        z = torch.randn(b, generator.dim_z, device=x.device, dtype=x.dtype, generator=rng)
    features = encode_features(encoder, adaptor, x)
    return generator(z, generator.shared(y_target), features, feature_weights)
