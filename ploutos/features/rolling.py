"""Trailing-window statistics over [T, A] frames, shared by several features.

pandas' rolling and ewm kernels walk the rows forward, so a value at row t is computed from
rows <= t only and is bit-for-bit unchanged when later rows change.
"""

from __future__ import annotations

import numpy as np
import pandas as pd


def zscore(x: pd.DataFrame, window: int) -> pd.DataFrame:
    """(x - trailing mean) / trailing sample std; NaN on a flat window."""
    roll = x.rolling(window)
    std = roll.std()
    return (x - roll.mean()) / std.where(std > 0.0)


def cov_corr(x: pd.DataFrame, y: pd.DataFrame, window: int) -> tuple[pd.DataFrame, pd.DataFrame]:
    """Trailing population covariance of x and y column by column, and var(y), corr(x, y)."""
    mx, my = x.rolling(window).mean(), y.rolling(window).mean()
    cov = (x * y).rolling(window).mean() - mx * my
    var_x = ((x * x).rolling(window).mean() - mx * mx).clip(lower=0.0)
    var_y = ((y * y).rolling(window).mean() - my * my).clip(lower=0.0)
    denom = np.sqrt(var_x * var_y)
    return cov, var_y, cov / denom.where(denom > 0.0)


def cross_section_rank(x: pd.DataFrame) -> pd.DataFrame:
    """Rank of each ticker among the universe on the same day, scaled to [-1, 1] (ties share
    their mean rank); 0 for a one-ticker universe."""
    n = x.shape[1]
    if n == 1:
        return x * 0.0
    return (x.rank(axis=1) - 1.0) / (n - 1) * 2.0 - 1.0
