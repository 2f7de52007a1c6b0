"""The field's metrics as streaming ``metric`` plugins, plus the pure functions they are built on.

Every metric is a class with a ``name``, ``__init__(*, device="cpu", **options)``,
``update(group: TranslationGroup)`` and ``compute() -> dict[str, float]``. One
:class:`TranslationGroup` holds one target class: N content inputs, their N translations, M real
images of that class (and optionally content labels and several outputs per input). Metrics that
need a network take ``features=`` (any callable images -> features, see :mod:`.features`); ``None``
means the standard network from a local weight file, resolved at first use, so a missing file fails
with download instructions instead of downloading.

The statistics are torch-fidelity's own code (FID: ``fid_features_to_statistics`` /
``fid_statistics_to_metric``; KID: ``kid_features_to_metric``) called on precomputed features, so
with the standard extractor the numbers are torch-fidelity's (and torchmetrics', which uses the same
extractor). See ``docs/metrics.md``.
"""
from __future__ import annotations

import hashlib
import os
import warnings
from dataclasses import dataclass
from typing import Callable, ClassVar, Literal, Sequence

import numpy as np
import torch
from torch import Tensor, nn

from ..errors import CheckpointError, ConfigError
from .features import (
    CachedFeatures,
    FeatureExtractor,
    _load_state_dict,
    _module_device,
    _on_its_device,
    batched,
    default_extractor,
)
from .weights import resolve_weights

__all__ = [
    "DIPD",
    "FID",
    "KID",
    "ContentAccuracy",
    "LPIPSDiversity",
    "MeanFID",
    "MeanKID",
    "Metric",
    "TranslationAccuracy",
    "TranslationGroup",
    "build_lpips",
    "domain_invariant_perceptual_distance",
    "Moments",
    "frechet_distance",
    "frechet_distance_from_moments",
    "instance_normalize",
    "kernel_inception_distance",
    "lpips_diversity",
    "lpips_diversity_per_input",
]

ArrayLike = Tensor | np.ndarray


# --------------------------------------------------------------------------------------------
# Pure functions
# --------------------------------------------------------------------------------------------

def _features_2d(f: ArrayLike, what: str) -> Tensor:
    t = torch.as_tensor(f).detach().cpu().to(torch.float64)
    if t.ndim != 2:
        t = t.reshape(len(t), -1)
    if len(t) < 2:
        raise ConfigError(f"{what}: need at least 2 samples, got {len(t)}; use more images (e.g. --num-content, "
                          "--max-real, or a target class with more images)")
    if not torch.isfinite(t).all():
        raise ValueError(f"{what}: features contain NaN or inf")
    return t


def frechet_distance(f1: ArrayLike, f2: ArrayLike) -> float:
    """FID between two feature sets (N1 x D, N2 x D): ‖μ₁−μ₂‖² + Tr(Σ₁ + Σ₂ − 2(Σ₁Σ₂)^½).

    torch-fidelity's implementation, in float64: Σ are unbiased covariances (``np.cov``) and
    Tr((Σ₁Σ₂)^½) is the sum of the square roots of the eigenvalues of Σ₁Σ₂, which stays accurate for
    singular covariances (fewer samples than dimensions) where ``scipy.linalg.sqrtm`` struggles.
    """
    from torch_fidelity.metric_fid import KEY_METRIC_FID, fid_features_to_statistics, fid_statistics_to_metric

    a, b = _features_2d(f1, "frechet_distance f1"), _features_2d(f2, "frechet_distance f2")
    if a.shape[1] != b.shape[1]:
        raise ValueError(f"feature dimensions differ: {a.shape[1]} vs {b.shape[1]}")
    s1, s2 = fid_features_to_statistics(a), fid_features_to_statistics(b)
    return float(fid_statistics_to_metric(s1, s2, verbose=False)[KEY_METRIC_FID])


def frechet_distance_from_moments(mu1: np.ndarray, sigma1: np.ndarray, mu2: np.ndarray, sigma2: np.ndarray) -> float:
    """FID from means and (unbiased) covariances; torch-fidelity's ``fid_statistics_to_metric``."""
    from torch_fidelity.metric_fid import KEY_METRIC_FID, fid_statistics_to_metric

    st1 = {"mu": np.asarray(mu1, np.float64), "sigma": np.asarray(sigma1, np.float64)}
    st2 = {"mu": np.asarray(mu2, np.float64), "sigma": np.asarray(sigma2, np.float64)}
    return float(fid_statistics_to_metric(st1, st2, verbose=False)[KEY_METRIC_FID])


