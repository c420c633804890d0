"""Backtest metrics from an equity curve, under one documented convention.

Convention (the same for the agent, every baseline and the index):

- Returns are daily simple returns of the equity curve: r_t = E_t / E_{t-1} - 1 for the D
  days after the starting equity E_0, so an equity curve of D + 1 points gives D returns.
- A year has `periods_per_year` periods (252 trading days by default).
- `risk_free` is an ANNUAL rate, converted to a per-period rate by compounding:
  rf = (1 + risk_free) ** (1 / periods_per_year) - 1. Sharpe and Sortino use excess
  returns r_t - rf (Sortino's minimum acceptable return is that same rf).
- Sharpe = mean(excess) / std(excess, ddof=1) * sqrt(periods_per_year), as empyrical.
- Sortino = mean(excess) * periods_per_year / downside risk, where downside risk is
  sqrt(mean(min(excess, 0) ** 2)) * sqrt(periods_per_year) over ALL periods, as empyrical.
- annual_return is the CAGR: (E_D / E_0) ** (periods_per_year / D) - 1.
- annual_volatility = std(r, ddof=1) * sqrt(periods_per_year) (not of the excess).
- max_drawdown is the most negative E_t / max_{s<=t} E_s - 1, a number <= 0, with E_0 as
  the first peak (empyrical anchors its drawdown at the starting value the same way).
- calmar = annual_return / |max_drawdown|.
- Degenerate cases return 0.0 instead of NaN or infinity so the numbers can go to JSON and
  loggers: a zero-dispersion series has Sharpe 0, no downside gives Sortino 0, no drawdown
  gives Calmar 0, fewer than two returns give Sharpe/Sortino/volatility 0.
  (empyrical returns NaN or inf in those cases; the parity tests use regular series.)
- Trade metrics come from the engine's fill records: win_rate is the share of closing trades
  (sells, partial or full) with positive realized pnl; profit_factor = gross realized profit
  / gross realized loss, 0.0 with nothing closed, and PROFIT_FACTOR_CAP when no closing
  trade lost (an infinite ratio would not survive JSON).
"""

from __future__ import annotations

import numpy as np

TRADING_DAYS = 252
# A profit factor above this is reported as this: "never lost" must stay a finite JSON number.
PROFIT_FACTOR_CAP = 1e6


def simple_returns(equity: np.ndarray) -> np.ndarray:
    """Daily simple returns [D] of an equity curve [D + 1]."""
    equity = np.asarray(equity, dtype=np.float64)
    if equity.ndim != 1 or equity.size < 1:
        raise ValueError(f"equity must be a non-empty 1-D curve, got shape {equity.shape}")
    if not np.all(np.isfinite(equity)) or np.any(equity <= 0):
        raise ValueError("equity must be finite and positive on every day")
    return equity[1:] / equity[:-1] - 1.0


def per_period_rate(annual_rate: float, periods_per_year: int = TRADING_DAYS) -> float:
    """The per-period rate that compounds to `annual_rate` over one year."""
    return float((1.0 + annual_rate) ** (1.0 / periods_per_year) - 1.0)


def _is_constant(x: np.ndarray) -> bool:
    # The sample std of identical values can come out as ~1e-18 instead of 0; dividing by it
    # would turn a meaningless ratio into a huge one.
    return bool(x.max() == x.min())


def sharpe_ratio(
    returns: np.ndarray, risk_free: float = 0.0, periods_per_year: int = TRADING_DAYS
) -> float:
    excess = np.asarray(returns, dtype=np.float64) - per_period_rate(risk_free, periods_per_year)
    if excess.size < 2 or _is_constant(excess):
        return 0.0
    return float(excess.mean() / excess.std(ddof=1) * np.sqrt(periods_per_year))


def downside_risk(
    returns: np.ndarray, risk_free: float = 0.0, periods_per_year: int = TRADING_DAYS
) -> float:
    excess = np.asarray(returns, dtype=np.float64) - per_period_rate(risk_free, periods_per_year)
    if excess.size == 0:
        return 0.0
    return float(np.sqrt(np.mean(np.minimum(excess, 0.0) ** 2)) * np.sqrt(periods_per_year))


