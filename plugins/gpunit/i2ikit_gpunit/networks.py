"""GP-UNIT networks (Yang et al., CVPR 2022), re-implemented from the behaviour of the official
``williamyang1991/GP-UNIT`` code (``model/*.py`` at ``d59695e``); nothing is copied from it.

For the same weights and inputs every module computes what its official counterpart computes, and its
``state_dict`` has the official key names and shapes (so ``content_encoder.pt`` and the ``g_ema`` /
``sampler`` entries of the released task files load with ``strict=True``):

===========================  ==============================================  =====================
here                         official                                        default size
===========================  ==============================================  =====================
:class:`ContentEncoder`      ``content_encoder.ContentEncoder``              9,446,529 params, 48 keys
:class:`Generator`           ``generator.Generator`` (``g_ema``)             39,926,358 params, 114 keys
:class:`Discriminator`       ``discriminator.Discriminator``                 20,851,777 params, 69 keys
:class:`Sampler`             ``sampler._netT`` (``sampler``)                 66,048 params, 13 keys
:class:`PriorAutoEncoder`    ``content_encoder.AutoEncoder`` (Stage I only)  see docs
===========================  ==============================================  =====================

The Stage-II generator consumes the list ``[c6, c5, c4, c3, c2, c1]`` that ``ContentEncoder(x,
get_feature=True)`` returns: c6 (1 x 8 x 8, the coarse content code) is its only bottom input, c4 and c3
feed the two dynamic skip connections (16^2 and 32^2); c5, c2 and c1 are unused, as officially.

Everything is device-agnostic (no ``.cuda()``); only torch and the i2ikit core are imported.
"""
from __future__ import annotations

import math
from typing import Sequence

import torch
import torch.nn.functional as F
from torch import nn
from torch.nn.utils import spectral_norm

from i2ikit.constraints import Range, at_least_one
from i2ikit.errors import ConfigError
from i2ikit.nn import Conv2dBlock
from i2ikit.nn.layers import StyleAdaIN2d, grad_reverse, init_weights
from i2ikit.parts import DiscriminatorOutput

__all__ = [
    "GPConvBlock",
    "ContentEncoder",
    "AdaResnetBlock",
    "DynamicSkipLayer",
    "GeneratorLayer",
    "StyleEncoder",
    "Generator",
    "DisResBlock",
    "Discriminator",
    "Sampler",
    "PriorStyleEncoder",
    "PriorDecoder",
    "DomainClassifier",
    "PriorAutoEncoder",
    "ContentFeatures",
    "preprocess",
    "encode_content",
    "sample_styles",
    "translate",
]

ContentFeatures = Sequence[torch.Tensor]  # [c6, c5, c4, c3, c2, c1], coarse first

_NORMS = {"instance": "in", "in": "in", "batch": "bn", "bn": "bn", "none": "none"}


def _flip_w(x: torch.Tensor) -> torch.Tensor:
    return x.flip(3)


# ================================================================================================
# Stage I: the content encoder (kept after Stage I) and the prior-distillation auto-encoder
# ================================================================================================
class GPConvBlock(Conv2dBlock):
    """GP-UNIT's ``Conv2dBlock``: spectrally normalised conv with **reflect** padding -> norm -> activation.

    Built on :class:`i2ikit.nn.Conv2dBlock` (``pad`` module + unpadded ``conv``, numerically the same as
    the official ``Conv2d(padding_mode='reflect')``), whose ``conv`` is wrapped by the legacy
    ``torch.nn.utils.spectral_norm`` exactly as officially, so the keys are ``conv.weight_orig``,
    ``conv.bias``, ``conv.weight_u``, ``conv.weight_v``. Note the official argument order
    ``(fin, fout, kernel_size, padding, stride)``.

    ``norm``: ``instance`` (IN, no affine), ``batch``, ``adain`` (:class:`StyleAdaIN2d` driven by a
    ``style_dim``-d vector; keys ``norm.style.*``) or ``none``. ``forward(x, s=None)``: with ``adain``,
    ``s`` is the style vector; with another norm, ``s = (mean, std)`` (B x C x 1 x 1 each) applies the
    image-level modulation ``norm(x) * std + mean`` before the activation, as the Stage-I decoder does.
    """

    def __init__(
        self,
        fin: int,
        fout: int,
        kernel_size: int,
        padding: int,
        stride: int,
        norm: str = "none",
        activation: str = "relu",
        *,
        style_dim: int = 128,
    ) -> None:
        if norm != "adain" and norm not in _NORMS:
            raise ValueError(f"unknown norm {norm!r}; choose one of instance, batch, adain, none")
        super().__init__(
            fin, fout, kernel_size, stride, padding, norm="none" if norm == "adain" else _NORMS[norm],
            activation=activation, pad_type="reflect",
        )
        spectral_norm(self.conv)
        if norm == "adain":
            self.norm = StyleAdaIN2d(style_dim, fout)

    def forward(self, x: torch.Tensor, s: torch.Tensor | Sequence[torch.Tensor] | None = None) -> torch.Tensor:  # type: ignore[override]
        x = self.conv(self.pad(x))
        if isinstance(self.norm, StyleAdaIN2d):
            if not isinstance(s, torch.Tensor):
                raise ValueError("an adain GPConvBlock needs the style vector s (B x style_dim)")
            x = self.norm(x, s)
        elif self.norm is not None:
            x = self.norm(x)
            if s is not None:
                mean, std = s
                x = x * std + mean
        if self.activation is not None:
            x = self.activation(x)
        return x