class Moments:
    """Streaming mean and unbiased covariance of N x D features in float64, so FID over hundreds of
    thousands of images needs D x D memory instead of N x D. Sums are taken around a fixed shift
    (the first batch's mean) to avoid cancellation; equals ``np.mean`` / ``np.cov`` up to rounding."""

    def __init__(self) -> None:
        self.n = 0
        self._shift: Tensor | None = None
        self._s1: Tensor | None = None
        self._s2: Tensor | None = None

    def add(self, feats: Tensor) -> None:
        x = feats.detach().to("cpu", torch.float64).reshape(len(feats), -1)
        if len(x) == 0:
            return
        if self._shift is None:
            self._shift = x.mean(0)
            self._s1 = torch.zeros_like(self._shift)
            self._s2 = torch.zeros(len(self._shift), len(self._shift), dtype=torch.float64)
        elif x.shape[1] != len(self._shift):
            raise ValueError(f"feature dimension changed: {x.shape[1]} vs {len(self._shift)}")
        xc = x - self._shift
        self._s1 += xc.sum(0)
        self._s2 += xc.T @ xc
        self.n += len(x)

    def mean_cov(self) -> tuple[np.ndarray, np.ndarray]:
        if self.n < 2 or self._shift is None or self._s1 is None or self._s2 is None:
            raise ConfigError(f"FID needs at least 2 samples per set, got {self.n}; use more images (e.g. --num-content, "
                              "--max-real, or a target class with more images)")
        m1 = self._s1 / self.n
        cov = (self._s2 - self.n * torch.outer(m1, m1)) / (self.n - 1)
        return (self._shift + m1).numpy(), cov.numpy()


def _kid_numpy(f1: np.ndarray, f2: np.ndarray, subsets: int, m: int, degree: int, gamma: float | None,
               coef0: float, seed: int) -> tuple[float, float]:
    # Same estimator and subset draws as torch-fidelity 0.4 (used only if its API is missing).
    rng = np.random.RandomState(seed)
    g = 1.0 / f1.shape[1] if gamma is None else gamma
    mmds = np.zeros(subsets)
    for i in range(subsets):
        x = f1[rng.choice(len(f1), m, replace=False)]
        y = f2[rng.choice(len(f2), m, replace=False)]
        kxx, kyy, kxy = ((x @ x.T) * g + coef0) ** degree, ((y @ y.T) * g + coef0) ** degree, ((x @ y.T) * g + coef0) ** degree
        mmds[i] = ((kxx.sum() - np.trace(kxx)) + (kyy.sum() - np.trace(kyy))) / (m * (m - 1)) - 2 * kxy.sum() / (m * m)
    return float(mmds.mean()), float(mmds.std())


def kernel_inception_distance(
    f1: ArrayLike,
    f2: ArrayLike,
    subsets: int = 100,
    subset_size: int = 1000,
    degree: int = 3,
    gamma: float | None = None,
    coef0: float = 1,
    seed: int = 0,
) -> tuple[float, float]:
    """KID: mean and std over ``subsets`` random subsets of the unbiased MMD² with the polynomial
    kernel k(x, y) = (γ xᵀy + coef0)^degree, γ = 1/D by default, i.e. (xᵀy/D + 1)³.

    Each subset draws ``subset_size`` samples without replacement from each set (clipped to the
    smaller set, so few-image classes still get a number: report the size used). torch-fidelity's
    implementation; its own default seed is 2020 (pass ``seed=2020`` to reproduce its numbers).
    """
    a, b = _features_2d(f1, "kernel_inception_distance f1"), _features_2d(f2, "kernel_inception_distance f2")
    if a.shape[1] != b.shape[1]:
        raise ValueError(f"feature dimensions differ: {a.shape[1]} vs {b.shape[1]}")
    m = min(int(subset_size), len(a), len(b))
    if subsets < 1:
        raise ConfigError(f"KID subsets must be >= 1, got {subsets}")
    try:
        from torch_fidelity import metric_kid as tf_kid

        if not hasattr(tf_kid, "kernel_poly"):
            raise ImportError("torch-fidelity < 0.4")
    except ImportError:
        return _kid_numpy(a.numpy(), b.numpy(), subsets, m, degree, gamma, coef0, seed)
    out = tf_kid.kid_features_to_metric(
        a, b, kid_subsets=int(subsets), kid_subset_size=m, kid_kernel="poly", kid_kernel_poly_degree=degree,
        kid_kernel_poly_gamma=gamma, kid_kernel_poly_coef0=coef0, rng_seed=seed, verbose=False,
    )
    return float(out[tf_kid.KEY_METRIC_KID_MEAN]), float(out[tf_kid.KEY_METRIC_KID_STD])


