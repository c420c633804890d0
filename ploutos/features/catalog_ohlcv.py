"""Features that need opens, highs, lows or volumes: built on OHLCV data, skipped (with the
missing columns as the reason) on close-only data.

Oscillators are centred so that 0 is neutral, the value undefined ratios are mapped to.
"""

from __future__ import annotations

import numpy as np
import pandas as pd

from ploutos.features import indicators as ind
from ploutos.features.registry import Inputs, at_least, fast_below_slow, register
from ploutos.features.rolling import cov_corr, zscore

HLC = ("high", "low", "close")
HLCV = ("high", "low", "close", "volume")
CV = ("close", "volume")


@register(
    "atr",
    needs=HLC,
    group="volatility",
    params={"period": 14},
    warmup=lambda p: p["period"],
    label="atr_{period}",
    check=at_least("period", 2),
)
def atr(x: Inputs, period: int) -> pd.DataFrame:
    """Average true range as a fraction of the close."""
    return ind.atr(x.high, x.low, x.close, period) / x.close


@register(
    "parkinson",
    needs=("high", "low"),
    group="volatility",
    params={"window": 20},
    warmup=lambda p: p["window"] - 1,
    label="parkinson_{window}",
)
def parkinson(x: Inputs, window: int) -> pd.DataFrame:
    """Parkinson's high-low volatility estimate (daily)."""
    hl2 = np.log(x.high / x.low) ** 2
    return np.sqrt(hl2.rolling(window).mean() / (4.0 * np.log(2.0)))


@register(
    "garman_klass",
    needs=("open", "high", "low", "close"),
    group="volatility",
    params={"window": 20},
    warmup=lambda p: p["window"] - 1,
    label="garman_klass_{window}",
)
def garman_klass(x: Inputs, window: int) -> pd.DataFrame:
    """Garman-Klass OHLC volatility estimate (daily)."""
    term = (
        0.5 * np.log(x.high / x.low) ** 2
        - (2.0 * np.log(2.0) - 1.0) * np.log(x.close / x.open) ** 2
    )
    return np.sqrt(term.rolling(window).mean().clip(lower=0.0))


_STOCH = {"k": 14, "smooth_k": 3, "d": 3}


@register(
    "stoch_k",
    needs=HLC,
    group="oscillators",
    params=_STOCH,
    warmup=lambda p: p["k"] + p["smooth_k"] - 2,
    label="stoch_k_{k}_{smooth_k}",
)
def stoch_k(x: Inputs, k: int, smooth_k: int, d: int) -> pd.DataFrame:
    """Slow stochastic %K scaled to [-1, 1]."""
    return (ind.stoch(x.high, x.low, x.close, k, smooth_k, d)[0] - 50.0) / 50.0


@register(
    "stoch_d",
    needs=HLC,
    group="oscillators",
    params=_STOCH,
    warmup=lambda p: p["k"] + p["smooth_k"] + p["d"] - 3,
    label="stoch_d_{k}_{smooth_k}_{d}",
)
def stoch_d(x: Inputs, k: int, smooth_k: int, d: int) -> pd.DataFrame:
    return (ind.stoch(x.high, x.low, x.close, k, smooth_k, d)[1] - 50.0) / 50.0


@register(
    "willr",
    needs=HLC,
    group="oscillators",
    params={"period": 14},
    warmup=lambda p: p["period"] - 1,
    label="willr_{period}",
)
def willr(x: Inputs, period: int) -> pd.DataFrame:
    """Williams %R scaled from [-100, 0] to [-1, 1]."""
    return (ind.willr(x.high, x.low, x.close, period) + 50.0) / 50.0


@register(
    "cci",
    needs=HLC,
    group="oscillators",
    params={"period": 20},
    warmup=lambda p: p["period"] - 1,
    label="cci_{period}",
    check=at_least("period", 2),
)
def cci(x: Inputs, period: int) -> pd.DataFrame:
    """Commodity channel index / 100 (so +-1 are the classic +-100 lines)."""
    return ind.cci(x.high, x.low, x.close, period) / 100.0


@register(
    "adx",
    needs=HLC,
    group="trend",
    params={"period": 14},
    warmup=lambda p: 2 * p["period"] - 1,
    label="adx_{period}",
    check=at_least("period", 2),
)
def adx(x: Inputs, period: int) -> pd.DataFrame:
    return ind.directional(x.high, x.low, x.close, period)[2] / 100.0


@register(
    "plus_di",
    needs=HLC,
    group="trend",
    params={"period": 14},
    warmup=lambda p: p["period"],
    label="plus_di_{period}",
    check=at_least("period", 2),
)
def plus_di(x: Inputs, period: int) -> pd.DataFrame:
    return ind.directional(x.high, x.low, x.close, period)[0] / 100.0