def sortino_ratio(
    returns: np.ndarray, risk_free: float = 0.0, periods_per_year: int = TRADING_DAYS
) -> float:
    excess = np.asarray(returns, dtype=np.float64) - per_period_rate(risk_free, periods_per_year)
    down = downside_risk(returns, risk_free, periods_per_year)
    if excess.size < 2 or down == 0.0:
        return 0.0
    return float(excess.mean() * periods_per_year / down)


def annual_return(equity: np.ndarray, periods_per_year: int = TRADING_DAYS) -> float:
    equity = np.asarray(equity, dtype=np.float64)
    n = equity.size - 1
    if n < 1:
        return 0.0
    return float((equity[-1] / equity[0]) ** (periods_per_year / n) - 1.0)


def annual_volatility(returns: np.ndarray, periods_per_year: int = TRADING_DAYS) -> float:
    returns = np.asarray(returns, dtype=np.float64)
    if returns.size < 2 or _is_constant(returns):
        return 0.0
    return float(returns.std(ddof=1) * np.sqrt(periods_per_year))


def drawdown_curve(equity: np.ndarray) -> np.ndarray:
    """E_t / running peak - 1 for every point of the curve (<= 0)."""
    equity = np.asarray(equity, dtype=np.float64)
    return equity / np.maximum.accumulate(equity) - 1.0


def max_drawdown(equity: np.ndarray) -> float:
    return float(drawdown_curve(equity).min())


def max_drawdown_days(equity: np.ndarray) -> int:
    """The longest run of consecutive days spent below the running peak (a drawdown's
    duration, from the day after the peak until the day the peak is regained or the end)."""
    below = drawdown_curve(equity) < 0.0
    longest = run = 0
    for under in below:
        run = run + 1 if under else 0
        longest = max(longest, run)
    return longest


def calmar_ratio(equity: np.ndarray, periods_per_year: int = TRADING_DAYS) -> float:
    mdd = max_drawdown(equity)
    if mdd >= 0.0:
        return 0.0
    return annual_return(equity, periods_per_year) / abs(mdd)


def trade_stats(closed_pnl: np.ndarray) -> dict[str, float]:
    """win_rate and profit_factor from the realized pnl of each closing trade."""
    pnl = np.asarray(closed_pnl, dtype=np.float64).ravel()
    if pnl.size == 0:
        return {"win_rate": 0.0, "profit_factor": 0.0, "closed_trades": 0.0}
    gains = float(pnl[pnl > 0].sum())
    losses = float(-pnl[pnl < 0].sum())
    if losses > 0:
        factor = min(gains / losses, PROFIT_FACTOR_CAP)
    else:
        factor = PROFIT_FACTOR_CAP if gains > 0 else 0.0
    return {
        "win_rate": float(np.mean(pnl > 0)),
        "profit_factor": factor,
        "closed_trades": float(pnl.size),
    }


def compute_metrics(
    equity: np.ndarray,
    periods_per_year: int = TRADING_DAYS,
    risk_free: float = 0.0,
    *,
    cash: np.ndarray | None = None,
    traded_value: np.ndarray | None = None,
    closed_pnl: np.ndarray | None = None,
    n_trades: int | None = None,
    fees: np.ndarray | None = None,
) -> dict[str, float]:
    """Every metric of one equity curve [D + 1] (E_0 is the starting equity).

    Optional engine records add the trade metrics:
      cash [D + 1]: exposure = mean of 1 - cash_t / E_t over the D days after the start
        (the invested share of equity, marked at the close).
      traded_value [D]: absolute traded notional per day; turnover = the mean of
        traded_value_t / E_{t-1}, annualized (times periods_per_year), i.e. how many times a
        year the portfolio's value changes hands.
      closed_pnl: realized pnl of each closing trade -> win_rate, profit_factor.
      n_trades: number of fills (buys and sells).
      fees: commissions paid per fill (any shape) -> fees, their total in money.
    Absent records give 0.0 for their metrics.
    """
    equity = np.asarray(equity, dtype=np.float64)
    returns = simple_returns(equity)
    out = {
        "total_return": float(equity[-1] / equity[0] - 1.0),
        "annual_return": annual_return(equity, periods_per_year),
        "annual_volatility": annual_volatility(returns, periods_per_year),
        "sharpe": sharpe_ratio(returns, risk_free, periods_per_year),
        "sortino": sortino_ratio(returns, risk_free, periods_per_year),
        "max_drawdown": max_drawdown(equity),
        "max_drawdown_days": float(max_drawdown_days(equity)),
        "calmar": calmar_ratio(equity, periods_per_year),
        "days": float(returns.size),
    }
    out.update(trade_stats(np.empty(0) if closed_pnl is None else closed_pnl))
    out["trades"] = float(n_trades or 0)
    out["fees"] = 0.0 if fees is None else float(np.sum(fees))
    if traded_value is not None and returns.size > 0:
        traded = np.asarray(traded_value, dtype=np.float64)
        out["turnover"] = float(np.mean(traded / equity[:-1]) * periods_per_year)
    else:
        out["turnover"] = 0.0
    if cash is not None:
        invested = 1.0 - np.asarray(cash, dtype=np.float64)[1:] / equity[1:]
        out["exposure"] = float(invested.mean()) if invested.size else 0.0
    else:
        out["exposure"] = 0.0
    return out


