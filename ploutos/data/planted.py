"""Planted signals of the synthetic market: what each kind reads, and the one rule computing it.

A planted signal x_ta in {-1, 0, +1} is a function of the close-to-close log returns
R_{t-W+1..t} (the last W days up to and including day t, so an agent sees it at the close of
day t). The generator (ploutos/data/synthetic.py) adds strength * sigma_a * v_{t+1} * x_ta to
the intraday return of day t + 1 (open -> close), which a decision at close t filling at the
next open captures. The oracle baseline (ploutos/evaluation/oracle.py) evaluates the same
`PlantedSignal.at` on the returns of the market's closes, so the rule the generator plants and
the rule that exploits it are one function. Kinds (L = lookback):

    ts_momentum   x_ta = sign(sum of asset a's last L returns)                 (default L 1)
    cs_momentum   x_ta = sign(m_ta - median_a m_ta), m_ta the sum of the last L (default L 5)
                  returns: assets above the cross-section's median rise next day
    lead_lag      x_ta = sign(sum of the leader S00's last L returns) for a >= 1, 0 for the
                  leader itself: the followers move the leader's way a day later (default L 1)
    vol_timing    x_ta = sign(std of a's last 3L returns - std of its last L): invested when
                  recent volatility is below its longer-run level (default L 20, so 20 / 60)
    none          x = 0: no edge whatever the strength

A negative strength plants the opposite (mean reversion for ts_momentum). With the L = 1
ts_momentum default the bars are exactly those of the original sign-of-today's-return edge.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

import numpy as np

from ploutos.errors import ConfigError

SIGNALS = ("ts_momentum", "cs_momentum", "lead_lag", "vol_timing", "none")
DEFAULT_LOOKBACK = {"ts_momentum": 1, "cs_momentum": 5, "lead_lag": 1, "vol_timing": 20, "none": 1}
# Kinds whose signal for one asset reads other assets: a ticker subset changes the signal.
CROSS_ASSET = ("cs_momentum", "lead_lag")


@dataclass(frozen=True)
class PlantedSignal:
    kind: str
    strength: float
    lookback: int

    @property
    def active(self) -> bool:
        """Whether the bars carry an edge at all."""
        return self.kind != "none" and self.strength != 0.0

    @property
    def history(self) -> int:
        """W: how many of the latest daily returns the signal of one day reads."""
        return 3 * self.lookback if self.kind == "vol_timing" else self.lookback

    def at(self, window: np.ndarray) -> np.ndarray:
        """x [A] from the last `history` log returns [W, A] (oldest first)."""
        recent = window[-self.lookback :]
        if self.kind == "ts_momentum":
            return np.sign(recent.sum(axis=0))
        if self.kind == "cs_momentum":
            m = recent.sum(axis=0)
            return np.sign(m - np.median(m))
        if self.kind == "lead_lag":
            x = np.full(window.shape[1], np.sign(recent[:, 0].sum()))
            x[0] = 0.0
            return x
        if self.kind == "vol_timing":
            return np.sign(window.std(axis=0, ddof=1) - recent.std(axis=0, ddof=1))
        return np.zeros(window.shape[1])

    def series(self, log_returns: np.ndarray) -> np.ndarray:
        """x [T, A] for every day from log returns [T, A] (row t = log close_t / close_{t-1});
        0 on days whose window is incomplete or holds a NaN (row 0 from closes is NaN).

        Causal by construction: row t reads rows t - W + 1 .. t only.
        """
        n_days, n_assets = log_returns.shape
        out = np.zeros((n_days, n_assets))
        w = self.history
        for t in range(w - 1, n_days):
            window = log_returns[t - w + 1 : t + 1]
            if np.isfinite(window).all():
                out[t] = self.at(window)
        return out

    def from_close(self, close: np.ndarray) -> np.ndarray:
        """x [T, A] from closes [T, A], as any agent could compute it at each close."""
        log_close = np.log(np.asarray(close, dtype=np.float64))
        returns = np.vstack([np.full((1, log_close.shape[1]), np.nan), np.diff(log_close, axis=0)])
        return self.series(returns)


def make_signal(
    kind: str, strength: float, lookback: int | None, n_assets: int
) -> PlantedSignal:
    """The PlantedSignal of data.signal / signal_strength / signal_lookback, checked."""
    if kind not in SIGNALS:
        raise ConfigError("data.signal", f"unknown signal {kind!r}; choose one of "
                                         f"{', '.join(SIGNALS)}")
    lookback = DEFAULT_LOOKBACK[kind] if lookback is None else lookback
    if isinstance(lookback, bool) or not isinstance(lookback, int) or lookback < 1:
        raise ConfigError("data.signal_lookback", f"must be an integer >= 1, got {lookback!r}")
    if kind == "vol_timing" and lookback < 2:
        raise ConfigError("data.signal_lookback",
                          f"vol_timing compares standard deviations: needs >= 2, got {lookback}")
    if kind in CROSS_ASSET and n_assets < 2:
        raise ConfigError("data.n_assets", f"signal {kind} needs >= 2 assets, got {n_assets}")
    return PlantedSignal(kind, float(strength), int(lookback))


def planted_signal(data_cfg: Mapping[str, Any]) -> PlantedSignal | None:
    """The active planted signal a `data` config generates, or None: another source, no
    edge (signal none or strength 0), or a ticker subset of a cross-asset kind (the signal
    then reads assets the market does not hold)."""
    if data_cfg.get("source") != "synthetic":
        return None
    kind = str(data_cfg.get("signal") or "ts_momentum")  # configs before the kinds had one
    n_assets = int(data_cfg.get("n_assets") or 5)
    signal = make_signal(kind, float(data_cfg.get("signal_strength") or 0.0),
                         data_cfg.get("signal_lookback"), n_assets)
    tickers = data_cfg.get("tickers")
    every = [f"S{i:02d}" for i in range(n_assets)]
    if tickers is not None and kind in CROSS_ASSET and [str(t) for t in tickers] != every:
        return None
    return signal if signal.active else None
