"""A seeded synthetic market: correlated, regime-switching OHLCV with an optional planted edge.

Model (log returns, per day t and asset a; v_t is the volatility regime multiplier):

    regime      calm (v = 1) or stressed (v = stressed_vol_ratio), a two-state Markov chain
                that stays calm with probability calm_persistence and stressed with
                stressed_persistence.
    market      f_t = drift + market_vol * v_t * z_t                      (z ~ N(0, 1))
    overnight   g_ta = gap_vol * v_t * (0.6 * c_t + 0.8 * u_ta)           (open_t / close_{t-1})
    intraday    r_ta = beta_a * f_t + idio_a * v_t * e_ta
                       + signal_strength * sigma_a * v_t * x_{t-1,a}        (close_t / open_t)
    close-close R_ta = g_ta + r_ta

with sigma_a = sqrt(beta_a^2 market_vol^2 + idio_a^2) the asset's intraday volatility scale
and x the planted signal of kind `signal` (ploutos/data/planted.py: time-series or
cross-sectional momentum, lead-lag, volatility timing, none), read from returns up to day
t - 1. The default kind, ts_momentum with a one-day lookback, is worked out below.

The default planted signal: the sign of today's close-to-close return, x_ta = sign(R_ta), which any
agent sees at the close of day t from closes alone, shifts tomorrow's intraday return
open(t+1) -> close(t+1), which an agent deciding at close t and filling at open t+1 captures:

    E[r_{t+1,a} | x_ta] = beta_a * drift + s * sigma_a * E[v] * x_ta       (s = signal_strength)

so the expected edge of trading the sign, per asset and day, is s * sigma_a * E[v], where
E[v] = pi_calm + pi_stressed * stressed_vol_ratio and pi_stressed = (1 - calm_persistence) /
((1 - calm_persistence) + (1 - stressed_persistence)). In regime-standardized units the
relationship is corr(x_t, r_{t+1} / (sigma v_{t+1})) = s / sqrt(1 + s^2); on raw returns,
corr(x_t, r_{t+1}) = s * E[v] / sqrt((1 + s^2) * E[v^2]) up to the small drift term.
With the defaults (s = 0.1, E[v] = 1.25) that is about 0.2% per asset and day, and a
correlation of about 0.09. s > 0 plants momentum, s < 0 mean reversion, s = 0 no edge.
"""

from __future__ import annotations

import numpy as np

from ploutos.data.bars import Bars
from ploutos.data.planted import make_signal
from ploutos.errors import ConfigError


def _check(key: str, ok: bool, value: object, rule: str) -> None:
    if not ok:
        raise ConfigError(f"data.{key}", f"must be {rule}, got {value!r}")


def _regimes(rng: np.random.Generator, n_days: int, p_calm: float, p_stressed: float) -> np.ndarray:
    """Stressed-regime mask [T]: alternating geometric spells are exactly a 2-state chain."""
    calm = rng.geometric(1.0 - p_calm, size=n_days)
    stressed = rng.geometric(1.0 - p_stressed, size=n_days)
    spells = np.stack([calm, stressed], axis=1).ravel()
    state = np.tile([False, True], n_days)
    return np.repeat(state, spells)[:n_days]


