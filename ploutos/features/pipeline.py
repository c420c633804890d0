"""build_features: turn bars and the `features` config group into a causal [T, A, F] tensor.

Config shape (conf/features/*.yaml):

    include:
      - {name: rsi, period: 14}      # any key besides `name` is a parameter of the feature
      - log_return                   # a bare name takes the registered defaults

Conventions every feature follows here:
- rows before a feature's declared warm-up are NaN (the normalizer maps them to 0 later);
- after the warm-up, a value that is not finite (0 / 0 on flat prices, zero volume) is set
  to 0, each feature's neutral "no signal" value; infinities never leave this module.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any

import numpy as np
from omegaconf import DictConfig, ListConfig, OmegaConf

import ploutos.features.catalog_close
import ploutos.features.catalog_ohlcv
import ploutos.features.catalog_peers  # noqa: F401  (the catalogs register their features on import)
from ploutos.data.bars import Bars
from ploutos.errors import ConfigError
from ploutos.features.registry import REGISTRY, FeatureSpec, Inputs

ROOT = "features"


@dataclass(frozen=True)
class FeatureRequest:
    """One validated config entry: a registered feature with all its parameters."""

    spec: FeatureSpec
    params: dict[str, Any]
    key: str  # the config key it came from, e.g. features.include[3]

    @property
    def column(self) -> str:
        return self.spec.column_name(self.params)


@dataclass(frozen=True)
class FeatureSet:
    values: np.ndarray  # float32 [T, A, F]; NaN before each feature's warm-up
    names: tuple[str, ...]
    groups: tuple[str, ...]  # per feature, e.g. "momentum"; permutation importance uses it
    warmup: int  # first day index at which every built feature is defined
    skipped: dict[str, str] = field(default_factory=dict)  # column name -> reason
    warmups: tuple[int, ...] = ()  # per feature

    @property
    def n_features(self) -> int:
        return len(self.names)

    def summary(self) -> str:
        total = self.n_features + len(self.skipped)
        lines = [
            f"features: {self.n_features} of {total} built per ticker, "
            f"warm-up {self.warmup} days"
        ]
        by_reason: dict[str, list[str]] = {}
        for name, reason in self.skipped.items():
            by_reason.setdefault(reason, []).append(name)
        if by_reason:
            lines.append(f"skipped {len(self.skipped)}:")
            lines += [f"  {reason}: {', '.join(names)}" for reason, names in by_reason.items()]
        return "\n".join(lines)


def parse_requests(cfg: DictConfig | Mapping[str, Any]) -> list[FeatureRequest]:
    """Validate `features.include` against the registry; every error names its config key."""
    include = cfg.get("include") if isinstance(cfg, Mapping | DictConfig) else None
    key = f"{ROOT}.include"
    if not isinstance(include, list | ListConfig) or len(include) == 0:
        raise ConfigError(key, "must be a non-empty list of feature specs ({name: ..., ...})")
    requests, seen = [], {}
    for i, entry in enumerate(include):
        request = _parse_entry(entry, f"{key}[{i}]")
        if request.column in seen:
            raise ConfigError(
                request.key, f"builds '{request.column}' again (first from {seen[request.column]})"
            )
        seen[request.column] = request.key
        requests.append(request)
    return requests


def _parse_entry(entry: Any, key: str) -> FeatureRequest:
    if isinstance(entry, DictConfig):
        entry = OmegaConf.to_container(entry, resolve=True)
    if isinstance(entry, str):
        entry = {"name": entry}
    if not isinstance(entry, dict) or "name" not in entry:
        raise ConfigError(key, f"must be a feature name or a mapping with 'name', got {entry!r}")
    name = entry["name"]
    if name not in REGISTRY:
        raise ConfigError(f"{key}.name", f"unknown feature '{name}'; known: {sorted(REGISTRY)}")
    spec = REGISTRY[name]
    params = dict(spec.params)
    for param, value in entry.items():
        if param == "name":
            continue
        if param not in spec.params:
            raise ConfigError(
                f"{key}.{param}",
                f"'{name}' has no parameter '{param}'; it takes {sorted(spec.params) or 'none'}",
            )
        params[param] = _check_value(value, spec.params[param], f"{key}.{param}")
    problem = spec.check(params)
    if problem:
        raise ConfigError(key, f"'{name}': {problem}")
    return FeatureRequest(spec=spec, params=params, key=key)


def _check_value(value: Any, default: Any, key: str) -> Any:
    """Integers (windows, periods) must be >= 1; floats (band widths) must be > 0."""
    if isinstance(default, bool) or not isinstance(default, int | float):
        return value
    if isinstance(default, int):
        if isinstance(value, bool) or not isinstance(value, int) or value < 1:
            raise ConfigError(key, f"must be an integer >= 1, got {value!r}")
        return value
    if isinstance(value, bool) or not isinstance(value, int | float) or not value > 0:
        raise ConfigError(key, f"must be a number > 0, got {value!r}")
    return float(value)


def compute_raw(inputs: Inputs, request: FeatureRequest) -> np.ndarray:
    """The feature as computed, float64 [T, A], before warm-up blanking and clean-up."""
    # 0 / 0 and log(0) are expected on flat prices or zero volume; finish() handles them.
    with np.errstate(divide="ignore", invalid="ignore"):
        out = np.asarray(request.spec.compute(inputs, **request.params), dtype=np.float64)
    expected = inputs.close.shape
    if out.shape != expected:
        raise RuntimeError(f"feature '{request.column}' returned {out.shape}, not {expected}")
    return out


def finish(raw: np.ndarray, warmup: int) -> np.ndarray:
    """Apply the module's conventions: NaN before `warmup`, non-finite after it -> 0."""
    out = raw.copy()
    out[:warmup] = np.nan
    tail = out[warmup:]
    tail[~np.isfinite(tail)] = 0.0
    return out


def build_features(bars: Bars, cfg: DictConfig | Mapping[str, Any]) -> FeatureSet:
    """Build every requested feature the bars' columns allow; skip the others with a reason."""
    requests = parse_requests(cfg)
    inputs = Inputs(bars)
    built, skipped = [], {}
    for request in requests:
        missing = request.spec.missing(bars)
        if missing:
            skipped[request.column] = f"needs {', '.join(missing)}"
        else:
            built.append(request)
    if not built:
        raise ConfigError(
            f"{ROOT}.include",
            f"no feature can be built from the columns {bars.columns} of source '{bars.source}'",
        )
    values = np.empty((bars.n_days, bars.n_assets, len(built)), dtype=np.float32)
    warmups = tuple(r.spec.warmup(r.params) for r in built)
    for f, (request, warmup) in enumerate(zip(built, warmups, strict=True)):
        values[:, :, f] = finish(compute_raw(inputs, request), warmup)
    return FeatureSet(
        values=values,
        names=tuple(r.column for r in built),
        groups=tuple(r.spec.group for r in built),
        warmup=max(warmups),
        skipped=skipped,
        warmups=warmups,
    )
