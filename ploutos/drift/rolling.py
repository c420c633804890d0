"""Rolling-window histograms of coded daily values, the shared core of the KS and PSI tests.

Every value of a feature is coded once into a bin (or ECDF slot) of its reference
distribution; a window's histogram is then a difference of cumulative daily counts, so a
rolling window over T days costs O(T * bins) whatever its length, and day t's histogram
counts days t - window + 1 .. t only.
"""

from __future__ import annotations

import numpy as np


def rolling_histograms(codes: np.ndarray, n_bins: int, window: int) -> np.ndarray:
    """[T, n_bins] counts of codes [T, A] (ints in [0, n_bins)) over the `window` days
    ending at each day; rows before the first full window are all zero."""
    n_days, n_assets = codes.shape
    rows = np.repeat(np.arange(n_days), n_assets)
    # int32 halves the memory traffic of the cumulative sum; counts stay below T * A.
    daily = np.bincount(rows * n_bins + codes.ravel(), minlength=n_days * n_bins)
    cumulative = np.zeros((n_days + 1, n_bins), np.int32)
    np.cumsum(daily.reshape(n_days, n_bins), axis=0, out=cumulative[1:])
    counts = np.zeros((n_days, n_bins), np.int32)
    if n_days >= window:
        counts[window - 1 :] = cumulative[window:] - cumulative[: n_days - window + 1]
    return counts


def full_window(n_days: int, window: int) -> np.ndarray:
    """[T] True where a full window of `window` days ends."""
    return np.arange(n_days) >= window - 1