def synthetic_bars(
    n_assets: int = 5,
    n_days: int = 1000,
    seed: int = 0,
    signal_strength: float = 0.0,
    start: str = "2000-01-03",
    benchmark: str | None = "MKT",
    ohlcv: bool = True,
    drift: float = 0.0003,
    market_vol: float = 0.01,
    idio_vol: float = 0.012,
    gap_vol: float = 0.004,
    stressed_vol_ratio: float = 2.5,
    calm_persistence: float = 0.99,
    stressed_persistence: float = 0.95,
    signal: str = "ts_momentum",
    signal_lookback: int | None = None,
) -> Bars:
    """Bars of `n_assets` tickers S00, S01, ... over `n_days` business days from `start`.

    The same arguments give the same bars. `ohlcv=False` keeps closes only. The benchmark
    (named `benchmark`, None for none) is the market factor's price index. See the module
    docstring for the model and the planted edge of strength `signal_strength`; `signal`
    picks its kind and `signal_lookback` its window (ploutos/data/planted.py; None: the
    kind's default).
    """
    _check("n_assets", n_assets >= 1, n_assets, ">= 1")
    _check("n_days", n_days >= 2, n_days, ">= 2")
    for key, value in (("calm_persistence", calm_persistence),
                       ("stressed_persistence", stressed_persistence)):
        _check(key, 0.0 <= value < 1.0, value, "in [0, 1)")
    for key, value in (("market_vol", market_vol), ("idio_vol", idio_vol),
                       ("gap_vol", gap_vol), ("stressed_vol_ratio", stressed_vol_ratio)):
        _check(key, value > 0.0, value, "> 0")

    rng = np.random.default_rng(seed)
    shape = (n_days, n_assets)
    v = np.where(_regimes(rng, n_days, calm_persistence, stressed_persistence),
                 stressed_vol_ratio, 1.0)
    beta = rng.uniform(0.6, 1.4, n_assets)
    idio = idio_vol * rng.uniform(0.7, 1.3, n_assets)
    sigma = np.sqrt(beta**2 * market_vol**2 + idio**2)

    market = drift + market_vol * v * rng.standard_normal(n_days)
    common_gap = rng.standard_normal(n_days)
    gap = gap_vol * v[:, None] * (0.6 * common_gap[:, None] + 0.8 * rng.standard_normal(shape))
    intraday = beta * market[:, None] + idio * v[:, None] * rng.standard_normal(shape)
    planted = make_signal(signal, signal_strength, signal_lookback, n_assets)
    if planted.active:
        push = planted.strength * sigma * v[:, None]
        returns = gap + intraday  # close-to-close log returns, completed day by day
        # Tomorrow's return depends on today's realised ones, so days are generated in order;
        # a one-off O(T) pass over [W, A] windows when the bars are built, never in a hot path.
        for t in range(planted.history, n_days):
            intraday[t] += push[t] * planted.at(returns[t - planted.history : t])
            returns[t] = gap[t] + intraday[t]

    log_close = np.log(rng.uniform(20.0, 200.0, n_assets)) + np.cumsum(gap + intraday, axis=0)
    log_open = log_close - intraday
    close, open_ = np.exp(log_close), np.exp(log_open)

    fields: dict[str, np.ndarray] = {}
    if ohlcv:
        wick = 0.5 * sigma * v[:, None]
        upper, lower = np.abs(rng.standard_normal((2, *shape))) * wick
        fields["high"] = np.maximum(open_, close) * np.exp(upper)
        fields["low"] = np.minimum(open_, close) * np.exp(-lower)
        base_volume = 10.0 ** rng.uniform(5.5, 7.0, n_assets)
        surprise = np.abs(gap + intraday) / (sigma * v[:, None])
        noise = 0.3 * rng.standard_normal(shape)
        activity = np.sqrt(v)[:, None] * np.exp(0.4 * surprise + noise)
        fields["volume"] = np.round(base_volume * activity)
        fields["open"] = open_

    index = 100.0 * np.exp(np.cumsum(market + 0.6 * gap_vol * v * common_gap))
    dates = np.busday_offset(np.datetime64(str(start)[:10], "D"), np.arange(n_days), roll="forward")
    return Bars(
        dates=dates.astype("datetime64[D]"),
        tickers=tuple(f"S{i:02d}" for i in range(n_assets)),
        close=close,
        benchmark=None if benchmark is None else index,
        benchmark_name=benchmark,
        source="synthetic",
        notes=(f"synthetic market: seed {seed}, signal {planted.kind} (lookback "
               f"{planted.lookback}), signal_strength {signal_strength}",),
        **fields,
    )
