"""FUNIT networks (Liu et al., ICCV 2019): the few-shot generator and the multi-task patch discriminator.

Module names, registration order and layer shapes follow the official NVlabs/FUNIT code, so the
``state_dict`` keys match its checkpoints one to one (see ``docs/methods/funit.md``).
"""
from __future__ import annotations

import torch
from torch import nn

from i2ikit.constraints import Range, at_least_one
from i2ikit.errors import ConfigError
from i2ikit.parts import DiscriminatorOutput
from i2ikit.nn import ActFirstResBlock, Conv2dBlock, assign_adain_params, clear_adain_params, num_adain_params
from i2ikit.nn.munit_family import MLP, ContentEncoder, Decoder, StyleEncoder

__all__ = ["ClassModelEncoder", "ContentEncoder", "Decoder", "MLP", "FewShotGen", "GPPatchMcResDis"]


# ---------------------------------------------------------------------------------------------------
# Generator: assembled from the MUNIT family's encoders, decoder and MLP (i2ikit.nn.munit_family);
# FUNIT's class encoder is MUNIT's style encoder.
# ---------------------------------------------------------------------------------------------------
ClassModelEncoder = StyleEncoder


class FewShotGen(nn.Module):
    """FUNIT generator: content encoder Ec, class encoder Ey, MLP to AdaIN parameters, AdaIN decoder.

    ``forward(content, class_images)`` pairs sample i of each batch (as in training). With
    ``reconstruct=True`` it also returns the reconstruction, computed the way the official G step
    does: one content code ``Ec(xa)`` shared by ``dec(c, Ey(xb))`` and ``dec(c, Ey(xa))``. Everything
    the G step needs goes through this single forward, because the trainer may wrap the generator in
    DDP. K-shot averaging of class codes lives in ``FUNIT.translate``.
    """

    def __init__(self, nf: int = 64, nf_mlp: int = 256, latent_dim: int = 64, n_mlp_blks: int = 3,
                 n_res_blks: int = 2, n_downs_content: int = 3, n_downs_class: int = 4) -> None:
        super().__init__()
        # Registration order = official state_dict order: enc_class_model, enc_content, dec, mlp.
        self.enc_class_model = ClassModelEncoder(n_downs_class, 3, nf, latent_dim, norm="none",
                                                 activation="relu", pad_type="reflect")
        self.enc_content = ContentEncoder(n_downs_content, n_res_blks, 3, nf, norm="in", activation="relu",
                                          pad_type="reflect")
        self.dec = Decoder(n_downs_content, n_res_blks, self.enc_content.output_dim, 3, res_norm="adain",
                           activation="relu", pad_type="reflect")
        self.mlp = MLP(latent_dim, num_adain_params(self.dec), nf_mlp, n_mlp_blks, norm="none", activation="relu")

    def encode_content(self, x: torch.Tensor) -> torch.Tensor:
        return self.enc_content(x)

    def encode_class(self, x: torch.Tensor) -> torch.Tensor:
        """``B x latent_dim x 1 x 1`` class codes, one per image (no averaging)."""
        return self.enc_class_model(x)

    def decode(self, content_code: torch.Tensor, class_code: torch.Tensor) -> torch.Tensor:
        """Image from a content code and a class code (a single class code is shared by the batch)."""
        b = content_code.shape[0]
        if class_code.shape[0] == 1 and b > 1:
            class_code = class_code.expand(b, *class_code.shape[1:])
        if class_code.shape[0] != b:
            raise ValueError(f"decode: {b} content codes but {class_code.shape[0]} class codes")
        assign_adain_params(self.mlp(class_code), self.dec)
        try:
            return self.dec(content_code)
        finally:
            clear_adain_params(self.dec)  # autograd keeps what it needs; the module must not hold graphs

    def forward(self, content: torch.Tensor, class_images: torch.Tensor,
                reconstruct: bool = False) -> torch.Tensor | tuple[torch.Tensor, torch.Tensor]:
        c = self.enc_content(content)
        if not reconstruct:
            return self.decode(c, self.enc_class_model(class_images))
        s_xa = self.enc_class_model(content)
        s_xb = self.enc_class_model(class_images)
        return self.decode(c, s_xb), self.decode(c, s_xa)


