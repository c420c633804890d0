"""Causal per-ticker features: a registry of indicators, config-driven feature sets and the
adaptive normalizer. `build_features(bars, cfg.features)` is the entry point."""

from ploutos.features.normalizer import AdaptiveNormalizer
from ploutos.features.pipeline import FeatureSet, build_features
from ploutos.features.registry import REGISTRY, FeatureSpec

__all__ = ["REGISTRY", "AdaptiveNormalizer", "FeatureSet", "FeatureSpec", "build_features"]
