"""Adversarial losses and penalties shared by methods; registered as kind ``loss`` by the core plugin.

A GAN loss is an object with three methods on discriminator logits (any shape, averaged):
``d_real`` and ``d_fake`` for the discriminator, ``g`` for the generator. Third-party plugins
register their own under new names and recipes select them by name.
"""
from __future__ import annotations

import torch
import torch.nn.functional as F


class GANLoss:
    def d_real(self, logits: torch.Tensor) -> torch.Tensor:
        raise NotImplementedError

    def d_fake(self, logits: torch.Tensor) -> torch.Tensor:
        raise NotImplementedError

    def g(self, logits: torch.Tensor) -> torch.Tensor:
        raise NotImplementedError


class HingeLoss(GANLoss):
    """Hinge loss (Lim & Ye; Miyato et al.), as FUNIT and BigGAN use: D on relu(1 -/+ x), G on -x."""

    def d_real(self, logits: torch.Tensor) -> torch.Tensor:
        return F.relu(1.0 - logits).mean()

    def d_fake(self, logits: torch.Tensor) -> torch.Tensor:
        return F.relu(1.0 + logits).mean()

    def g(self, logits: torch.Tensor) -> torch.Tensor:
        return -logits.mean()


class NonSaturatingLoss(GANLoss):
    """The original non-saturating logistic GAN loss (softplus form), as StyleGAN2/StarGAN v2 use."""

    def d_real(self, logits: torch.Tensor) -> torch.Tensor:
        return F.softplus(-logits).mean()

    def d_fake(self, logits: torch.Tensor) -> torch.Tensor:
        return F.softplus(logits).mean()

    def g(self, logits: torch.Tensor) -> torch.Tensor:
        return F.softplus(-logits).mean()


def r1_penalty(real_logits: torch.Tensor, real_images: torch.Tensor) -> torch.Tensor:
    """R1 gradient penalty on real images (Mescheder et al. 2018) in FUNIT's exact form.

    The gradient is that of ``real_logits.mean()`` (the batch-and-patch mean) with respect to the
    images; its squared sum is divided by the batch size. This equals
    ``mean_i ||d sum_p D_ip / d x_i||^2 / (P^2 B^2)`` for P logits per image, so its scale depends on
    the per-process batch size, as it does in the official code. ``real_images`` must require grad
    and ``real_logits`` must come from them; the graph is kept so the penalty can be back-propagated
    together with the rest of the discriminator loss (one backward pass, safe under DDP).
    """
    (grad,) = torch.autograd.grad(real_logits.float().mean(), real_images, create_graph=True)
    return grad.pow(2).sum() / real_images.shape[0]
