"""Evaluation: the field's metrics, computed the same way for every method, from local weights only.

Metrics are ``metric`` plugins (see :func:`registry_entries`): streaming classes fed one
:class:`~i2ikit.eval.metrics.TranslationGroup` per target class. Network weights are files the user
places once (``I2IKIT_WEIGHTS``); nothing is downloaded. See ``docs/metrics.md``.
"""
from __future__ import annotations

from .features import CachedFeatures, FeatureExtractor, batched, inception_features, vgg_conv5_features
from .metrics import (
    DIPD,
    FID,
    KID,
    ContentAccuracy,
    LPIPSDiversity,
    MeanFID,
    MeanKID,
    Metric,
    TranslationAccuracy,
    TranslationGroup,
    domain_invariant_perceptual_distance,
    frechet_distance,
    kernel_inception_distance,
    lpips_diversity,
)
from .weights import KNOWN_WEIGHTS, ChecksumMismatchError, MissingWeightsError, WeightFile, resolve_weights

__all__ = [
    "DIPD",
    "FID",
    "KID",
    "KNOWN_WEIGHTS",
    "CachedFeatures",
    "ChecksumMismatchError",
    "ContentAccuracy",
    "FeatureExtractor",
    "LPIPSDiversity",
    "MeanFID",
    "MeanKID",
    "Metric",
    "MissingWeightsError",
    "TranslationAccuracy",
    "TranslationGroup",
    "WeightFile",
    "batched",
    "domain_invariant_perceptual_distance",
    "frechet_distance",
    "inception_features",
    "kernel_inception_distance",
    "lpips_diversity",
    "registry_entries",
    "resolve_weights",
    "vgg_conv5_features",
]


def registry_entries() -> list[tuple[str, str, object]]:
    """The ``("metric", name, class)`` triples the core plugin (``i2ikit.builtins``) registers."""
    metrics: list[type[Metric]] = [FID, MeanFID, KID, MeanKID, TranslationAccuracy, ContentAccuracy, DIPD, LPIPSDiversity]
    return [("metric", cls.name, cls) for cls in metrics]