# ---------------------------------------------------------------------------------------------------
# Discriminator
# ---------------------------------------------------------------------------------------------------
class GPPatchMcResDis(nn.Module):
    """Multi-task (one output channel per class) patch discriminator made of pre-activation residual blocks.

    ``forward(x, y=None)`` returns :class:`~i2ikit.parts.DiscriminatorOutput` ``(logits, [feat])``: the
    ``B x H x W`` patch logits of each sample's own class channel ``y`` (channel 0 when ``y`` is None,
    which needs ``num_classes=1``), and the ``B x C x H x W`` features FUNIT's feature matching uses.

    ``inplace_quirks=True`` (default) reproduces what the official code computes because of its
    in-place LeakyReLUs: identity residual blocks return ``lrelu(x) + F(x)``, and the returned
    features are ``lrelu(cnn_f(x))`` since ``cnn_c``'s activation overwrites them. The values are
    computed here without in-place ops, so the R1 double backward is safe. ``False`` gives the clean
    semantics (``x + F(x)``, ``feat = cnn_f(x)``).
    """

    labels = "optional"  # one output channel per class; a method without labels gets one class
    batch_independent = True  # no batch statistics: calls on a concatenated batch give each sample's own numbers
    constraints = {"num_classes": at_least_one, "nf": at_least_one, "n_res_blks": Range(ge=2)}

    def __init__(self, num_classes: int = 1, nf: int = 64, n_res_blks: int = 10, inplace_quirks: bool = True) -> None:
        super().__init__()
        if n_res_blks < 2 or n_res_blks % 2:
            raise ConfigError(f"discriminator 'funit_patch' needs an even number of residual blocks >= 2 "
                              f"(n_res_blks), got {n_res_blks}")
        self.num_classes = num_classes
        self.inplace_quirks = inplace_quirks

        def block(fin: int, fout: int) -> ActFirstResBlock:
            return ActFirstResBlock(fin, fout, None, "lrelu", "none", inplace_quirk=inplace_quirks)

        layers: list[nn.Module] = [Conv2dBlock(3, nf, 7, 1, 3, pad_type="reflect", norm="none", activation="none")]
        for _ in range(n_res_blks // 2 - 1):
            nf_out = min(nf * 2, 1024)
            layers += [block(nf, nf), block(nf, nf_out), nn.ReflectionPad2d(1), nn.AvgPool2d(kernel_size=3, stride=2)]
            nf = nf_out
        nf_out = min(nf * 2, 1024)
        layers += [block(nf, nf), block(nf, nf_out)]
        self.cnn_f = nn.Sequential(*layers)
        self.cnn_c = nn.Sequential(
            Conv2dBlock(nf_out, num_classes, 1, 1, norm="none", activation="lrelu", activation_first=True)
        )
        self.feature_dim = nf_out

    def forward(self, x: torch.Tensor, y: torch.Tensor | None = None) -> DiscriminatorOutput:
        if y is None:
            if self.num_classes != 1:
                raise ValueError(f"GPPatchMcResDis with {self.num_classes} classes needs labels y")
            y = torch.zeros(x.shape[0], dtype=torch.long, device=x.device)
        feat = self.cnn_f(x)
        head = self.cnn_c[0]
        if self.inplace_quirks:
            feat = head.activation(feat)  # what the official in-place LeakyReLU leaves in `feat`
            out = head.forward_after_activation(feat)
        else:
            out = self.cnn_c(feat)
        index = torch.arange(out.shape[0], device=out.device)
        return DiscriminatorOutput(out[index, y.to(device=out.device, dtype=torch.long)], [feat])