def instance_normalize(feats: Tensor, eps: float = 1e-5) -> Tensor:
    """Per sample and channel, remove the mean and divide by the std over H x W (biased variance,
    ``eps`` inside the root, as ``nn.InstanceNorm2d``): what remains is independent of per-channel
    scale and shift, i.e. of the feature statistics that carry style."""
    if feats.ndim != 4:
        raise ValueError(f"instance normalisation needs N x C x H x W feature maps, got shape {tuple(feats.shape)}")
    if feats.shape[2] * feats.shape[3] < 2:
        raise ConfigError("instance normalisation needs feature maps with more than one position (H x W >= 2): the "
                          "images are too small for the feature network (DIPD's VGG16 relu5_3 is 1/16 of the image "
                          "side); evaluate at a larger --image-size (>= 32 px)")
    f = feats.to(torch.float32) if feats.dtype in (torch.float16, torch.bfloat16) else feats
    mean = f.mean(dim=(2, 3), keepdim=True)
    var = f.var(dim=(2, 3), keepdim=True, unbiased=False)
    return (f - mean) / torch.sqrt(var + eps)


def domain_invariant_perceptual_distance(
    feat_a: Tensor, feat_b: Tensor, reduction: Literal["mse", "l2"] = "mse", eps: float = 1e-5
) -> Tensor:
    """FUNIT's DIPD per sample: d = ‖IN(φ(a)) − IN(φ(b))‖² / (C·H·W) (``"mse"``, the default: the
    mean squared difference, as in MUNIT's domain-invariant perceptual loss, resolution-independent)
    or ‖IN(φ(a)) − IN(φ(b))‖₂ (``"l2"``: the plain Euclidean distance over all C·H·W elements).

    ``feat_a``/``feat_b`` are N x C x H x W maps (VGG16 relu5_3 for the standard metric); IN is
    :func:`instance_normalize`. Returns a tensor of N distances; the metric reports their mean.
    """
    if feat_a.shape != feat_b.shape:
        raise ValueError(f"feature maps differ in shape: {tuple(feat_a.shape)} vs {tuple(feat_b.shape)}")
    diff = (instance_normalize(feat_a, eps) - instance_normalize(feat_b, eps)).flatten(1)
    if reduction == "mse":
        return diff.pow(2).mean(1)
    if reduction == "l2":
        return diff.pow(2).sum(1).sqrt()
    raise ValueError(f"reduction must be 'mse' or 'l2', got {reduction!r}")


def _pairs(s: int) -> tuple[Tensor, Tensor]:
    i, j = torch.triu_indices(s, s, offset=1)
    return i, j


def lpips_diversity_per_input(
    variants: Tensor, lpips_model: Callable[[Tensor, Tensor], Tensor], batch_size: int = 32
) -> Tensor:
    """For each input n, the mean distance over all S(S−1)/2 unordered pairs of its S outputs
    ``variants[n]`` (N x S x 3 x H x W). Returns a tensor of N values (CPU, float64)."""
    if variants.ndim != 5:
        raise ValueError(f"variants must be N x S x C x H x W, got shape {tuple(variants.shape)}")
    n, s = variants.shape[:2]
    if s < 2:
        raise ConfigError(f"diversity needs at least 2 outputs per input, got {s} (--diversity-samples or "
                          "--styles-per-input >= 2)")
    i, j = _pairs(s)
    p = len(i)
    a_idx = (torch.arange(n).unsqueeze(1) * s + i).flatten()  # n-major, pair-minor
    b_idx = (torch.arange(n).unsqueeze(1) * s + j).flatten()
    flat = variants.reshape(n * s, *variants.shape[2:])
    out = []
    with torch.no_grad():
        for k in range(0, len(a_idx), batch_size):
            d = lpips_model(flat[a_idx[k:k + batch_size]], flat[b_idx[k:k + batch_size]])
            d = torch.as_tensor(d)
            out.append(d.reshape(d.shape[0], -1).mean(1).detach().to("cpu", torch.float64))
    return torch.cat(out).reshape(n, p).mean(1)


