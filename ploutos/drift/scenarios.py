"""Synthetic inputs with known drift, for the detectors' proofs and the benchmark.

Features are stationary Gaussian AR(1) series with unit variance, the shape of autocorrelation
rolling-window features have; drifts are planted at known days.
"""

from __future__ import annotations

import numpy as np
from scipy.signal import lfilter


def ar1_features(rng: np.random.Generator, n_days: int, n_assets: int, n_features: int,
                 phi: float = 0.9) -> np.ndarray:
    """[T, A, F] float32, each (asset, feature) an independent stationary AR(1) with
    coefficient phi and variance 1 (started in its stationary distribution)."""
    shocks = rng.standard_normal((n_days, n_assets, n_features)) * np.sqrt(1.0 - phi**2)
    shocks[0] /= np.sqrt(1.0 - phi**2)  # x_0 ~ N(0, 1): stationary from the first day
    return lfilter([1.0], [1.0, -phi], shocks, axis=0).astype(np.float32)


def daily_returns(rng: np.random.Generator, n_days: int, vol: float = 0.01,
                  vol_change_day: int | None = None, vol_ratio: float = 2.0) -> np.ndarray:
    """[T] Gaussian daily returns; volatility times vol_ratio from vol_change_day on."""
    returns = rng.normal(0.0003, vol, n_days)
    if vol_change_day is not None:
        returns[vol_change_day:] *= vol_ratio
    return returns


def trade_pnls(rng: np.random.Generator, win_rates: list[tuple[int, float]]) -> np.ndarray:
    """[n] pnl of +1 (win) or -1 (loss): each (count, win rate) segment in turn."""
    wins = np.concatenate([rng.random(count) < rate for count, rate in win_rates])
    return np.where(wins, 1.0, -1.0)