@register(
    "minus_di",
    needs=HLC,
    group="trend",
    params={"period": 14},
    warmup=lambda p: p["period"],
    label="minus_di_{period}",
    check=at_least("period", 2),
)
def minus_di(x: Inputs, period: int) -> pd.DataFrame:
    return ind.directional(x.high, x.low, x.close, period)[1] / 100.0


@register(
    "mfi",
    needs=HLCV,
    group="volume",
    params={"period": 14},
    warmup=lambda p: p["period"],
    label="mfi_{period}",
)
def mfi(x: Inputs, period: int) -> pd.DataFrame:
    """Money flow index scaled to [-1, 1]."""
    return (ind.mfi(x.high, x.low, x.close, x.volume, period) - 50.0) / 50.0


@register(
    "obv_z",
    needs=CV,
    group="volume",
    params={"window": 20},
    warmup=lambda p: p["window"] - 1,
    label="obv_z_{window}",
    check=at_least("window", 2),
)
def obv_z(x: Inputs, window: int) -> pd.DataFrame:
    """On-balance volume as a z-score over its trailing window (its level is meaningless)."""
    return zscore(ind.obv(x.close, x.volume), window)


@register(
    "obv_slope",
    needs=CV,
    group="volume",
    params={"window": 20},
    warmup=lambda p: p["window"],
    label="obv_slope_{window}",
)
def obv_slope(x: Inputs, window: int) -> pd.DataFrame:
    """OBV change over the window / volume traded in it: in [-1, 1], +1 when every day rose."""
    change = ind.obv(x.close, x.volume).diff(window)
    traded = x.volume.rolling(window).sum()
    return change / traded.where(traded > 0.0)


@register(
    "volume_z",
    needs=("volume",),
    group="volume",
    params={"window": 20},
    warmup=lambda p: p["window"] - 1,
    label="volume_z_{window}",
    check=at_least("window", 2),
)
def volume_z(x: Inputs, window: int) -> pd.DataFrame:
    """z-score of log(1 + volume) over the trailing window (zero volume is allowed)."""
    return zscore(np.log1p(x.volume), window)


@register(
    "volume_ratio",
    needs=("volume",),
    group="volume",
    params={"fast": 5, "slow": 20},
    warmup=lambda p: p["slow"] - 1,
    label="volume_ratio_{fast}_{slow}",
    check=fast_below_slow,
)
def volume_ratio(x: Inputs, fast: int, slow: int) -> pd.DataFrame:
    """log(mean volume of the fast window / mean volume of the slow window)."""
    return np.log(x.volume.rolling(fast).mean() / x.volume.rolling(slow).mean())


@register(
    "price_volume_corr",
    needs=CV,
    group="volume",
    params={"window": 20},
    warmup=lambda p: p["window"],
    label="pv_corr_{window}",
    check=at_least("window", 2),
)
def price_volume_corr(x: Inputs, window: int) -> pd.DataFrame:
    """Correlation of daily returns with daily changes of log volume."""
    return cov_corr(x.ret1, np.log1p(x.volume).diff(), window)[2]


@register(
    "hl_range",
    needs=("high", "low"),
    group="range",
    params={"window": 1},
    warmup=lambda p: p["window"] - 1,
    label="hl_range_{window}",
)
def hl_range(x: Inputs, window: int) -> pd.DataFrame:
    """Mean log(high / low) over the window."""
    return np.log(x.high / x.low).rolling(window).mean()


@register(
    "close_location",
    needs=HLC,
    group="range",
    params={"window": 1},
    warmup=lambda p: p["window"] - 1,
    label="clv_{window}",
)
def close_location(x: Inputs, window: int) -> pd.DataFrame:
    """Where the close sits in the day's range, in [-1, 1], averaged over the window."""
    span = x.high - x.low
    clv = ((x.close - x.low) - (x.high - x.close)) / span.where(span > 0.0)
    return clv.fillna(0.0).where(clv.notna() | span.notna()).rolling(window).mean()


@register(
    "gap",
    needs=("open", "close"),
    group="range",
    params={},
    warmup=lambda p: 1,
    label="gap",
)
def gap(x: Inputs) -> pd.DataFrame:
    """Overnight log return: today's open over yesterday's close."""
    return np.log(x.open / x.close.shift(1))


@register(
    "intraday",
    needs=("open", "close"),
    group="range",
    params={},
    warmup=lambda p: 0,
    label="intraday",
)
def intraday(x: Inputs) -> pd.DataFrame:
    """Open-to-close log return."""
    return np.log(x.close / x.open)
