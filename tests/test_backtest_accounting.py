"""run_backtest with hand-written policies against a plain hand calculation, and its windows:
one split, a date range, and seeded random windows shared by every strategy."""

from __future__ import annotations

import numpy as np
import pytest
import torch
from conftest import make_toy_market
from test_evaluation_runner import make_cfg

from ploutos.env.types import BUY, HOLD
from ploutos.errors import ConfigError
from ploutos.evaluation.backtest import AGENT, random_windows, run_backtest
from ploutos.evaluation.baselines import BASELINES
from ploutos.evaluation.checkpoint import LoadedModel
from ploutos.evaluation.report import trades_frame
from ploutos.market import Market, SplitRange
from ploutos.obs.compact import CompactObs

COMMISSION, SLIPPAGE = 10e-4, 5e-4  # make_cfg: 10 bps commission, 5 bps slippage


class FixedPolicy(torch.nn.Module):
    """The same discrete action every day: `action` for `ticker` (None: all), HOLD else."""

    def __init__(self, n_assets: int, action: int, ticker: int | None = None) -> None:
        super().__init__()
        self.n_assets, self.action, self.ticker = n_assets, action, ticker

    def act(self, obs: CompactObs, obs_builder, deterministic: bool = False) -> torch.Tensor:
        out = torch.full((obs.day.shape[0], self.n_assets), HOLD, dtype=torch.int64)
        if self.ticker is None:
            out[:] = self.action
        else:
            out[:, self.ticker] = self.action
        return out


@pytest.fixture(scope="module")
def market() -> Market:
    return make_toy_market()


def model(market: Market, action: int, ticker: int | None = None) -> LoadedModel:
    return LoadedModel(FixedPolicy(market.n_assets, action, ticker), make_cfg(), market)


def hand_calculation(market: Market, split: SplitRange, ticker: int, buy_fraction: float):
    """BUY `ticker` every day, as a person would compute it: each decision on day d fills at
    day d + 1's open with slippage, pays commission, is marked at day d + 1's close."""
    fill = market.fill.numpy()[:, ticker]
    close = market.close.numpy()[:, ticker]
    cash, shares = 100_000.0, 0.0
    equity, fills = [cash], []
    for d in range(split.start, split.stop - 1):
        p = fill[d + 1]
        eq = cash + shares * p
        room = max(1.0 * eq - shares * p, 0.0)  # max_position_weight = 1
        outlay = min(buy_fraction * eq, room) * (1 + SLIPPAGE) * (1 + COMMISSION)
        if outlay > 0:
            outlay *= min(1.0, cash / outlay)  # never spend more than the cash
            gross = outlay / (1 + COMMISSION)
            bought = gross / (p * (1 + SLIPPAGE))
            fee = COMMISSION * gross
            if bought > 0:
                fills.append((d + 1, bought, p * (1 + SLIPPAGE), fee))
            cash = max(cash - gross - fee, 0.0)
            shares += bought
        equity.append(cash + shares * close[d + 1])
    return np.array(equity), fills


def test_always_hold_is_flat_with_zero_trades(market: Market) -> None:
    result = run_backtest(model(market, HOLD), n_boot=100)
    assert result.strategies == [AGENT, *BASELINES]
    agent = result.runs[AGENT][0]
    test = market.split("test")
    assert agent.equity.shape == (test.n_days,)
    np.testing.assert_array_equal(agent.equity, 100_000.0)
    m = result.metrics[AGENT]
    assert m["trades"] == 0.0 and m["total_return"] == 0.0 and m["sharpe"] == 0.0
    assert m["exposure"] == 0.0 and m["max_drawdown"] == 0.0
    assert m["sharpe_ci"] == {"sharpe": 0.0, "low": 0.0, "high": 0.0, "confidence": 0.95}
    assert trades_frame(result).empty
    # Every baseline stepped the very same days.
    for name in BASELINES:
        assert result.runs[name][0].equity.shape == agent.equity.shape


def test_always_buy_one_ticker_matches_the_hand_calculation(market: Market) -> None:
    result = run_backtest(model(market, BUY, ticker=1), baselines=(), n_boot=100)
    equity, fills = hand_calculation(market, market.split("test"), ticker=1, buy_fraction=0.5)
    np.testing.assert_allclose(result.runs[AGENT][0].equity, equity, rtol=1e-9, atol=0)
    assert result.metrics[AGENT]["total_return"] == pytest.approx(
        equity[-1] / equity[0] - 1, rel=1e-9
    )
    trades = trades_frame(result)
    assert set(trades.ticker) == {"T1"} and set(trades.side) == {"BUY"}
    # The first two buys are the meaningful ones (half the equity, then the rest of the cash).
    dates = [str(market.dates[d]) for d, *_ in fills[:2]]
    assert list(trades.date[:2]) == dates
    np.testing.assert_allclose(trades.shares[:2], [f[1] for f in fills[:2]], rtol=1e-9)
    np.testing.assert_allclose(trades.price[:2], [f[2] for f in fills[:2]], rtol=1e-12)
    np.testing.assert_allclose(trades.fee[:2], [f[3] for f in fills[:2]], rtol=1e-9)
    assert (trades.realized_pnl == 0).all()


def test_date_range_selects_the_days_between(market: Market) -> None:
    start, end = market.dates[200], market.dates[260]
    result = run_backtest(model(market, HOLD), start=str(start), end=str(end), n_boot=50)
    (dates,) = result.dates
    assert dates[0] == start and dates[-1] == end
    with pytest.raises(ConfigError, match="start/end"):
        run_backtest(model(market, HOLD), start="2030-01-01", n_boot=50)


def test_random_windows_are_seeded_and_shared(market: Market) -> None:
    m = model(market, BUY, ticker=0)
    result = run_backtest(m, episodes=4, days=20, seed=7, n_boot=50)
    again = run_backtest(m, episodes=4, days=20, seed=7, n_boot=50)
    assert result.windows == again.windows
    test = market.split("test")
    for w, dates in zip(result.windows, result.dates, strict=True):
        assert test.start <= w.start and w.stop <= test.stop and w.n_days == 21
        np.testing.assert_array_equal(dates, market.dates[w.start : w.stop])
    for name in result.strategies:
        assert [len(r.equity) for r in result.runs[name]] == [21] * 4
    agent = result.metrics[AGENT]
    assert agent["windows"] == 4.0
    per_window = [r.metrics["total_return"] for r in result.runs[AGENT]]
    assert agent["total_return"] == pytest.approx(np.mean(per_window))
    # Timing counts are pooled over windows, and the shares recomputed from the sums.
    buy_good = sum(r.timing["buy_good"] for r in result.runs[AGENT])
    buy_bad = sum(r.timing["buy_bad"] for r in result.runs[AGENT])
    assert agent["buy_good"] == buy_good and agent["buy_bad"] == buy_bad
    assert agent["buy_quality"] == pytest.approx(buy_good / (buy_good + buy_bad))
    assert result.returns(AGENT).shape == (80,)
    assert run_backtest(m, episodes=4, days=20, seed=8, n_boot=50).windows != result.windows


def test_window_and_episode_errors_name_the_key(market: Market) -> None:
    with pytest.raises(ConfigError, match="days"):
        run_backtest(model(market, HOLD), episodes=2, days=10_000)
    with pytest.raises(ConfigError, match="episodes/days"):
        run_backtest(model(market, HOLD), episodes=2)
    with pytest.raises(ConfigError, match="split"):
        run_backtest(model(market, HOLD), split="holdout")
    with pytest.raises(ConfigError, match="episodes"):
        random_windows(market.split("test"), 0, 0, 10)
