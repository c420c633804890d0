"""Features that need closes only: they serve every data source, the sample data included.

Every output is scale-free (log returns, ratios minus one, centred oscillators) and 0 means
"no signal", which is also the value an undefined ratio (flat prices) is mapped to.
"""

from __future__ import annotations

import numpy as np
import pandas as pd

from ploutos.features import indicators as ind
from ploutos.features.registry import Inputs, Params, at_least, fast_below_slow, register
from ploutos.features.rolling import cov_corr, cross_section_rank

CLOSE = ("close",)


@register(
    "log_return",
    needs=CLOSE,
    group="returns",
    params={"horizon": 1},
    warmup=lambda p: p["horizon"],
    label="logret_{horizon}",
)
def log_return(x: Inputs, horizon: int) -> pd.DataFrame:
    return x.log_close.diff(horizon)


@register(
    "volatility",
    needs=CLOSE,
    group="volatility",
    params={"window": 20},
    warmup=lambda p: p["window"],
    label="vol_{window}",
    check=at_least("window", 2),
)
def volatility(x: Inputs, window: int) -> pd.DataFrame:
    """Trailing standard deviation of daily log returns (not annualized)."""
    return x.ret1.rolling(window).std()


@register(
    "vol_ratio",
    needs=CLOSE,
    group="volatility",
    params={"fast": 5, "slow": 20},
    warmup=lambda p: p["slow"],
    label="volratio_{fast}_{slow}",
    check=lambda p: fast_below_slow(p) or at_least("fast", 2)(p),
)
def vol_ratio(x: Inputs, fast: int, slow: int) -> pd.DataFrame:
    """log(fast volatility / slow volatility): > 0 when volatility is rising."""
    return np.log(x.ret1.rolling(fast).std() / x.ret1.rolling(slow).std())


@register(
    "skew",
    needs=CLOSE,
    group="distribution",
    params={"window": 60},
    warmup=lambda p: p["window"],
    label="skew_{window}",
    check=at_least("window", 3),
)
def skew(x: Inputs, window: int) -> pd.DataFrame:
    return x.ret1.rolling(window).skew()


@register(
    "kurtosis",
    needs=CLOSE,
    group="distribution",
    params={"window": 60},
    warmup=lambda p: p["window"],
    label="kurt_{window}",
    check=at_least("window", 4),
)
def kurtosis(x: Inputs, window: int) -> pd.DataFrame:
    """Excess kurtosis (0 for a normal distribution)."""
    return x.ret1.rolling(window).kurt()


@register(
    "rsi",
    needs=CLOSE,
    group="oscillators",
    params={"period": 14},
    warmup=lambda p: p["period"],
    label="rsi_{period}",
    check=at_least("period", 2),
)
def rsi(x: Inputs, period: int) -> pd.DataFrame:
    """Wilder's RSI centred and scaled to [-1, 1]."""
    return (ind.rsi(x.close, period) - 50.0) / 50.0


def _macd_warmup(p: Params) -> int:
    return p["slow"] + p["signal"] - 2


_MACD = {"fast": 12, "slow": 26, "signal": 9}


def _macd_part(part: int):
    def compute(x: Inputs, fast: int, slow: int, signal: int) -> pd.DataFrame:
        """MACD component divided by the close, so it reads as a fraction of the price."""
        return ind.macd(x.close, fast, slow, signal)[part] / x.close

    return compute


for _i, _part in enumerate(("line", "signal", "hist")):
    register(
        f"macd_{_part}",
        needs=CLOSE,
        group="momentum",
        params=_MACD,
        warmup=_macd_warmup,
        label=f"macd_{_part}_{{fast}}_{{slow}}_{{signal}}",
        check=lambda p: fast_below_slow(p) or at_least("fast", 2)(p),
    )(_macd_part(_i))


@register(
    "bb_pctb",
    needs=CLOSE,
    group="bands",
    params={"period": 20, "nbdev": 2.0},
    warmup=lambda p: p["period"] - 1,
    label="bb_pctb_{period}",
    check=at_least("period", 2),
)
def bb_pctb(x: Inputs, period: int, nbdev: float) -> pd.DataFrame:
    """Bollinger %B minus 0.5: 0 on the middle band, +-0.5 on the bands."""
    upper, _, lower = ind.bbands(x.close, period, nbdev)
    return (x.close - lower) / (upper - lower) - 0.5


@register(
    "bb_width",
    needs=CLOSE,
    group="bands",
    params={"period": 20, "nbdev": 2.0},
    warmup=lambda p: p["period"] - 1,
    label="bb_width_{period}",
    check=at_least("period", 2),
)
def bb_width(x: Inputs, period: int, nbdev: float) -> pd.DataFrame:
    upper, middle, lower = ind.bbands(x.close, period, nbdev)
    return (upper - lower) / middle


