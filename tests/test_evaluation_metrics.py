"""Metrics: parity with empyrical on the same return series, and hand-computed values."""

from __future__ import annotations

import numpy as np
import pytest

from ploutos.evaluation.metrics import (
    PROFIT_FACTOR_CAP,
    bootstrap_sharpe,
    compute_metrics,
    per_period_rate,
    sharpe_samples,
    simple_returns,
    stationary_bootstrap_indices,
    trade_stats,
)

empyrical = pytest.importorskip("empyrical")


def _curve(seed: int, n: int = 600, drift: float = 0.0004, vol: float = 0.012) -> np.ndarray:
    rng = np.random.default_rng(seed)
    returns = rng.normal(drift, vol, size=n)
    # A crash in the middle so drawdown and Sortino have something to see.
    returns[n // 2 : n // 2 + 10] -= 0.03
    return 10_000.0 * np.concatenate([[1.0], np.cumprod(1.0 + returns)])


@pytest.mark.parametrize("seed", [0, 1, 2])
@pytest.mark.parametrize("risk_free", [0.0, 0.03])
def test_matches_empyrical(seed: int, risk_free: float) -> None:
    equity = _curve(seed)
    r = simple_returns(equity)
    rf = per_period_rate(risk_free)
    m = compute_metrics(equity, risk_free=risk_free)
    assert m["sharpe"] == pytest.approx(empyrical.sharpe_ratio(r, risk_free=rf), abs=1e-8)
    assert m["sortino"] == pytest.approx(empyrical.sortino_ratio(r, required_return=rf), abs=1e-8)
    assert m["max_drawdown"] == pytest.approx(empyrical.max_drawdown(r), abs=1e-8)
    assert m["calmar"] == pytest.approx(empyrical.calmar_ratio(r), abs=1e-8)
    assert m["annual_return"] == pytest.approx(empyrical.annual_return(r), abs=1e-8)
    assert m["annual_volatility"] == pytest.approx(empyrical.annual_volatility(r), abs=1e-8)
    assert m["total_return"] == pytest.approx(empyrical.cum_returns_final(r), abs=1e-8)


def test_first_day_loss_counts_in_drawdown() -> None:
    equity = np.array([100.0, 90.0, 94.5])
    m = compute_metrics(equity)
    assert m["max_drawdown"] == pytest.approx(-0.1, abs=1e-12)
    assert m["max_drawdown"] == pytest.approx(
        empyrical.max_drawdown(simple_returns(equity)), abs=1e-12
    )


def test_flat_equity_is_all_zero_and_finite() -> None:
    m = compute_metrics(np.full(50, 1000.0))
    for key in (
        "total_return",
        "annual_return",
        "annual_volatility",
        "sharpe",
        "sortino",
        "max_drawdown",
        "calmar",
        "turnover",
        "exposure",
        "win_rate",
        "profit_factor",
    ):
        assert m[key] == 0.0, key
    assert m["days"] == 49.0
    assert all(np.isfinite(v) for v in m.values())


def test_single_point_curve() -> None:
    m = compute_metrics(np.array([100.0]))
    assert m["total_return"] == 0.0 and m["sharpe"] == 0.0 and m["days"] == 0.0


def test_hand_values() -> None:
    # 252 days of +0.1%: CAGR = total return over exactly one year, no drawdown.
    equity = 100.0 * 1.001 ** np.arange(253)
    m = compute_metrics(equity)
    assert m["annual_return"] == pytest.approx(1.001**252 - 1, abs=1e-12)
    assert m["total_return"] == pytest.approx(1.001**252 - 1, abs=1e-12)
    assert m["max_drawdown"] == pytest.approx(0.0, abs=1e-15)
    assert m["calmar"] == 0.0  # undefined without a drawdown: reported as 0
    assert m["sortino"] == 0.0  # no downside
    # Up 10 %, down to 99 (peak 110): drawdown 10 %; two returns +0.1, -0.1.
    m = compute_metrics(np.array([100.0, 110.0, 99.0]))
    assert m["max_drawdown"] == pytest.approx(-0.1, abs=1e-12)
    assert m["sharpe"] == pytest.approx(0.0, abs=1e-12)
    assert m["annual_volatility"] == pytest.approx(np.std([0.1, -0.1], ddof=1) * np.sqrt(252))
    # Sortino by hand: mean 0 -> 0.
    m = compute_metrics(np.array([100.0, 110.0, 104.5]))  # +10 %, -5 %
    down = np.sqrt(np.mean([0.0, 0.05**2])) * np.sqrt(252)
    assert m["sortino"] == pytest.approx(0.025 * 252 / down, abs=1e-12)


def test_risk_free_conversion() -> None:
    assert per_period_rate(0.0) == 0.0
    assert (1 + per_period_rate(0.05)) ** 252 == pytest.approx(1.05, abs=1e-12)
    # A curve growing exactly at the risk-free rate has no excess return.
    rf = per_period_rate(0.04)
    rng = np.random.default_rng(3)
    r = rf + rng.normal(0, 0.01, 400)
    r -= r.mean() - rf
    equity = np.concatenate([[1.0], np.cumprod(1 + r)])
    assert compute_metrics(equity, risk_free=0.04)["sharpe"] == pytest.approx(0.0, abs=1e-10)


def test_trade_metrics() -> None:
    stats = trade_stats(np.array([10.0, -5.0, 3.0, -1.0]))
    assert stats["win_rate"] == 0.5
    assert stats["profit_factor"] == pytest.approx(13.0 / 6.0)
    assert trade_stats(np.array([2.0, 1.0]))["profit_factor"] == PROFIT_FACTOR_CAP
    assert trade_stats(np.array([]))["win_rate"] == 0.0

    equity = np.array([100.0, 100.0, 110.0, 110.0])
    cash = np.array([100.0, 50.0, 55.0, 110.0])
    traded = np.array([50.0, 0.0, 55.0])
    m = compute_metrics(
        equity, cash=cash, traded_value=traded, closed_pnl=np.array([5.0]), n_trades=2
    )
    assert m["exposure"] == pytest.approx(np.mean([0.5, 0.5, 0.0]))
    assert m["turnover"] == pytest.approx(np.mean([0.5, 0.0, 0.5]) * 252)
    assert m["trades"] == 2.0 and m["win_rate"] == 1.0


def test_stationary_bootstrap_indices_are_blocks() -> None:
    rng = np.random.default_rng(0)
    idx = stationary_bootstrap_indices(100, 500, 10.0, rng)
    assert idx.shape == (500, 100) and idx.min() >= 0 and idx.max() < 100
    steps = (np.diff(idx, axis=1) % 100) == 1
    # Continuations happen with probability 1 - 1/10 (a new block may also land on i + 1).
    assert steps.mean() == pytest.approx(0.9 + 0.1 / 100, abs=0.01)


def test_bootstrap_sharpe_ci_is_seeded_and_covers_point() -> None:
    r = simple_returns(_curve(5, n=500))
    a = bootstrap_sharpe(r, n_boot=400, seed=7)
    b = bootstrap_sharpe(r, n_boot=400, seed=7)
    assert a == b
    assert a["low"] < a["sharpe"] < a["high"]
    # The interval width matches the usual ~sqrt((1 + S^2/2) / n) standard error scale.
    se = np.sqrt((1 + (a["sharpe"] / np.sqrt(252)) ** 2 / 2) / r.size) * np.sqrt(252)
    assert 2.0 * se < a["high"] - a["low"] < 6.0 * se
    samples = sharpe_samples(np.vstack([r, np.ones_like(r)]))
    assert samples[1] == 0.0
    assert samples[0] == pytest.approx(compute_metrics(_curve(5, n=500))["sharpe"])
