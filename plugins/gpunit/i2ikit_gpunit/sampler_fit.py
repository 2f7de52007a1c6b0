"""Fitting GP-UNIT's latent-guided style sampler (official ``train.train_sampler`` + ``model/sampler.py``
``_ICP``; behaviour re-implemented, nothing copied).

The sampler (:class:`~i2ikit_gpunit.networks.Sampler`, official ``_netT``) maps z ~ N(0, I_128) to the
generator's 256-d style codes. It is fitted GLANN/IMLE-style ("ICP", Hoshen, Li and Malik, CVPR 2019):
every epoch a fresh set of noise vectors is mapped, each real style code is matched to its nearest mapped
vector, and the sampler regresses the matched noise onto the code. The official code fits a **new**
sampler at every save (``save_begin``/``save_every`` and the last iteration) on the style codes of the
target training images, encoded by ``G_ema``'s style encoder through the augmented target loader.

Nothing here needs faiss: the exact nearest-neighbour search (faiss ``IndexFlatL2`` officially) is a
chunked ``torch.cdist``.
"""
from __future__ import annotations

from collections.abc import Callable, Iterable

import torch
import torch.nn.functional as F
from torch import Tensor, nn

from i2ikit.nn import train_mode

from .networks import Sampler

__all__ = ["collect_style_codes", "fit_sampler", "mitigate_style_bias", "nearest_indices"]

# Distances computed at once by the nearest-neighbour search (float32: 64 MiB), whatever N is.
_SEARCH_ELEMENTS = 1 << 24


