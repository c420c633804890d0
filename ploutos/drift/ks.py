"""Kolmogorov-Smirnov per feature, pooled over assets, with autocorrelation-corrected p-values.

Statistic. Each value is coded once into a slot of the reference ECDF: "equal to grid point
g" or "strictly between grid points g - 1 and g", where the grid is the reference's quantiles
(`grid` of them; every distinct reference value when grid is None). The current window's
cumulative slot counts against the reference's give D = max |F_ref - F_cur| over slot ends.
With every distinct reference value as the grid this is exactly scipy's ks_2samp statistic
(both ECDFs are constant between the slot ends, so the supremum sits on one of them); with
quantiles it is a lower bound that differs only inside a grid cell, and it is computed for all
days at once from rolling histograms instead of one sort per day and feature.

p-values. Kolmogorov's limiting distribution at sqrt(en) * D, as scipy's asymptotic two-sample
p-value, but with en = N_eff * M_eff / (N_eff + M_eff) from effective sample sizes (ess.py)
instead of the raw counts: at AR(1) phi 0.9, the raw counts make a 1% test reject about half the
time. Benjamini-Hochberg (scipy) across features then controls the false discovery rate q.

Detector statistic: -log10 of the smallest BH-adjusted p-value of the day; nominal threshold
-log10(q), i.e. it alarms when BH at q rejects any feature (before calibration).
"""

from __future__ import annotations

import numpy as np
from scipy import special, stats

from ploutos.drift.base import WindowDetector, WindowScores
from ploutos.drift.ess import EffectiveSize, effective_size
from ploutos.drift.rolling import full_window, rolling_histograms


def ecdf_grid(reference: np.ndarray, grid: int | None) -> np.ndarray:
    """Sorted distinct grid points of one feature's pooled reference values."""
    if grid is None:
        return np.unique(reference)
    return np.unique(np.quantile(reference, np.linspace(0.0, 1.0, grid + 1)))


def slot_codes(values: np.ndarray, points: np.ndarray) -> np.ndarray:
    """Slot of each value: 2g + 1 when equal to points[g], 2g when strictly between points[g-1]
    and points[g] (2 * len(points) past the last)."""
    left = np.searchsorted(points, values, "left")
    equal = points[np.minimum(left, len(points) - 1)] == values
    return 2 * left + equal


def ks_statistics(values: np.ndarray, reference: np.ndarray, window: int,
                  grid: int | None) -> np.ndarray:
    """[T, F] two-sample KS statistic of each day's last `window` days (pooled over assets)
    against the reference days [n, A, F]; NaN before the first full window."""
    n_days, _, n_features = values.shape
    out = np.full((n_days, n_features), np.nan)
    full = full_window(n_days, window)
    for f in range(n_features):
        ref = reference[:, :, f].ravel()
        points = ecdf_grid(ref, grid)
        n_slots = 2 * len(points) + 1
        ref_cdf = np.cumsum(np.bincount(slot_codes(ref, points), minlength=n_slots)) / ref.size
        counts = rolling_histograms(slot_codes(values[:, :, f], points), n_slots, window)
        cur_cdf = np.cumsum(counts[full], axis=1) / (window * values.shape[1])
        out[full, f] = np.abs(cur_cdf - ref_cdf).max(axis=1)
    return out


def ks_pvalues(d: np.ndarray, n_ref: np.ndarray | float, n_cur: np.ndarray | float) -> np.ndarray:
    """Asymptotic two-sided p-values of KS statistics d for sample sizes n_ref and n_cur
    (effective sizes; broadcast against d's last axis)."""
    en = np.asarray(n_ref) * np.asarray(n_cur) / (np.asarray(n_ref) + np.asarray(n_cur))
    return special.kolmogorov(np.sqrt(en) * d)


class KSDetector(WindowDetector):
    name = "ks"

    def __init__(self, window: int, q: float, grid: int | None, max_lag: int) -> None:
        super().__init__()
        self.window, self.q, self.grid, self.max_lag = window, q, grid, max_lag
        self.nominal = -np.log10(q)
        self.reference: np.ndarray | None = None
        self.size: EffectiveSize | None = None

    def fit(self, reference: np.ndarray) -> None:
        self.reference = np.asarray(reference, np.float64)
        self.size = effective_size(self.reference, self.max_lag)

    def scores(self, values: np.ndarray) -> WindowScores:
        assert self.reference is not None and self.size is not None, "fit() first"
        d = ks_statistics(np.asarray(values, np.float64), self.reference, self.window, self.grid)
        p = ks_pvalues(d, self.size.of_window(self.reference.shape[0]),
                       self.size.of_window(self.window))
        full = np.isfinite(d).all(axis=1)
        adjusted = np.full_like(p, np.nan)
        if full.any():
            adjusted[full] = stats.false_discovery_control(p[full], axis=1, method="bh")
        with np.errstate(divide="ignore", invalid="ignore"):
            statistic = -np.log10(np.nanmin(np.where(full[:, None], adjusted, 1.0), axis=1))
        statistic[~full] = np.nan
        return WindowScores(statistic=statistic, per_feature={"ks_q": adjusted, "ks_d": d})