def lpips_diversity(variants: Tensor, lpips_model: Callable[[Tensor, Tensor], Tensor], batch_size: int = 32) -> float:
    """Mean pairwise LPIPS among the S outputs of each input, averaged over the N inputs."""
    return float(lpips_diversity_per_input(variants, lpips_model, batch_size).mean())


_LPIPS_BACKBONES = {"alex": "alexnet", "vgg": "vgg16", "vgg16": "vgg16"}


def build_lpips(net: str = "alex", weights: str | os.PathLike[str] | None = None, device: str | torch.device = "cpu",
                version: str = "0.1") -> nn.Module:
    """The ``lpips`` package's LPIPS with its shipped linear heads and the backbone from a local
    torchvision weight file (``alexnet-owt-7be5be79.pth`` / ``vgg16-397923af.pth``). Built with a
    random backbone (``pnet_rand=True``: torchvision downloads nothing) that is then overwritten."""
    if net not in _LPIPS_BACKBONES:
        raise ConfigError(f"LPIPS net must be 'alex' or 'vgg', got {net!r}")
    path = resolve_weights(_LPIPS_BACKBONES[net], weights)
    import lpips

    with warnings.catch_warnings():
        warnings.simplefilter("ignore")  # torchvision's deprecation warning for pretrained=False
        model = lpips.LPIPS(pretrained=True, net="vgg" if net == "vgg16" else net, version=version, pnet_rand=True,
                            verbose=False)
    sd = _load_state_dict(path)
    feats = {k[len("features."):]: v for k, v in sd.items() if k.startswith("features.")} or dict(sd)
    target = model.net.state_dict()
    mapped: dict[str, Tensor] = {}
    for key in target:  # "slice2.3.weight" <- torchvision "features.3.weight"
        src = key.split(".", 1)[1]
        if src not in feats or feats[src].shape != target[key].shape:
            raise CheckpointError(f"{path} is not a torchvision {_LPIPS_BACKBONES[net]} state dict (no matching 'features.{src}')")
        mapped[key] = feats[src]
    model.net.load_state_dict(mapped, strict=True)
    return model.eval().requires_grad_(False).to(device)


# --------------------------------------------------------------------------------------------
# Groups and streaming metrics
# --------------------------------------------------------------------------------------------

@dataclass
class TranslationGroup:
    """One target class: N content inputs, their N translations into ``target``, M real images of
    ``target``, optionally the N content labels and N x S outputs per input (for diversity).
    Images are N x 3 x H x W floats in [-1, 1]."""

    target: str
    target_label: int
    content: Tensor
    translated: Tensor
    real: Tensor
    content_labels: Tensor | None = None
    variants: Tensor | None = None

    def __post_init__(self) -> None:
        if len(self.translated) != len(self.content):
            raise ValueError(f"group {self.target!r}: {len(self.translated)} translations for {len(self.content)} content images")
        if self.content_labels is not None and len(self.content_labels) != len(self.content):
            raise ValueError(f"group {self.target!r}: {len(self.content_labels)} content labels for {len(self.content)} images")
        if self.variants is not None and (self.variants.ndim != 5 or len(self.variants) != len(self.content)):
            raise ValueError(f"group {self.target!r}: variants must be N x S x 3 x H x W with N={len(self.content)}, "
                             f"got {tuple(self.variants.shape)}")


def _fingerprint(images: Tensor) -> str:
    t = images.detach().cpu().contiguous()
    h = hashlib.sha1(str((tuple(t.shape), str(t.dtype))).encode())
    h.update(t.view(torch.uint8).numpy().tobytes() if t.numel() else b"")
    return h.hexdigest()


class Metric:
    """Base of the streaming metrics: ``update`` once per target class, ``compute`` at the end."""

    name: ClassVar[str] = ""
    reads_translations: ClassVar[bool] = True
    """False for metrics that read only ``group.variants``: the two_domain protocol then gives them
    only the first of a target's groups (the others add more styles' translations)."""

    def __init__(self, *, device: str | torch.device = "cpu", batch_size: int = 50) -> None:
        self.device = torch.device(device)
        self.batch_size = int(batch_size)
        self.reset()

    def reset(self) -> None:
        """Forget everything seen so far (the network, if loaded, is kept)."""

    def update(self, group: TranslationGroup) -> None:
        raise NotImplementedError

    def compute(self) -> dict[str, float]:
        raise NotImplementedError

    def _need_data(self, n: int) -> None:
        if n == 0:
            raise RuntimeError(f"metric {self.name!r}: compute() before any update()")


