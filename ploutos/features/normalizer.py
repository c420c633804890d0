"""AdaptiveNormalizer: robust z-scores of the feature tensor, clipped, NaN-free, float32.

Statistics are per feature and pooled over tickers: features are already scale-free, pooling
keeps cross-sectional differences (a volatile stock keeps a high volatility score) and gives
A times more rows to estimate from. Location is the median, scale IQR / 1.349 (the standard
deviation for normal data); a feature whose IQR is 0 (constant, or mostly constant) falls
back to its standard deviation, and a truly constant one to 1, so nothing is divided by 0.

Modes:
- "train": statistics from the rows given to fit() (the train split) and nothing else.
- "expanding": causal; day t is scaled with statistics of days <= t (all tickers). fit()
  learns nothing; the first days, with little history, are noisy but never look ahead.
- "off": no scaling; only the clip and NaN -> 0, so the Market still gets clean values.
Warm-up NaNs are ignored by the statistics and become 0 (the median) after scaling.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

import numpy as np
import pandas as pd

from ploutos.errors import ConfigError

MODES = ("train", "expanding", "off")
IQR_TO_STD = 1.349
TINY = 1e-12


def _scale(iqr: np.ndarray, std: np.ndarray) -> np.ndarray:
    """IQR / 1.349, else the std, else 1: the first that is positive and finite."""
    scale = iqr / IQR_TO_STD
    scale = np.where(np.isfinite(scale) & (scale > TINY), scale, std)
    return np.where(np.isfinite(scale) & (scale > TINY), scale, 1.0)


class AdaptiveNormalizer:
    def __init__(self, mode: str = "train", clip: float = 5.0) -> None:
        if mode not in MODES:
            raise ConfigError("features.normalizer.mode", f"must be one of {MODES}, got {mode!r}")
        if isinstance(clip, bool) or not isinstance(clip, int | float) or not clip > 0:
            raise ConfigError("features.normalizer.clip", f"must be a number > 0, got {clip!r}")
        self.mode = mode
        self.clip = float(clip)
        self.center: np.ndarray | None = None  # [F], mode "train" only
        self.scale: np.ndarray | None = None

    @classmethod
    def from_config(cls, cfg: Mapping[str, Any] | None) -> AdaptiveNormalizer:
        """From `features.normalizer` ({enabled, mode, clip}); enabled: false gives "off"."""
        cfg = cfg or {}
        enabled = cfg.get("enabled", True)
        mode = cfg.get("mode", "train") if enabled else "off"
        return cls(mode=mode, clip=cfg.get("clip", 5.0))

    def fit(self, values: np.ndarray, rows: slice) -> AdaptiveNormalizer:
        """Learn per-feature statistics from values[rows] ([T, A, F]); other rows are unread."""
        if self.mode != "train":
            return self
        sample = np.asarray(values[rows], dtype=np.float64)
        sample = sample.reshape(-1, sample.shape[-1])
        if not np.isfinite(sample).any(axis=0).all():
            empty = np.flatnonzero(~np.isfinite(sample).any(axis=0)).tolist()
            raise ConfigError(
                "data.splits",
                f"the train rows {rows.start}:{rows.stop} hold no defined value for feature "
                f"indices {empty}; the train split must start after the features' warm-up",
            )
        q25, q50, q75 = np.nanquantile(sample, [0.25, 0.5, 0.75], axis=0)
        self.center = q50
        self.scale = _scale(q75 - q25, np.nanstd(sample, axis=0))
        return self

    def transform(self, values: np.ndarray) -> np.ndarray:
        """Scaled, clipped to +-clip, NaN -> 0, float32, same shape [T, A, F]."""
        x = np.asarray(values, dtype=np.float64)
        if self.mode == "train":
            if self.center is None or self.scale is None:
                raise RuntimeError("AdaptiveNormalizer.transform before fit (mode 'train')")
            if x.shape[-1] != self.center.shape[0]:
                raise ValueError(f"fitted on {self.center.shape[0]} features, got {x.shape[-1]}")
            x = (x - self.center) / self.scale
        elif self.mode == "expanding":
            center, scale = expanding_stats(x)
            x = (x - center[:, None, :]) / scale[:, None, :]
        x = np.clip(x, -self.clip, self.clip)
        return np.nan_to_num(x, nan=0.0).astype(np.float32)

    def state_dict(self) -> dict[str, Any]:
        """Plain JSON-able state: mode, clip and (mode "train") the per-feature statistics."""
        state: dict[str, Any] = {"mode": self.mode, "clip": self.clip}
        if self.center is not None and self.scale is not None:
            state["center"] = [float(v) for v in self.center]
            state["scale"] = [float(v) for v in self.scale]
        return state

    @classmethod
    def from_state_dict(cls, state: Mapping[str, Any]) -> AdaptiveNormalizer:
        norm = cls(mode=state["mode"], clip=state["clip"])
        if "center" in state:
            norm.center = np.asarray(state["center"], dtype=np.float64)
            norm.scale = np.asarray(state["scale"], dtype=np.float64)
        return norm


def expanding_stats(values: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Per day t and feature: median and robust scale of all values on days <= t ([T, F]).

    Days are laid out one after another (ticker by ticker within a day) and pandas' expanding
    quantiles run down that sequence; reading it at each day's last ticker gives statistics
    of days <= t, every ticker included, and nothing later.
    """
    t, a, f = values.shape
    flat = pd.DataFrame(values.reshape(t * a, f))
    rolling = flat.expanding(min_periods=1)
    last = np.arange(a - 1, t * a, a)

    def at_day_ends(frame: pd.DataFrame) -> np.ndarray:
        return frame.to_numpy()[last]

    q25 = at_day_ends(rolling.quantile(0.25))
    q50 = at_day_ends(rolling.quantile(0.5))
    q75 = at_day_ends(rolling.quantile(0.75))
    std = at_day_ends(rolling.std(ddof=0))
    return q50, _scale(q75 - q25, std)
