"""Technical indicators with TA-Lib's exact definitions, vectorized across tickers.

Every function takes [T, A] DataFrames (rows are days, columns tickers; all columns share the
calendar, so warm-up NaNs end on the same row) and returns [T, A] DataFrames in TA-Lib's units
(RSI in 0..100 and so on). Rows before TA-Lib's lookback are NaN. Wilder and EMA recursions
run through pandas' ewm (a C loop over days) started from TA-Lib's seed, so values match
TA-Lib to float rounding from the first defined row, not only after its unstable period.

Where TA-Lib returns 0 for an undefined ratio (flat prices: 0 / 0), these return NaN; the
feature layer maps such values to its neutral 0, which for a centred oscillator is 50, not 0.
Every value at row t depends on rows <= t only.
"""

from __future__ import annotations

import numpy as np
import pandas as pd
from numpy.lib.stride_tricks import sliding_window_view


def _first_valid_row(x: pd.DataFrame) -> int:
    """First row where every column is defined (inputs share one calendar)."""
    valid = x.notna().all(axis=1).to_numpy()
    return int(np.argmax(valid)) if valid.any() else len(x)


def _ratio(num: pd.DataFrame, den: pd.DataFrame) -> pd.DataFrame:
    """num / den with NaN where den is 0 (undefined), never an infinity."""
    return num / den.where(den != 0.0)


def seeded_ewm(x: pd.DataFrame, alpha: float, seed_row: int, seed: pd.Series) -> pd.DataFrame:
    """y[seed_row] = seed, y[t] = (1 - alpha) y[t-1] + alpha x[t] after it, NaN before."""
    if seed_row >= len(x):
        return pd.DataFrame(np.nan, index=x.index, columns=x.columns)
    z = x.copy()
    z.iloc[:seed_row] = np.nan
    z.iloc[seed_row] = seed.to_numpy()
    return z.ewm(alpha=alpha, adjust=False).mean()


def wilder(x: pd.DataFrame, period: int, seed_row: int, seed_len: int) -> pd.DataFrame:
    """Wilder's smoothing seeded with the mean of the `seed_len` rows ending at `seed_row`."""
    seed = x.iloc[max(seed_row - seed_len + 1, 0) : seed_row + 1].sum() / seed_len
    return seeded_ewm(x, 1.0 / period, seed_row, seed)


def sma(x: pd.DataFrame, period: int) -> pd.DataFrame:
    return x.rolling(period).mean()


def ema(x: pd.DataFrame, period: int, seed_end: int | None = None) -> pd.DataFrame:
    """TA-Lib's EMA: k = 2 / (period + 1), seeded with the SMA of the first `period` values.

    `seed_end` moves the seed to the SMA of the `period` values ending there (TA-Lib's MACD
    starts its fast EMA on the slow EMA's first row this way).
    """
    end = _first_valid_row(x) + period - 1 if seed_end is None else seed_end
    seed = x.iloc[max(end - period + 1, 0) : end + 1].mean()
    return seeded_ewm(x, 2.0 / (period + 1), end, seed)


def rsi(close: pd.DataFrame, period: int) -> pd.DataFrame:
    diff = close.diff()
    gain = wilder(diff.clip(lower=0.0), period, period, period)
    loss = wilder((-diff).clip(lower=0.0), period, period, period)
    return 100.0 * _ratio(gain, gain + loss)


def macd(
    close: pd.DataFrame, fast: int, slow: int, signal: int
) -> tuple[pd.DataFrame, pd.DataFrame, pd.DataFrame]:
    """(line, signal, hist) as TA-Lib's MACD; all three start on row slow + signal - 2."""
    start = _first_valid_row(close) + slow - 1
    line = ema(close, fast, seed_end=start) - ema(close, slow, seed_end=start)
    sig = ema(line, signal)
    first = start + signal - 1
    line = line.copy()
    line.iloc[:first] = np.nan
    return line, sig, line - sig


def true_range(high: pd.DataFrame, low: pd.DataFrame, close: pd.DataFrame) -> pd.DataFrame:
    prev = close.shift(1)
    tr = np.maximum(high - low, np.maximum((high - prev).abs(), (low - prev).abs()))
    return tr.where(prev.notna())


def atr(high: pd.DataFrame, low: pd.DataFrame, close: pd.DataFrame, period: int) -> pd.DataFrame:
    return wilder(true_range(high, low, close), period, period, period)