class _FeatureMetric(Metric):
    """A metric on Inception-like N x D features of translated and real images."""

    def __init__(self, *, features: FeatureExtractor | str | None = None, weights: str | os.PathLike[str] | None = None,
                 device: str | torch.device = "cpu", batch_size: int = 50) -> None:
        self._kind = "inception"
        if isinstance(features, str):
            if features not in self.STANDARD_FEATURES:
                raise ConfigError(f"features must be a callable, None or one of {self.STANDARD_FEATURES}, got {features!r}")
            self._kind, features = features, None
        self._features = features
        self._weights = weights
        super().__init__(device=device, batch_size=batch_size)

    #: Standard extractors by name: the TF FID Inception (the default) and StarGAN v2's torchvision
    #: ImageNet Inception-v3 (GP-UNIT's evaluation notebook); ``weights=`` is the chosen one's file.
    STANDARD_FEATURES: ClassVar[tuple[str, ...]] = ("inception", "stargan_v2")

    @property
    def features(self) -> FeatureExtractor:
        """The extractor; a standard one is loaded (from a local file) on first use."""
        if self._features is None:
            self._features = default_extractor(self._kind, self.device, self._weights)
        return self._features

    def _extract(self, images: Tensor) -> Tensor:
        out = batched(self.features, images, self.batch_size)
        if not torch.isfinite(out).all():
            raise ValueError(f"metric {self.name!r}: the feature extractor returned NaN or inf")
        return out.reshape(len(out), -1)

    def reset(self) -> None:
        self._real_seen: dict[str, set[str]] = {}
        self._classes: list[str] = []

    def _add(self, target: str, kind: Literal["translated", "real"], feats: Tensor) -> None:
        raise NotImplementedError

    def update(self, group: TranslationGroup) -> None:
        """Add the group's translations; its real images are added once per target (a later group
        of the same target with the same real tensor contents adds only translations)."""
        t = group.target
        if t not in self._classes:
            self._classes.append(t)
        self._add(t, "translated", self._extract(group.translated))
        seen = self._real_seen.setdefault(t, set())
        if len(group.real):
            fp = _fingerprint(group.real)
            if fp not in seen:
                seen.add(fp)
                self._add(t, "real", self._extract(group.real))


class _FIDBase(_FeatureMetric):
    """Keeps streaming moments: per target class, or pooled (``_pool = True``)."""

    _pool: ClassVar[bool] = False

    def reset(self) -> None:
        super().reset()
        self._moments: dict[tuple[str, str], Moments] = {}

    def _add(self, target: str, kind: Literal["translated", "real"], feats: Tensor) -> None:
        key = ("*" if self._pool else target, kind)
        self._moments.setdefault(key, Moments()).add(feats)

    def _fid(self, target: str) -> tuple[float, int, int]:
        fake, real = self._moments.get((target, "translated")), self._moments.get((target, "real"))
        if fake is None or real is None or real.n == 0:
            raise ConfigError(f"metric {self.name!r}: target class {target!r} has no real images (all its images went "
                              "to the class-image shots?); give it more images or a smaller K")
        return frechet_distance_from_moments(*fake.mean_cov(), *real.mean_cov()), fake.n, real.n


class FID(_FIDBase):
    """FID between all translations and all real target images, pooled over target classes."""

    name = "fid"
    _pool = True

    def compute(self) -> dict[str, float]:
        self._need_data(len(self._classes))
        fid, n_fake, n_real = self._fid("*")
        return {"fid": fid, "fid_images_translated": n_fake, "fid_images_real": n_real}