def stationary_bootstrap_indices(
    n: int, n_boot: int, mean_block: float, rng: np.random.Generator
) -> np.ndarray:
    """Politis & Romano's stationary bootstrap: [n_boot, n] indices into a series of length n.

    Blocks start at uniform random positions, have geometric lengths with mean `mean_block`
    and wrap around the end. Sharing one index matrix between two series gives a paired
    bootstrap (the same resampled days for both), which is how model comparisons use it.
    """
    if n < 1 or n_boot < 1 or mean_block < 1:
        raise ValueError("need n >= 1, n_boot >= 1 and mean_block >= 1")
    positions = np.arange(n)
    new_block = rng.random((n_boot, n)) < 1.0 / mean_block
    new_block[:, 0] = True
    starts = rng.integers(0, n, size=(n_boot, n))
    # For each position, the position at which its block began; the index is that block's
    # random start plus the offset into the block.
    block_begin = np.maximum.accumulate(np.where(new_block, positions, 0), axis=1)
    begin_start = np.take_along_axis(starts, block_begin, axis=1)
    return (begin_start + positions - block_begin) % n


def bootstrap_sharpe(
    returns: np.ndarray,
    risk_free: float = 0.0,
    periods_per_year: int = TRADING_DAYS,
    n_boot: int = 2000,
    mean_block: float = 10.0,
    confidence: float = 0.95,
    seed: int = 0,
) -> dict[str, float]:
    """Percentile confidence interval of the annualized Sharpe ratio (stationary bootstrap).

    Blocks keep the short-range dependence of daily returns (volatility clustering) that an
    i.i.d. resample would destroy. Seeded: the same inputs give the same interval.
    """
    returns = np.asarray(returns, dtype=np.float64)
    point = sharpe_ratio(returns, risk_free, periods_per_year)
    if returns.size < 2:
        return {"sharpe": point, "low": point, "high": point, "confidence": confidence}
    rng = np.random.default_rng(seed)
    idx = stationary_bootstrap_indices(returns.size, n_boot, mean_block, rng)
    samples = sharpe_samples(returns[idx], risk_free, periods_per_year)
    tail = (1.0 - confidence) / 2.0
    low, high = np.quantile(samples, [tail, 1.0 - tail])
    return {"sharpe": point, "low": float(low), "high": float(high), "confidence": confidence}


def sharpe_samples(
    resampled: np.ndarray, risk_free: float = 0.0, periods_per_year: int = TRADING_DAYS
) -> np.ndarray:
    """Sharpe ratio of each row of [B, n] returns, with the same zero-dispersion rule."""
    excess = resampled - per_period_rate(risk_free, periods_per_year)
    std = excess.std(axis=1, ddof=1)
    constant = excess.max(axis=1) == excess.min(axis=1)
    safe = np.where(constant, 1.0, std)
    return np.where(constant, 0.0, excess.mean(axis=1) / safe * np.sqrt(periods_per_year))
