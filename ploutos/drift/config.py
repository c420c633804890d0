"""The `drift` config group as typed settings, every value checked before any data is read.

`drift=none` gives None (nothing is monitored); any other option is read key by key, and a
missing key takes the default below (the values of conf/drift/default.yaml). A wrong type, a
value out of range or an unknown key raises ConfigError naming the dotted key.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from dataclasses import dataclass, field, fields
from typing import Any

from omegaconf import DictConfig, OmegaConf

from ploutos.errors import ConfigError

ROOT = "drift"
# How reports name each detector (the event detectors by what they watch).
LABELS = {"ks": "KS", "psi": "PSI", "mmd": "MMD", "adwin": "ADWIN (volatility)",
          "hddm_a": "HDDM_A (trades)", "page_hinkley": "Page-Hinkley", "cusum": "CUSUM"}
Rule = tuple[Callable[[Any], bool], str]

POSITIVE: Rule = (lambda v: v > 0, "> 0")
AT_LEAST_2: Rule = (lambda v: v >= 2, ">= 2")
PROBABILITY: Rule = (lambda v: 0 < v < 1, "in (0, 1)")
NON_NEGATIVE: Rule = (lambda v: v >= 0, ">= 0")


@dataclass(frozen=True)
class CalibrationSettings:
    false_alarms_per_year: float = field(default=0.5, metadata={"rule": POSITIVE})
    trading_days: int = field(default=252, metadata={"rule": POSITIVE})


@dataclass(frozen=True)
class CombineSettings:
    k: int = field(default=2, metadata={"rule": POSITIVE})
    hold_days: int = field(default=21, metadata={"rule": POSITIVE})


@dataclass(frozen=True)
class KSSettings:
    enabled: bool = True
    window: int = field(default=63, metadata={"rule": AT_LEAST_2})
    q: float = field(default=0.05, metadata={"rule": PROBABILITY})
    grid: int = field(default=100, metadata={"rule": AT_LEAST_2})


@dataclass(frozen=True)
class PSISettings:
    enabled: bool = True
    window: int = field(default=126, metadata={"rule": (lambda v: v >= 126, ">= 126")})
    bins: int = field(default=10, metadata={"rule": AT_LEAST_2})
    smoothing: float = field(default=0.5, metadata={"rule": POSITIVE})
    multiple: float = field(default=3.5, metadata={"rule": POSITIVE})


@dataclass(frozen=True)
class MMDSettings:
    enabled: bool = True
    window: int = field(default=63, metadata={"rule": AT_LEAST_2})
    permutations: int = field(default=100, metadata={"rule": (lambda v: v >= 19, ">= 19")})
    alpha: float = field(default=0.05, metadata={"rule": PROBABILITY})
    block_days: int = field(default=21, metadata={"rule": POSITIVE})
    seed: int = field(default=0, metadata={"rule": NON_NEGATIVE})


@dataclass(frozen=True)
class ADWINSettings:
    enabled: bool = True
    delta: float = field(default=0.002, metadata={"rule": PROBABILITY})
    clock: int = field(default=1, metadata={"rule": POSITIVE})


@dataclass(frozen=True)
class HDDMSettings:
    enabled: bool = True
    drift_confidence: float = field(default=0.001, metadata={"rule": PROBABILITY})


@dataclass(frozen=True)
class PageHinkleySettings:
    enabled: bool = False
    delta: float = field(default=0.005, metadata={"rule": NON_NEGATIVE})
    threshold: float = field(default=50.0, metadata={"rule": POSITIVE})


@dataclass(frozen=True)
class CUSUMSettings:
    enabled: bool = False
    slack: float = field(default=0.5, metadata={"rule": NON_NEGATIVE})
    threshold: float = field(default=5.0, metadata={"rule": POSITIVE})


@dataclass(frozen=True)
class DriftSettings:
    name: str = "default"
    reference_days: int = field(default=504, metadata={"rule": AT_LEAST_2})
    max_lag: int = field(default=126, metadata={"rule": POSITIVE})
    calibration: CalibrationSettings = field(default_factory=CalibrationSettings)
    combine: CombineSettings = field(default_factory=CombineSettings)
    ks: KSSettings = field(default_factory=KSSettings)
    psi: PSISettings = field(default_factory=PSISettings)
    mmd: MMDSettings = field(default_factory=MMDSettings)
    adwin: ADWINSettings = field(default_factory=ADWINSettings)
    hddm_a: HDDMSettings = field(default_factory=HDDMSettings)
    page_hinkley: PageHinkleySettings = field(default_factory=PageHinkleySettings)
    cusum: CUSUMSettings = field(default_factory=CUSUMSettings)

    def enabled_detectors(self) -> tuple[str, ...]:
        """Names of the detectors that run, in table order."""
        names = ("ks", "psi", "mmd", "adwin", "hddm_a", "page_hinkley", "cusum")
        return tuple(name for name in names if getattr(self, name).enabled)


def _scalar(key: str, value: Any, kind: type) -> Any:
    # bool is an int in Python; a flag given as 1, or a count given as true, is a mistake.
    if kind is bool:
        ok = isinstance(value, bool)
    elif kind is int:
        ok = isinstance(value, int) and not isinstance(value, bool)
    elif kind is float:
        ok = isinstance(value, int | float) and not isinstance(value, bool)
    else:
        ok = isinstance(value, kind)
    if not ok:
        raise ConfigError(key, f"must be a {kind.__name__}, got {value!r}")
    return float(value) if kind is float else value


def _read(cls: type, raw: Mapping[str, Any], prefix: str) -> Any:
    known = {f.name: f for f in fields(cls)}
    for key in raw:
        if key not in known:
            raise ConfigError(f"{prefix}.{key}", f"unknown key; expected one of {sorted(known)}")
    values: dict[str, Any] = {}
    for name, spec in known.items():
        if name not in raw:
            continue
        key, value = f"{prefix}.{name}", raw[name]
        if isinstance(spec.default_factory, type):  # a nested section
            if not isinstance(value, Mapping):
                raise ConfigError(key, f"must be a mapping, got {value!r}")
            values[name] = _read(spec.default_factory, value, key)
            continue
        kind = {"bool": bool, "int": int, "float": float, "str": str}[str(spec.type)]
        value = _scalar(key, value, kind)
        rule = spec.metadata.get("rule")
        if rule is not None and not rule[0](value):
            raise ConfigError(key, f"must be {rule[1]}, got {value!r}")
        values[name] = value
    return cls(**values)


def drift_settings(cfg: DictConfig | Mapping[str, Any] | None) -> DriftSettings | None:
    """The `drift` group as DriftSettings; None for `drift=none` (or no group at all)."""
    if cfg is None:
        return None
    raw = OmegaConf.to_container(cfg, resolve=True) if isinstance(cfg, DictConfig) else dict(cfg)
    if raw.get("name") == "none":
        return None
    settings = _read(DriftSettings, raw, ROOT)
    _check_consistency(settings)
    return settings


def _check_consistency(s: DriftSettings) -> None:
    enabled = s.enabled_detectors()
    if not enabled:
        raise ConfigError(f"{ROOT}.ks.enabled", "every detector is disabled; use drift=none")
    if s.combine.k > len(enabled):
        raise ConfigError(f"{ROOT}.combine.k",
                          f"must be <= the {len(enabled)} enabled detectors, got {s.combine.k}")
    for name in ("ks", "psi", "mmd"):
        window = getattr(s, name).window
        if getattr(s, name).enabled and window > s.reference_days:
            raise ConfigError(
                f"{ROOT}.{name}.window",
                f"must be <= drift.reference_days ({s.reference_days}), got {window}",
            )
    if s.max_lag >= s.reference_days:
        raise ConfigError(f"{ROOT}.max_lag", f"must be < drift.reference_days ({s.reference_days})")
    block = s.mmd.block_days
    if s.mmd.enabled and (s.mmd.window % block or s.reference_days % block):
        raise ConfigError(
            f"{ROOT}.mmd.block_days",
            f"must divide mmd.window ({s.mmd.window}) and reference_days ({s.reference_days}),"
            f" got {block}",
        )