class MeanFID(_FIDBase):
    """mFID: FID per target class (its translations vs its real images), averaged over classes.

    With few images per class each FID is strongly biased upwards; the counts are reported with it.
    """

    name = "mfid"

    def per_class(self) -> dict[str, float]:
        self._need_data(len(self._classes))
        return {t: self._fid(t)[0] for t in self._classes}

    def compute(self) -> dict[str, float]:
        self._need_data(len(self._classes))
        res = [self._fid(t) for t in self._classes]
        n_fake, n_real = [r[1] for r in res], [r[2] for r in res]
        return {
            "mfid": float(np.mean([r[0] for r in res])),
            "mfid_classes": len(res),
            "mfid_images_per_class": float(np.mean(n_fake)),
            "mfid_real_images_per_class": float(np.mean(n_real)),
            "mfid_min_images_per_class": min(min(n_fake), min(n_real)),
        }


class _KIDOptions(_FeatureMetric):
    def __init__(self, *, features: FeatureExtractor | str | None = None, weights: str | os.PathLike[str] | None = None,
                 device: str | torch.device = "cpu", batch_size: int = 50, subsets: int = 100, subset_size: int = 1000,
                 degree: int = 3, gamma: float | None = None, coef0: float = 1, seed: int = 0) -> None:
        super().__init__(features=features, weights=weights, device=device, batch_size=batch_size)
        self.kid_options = dict(subsets=subsets, subset_size=subset_size, degree=degree, gamma=gamma, coef0=coef0, seed=seed)

    def reset(self) -> None:
        super().reset()
        # KID draws random subsets, so it keeps the features themselves (float32, as torch-fidelity).
        self._feats: dict[tuple[str, str], list[Tensor]] = {}

    def _add(self, target: str, kind: Literal["translated", "real"], feats: Tensor) -> None:
        self._feats.setdefault((target, kind), []).append(feats.to(torch.float32))

    def _class_sets(self) -> dict[str, tuple[Tensor, Tensor]]:
        self._need_data(len(self._classes))
        out = {}
        for t in self._classes:
            fake, real = self._feats.get((t, "translated")), self._feats.get((t, "real"))
            if not fake or not real:
                raise ConfigError(f"metric {self.name!r}: target class {t!r} has no real images (all its images went "
                                  "to the class-image shots?); give it more images or a smaller K")
            out[t] = (torch.cat(fake), torch.cat(real))
        return out

    def _pooled(self) -> tuple[Tensor, Tensor]:
        sets = self._class_sets()
        return torch.cat([a for a, _ in sets.values()]), torch.cat([b for _, b in sets.values()])

    def _kid(self, a: Tensor, b: Tensor) -> tuple[float, float, int]:
        mean, std = kernel_inception_distance(a, b, **self.kid_options)  # type: ignore[arg-type]
        return mean, std, min(int(self.kid_options["subset_size"]), len(a), len(b))  # type: ignore[call-overload]


class KID(_KIDOptions):
    """KID (unbiased MMD², cubic polynomial kernel) between all translations and all real images."""

    name = "kid"

    def compute(self) -> dict[str, float]:
        fake, real = self._pooled()
        mean, std, m = self._kid(fake, real)
        return {"kid": mean, "kid_std": std, "kid_subset_size": m, "kid_images_translated": len(fake),
                "kid_images_real": len(real)}


class MeanKID(_KIDOptions):
    """mKID: KID per target class, averaged over classes (subset size clipped per class)."""

    name = "mkid"

    def per_class(self) -> dict[str, float]:
        return {t: self._kid(a, b)[0] for t, (a, b) in self._class_sets().items()}

    def compute(self) -> dict[str, float]:
        sets = self._class_sets()
        res = [self._kid(a, b) for a, b in sets.values()]
        return {
            "mkid": float(np.mean([r[0] for r in res])),
            "mkid_std": float(np.mean([r[1] for r in res])),
            "mkid_classes": len(res),
            "mkid_subset_size": min(r[2] for r in res),
            "mkid_images_per_class": float(np.mean([len(a) for a, _ in sets.values()])),
            "mkid_real_images_per_class": float(np.mean([len(b) for _, b in sets.values()])),
        }


ClassifierLike = Callable[[Tensor], Tensor]


