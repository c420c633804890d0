"""Population stability index per feature, pooled over assets, with window-aware thresholds.

Bins are the reference's quantiles (deciles by default; tied quantiles merge, so a feature with
a point mass has fewer bins). Both histograms get +smoothing in every bin, so an empty bin
never makes PSI infinite:

    p_b = (n_b + s) / (N + s B),   q_b = (m_b + s) / (M + s B),
    PSI = sum_b (q_b - p_b) ln(q_b / p_b)

With no drift and independent values, PSI is about (1/N + 1/M) chi2(B - 1), so its expectation
is (B - 1)(1/N + 1/M): over 63 days that alone is far above the textbook 0.1 / 0.25 cut-offs.
The threshold is `multiple` times that expectation, with N and M the effective sample sizes
(ess.py). The detector statistic is the day's largest PSI / threshold over features; nominal
threshold 1.
"""

from __future__ import annotations

import numpy as np

from ploutos.drift.base import WindowDetector, WindowScores
from ploutos.drift.ess import EffectiveSize, effective_size
from ploutos.drift.rolling import full_window, rolling_histograms


def reference_edges(reference: np.ndarray, bins: int) -> np.ndarray:
    """Inner bin edges: the distinct interior quantiles of one feature's reference values."""
    return np.unique(np.quantile(reference, np.linspace(0.0, 1.0, bins + 1)[1:-1]))


def bin_codes(values: np.ndarray, edges: np.ndarray) -> np.ndarray:
    """Bin of each value: 0 below the first edge, b for edges[b - 1] <= value < edges[b]."""
    return np.searchsorted(edges, values, "right")


def psi_from_counts(ref_counts: np.ndarray, cur_counts: np.ndarray, smoothing: float) -> np.ndarray:
    """PSI of histograms cur_counts [..., B] against ref_counts [B]."""
    n_bins = ref_counts.shape[-1]
    p = (ref_counts + smoothing) / (ref_counts.sum() + smoothing * n_bins)
    q = (cur_counts + smoothing) / (cur_counts.sum(axis=-1, keepdims=True) + smoothing * n_bins)
    return ((q - p) * np.log(q / p)).sum(axis=-1)


def psi_series(values: np.ndarray, reference: np.ndarray, window: int, bins: int,
               smoothing: float) -> tuple[np.ndarray, np.ndarray]:
    """([T, F] PSI of each day's last `window` days, NaN before a full window; [F] bins used)."""
    n_days, _, n_features = values.shape
    out = np.full((n_days, n_features), np.nan)
    used = np.zeros(n_features, int)
    full = full_window(n_days, window)
    for f in range(n_features):
        ref = reference[:, :, f].ravel()
        edges = reference_edges(ref, bins)
        used[f] = len(edges) + 1
        ref_counts = np.bincount(bin_codes(ref, edges), minlength=used[f])
        counts = rolling_histograms(bin_codes(values[:, :, f], edges), used[f], window)
        out[full, f] = psi_from_counts(ref_counts, counts[full], smoothing)
    return out, used


def no_drift_expectation(bins: np.ndarray, n_ref: np.ndarray, n_cur: np.ndarray) -> np.ndarray:
    """(B - 1)(1/N + 1/M): PSI's expectation between two samples of one distribution."""
    return (bins - 1) * (1.0 / n_ref + 1.0 / n_cur)


class PSIDetector(WindowDetector):
    name = "psi"
    nominal = 1.0

    def __init__(self, window: int, bins: int, smoothing: float, multiple: float,
                 max_lag: int) -> None:
        super().__init__()
        self.window, self.bins, self.smoothing = window, bins, smoothing
        self.multiple, self.max_lag = multiple, max_lag
        self.reference: np.ndarray | None = None
        self.size: EffectiveSize | None = None

    def fit(self, reference: np.ndarray) -> None:
        self.reference = np.asarray(reference, np.float64)
        self.size = effective_size(self.reference, self.max_lag)

    def scores(self, values: np.ndarray) -> WindowScores:
        assert self.reference is not None and self.size is not None, "fit() first"
        psi, used = psi_series(np.asarray(values, np.float64), self.reference, self.window,
                               self.bins, self.smoothing)
        expected = no_drift_expectation(used, self.size.of_window(self.reference.shape[0]),
                                        self.size.of_window(self.window))
        # A feature with one bin (constant in the reference) has PSI 0 and no threshold.
        limit = np.where(used > 1, self.multiple * expected, np.inf)
        ratio = psi / limit
        full = np.isfinite(psi).all(axis=1)
        statistic = np.full(psi.shape[0], np.nan)
        statistic[full] = ratio[full].max(axis=1)
        return WindowScores(statistic=statistic, per_feature={"psi": psi, "psi_ratio": ratio})