class ContentEncoder(nn.Module):
    """The Stage-I content encoder ``E`` (official ``ContentEncoder(nef=64)``), frozen in Stage II.

    Six stages ``layer1..layer6``, each two :class:`GPConvBlock` (3x3, IN, LeakyReLU 0.2, SN, reflect):
    ``3->nef s1, nef->nef s2 | nef->nef, nef->2nef s2 | 2nef->2nef, 2nef->4nef s2 | 4nef->4nef,
    4nef->8nef s2 | 8nef->8nef, 8nef->8nef s2 | 8nef->8nef, 8nef->1 s1``. At 256 px the outputs are
    c1 64x128^2, c2 128x64^2, c3 256x32^2, c4 512x16^2, c5 512x8^2, **c6 1x8x8**.

    c6 is the coarse content code: one channel, instance-normalised then LeakyReLU'd (so before the
    activation each 8x8 map has mean 0 and biased variance 1); it is **not** binarised or quantised.

    An input whose size differs from ``input_size`` is first resized bilinearly (``align_corners=False``),
    as officially (``input_size=256``; ``None`` disables the resize, for tests at small sizes).
    ``forward(x)`` returns c6; ``forward(x, get_feature=True)`` returns ``[c6, c5, c4, c3, c2, c1]``.

    Train vs eval: the legacy spectral norm runs one power iteration per forward pass in training mode
    (updating the ``weight_u``/``weight_v`` buffers); in eval mode it uses the stored vectors. The
    official Stage II never calls ``.eval()`` on the frozen encoder; official inference does.
    """

    def __init__(self, nef: int = 64, *, input_size: int | None = 256, init: str = "kaiming") -> None:
        super().__init__()
        self.nef, self.input_size = nef, input_size
        widths = [(3, nef, nef), (nef, nef, 2 * nef), (2 * nef, 2 * nef, 4 * nef),
                  (4 * nef, 4 * nef, 8 * nef), (8 * nef, 8 * nef, 8 * nef), (8 * nef, 8 * nef, 1)]
        for i, (cin, cmid, cout) in enumerate(widths, start=1):
            last_stride = 1 if i == 6 else 2
            setattr(self, f"layer{i}", nn.Sequential(
                GPConvBlock(cin, cmid, 3, 1, 1, "instance", "lrelu"),
                GPConvBlock(cmid, cout, 3, 1, last_stride, "instance", "lrelu"),
            ))
        if init != "default":
            init_weights(self, init)

    @property
    def feature_channels(self) -> list[int]:
        """Channels of ``[c6, c5, c4, c3, c2, c1]``."""
        n = self.nef
        return [1, 8 * n, 8 * n, 4 * n, 2 * n, n]

    def forward(self, x: torch.Tensor, get_feature: bool = False) -> torch.Tensor | list[torch.Tensor]:
        if self.input_size is not None and tuple(x.shape[-2:]) != (self.input_size, self.input_size):
            x = F.interpolate(x, size=(self.input_size, self.input_size), mode="bilinear", align_corners=False)
        feats = []
        for i in range(1, 7):
            x = getattr(self, f"layer{i}")(x)
            feats.append(x)
        if get_feature:
            return feats[::-1]
        return feats[-1]


class PriorStyleEncoder(nn.Module):
    """Stage-I image-level style encoder (official ``content_encoder.StyleEncoder``; ``AutoEncoder.styleE``).

    Six :class:`GPConvBlock` ``layer1..layer6`` (3x3, stride 2, no norm, LeakyReLU): ``3->nef->2nef->4nef
    ->8nef->8nef->8nef``. Returns, for each level (128^2 ... 4^2 at 256 px), ``[mean, std]`` over space,
    each ``B x C x 1 x 1``, with the **unbiased** std.
    """

    def __init__(self, nef: int = 64) -> None:
        super().__init__()
        chans = [3, nef, 2 * nef, 4 * nef, 8 * nef, 8 * nef, 8 * nef]
        for i in range(6):
            setattr(self, f"layer{i + 1}", GPConvBlock(chans[i], chans[i + 1], 3, 1, 2, "none", "lrelu"))

    @staticmethod
    def statistics(f: torch.Tensor) -> list[torch.Tensor]:
        flat = f.flatten(2)
        return [flat.mean(2)[:, :, None, None], flat.std(2)[:, :, None, None]]

    def forward(self, x: torch.Tensor) -> list[list[torch.Tensor]]:
        out = []
        for i in range(1, 7):
            x = getattr(self, f"layer{i}")(x)
            out.append(self.statistics(x))
        return out