class _ClassifierMetric(Metric):
    def __init__(self, classifier: ClassifierLike | str | os.PathLike[str] | None = None, *,
                 device: str | torch.device = "cpu", batch_size: int = 50) -> None:
        self._classifier_arg = classifier
        self._classifier: ClassifierLike | None = None
        super().__init__(device=device, batch_size=batch_size)

    @property
    def classifier(self) -> ClassifierLike:
        """The classifier: loaded from its folder (``classifier.load_classifier``) on first use."""
        if self._classifier is None:
            arg = self._classifier_arg
            if arg is None:
                raise ConfigError(
                    f"metric {self.name!r} needs a classifier: pass classifier=<folder of a classifier trained with "
                    "`i2ikit eval train-classifier`> or any callable images -> logits (no standard one exists: "
                    "FUNIT fine-tunes its own per dataset)"
                )
            if isinstance(arg, (str, os.PathLike)):
                from .classifier import load_classifier  # lazily: written separately, imports timm

                self._classifier = load_classifier(arg, device=str(self.device))
            else:
                if isinstance(arg, nn.Module):
                    arg.eval()  # BatchNorm/Dropout in train mode would make accuracy depend on the batch
                self._classifier = arg
        return self._classifier

    def _logits(self, images: Tensor) -> Tensor:
        logits = batched(self.classifier, images, self.batch_size)
        if logits.ndim != 2:
            raise ValueError(f"the classifier must return N x C logits, got shape {tuple(logits.shape)}")
        return logits

    def reset(self) -> None:
        self._n = 0
        self._top1 = 0
        self._top5 = 0

    def _count(self, logits: Tensor, labels: Tensor) -> None:
        labels = labels.to(logits.device, torch.long).reshape(-1)
        k = min(5, logits.shape[1])
        top = logits.topk(k, dim=1).indices
        self._top1 += int((top[:, 0] == labels).sum())
        self._top5 += int((top == labels[:, None]).any(1).sum())
        self._n += len(labels)


class TranslationAccuracy(_ClassifierMetric):
    """Top-1/top-5 accuracy of classifying each translation as its target class (FUNIT).

    The target's index in the classifier: with ``match_by="auto"`` (default) its position in the
    classifier's ``.classes`` when the classifier has class names (the target name must be there),
    else ``group.target_label``; ``"name"`` / ``"label"`` force one of the two. Values are fractions
    in [0, 1]; top-5 is top-min(5, C).
    """

    name = "accuracy"

    def __init__(self, classifier: ClassifierLike | str | os.PathLike[str] | None = None, *,
                 device: str | torch.device = "cpu", batch_size: int = 50,
                 match_by: Literal["auto", "name", "label"] = "auto") -> None:
        if match_by not in ("auto", "name", "label"):
            raise ConfigError(f"match_by must be 'auto', 'name' or 'label', got {match_by!r}")
        self.match_by = match_by
        super().__init__(classifier, device=device, batch_size=batch_size)

    def target_index(self, group: TranslationGroup) -> int:
        classes: Sequence[str] | None = getattr(self.classifier, "classes", None)
        if self.match_by == "label" or (self.match_by == "auto" and not classes):
            return int(group.target_label)
        if not classes:
            raise ConfigError(f"metric {self.name!r}: match_by='name' but the classifier has no .classes")
        names = [str(c) for c in classes]
        if group.target not in names:
            raise ConfigError(
                f"metric {self.name!r}: target class {group.target!r} is not among the classifier's classes "
                f"({', '.join(names[:10])}{', ...' if len(names) > 10 else ''}); use a classifier trained on the target "
                "classes, or match_by='label' to use the group's target_label as the index"
            )
        return names.index(group.target)

    def update(self, group: TranslationGroup) -> None:
        idx = self.target_index(group)
        logits = self._logits(group.translated)
        if not 0 <= idx < logits.shape[1]:
            raise ConfigError(f"metric {self.name!r}: target index {idx} out of range for a classifier with "
                              f"{logits.shape[1]} classes; use a classifier trained on the target classes")
        self._count(logits, torch.full((len(logits),), idx, dtype=torch.long))

    def compute(self) -> dict[str, float]:
        self._need_data(self._n)
        return {"top1": self._top1 / self._n, "top5": self._top5 / self._n, "accuracy_images": self._n}


class ContentAccuracy(_ClassifierMetric):
    """Top-1 accuracy of classifying translations by their content label (e.g. which character a
    glyph shows): does the translation keep its content? Labels index the classifier's outputs."""

    name = "content_accuracy"

    def update(self, group: TranslationGroup) -> None:
        if group.content_labels is None:
            raise ConfigError(f"metric {self.name!r} needs content labels, but group {group.target!r} has none (they "
                              "exist for glyph data: a content_labels.json next to the split folder)")
        logits = self._logits(group.translated)
        labels = torch.as_tensor(group.content_labels).reshape(-1)
        if len(labels) and (labels.min() < 0 or labels.max() >= logits.shape[1]):
            raise ConfigError(f"metric {self.name!r}: content labels out of range for a classifier with "
                              f"{logits.shape[1]} classes; use a content classifier trained on the same content labels")
        self._count(logits, labels)

    def compute(self) -> dict[str, float]:
        self._need_data(self._n)
        return {"content_top1": self._top1 / self._n, "content_top5": self._top5 / self._n, "content_images": self._n}


