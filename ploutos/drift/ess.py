"""Effective sample sizes of pooled daily feature values, for tests that assume independence.

Rolling-window features are strongly autocorrelated in time and correlated across assets, so
a window of n days x A assets carries far fewer than n * A independent values. Per feature:

    tau       = 1 + 2 * sum_k rho_k   the integrated autocorrelation time, rho averaged over
                assets and summed up to the first lag where it is no longer positive (or
                max_lag), as in Geyer's initial positive sequence
    A_eff     = A / (1 + (A - 1) * rbar)   rbar the mean pairwise correlation across assets
    ESS(n)    = clip(n / tau, 1, n) * A_eff

all estimated on the reference (training) window only, from the indicator 1{x > median}
rather than from the raw values: KS and PSI are functions of ECDF values, i.e. sums of such
indicators, and the indicator at the median is the most persistent one (for a Gaussian
series its correlation is (2 / pi) arcsin(rho), which shrinks for thresholds away from the
median), so ESS errs on the small (conservative) side, but less than raw values would.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np


@dataclass(frozen=True)
class EffectiveSize:
    tau: np.ndarray  # [F] integrated autocorrelation time, >= 1
    assets: np.ndarray  # [F] effective number of independent assets, in [1, A]

    def of_window(self, n_days: int) -> np.ndarray:
        """[F] effective number of independent values in n_days x all assets."""
        days = np.clip(n_days / self.tau, 1.0, float(n_days))
        return days * self.assets


def _autocorrelation(x: np.ndarray, max_lag: int) -> np.ndarray:
    """[max_lag + 1, F]: autocorrelation of each (asset, feature) series averaged over assets."""
    n = x.shape[0]
    centred = x - x.mean(axis=0, keepdims=True)
    spectrum = np.fft.rfft(centred, n=2 * n, axis=0)
    acov = np.fft.irfft(spectrum * np.conj(spectrum), n=2 * n, axis=0)[: max_lag + 1]
    var = acov[0]
    # A constant series (var 0) carries no autocorrelation information; it counts as white.
    with np.errstate(invalid="ignore", divide="ignore"):
        rho = np.where(var > 0, acov / np.where(var > 0, var, 1.0), 0.0)
    rho[0] = 1.0
    return rho.mean(axis=1)


def integrated_time(rho: np.ndarray) -> np.ndarray:
    """[F] 1 + 2 * sum of rho_k (k >= 1) up to the first lag that is not positive."""
    positive = np.cumprod(rho[1:] > 0, axis=0).astype(bool)
    return 1.0 + 2.0 * np.where(positive, rho[1:], 0.0).sum(axis=0)


def cross_section_assets(x: np.ndarray) -> np.ndarray:
    """[F] A / (1 + (A - 1) * mean pairwise correlation across assets), clipped to [1, A]."""
    n_assets = x.shape[1]
    if n_assets == 1:
        return np.ones(x.shape[2])
    std = x.std(axis=0, keepdims=True)
    z = np.where(std > 0, (x - x.mean(axis=0, keepdims=True)) / np.where(std > 0, std, 1.0), 0.0)
    corr = np.einsum("taf,tbf->fab", z, z) / x.shape[0]  # [F, A, A]
    off_diagonal = (corr.sum(axis=(1, 2)) - np.einsum("faa->f", corr)) / (n_assets * (n_assets - 1))
    rbar = np.clip(off_diagonal, 0.0, 1.0)
    return n_assets / (1.0 + (n_assets - 1) * rbar)


def effective_size(reference: np.ndarray, max_lag: int) -> EffectiveSize:
    """Estimate tau and A_eff per feature from the reference window [n, A, F]."""
    values = np.asarray(reference, np.float64)
    median = np.median(values.reshape(-1, values.shape[2]), axis=0)
    x = (values > median).astype(np.float64)
    max_lag = min(max_lag, x.shape[0] - 1)
    tau = integrated_time(_autocorrelation(x, max_lag))
    return EffectiveSize(tau=tau, assets=cross_section_assets(x))