def mitigate_style_bias(codes: Tensor) -> Tensor:
    """The official ``--mitigate_style_bias``: over-sample the rare (far-from-average) style codes.

    Reading of the official ``train_sampler``: the codes (N x D) are ranked by their L1 distance from the
    mean code, ``sum_d |w_d - mean_d|`` (computed in float64 there, as the codes are kept in a float64
    numpy array; here too). Then ``N // 1000`` times, the farthest ``num`` codes are appended after all N
    original codes, where ``num`` starts at N and is halved (floor) before each append, never below 1:
    repetition ``i`` (from 0) appends the farthest ``max(N // 2**(i+1), 1)`` codes. Each appended block is
    in ascending order of distance (the tail of the ascending ranking). With N < 1000 nothing is appended.

    Example: N = 2000 gives 2000 + 1000 + 500 = 3500 codes. Note that the official number of sampler
    epochs, ``int(2e6 / N)``, is computed from the count **after** this step.
    """
    if codes.dim() != 2:
        raise ValueError(f"codes must be N x D, got shape {tuple(codes.shape)}")
    n = codes.shape[0]
    if n // 1000 == 0:
        return codes
    wide = codes.double()
    dist = (wide - wide.mean(dim=0, keepdim=True)).abs().sum(dim=1)
    order = torch.argsort(dist, stable=True)  # ascending: the farthest codes are last
    parts, num = [codes], n
    for _ in range(n // 1000):
        num = max(num // 2, 1)
        parts.append(codes[order[n - num:]])
    return torch.cat(parts)


def nearest_indices(queries: Tensor, keys: Tensor, max_elements: int = _SEARCH_ELEMENTS) -> Tensor:
    """Index of the nearest row of ``keys`` (squared L2, as faiss ``IndexFlatL2``) for every row of
    ``queries``; distances are computed in row chunks so that at most ``max_elements`` are held at once."""
    rows = max(1, max_elements // max(1, keys.shape[0]))
    out = [torch.cdist(q, keys).argmin(dim=1) for q in queries.split(rows)]
    return torch.cat(out) if out else torch.empty(0, dtype=torch.long, device=queries.device)


def _randn(shape: tuple[int, ...], generator: torch.Generator | None, device: torch.device) -> Tensor:
    gen_device = generator.device if generator is not None else torch.device("cpu")
    return torch.randn(shape, generator=generator, device=gen_device).to(device)


def fit_sampler(
    sampler: Sampler,
    codes: Tensor,
    *,
    epochs: int | None = None,
    batch_size: int = 128,
    lr: float = 1e-3,
    lr_step_epochs: int = 50,
    lr_gamma: float = 0.5,
    betas: tuple[float, float] = (0.5, 0.999),
    weight_decay: float = 1e-5,
    noise_factor: int = 2,
    generator: torch.Generator | None = None,
    progress: bool = False,
) -> list[float]:
    """Fit ``sampler`` in place to the style codes ``codes`` (N x style_dim) by the official ICP procedure;
    returns the mean regression loss of every epoch.

    ``epochs`` (``None``: the official ``int(2e6 / N)``) epochs, each:

    1. ``noise_factor * (N // b) * b`` noise vectors z ~ N(0, I) (officially ``2 * (N // 128)`` chunks of
       128) are mapped through the sampler in training mode, one chunk of ``b`` at a time (BatchNorm uses
       each chunk's statistics and updates its running buffers, as officially; no gradients kept);
    2. every real code gets the noise vector whose mapping is nearest (squared L2, exact search);
    3. the codes are shuffled and, over ``N // b`` full mini-batches of ``b`` codes (the official loop
       drops the last partial batch), ``MSE(sampler(z_nearest), code)`` is minimised with Adam.

    ``b = min(batch_size, N)``: officially ``b = 128`` and N < 128 would train nothing; here a smaller set
    is one batch. As officially, the Adam optimiser is **created anew every epoch** (its moments restart)
    with the learning rate ``lr * lr_gamma ** (epoch // lr_step_epochs)`` (1e-3, halved every 50 epochs),
    betas (0.5, 0.999) and weight decay 1e-5; the sampler stays in training mode throughout (the official
    ``netT`` is never put in eval mode).

    All randomness comes from ``generator`` (the global CPU generator if ``None``); noise and permutations
    are drawn on the generator's device and moved to the codes' device, where the sampler must live. The
    sampler's ``requires_grad`` flags and train/eval mode are restored afterwards. ``progress`` shows a
    tqdm bar over the epochs.
    """
    if codes.dim() != 2:
        raise ValueError(f"codes must be N x style_dim, got shape {tuple(codes.shape)}")
    n, dim = codes.shape
    if dim != sampler.style_dim:
        raise ValueError(f"codes have {dim} dimensions, the sampler maps to style_dim={sampler.style_dim}")
    if n < 2:
        raise ValueError(f"fit_sampler needs at least 2 style codes (BatchNorm batch statistics), got {n}")
    params = list(sampler.parameters())
    device = codes.device
    if params and params[0].device != device:
        raise ValueError(f"the sampler is on {params[0].device}, the codes on {device}: move one of them")
    if epochs is None:
        epochs = int(2e6 / n)
    if epochs < 0 or batch_size < 1 or noise_factor < 1 or lr_step_epochs < 1:
        raise ValueError("epochs must be >= 0, batch_size, noise_factor and lr_step_epochs >= 1")
    codes = codes.detach().to(params[0].dtype if params else codes.dtype)
    b = min(int(batch_size), n)
    batches = n // b
    chunks = int(noise_factor) * batches

    requires_grad = [p.requires_grad for p in params]
    losses: list[float] = []
    bar = None
    if progress:
        from tqdm.auto import tqdm

        bar = tqdm(total=int(epochs), desc="GP-UNIT sampler", dynamic_ncols=True)
    try:
        sampler.requires_grad_(True)
        with train_mode(sampler), torch.enable_grad():
            for epoch in range(int(epochs)):
                perm = torch.randperm(n, generator=generator,
                                      device=generator.device if generator is not None else "cpu").to(device)
                noise = _randn((chunks * b, sampler.noise_dim), generator, device)
                with torch.no_grad():
                    mapped = torch.cat([sampler(z) for z in noise.split(b)])
                nearest = nearest_indices(codes, mapped)
                opt = torch.optim.Adam(params, lr=lr * lr_gamma ** (epoch // lr_step_epochs), betas=tuple(betas),
                                       weight_decay=weight_decay)
                total = 0.0
                for i in range(batches):
                    idx = perm[i * b:(i + 1) * b]
                    opt.zero_grad(set_to_none=True)
                    loss = F.mse_loss(sampler(noise[nearest[idx]]), codes[idx])
                    loss.backward()
                    opt.step()
                    total += float(loss.detach())
                losses.append(total / batches)
                if bar is not None:
                    bar.set_postfix(loss=f"{losses[-1]:.4g}", refresh=False)
                    bar.update()
    finally:
        if bar is not None:
            bar.close()
        for p, flag in zip(params, requires_grad):
            p.requires_grad_(flag)
            p.grad = None
    return losses


@torch.no_grad()
def collect_style_codes(style_encoder: nn.Module | Callable[[Tensor], Tensor], batches: Iterable, *,
                        allow_empty: bool = False) -> Tensor:
    """Style codes of every image in ``batches`` (an iterable of image tensors or of ``(images, ...)``
    tuples), concatenated: ``style_encoder(images)`` without gradients, e.g. ``G_ema.style_encoder`` or
    ``G_ema.encode_style`` (the official ``train_sampler`` encodes the augmented target images this way).
    No image at all raises ``ValueError``, or with ``allow_empty`` returns a 0 x 0 tensor."""
    out = []
    for batch in batches:
        images = batch[0] if isinstance(batch, (tuple, list)) else batch
        if images.shape[0]:
            out.append(style_encoder(images).detach())
    if not out:
        if allow_empty:
            return torch.empty(0, 0)
        raise ValueError("collect_style_codes: no images")
    return torch.cat(out)