class PriorDecoder(nn.Module):
    """Stage-I decoder (official ``content_encoder.Decoder``; ``AutoEncoder.G``).

    ``layer1`` (3 adain convs at 8^2) -> ``layer2`` (adain, then up) -> ``layer3`` (adain at 16^2; its
    output gives ``tomask``, a 3 x 16 x 16 tanh mask; then up) -> ``layer4/5/6`` (IN convs 8ndf->4ndf->2ndf
    ->ndf, each modulated by the image-level style statistics of levels 2, 1, 0, then ReLU, then up) ->
    ``layer7`` (ndf->3, tanh). AdaIN layers take the 128-d domain embedding; upsampling is nearest x2;
    activations default to ReLU. ``forward(x, s, y) -> (image, mask)``.
    """

    def __init__(self, ndf: int = 64, embed_dim: int = 128) -> None:
        super().__init__()
        c = 8 * ndf
        self.layer1 = nn.Sequential(*[GPConvBlock(c, c, 3, 1, 1, "adain", style_dim=embed_dim) for _ in range(3)])
        self.layer2 = GPConvBlock(c, c, 3, 1, 1, "adain", style_dim=embed_dim)
        self.layer3 = GPConvBlock(c, c, 3, 1, 1, "adain", style_dim=embed_dim)
        self.layer4 = GPConvBlock(c, 4 * ndf, 3, 1, 1, "instance")
        self.layer5 = GPConvBlock(4 * ndf, 2 * ndf, 3, 1, 1, "instance")
        self.layer6 = GPConvBlock(2 * ndf, ndf, 3, 1, 1, "instance")
        self.layer7 = GPConvBlock(ndf, 3, 3, 1, 1, "none", "tanh")
        self.tomask = GPConvBlock(c, 3, 3, 1, 1, "none", "tanh")

    def forward(self, x: torch.Tensor, s: Sequence[Sequence[torch.Tensor]], y: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        up = lambda t: F.interpolate(t, scale_factor=2, mode="nearest")  # noqa: E731
        for conv in self.layer1:
            x = conv(x, y)
        x = up(self.layer2(x, y))
        x = self.layer3(x, y)
        mask = self.tomask(x)
        x = up(x)
        x = up(self.layer4(x, s[2]))
        x = up(self.layer5(x, s[1]))
        x = up(self.layer6(x, s[0]))
        return self.layer7(x), mask


class DomainClassifier(nn.Module):
    """Stage-I domain classifier ``C`` on the 1 x 8 x 8 content code (used behind gradient reversal).

    ``layer1`` conv 1->32 (3x3 s2) -> ``layer2`` 32->64 (3x3) -> ``layer3`` 64->ncls (4x4 valid), all SN,
    LeakyReLU, no norm -> ``fc3`` Linear(ncls, ncls). Registration order as officially (``fc3`` first).
    ``code_size`` (8 at 256 px) sets layer3's kernel to ``code_size // 2`` so that it reduces to 1 x 1, as
    officially; smaller codes (128 px: 4) are for tests and smoke runs. It must be at least 4.
    """

    def __init__(self, ncls: int = 292, code_size: int = 8) -> None:
        super().__init__()
        if code_size < 4:
            raise ValueError(f"the Stage-I domain classifier needs a content code of at least 4 x 4 (input >= 128 px), "
                             f"got {code_size} x {code_size}")
        self.fc3 = nn.Linear(ncls, ncls)
        self.layer1 = GPConvBlock(1, 32, 3, 1, 2, "none", "lrelu")
        self.layer2 = GPConvBlock(32, 64, 3, 1, 1, "none", "lrelu")
        self.layer3 = GPConvBlock(64, ncls, code_size // 2, 0, 1, "none", "lrelu")

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        x = self.layer3(self.layer2(self.layer1(x)))
        return self.fc3(x.flatten(1))


class PriorAutoEncoder(nn.Module):
    """The Stage-I prior-distillation network (official ``AutoEncoder(nf=64, ncls=292, noise=0.2)``).

    Children, in official order: ``contentE`` (:class:`ContentEncoder`), ``styleE``
    (:class:`PriorStyleEncoder`), ``G`` (:class:`PriorDecoder`), ``C`` (:class:`DomainClassifier`), ``fc``
    (GPConvBlock 1->8nf, 1x1, IN, LeakyReLU, on the content code) and ``embed`` (``Embedding(ncls, 128)``,
    the domain-level style). Only ``contentE`` is kept after Stage I. The losses are the Stage-I method's
    business (next slice); this class only provides the official forward pieces:

    - ``encode(x, ratio)`` -> ``(z, c6, style_stats)``: ``z = c6 + noise * N(0, I)``; with probability
      ``1 - ratio`` the style input is the horizontally flipped batch (one draw for the whole batch);
    - ``decode(style_stats, y_embed, z)`` -> ``(image, mask)``; ``z=None`` draws a random code;
    - ``classify(c6)``: ``C`` behind a gradient-reversal layer (lambda 1);
    - ``forward(x, labels, ratio=1.0)`` -> ``(reconstruction, c6, mask)``.
    """

    def __init__(self, nf: int = 64, ncls: int = 292, noise: float = 0.2, *, input_size: int = 256,
                 embed_dim: int = 128, init: str = "kaiming") -> None:
        super().__init__()
        self.contentE = ContentEncoder(nf, input_size=input_size, init="default")
        self.styleE = PriorStyleEncoder(nf)
        self.G = PriorDecoder(nf, embed_dim)
        self.C = DomainClassifier(ncls, code_size=input_size // 32)
        self.so = input_size // 32
        self.fc = GPConvBlock(1, 8 * nf, 1, 0, 1, "instance", "lrelu")
        self.nf = nf
        self.embed = nn.Embedding(ncls, embed_dim)
        self.noise = noise
        if init != "default":
            init_weights(self, init)

    def encode(self, x: torch.Tensor, ratio: float = 1.0, *, generator: torch.Generator | None = None
               ) -> tuple[torch.Tensor, torch.Tensor, list[list[torch.Tensor]]]:
        ccode = self.contentE(x)
        z = self.reparameterize(ccode, generator=generator)
        flip = torch.rand((), generator=generator).item() > ratio
        scode = self.styleE(_flip_w(x) if flip else x)
        return z, ccode, scode

    def reparameterize(self, ccode: torch.Tensor, *, generator: torch.Generator | None = None) -> torch.Tensor:
        if generator is None:
            noise = torch.randn_like(ccode)
        else:
            noise = torch.randn(ccode.shape, generator=generator, dtype=ccode.dtype).to(ccode.device)
        return ccode + noise * self.noise

    def decode(self, scode: Sequence[Sequence[torch.Tensor]], y: torch.Tensor, z: torch.Tensor | None = None
               ) -> tuple[torch.Tensor, torch.Tensor]:
        if z is None:
            ref = scode[0][0]
            z = torch.randn(ref.shape[0], self.so * self.so, dtype=ref.dtype, device=ref.device)
        x = self.fc(z.reshape(-1, 1, self.so, self.so))
        return self.G(x, scode, y)

    def classify(self, ccode: torch.Tensor | Sequence[torch.Tensor]) -> torch.Tensor:
        x = torch.cat(list(ccode), dim=1) if isinstance(ccode, (list, tuple)) else ccode
        return self.C(grad_reverse(x, 1.0))

    def forward(self, x: torch.Tensor, labels: torch.Tensor, ratio: float = 1.0
                ) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
        z, ccode, scode = self.encode(x, ratio)
        xr, mask = self.decode(scode, self.embed(labels), z)
        return xr, ccode, mask


# ================================================================================================
# Stage II: generator, discriminator, sampler
# ================================================================================================
def _lrelu(x: torch.Tensor) -> torch.Tensor:
    return F.leaky_relu(x, 0.2)


class AdaResnetBlock(nn.Module):
    """SPADE-style residual block with :class:`StyleAdaIN2d` (official ``AdaResnetBlock``).

    ``conv_1(lrelu(norm_1(conv_0(lrelu(norm_0(x))))))`` (3x3, zero padding, bias; hidden width ``fout``)
    plus the shortcut ``conv_s(norm_s(x))`` (1x1, no bias) when ``fin != fout``, else ``x``. No 1/sqrt(2).
    Registration order (= key order): ``conv_0, conv_1, conv_s, norm_0, norm_1, norm_s``.
    """

    def __init__(self, fin: int, fout: int, style_dim: int = 256) -> None:
        super().__init__()
        self.learned_shortcut = fin != fout
        self.conv_0 = nn.Conv2d(fin, fout, 3, padding=1)
        self.conv_1 = nn.Conv2d(fout, fout, 3, padding=1)
        if self.learned_shortcut:
            self.conv_s = nn.Conv2d(fin, fout, 1, bias=False)
        self.norm_0 = StyleAdaIN2d(style_dim, fin)
        self.norm_1 = StyleAdaIN2d(style_dim, fout)
        if self.learned_shortcut:
            self.norm_s = StyleAdaIN2d(style_dim, fin)

    def forward(self, x: torch.Tensor, style: torch.Tensor) -> torch.Tensor:
        x_s = self.conv_s(self.norm_s(x, style)) if self.learned_shortcut else x
        dx = self.conv_0(_lrelu(self.norm_0(x, style)))
        dx = self.conv_1(_lrelu(self.norm_1(dx, style)))
        return x_s + dx


class DynamicSkipLayer(nn.Module):
    """GRU-like dynamic skip connection (official ``DynamicSkipLayer(hidden_nc, feature_nc)``).

    All four convs are 3x3 with reflect padding: ``trans`` (W_h: hidden->feat), ``reset`` (W_r),
    ``mask`` (W_m) and ``update`` (W_E) (2feat->feat). With decoder feature f_G, encoder feature f_E and
    the previous state h (at half resolution):

    1. h^ = lrelu_0.2(W_h * up(h))                (nearest x2)
    2. r  = sigmoid(W_r * [h^, f_E])
    3. h' = r * h^                                (the state passed on)
    4. m  = tanh(relu(W_m * [h^, f_E]))           (in [0, 1); mostly exactly 0)
    5. f^_E = W_E * [h', f_E]                     (no activation)
    6. out = (1 - m) * f_G + m * f^_E

    ``forward(f_dec, f_enc, state) -> (out, new_state, mask)``.
    """

    def __init__(self, hidden_nc: int, feature_nc: int) -> None:
        super().__init__()
        self.hidden_nc, self.feature_nc = hidden_nc, feature_nc
        self.trans = nn.Conv2d(hidden_nc, feature_nc, 3, padding=1, padding_mode="reflect")
        self.reset = nn.Conv2d(2 * feature_nc, feature_nc, 3, padding=1, padding_mode="reflect")
        self.mask = nn.Conv2d(2 * feature_nc, feature_nc, 3, padding=1, padding_mode="reflect")
        self.update = nn.Conv2d(2 * feature_nc, feature_nc, 3, padding=1, padding_mode="reflect")

    def forward(self, f_dec: torch.Tensor, f_enc: torch.Tensor, state: torch.Tensor
                ) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
        h = _lrelu(self.trans(F.interpolate(state, scale_factor=2, mode="nearest")))
        hf = torch.cat((h, f_enc), dim=1)
        new_state = torch.sigmoid(self.reset(hf)) * h
        mask = torch.tanh(F.relu(self.mask(hf)))
        new_enc = self.update(torch.cat((new_state, f_enc), dim=1))
        return (1 - mask) * f_dec + mask * new_enc, new_state, mask


class GeneratorLayer(nn.Module):
    """One generator level (official ``GeneratorLayer``): ``reslayer`` (:class:`AdaResnetBlock`), an optional
    ``postlayer`` (a second one, used at 8^2), ``rgblayer`` (7x7 conv C->3 on ``lrelu(x)``, computed
    **before** the skip fusion) and an optional ``skiplayer`` (:class:`DynamicSkipLayer`).
    ``forward(x, style, content=None, state=None) -> (x, rgb, new_state, mask)``; the skip is applied only
    when the layer has one and both ``content`` and ``state`` are given (otherwise state/mask are None).
    """

    def __init__(self, fin: int, fout: int, hidden_nc: int, style_dim: int = 256, *,
                 use_post: bool = False, use_skip: bool = False) -> None:
        super().__init__()
        self.reslayer = AdaResnetBlock(fin, fout, style_dim)
        self.postlayer = AdaResnetBlock(fout, fout, style_dim) if use_post else None
        self.rgblayer = nn.Conv2d(fout, 3, 7, padding=3)
        self.skiplayer = DynamicSkipLayer(hidden_nc, fout) if use_skip else None

    def forward(self, x: torch.Tensor, style: torch.Tensor, content: torch.Tensor | None = None,
                state: torch.Tensor | None = None
                ) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor | None, torch.Tensor | None]:
        x = self.reslayer(x, style)
        if self.postlayer is not None:
            x = self.postlayer(x, style)
        rgb = self.rgblayer(_lrelu(x))
        new_state = mask = None
        if self.skiplayer is not None and content is not None and state is not None:
            x, new_state, mask = self.skiplayer(x, content, state)
        return x, rgb, new_state, mask


class StyleEncoder(nn.Module):
    """Stage-II style encoder inside the generator (keys ``style_encoder.*``).

    ``model``: conv 7x7 3->nef (reflect) + ReLU, then ``n_down`` convs 4x4 stride 2 pad 1 (reflect) + ReLU
    with widths doubling up to ``style_dim`` (64->128->256->256->256->256), then global average pooling.
    ``mlp``: Linear(C, compress) + ReLU, then ``mlp_layers`` x [Linear(.., C) + ReLU] (default 256->64->256
    ->256). The 256-d style code is non-negative (it ends with a ReLU).
    """

    def __init__(self, nef: int = 64, n_down: int = 5, mlp_layers: int = 2, compress_dim: int = 64,
                 style_dim: int = 256) -> None:
        super().__init__()
        layers: list[nn.Module] = [nn.Conv2d(3, nef, 7, padding=3, padding_mode="reflect"), nn.ReLU()]
        c = nef
        for _ in range(n_down):
            c_prev, c = c, min(2 * c, style_dim)
            layers += [nn.Conv2d(c_prev, c, 4, stride=2, padding=1, padding_mode="reflect"), nn.ReLU()]
        layers.append(nn.AdaptiveAvgPool2d(1))
        self.model = nn.Sequential(*layers)
        mlp: list[nn.Module] = [nn.Linear(c, compress_dim), nn.ReLU()]
        width = compress_dim
        for _ in range(mlp_layers):
            mlp += [nn.Linear(width, c), nn.ReLU()]
            width = c
        self.mlp = nn.Sequential(*mlp)
        self.style_dim = c

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.mlp(self.model(x).flatten(1))


class Generator(nn.Module):
    """The Stage-II translation generator (official ``Generator(content_nc=[1,1,512,256,128,64], ngf=64)``).

    Six :class:`GeneratorLayer` in ``model`` (8^2 -> 256^2, nearest x2 upsampling between them):

    ===  =====  ======================  =============================================
    idx  res    AdaRes fin -> fout       dynamic skip (hidden -> feat, encoder feature)
    ===  =====  ======================  =============================================
    0    8^2    1 -> 8ngf, + post        --
    1    16^2   8ngf -> 8ngf             1 -> 8ngf, c4
    2    32^2   8ngf -> 4ngf             8ngf -> 4ngf, c3
    3    64^2   4ngf -> 2ngf             --
    4    128^2  2ngf -> ngf              --
    5    256^2  ngf -> ngf               --
    ===  =====  ======================  =============================================

    ``forward(content, style, scale=5, use_z=False, use_skip=True) -> (image, masks)``:

    - ``content``: the encoder's ``[c6, c5, c4, c3, c2, c1]`` (a bare c6 tensor is accepted when
      ``use_skip=False``). ``ngf`` must equal the encoder's ``nef`` for the skips.
    - ``style``: style images (encoded by ``style_encoder``) or, with ``use_z=True``, ``B x 256`` codes.
    - ``scale=k`` returns ``tanh(rgb_k)`` early (8 * 2^k px); ``use_skip=False`` disables both skips
      (the official Stage-II reconstruction path without ``--use_allskip``).
    - ``masks``: the skip masks actually applied (two at full scale, none without skips).
    - A content batch of 1 broadcasts against N styles (and N contents against one style).

    ``init="kaiming"`` reproduces ``init_weights('kaiming')`` of the official training script (every conv/
    linear weight Kaiming-normal, every bias 0, so the AdaIN gamma bias is 0); ``"default"`` keeps
    PyTorch's init with the AdaIN gamma bias at 1 (the official constructor's values).
    """

    def __init__(self, ngf: int = 64, *, style_dim: int = 256, content_nc: Sequence[int] | None = None,
                 style_nef: int = 64, style_compress_dim: int = 64, style_mlp_layers: int = 2,
                 init: str = "kaiming") -> None:
        super().__init__()
        self.ngf = ngf
        content_nc = list(content_nc) if content_nc is not None else [1, 1, 8 * ngf, 4 * ngf, 2 * ngf, ngf]
        if len(content_nc) != 6:
            raise ValueError(f"content_nc needs 6 entries (one per level), got {content_nc}")
        self.style_encoder = StyleEncoder(style_nef, 5, style_mlp_layers, style_compress_dim, style_dim)
        self.style_dim = self.style_encoder.style_dim
        chans = [1, 8 * ngf, 8 * ngf, 4 * ngf, 2 * ngf, ngf, ngf]
        self.model = nn.Sequential(*[
            GeneratorLayer(chans[i], chans[i + 1], content_nc[i], self.style_dim,
                           use_post=(i == 0), use_skip=(i in (1, 2)))
            for i in range(6)
        ])
        if init != "default":
            init_weights(self, init)

    def encode_style(self, style_images: torch.Tensor) -> torch.Tensor:
        return self.style_encoder(style_images)

    def forward(self, content: ContentFeatures | torch.Tensor, style: torch.Tensor, scale: int = 5,
                use_z: bool = False, use_skip: bool = True) -> tuple[torch.Tensor, list[torch.Tensor]]:
        if isinstance(content, torch.Tensor):
            if use_skip:
                raise ValueError("Generator: the dynamic skips need the content feature list [c6, c5, c4, c3, ...] "
                                 "(ContentEncoder(x, get_feature=True)); pass use_skip=False to decode c6 alone")
            content = [content]
        elif use_skip and len(content) < 4:
            raise ValueError(f"Generator: the dynamic skips need at least [c6, c5, c4, c3], got {len(content)} features")
        if not 0 <= scale <= 5:
            raise ValueError(f"scale must be 0..5, got {scale}")
        if not use_z:
            style = self.style_encoder(style)
        masks: list[torch.Tensor] = []
        state = content[0] if use_skip else None
        x = content[0]
        rgb = x
        for i, layer in enumerate(self.model):
            if i > 0:
                x = F.interpolate(x, scale_factor=2, mode="nearest")
            enc = content[i + 1] if (use_skip and i in (1, 2)) else None
            x, rgb, new_state, mask = layer(x, style, enc, state if enc is not None else None)
            if mask is not None:
                masks.append(mask)
                state = new_state
            if i == scale:
                break
        return torch.tanh(rgb), masks


class DisResBlock(nn.Module):
    """StarGAN-v2-style residual block of the GP-UNIT discriminator (official ``discriminator.ResnetBlock``
    with ``normalize=False``): ``(shortcut + conv_1(lrelu(pool(conv_0(lrelu(x)))))) / sqrt(2)``, shortcut
    ``pool(conv_s(x))`` (1x1, no bias) when ``fin != fout`` else ``pool(x)``; every conv 3x3 (zero pad)
    with legacy spectral norm; hidden width ``fin``; ``pool`` = 2x2 average pooling when ``downsample``.
    """

    def __init__(self, fin: int, fout: int, downsample: bool = True) -> None:
        super().__init__()
        self.learned_shortcut, self.downsample = fin != fout, downsample
        self.conv_0 = spectral_norm(nn.Conv2d(fin, fin, 3, 1, 1))
        self.conv_1 = spectral_norm(nn.Conv2d(fin, fout, 3, 1, 1))
        if self.learned_shortcut:
            self.conv_s = spectral_norm(nn.Conv2d(fin, fout, 1, 1, 0, bias=False))

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        x_s = self.conv_s(x) if self.learned_shortcut else x
        dx = self.conv_0(_lrelu(x))
        if self.downsample:
            x_s = F.avg_pool2d(x_s, 2)
            dx = F.avg_pool2d(dx, 2)
        dx = self.conv_1(_lrelu(dx))
        return (x_s + dx) / math.sqrt(2)


class Discriminator(nn.Module):
    """The Stage-II discriminator (official ``Discriminator()``): single real/fake logit, everything SN.

    ``model``: [0] conv3x3 3->64, [1..6] :class:`DisResBlock` with downsampling (64->128->256->512->512->512
    ->512; 256^2 -> 4^2), [7] LeakyReLU, [8] conv4x4 valid, [9] LeakyReLU. ``linear``: conv1x1 C->1.
    ``img_size`` sets the number of blocks (log2(size) - 2), so smaller test sizes still end at 4^2.

    ``forward(x, y=None)`` returns :class:`~i2ikit.parts.DiscriminatorOutput` ``(logits (B,), features)``;
    ``features[i]`` is the spatial mean of the output of ``model[0:i+1]`` (B x C x 1 x 1), i.e. the
    official ``forward(x, layer)`` style feature is ``features[layer - 1]`` (GP-UNIT's style loss: layer
    4, the 32^2 feature, or 5 for faces). The means are taken as the official code takes them, right after
    each layer, so gradients sum in the same order. ``y`` is ignored: the discriminator is unconditional.
    """

    labels = "unused"
    constraints = {"nf": at_least_one, "max_conv_dim": at_least_one, "img_size": Range(ge=8)}

    def __init__(self, nf: int = 64, max_conv_dim: int = 512, *, img_size: int = 256, init: str = "kaiming") -> None:
        super().__init__()
        if img_size & (img_size - 1):
            raise ConfigError(f"discriminator 'gpunit_discriminator': img_size must be a power of two, got {img_size}")
        dim_in = nf
        blocks: list[nn.Module] = [spectral_norm(nn.Conv2d(3, dim_in, 3, 1, 1))]
        repeat = int(math.log2(img_size)) - 2
        dim_out = dim_in
        for _ in range(repeat):
            dim_out = min(dim_in * 2, max_conv_dim)
            blocks.append(DisResBlock(dim_in, dim_out, downsample=True))
            dim_in = dim_out
        blocks += [nn.LeakyReLU(0.2), spectral_norm(nn.Conv2d(dim_out, dim_out, 4, 1, 0)), nn.LeakyReLU(0.2)]
        self.model = nn.Sequential(*blocks)
        self.linear = spectral_norm(nn.Conv2d(dim_out, 1, 1, 1, 0))
        if init != "default":
            init_weights(self, init)

    def forward(self, x: torch.Tensor, y: torch.Tensor | None = None) -> DiscriminatorOutput:
        features: list[torch.Tensor] = []
        for module in self.model:
            x = module(x)
            features.append(x.mean(dim=(2, 3), keepdim=True))
        return DiscriminatorOutput(self.linear(x).reshape(-1), features)


class Sampler(nn.Module):
    """The latent-guided style sampler (official ``sampler._netT(128, 256)``, GLANN/IMLE "ICP" mapping).

    ``lin1`` Linear(noise_dim, 128, no bias) -> ``bn1`` BatchNorm1d -> ReLU -> ``lin2`` (128->128, no bias)
    -> ``bn2`` -> ReLU -> ``lin_out`` (128 -> style_dim, no bias). Maps z ~ N(0, I_128) to 256-d style codes.

    ``forward(z, batch_stats=None)``: ``None`` follows the module mode (standard BatchNorm semantics);
    ``True`` uses the statistics of the batch ``z`` without touching the running buffers; ``False`` uses
    the running statistics. The official code never switches the sampler to eval mode, so official
    sampling is ``batch_stats=True`` (needs at least 2 codes; each output depends on the whole batch).
    """

    def __init__(self, noise_dim: int = 128, style_dim: int = 256, hidden: int = 128) -> None:
        super().__init__()
        self.noise_dim, self.style_dim = noise_dim, style_dim
        self.lin1 = nn.Linear(noise_dim, hidden, bias=False)
        self.bn1 = nn.BatchNorm1d(hidden)
        self.lin2 = nn.Linear(hidden, hidden, bias=False)
        self.bn2 = nn.BatchNorm1d(hidden)
        self.lin_out = nn.Linear(hidden, style_dim, bias=False)

    def _bn(self, bn: nn.BatchNorm1d, x: torch.Tensor, batch_stats: bool | None) -> torch.Tensor:
        if batch_stats is None:
            return bn(x)
        if batch_stats:
            if x.shape[0] < 2:
                raise ValueError("Sampler: batch statistics need at least 2 noise vectors (the official sampler "
                                 "runs BatchNorm in training mode); sample >= 2 styles or pass batch_stats=False")
            return F.batch_norm(x, None, None, bn.weight, bn.bias, True, 0.0, bn.eps)
        return F.batch_norm(x, bn.running_mean, bn.running_var, bn.weight, bn.bias, False, 0.0, bn.eps)

    def forward(self, z: torch.Tensor, batch_stats: bool | None = None) -> torch.Tensor:
        z = F.relu(self._bn(self.bn1, self.lin1(z), batch_stats))
        z = F.relu(self._bn(self.bn2, self.lin2(z), batch_stats))
        return self.lin_out(z)


# ================================================================================================
# Inference (official inference.py)
# ================================================================================================
def preprocess(images: torch.Tensor, size: int | None = 256) -> torch.Tensor:
    """Resize B x 3 x H x W images in [-1, 1] to ``size`` x ``size``, bilinear with ``align_corners=True``,
    as ``inference.py`` does before encoding (the encoder's own resize uses ``align_corners=False``).
    ``size=None`` returns the images unchanged."""
    if images.dim() != 4 or images.shape[1] != 3:
        raise ValueError(f"expected B x 3 x H x W images, got shape {tuple(images.shape)}")
    if size is None or tuple(images.shape[-2:]) == (size, size):
        return images  # align_corners=True resizing to the same size is the identity
    return F.interpolate(images, size=(size, size), mode="bilinear", align_corners=True)


def encode_content(content_encoder: ContentEncoder, images: torch.Tensor) -> list[torch.Tensor]:
    """``[c6, c5, c4, c3, c2, c1]`` of B images (the generator's content input)."""
    return content_encoder(images, get_feature=True)  # type: ignore[return-value]


def sample_styles(sampler: Sampler, n: int | None = None, *, z: torch.Tensor | None = None,
                  batch_stats: bool = True, generator: torch.Generator | None = None,
                  device: torch.device | str | None = None) -> torch.Tensor:
    """Style codes ``sampler(z)`` for given ``z`` (N x noise_dim) or ``n`` fresh draws z ~ N(0, I).
    ``batch_stats=True`` is the official behaviour (see :class:`Sampler`)."""
    if z is None:
        if n is None:
            raise ValueError("sample_styles: pass n (how many styles) or z")
        dev = device if device is not None else sampler.lin1.weight.device
        z = torch.randn(n, sampler.noise_dim, generator=generator).to(dev)
    return sampler(z, batch_stats=batch_stats)


def translate(
    generator: Generator,
    content_encoder: ContentEncoder,
    content_image: torch.Tensor,
    style_image: torch.Tensor | None = None,
    z: torch.Tensor | None = None,
    *,
    sampler: Sampler | None = None,
    style_code: torch.Tensor | None = None,
    num_styles: int | None = None,
    use_skip: bool = True,
    batch_stats: bool = True,
    generator_rng: torch.Generator | None = None,
    size: int | None = None,
) -> torch.Tensor:
    """Translate content images with GP-UNIT, as ``inference.py`` does. Returns N x 3 x S x S in [-1, 1].

    Style source (at most one): ``style_image`` (exemplar-guided: ``G(E(x), y)``), ``style_code`` (N x 256
    codes), ``z`` (N x 128 noise for the ``sampler``), or nothing (latent-guided: ``num_styles`` fresh
    draws of z, default the content batch size, mapped by the ``sampler``; official ``--batch`` is 6).
    Latent codes go through ``G(..., use_z=True)``.

    Images in [-1, 1] are first resized to ``size`` (default: the encoder's ``input_size``, 256) with
    ``align_corners=True``. Batches pair up element-wise; a batch of 1 on either side broadcasts.
    Modes and gradients are left to the caller: official inference runs E and G in eval mode under
    ``torch.no_grad()`` and the sampler with batch statistics (``batch_stats=True``).
    """
    given = [name for name, v in (("style_image", style_image), ("style_code", style_code), ("z", z)) if v is not None]
    if len(given) > 1:
        raise ValueError(f"translate: give at most one style source, got {', '.join(given)}")
    size = content_encoder.input_size if size is None else size
    content = preprocess(content_image, size)
    feats = encode_content(content_encoder, content)
    b = content.shape[0]
    if style_image is not None:
        style = preprocess(style_image.to(content.device), size)
        use_z = False
    else:
        use_z = True
        if style_code is not None:
            style = style_code
        else:
            if sampler is None:
                raise ValueError("translate: latent-guided translation (no style image) needs the sampler")
            n = z.shape[0] if z is not None else (num_styles if num_styles is not None else b)
            if n == 1 and batch_stats and z is None:
                # Batch statistics need two draws (the sampler's BatchNorm stays in training mode, as
                # officially); draw two and keep the first.
                style = sample_styles(sampler, 2, batch_stats=True, generator=generator_rng, device=content.device)[:1]
            else:
                style = sample_styles(sampler, n, z=z, batch_stats=batch_stats, generator=generator_rng,
                                      device=content.device)
    n = style.shape[0]
    if b != n and 1 not in (b, n):
        raise ValueError(f"translate: {b} content images and {n} styles; the batches must match or one must be 1")
    out, _ = generator(feats, style, use_z=use_z, use_skip=use_skip)
    return out