@register(
    "close_sma",
    needs=CLOSE,
    group="trend",
    params={"window": 20},
    warmup=lambda p: p["window"] - 1,
    label="close_sma_{window}",
)
def close_sma(x: Inputs, window: int) -> pd.DataFrame:
    return x.close / ind.sma(x.close, window) - 1.0


@register(
    "close_ema",
    needs=CLOSE,
    group="trend",
    params={"window": 20},
    warmup=lambda p: p["window"] - 1,
    label="close_ema_{window}",
)
def close_ema(x: Inputs, window: int) -> pd.DataFrame:
    return x.close / ind.ema(x.close, window) - 1.0


@register(
    "sma_cross",
    needs=CLOSE,
    group="trend",
    params={"fast": 20, "slow": 50},
    warmup=lambda p: p["slow"] - 1,
    label="sma_{fast}_{slow}",
    check=fast_below_slow,
)
def sma_cross(x: Inputs, fast: int, slow: int) -> pd.DataFrame:
    return ind.sma(x.close, fast) / ind.sma(x.close, slow) - 1.0


@register(
    "roc",
    needs=CLOSE,
    group="momentum",
    params={"horizon": 10},
    warmup=lambda p: p["horizon"],
    label="roc_{horizon}",
)
def roc(x: Inputs, horizon: int) -> pd.DataFrame:
    """Simple rate of change over `horizon` days."""
    return x.close / x.close.shift(horizon) - 1.0


@register(
    "momentum",
    needs=CLOSE,
    group="momentum",
    params={"horizon": 252, "skip": 21},
    warmup=lambda p: p["horizon"],
    label="mom_{horizon}_{skip}",
    check=lambda p: None if p["skip"] < p["horizon"] else "skip must be < horizon",
)
def momentum(x: Inputs, horizon: int, skip: int) -> pd.DataFrame:
    """Log return from `horizon` days ago to `skip` days ago (12-1 month momentum)."""
    return x.log_close.shift(skip) - x.log_close.shift(horizon)


@register(
    "drawdown",
    needs=CLOSE,
    group="drawdown",
    params={"window": 60},
    warmup=lambda p: p["window"] - 1,
    label="drawdown_{window}",
)
def drawdown(x: Inputs, window: int) -> pd.DataFrame:
    """Close / highest close of the window - 1 (<= 0)."""
    return x.close / x.close.rolling(window).max() - 1.0


@register(
    "dist_low",
    needs=CLOSE,
    group="drawdown",
    params={"window": 60},
    warmup=lambda p: p["window"] - 1,
    label="dist_low_{window}",
)
def dist_low(x: Inputs, window: int) -> pd.DataFrame:
    """Close / lowest close of the window - 1 (>= 0)."""
    return x.close / x.close.rolling(window).min() - 1.0


@register(
    "xs_rank_return",
    needs=CLOSE,
    group="cross_section",
    params={"horizon": 5},
    warmup=lambda p: p["horizon"],
    label="xs_rank_ret_{horizon}",
)
def xs_rank_return(x: Inputs, horizon: int) -> pd.DataFrame:
    return cross_section_rank(x.log_close.diff(horizon))


@register(
    "xs_rank_vol",
    needs=CLOSE,
    group="cross_section",
    params={"window": 20},
    warmup=lambda p: p["window"],
    label="xs_rank_vol_{window}",
    check=at_least("window", 2),
)
def xs_rank_vol(x: Inputs, window: int) -> pd.DataFrame:
    return cross_section_rank(x.ret1.rolling(window).std())


@register(
    "beta",
    needs=CLOSE,
    group="market",
    params={"window": 60},
    warmup=lambda p: p["window"],
    label="beta_{window}",
    check=at_least("window", 2),
)
def beta(x: Inputs, window: int) -> pd.DataFrame:
    """Beta of daily log returns to the market's (benchmark, else equal-weight universe)."""
    cov, var_m, _ = cov_corr(x.ret1, x.market_frame(), window)
    return cov / var_m.where(var_m > 0.0)


@register(
    "market_corr",
    needs=CLOSE,
    group="market",
    params={"window": 60},
    warmup=lambda p: p["window"],
    label="mkt_corr_{window}",
    check=at_least("window", 2),
)
def market_corr(x: Inputs, window: int) -> pd.DataFrame:
    return cov_corr(x.ret1, x.market_frame(), window)[2]


@register(
    "rel_strength",
    needs=CLOSE,
    group="market",
    params={"horizon": 20},
    warmup=lambda p: p["horizon"],
    label="rel_strength_{horizon}",
)
def rel_strength(x: Inputs, horizon: int) -> pd.DataFrame:
    """Log return over `horizon` days minus the market's over the same days."""
    return x.log_close.diff(horizon) - x.market_frame().rolling(horizon).sum()