class DIPD(Metric):
    """FUNIT's domain-invariant perceptual distance between each content image and its translation
    (VGG16 relu5_3, instance-normalised per channel, then mean squared difference); lower = content
    kept better."""

    name = "dipd"

    def __init__(self, features: FeatureExtractor | None = None, *, weights: str | os.PathLike[str] | None = None,
                 device: str | torch.device = "cpu", batch_size: int = 50, reduction: Literal["mse", "l2"] = "mse",
                 eps: float = 1e-5) -> None:
        if reduction not in ("mse", "l2"):
            raise ConfigError(f"DIPD reduction must be 'mse' or 'l2', got {reduction!r}")
        self._features = features.extractor if isinstance(features, CachedFeatures) else features
        self._weights = weights
        self.reduction = reduction
        self.eps = eps
        super().__init__(device=device, batch_size=batch_size)

    @property
    def features(self) -> FeatureExtractor:
        if self._features is None:
            if self._weights is not None:
                from .features import vgg_conv5_features

                self._features = vgg_conv5_features(self._weights, self.device)
            else:
                self._features = default_extractor("vgg16", self.device)
        return self._features

    def reset(self) -> None:
        self._sum = 0.0
        self._n = 0

    def update(self, group: TranslationGroup) -> None:
        fn = _on_its_device(self.features)
        bs = self.batch_size
        with torch.no_grad():
            for i in range(0, len(group.content), bs):
                fa, fb = fn(group.content[i:i + bs]), fn(group.translated[i:i + bs])
                d = domain_invariant_perceptual_distance(fa, fb, self.reduction, self.eps)
                self._sum += float(d.double().sum())
                self._n += len(d)

    def compute(self) -> dict[str, float]:
        self._need_data(self._n)
        return {"dipd": self._sum / self._n, "dipd_images": self._n}


class LPIPSDiversity(Metric):
    """Diversity: mean LPIPS between the outputs for the same input (different styles or noise),
    averaged over inputs; higher = more diverse. Needs ``group.variants`` (N x S x 3 x H x W)."""

    name = "lpips_diversity"
    reads_translations = False

    def __init__(self, net: Literal["alex", "vgg"] = "alex", weights: str | os.PathLike[str] | None = None, *,
                 model: Callable[[Tensor, Tensor], Tensor] | None = None, device: str | torch.device = "cpu",
                 batch_size: int = 32, version: str = "0.1") -> None:
        if model is None and net not in _LPIPS_BACKBONES:
            raise ConfigError(f"LPIPS net must be 'alex' or 'vgg', got {net!r}")
        self.net = net
        self._weights = weights
        self._model = model
        self.version = version
        super().__init__(device=device, batch_size=batch_size)

    @property
    def model(self) -> Callable[[Tensor, Tensor], Tensor]:
        """LPIPS (package heads + local torchvision backbone), built on first use."""
        if self._model is None:
            self._model = build_lpips(self.net, self._weights, self.device, self.version)
        return self._model

    def reset(self) -> None:
        self._sum = 0.0
        self._n = 0
        self._samples = 0

    def update(self, group: TranslationGroup) -> None:
        if group.variants is None:
            raise ConfigError(f"metric {self.name!r} needs several outputs per input (group.variants), "
                              f"but group {group.target!r} has none")
        model = self.model
        dev = _module_device(model)
        fn = model if dev is None else (lambda a, b: model(a.to(dev), b.to(dev)))
        d = lpips_diversity_per_input(group.variants, fn, self.batch_size)
        self._sum += float(d.sum())
        self._n += len(d)
        self._samples += int(group.variants.shape[1]) * len(d)

    def compute(self) -> dict[str, float]:
        self._need_data(self._n)
        return {"lpips_diversity": self._sum / self._n, "lpips_diversity_inputs": self._n,
                "lpips_diversity_samples_per_input": self._samples / self._n}