def directional(
    high: pd.DataFrame, low: pd.DataFrame, close: pd.DataFrame, period: int
) -> tuple[pd.DataFrame, pd.DataFrame, pd.DataFrame]:
    """(+DI, -DI, ADX) as TA-Lib's PLUS_DI, MINUS_DI (from row period) and ADX (2 period - 1).

    TA-Lib seeds the smoothed DM and TR sums with the sum of the first period - 1 values and
    Wilder-updates them; the DI ratio is the same for sums and for averages, so the averages
    are seeded with that sum / period.
    """
    up = high.diff()
    down = -low.diff()
    plus_dm = up.where((up > 0.0) & (up > down), 0.0).where(up.notna())
    minus_dm = down.where((down > 0.0) & (down > up), 0.0).where(down.notna())
    tr = true_range(high, low, close)
    s_plus, s_minus, s_tr = (
        seeded_ewm(x, 1.0 / period, period - 1, x.iloc[1:period].sum() / period)
        for x in (plus_dm, minus_dm, tr)
    )
    plus_di = 100.0 * _ratio(s_plus, s_tr)
    minus_di = 100.0 * _ratio(s_minus, s_tr)
    di_sum = plus_di + minus_di
    # No directional movement at all: no trend strength (TA-Lib leaves ADX unchanged there).
    dx = (100.0 * _ratio((plus_di - minus_di).abs(), di_sum)).where(di_sum != 0.0, 0.0)
    dx = dx.where(plus_di.notna())
    plus_di.iloc[:period] = np.nan
    minus_di.iloc[:period] = np.nan
    dx.iloc[:period] = np.nan
    adx = wilder(dx, period, 2 * period - 1, period)
    return plus_di, minus_di, adx


def _window_view(x: pd.DataFrame, period: int) -> np.ndarray:
    """[T - period + 1, A, period] view of the trailing windows (no copy)."""
    return sliding_window_view(x.to_numpy(dtype=np.float64), period, axis=0)


def _pad(values: np.ndarray, like: pd.DataFrame) -> pd.DataFrame:
    """Put per-window results back on the calendar: NaN for rows without a full window."""
    out = np.full(like.shape, np.nan)
    if len(values):
        out[len(like) - len(values) :] = values
    return pd.DataFrame(out, index=like.index, columns=like.columns)


def cci(high: pd.DataFrame, low: pd.DataFrame, close: pd.DataFrame, period: int) -> pd.DataFrame:
    tp = (high + low + close) / 3.0
    if len(tp) < period:
        return _pad(np.empty((0, tp.shape[1])), tp)
    windows = _window_view(tp, period)
    mean = windows.mean(axis=-1)
    mean_dev = np.abs(windows - mean[..., None]).mean(axis=-1)
    typical = tp.to_numpy()[period - 1 :]
    with np.errstate(divide="ignore", invalid="ignore"):
        # A flat window's deviation is rounding noise (an ulp of the mean), not a signal.
        flat = mean_dev <= 1e-12 * np.abs(mean)
        value = np.where(flat, np.nan, (typical - mean) / (0.015 * mean_dev))
    return _pad(value, tp)


def stoch(
    high: pd.DataFrame, low: pd.DataFrame, close: pd.DataFrame, k: int, smooth_k: int, d: int
) -> tuple[pd.DataFrame, pd.DataFrame]:
    """TA-Lib's STOCH with SMA smoothing: (slow %K, slow %D), 0..100."""
    lowest = low.rolling(k).min()
    fast_k = 100.0 * _ratio(close - lowest, high.rolling(k).max() - lowest)
    slow_k = sma(fast_k, smooth_k)
    return slow_k, sma(slow_k, d)


def willr(high: pd.DataFrame, low: pd.DataFrame, close: pd.DataFrame, period: int) -> pd.DataFrame:
    highest = high.rolling(period).max()
    return -100.0 * _ratio(highest - close, highest - low.rolling(period).min())


def mfi(
    high: pd.DataFrame,
    low: pd.DataFrame,
    close: pd.DataFrame,
    volume: pd.DataFrame,
    period: int,
) -> pd.DataFrame:
    tp = (high + low + close) / 3.0
    flow = tp * volume
    change = tp.diff()
    pos = flow.where(change > 0.0, 0.0).where(change.notna()).rolling(period).sum()
    neg = flow.where(change < 0.0, 0.0).where(change.notna()).rolling(period).sum()
    return 100.0 * _ratio(pos, pos + neg)


def obv(close: pd.DataFrame, volume: pd.DataFrame) -> pd.DataFrame:
    """On-balance volume, starting from the first day's volume as TA-Lib does."""
    signed = np.sign(close.diff().fillna(0.0)) * volume
    signed.iloc[0] = volume.iloc[0]
    return signed.cumsum()


def bbands(
    close: pd.DataFrame, period: int, nbdev: float
) -> tuple[pd.DataFrame, pd.DataFrame, pd.DataFrame]:
    """(upper, middle, lower) with SMA middle and population standard deviation."""
    middle = sma(close, period)
    width = nbdev * close.rolling(period).std(ddof=0)
    return middle + width, middle, middle - width
