"""pnl, drawdown, v6_timing and diff_sharpe rewards on hand-made series."""

from __future__ import annotations

import math

import numpy as np
import pytest
import torch
from conftest import make_toy_market
from omegaconf import OmegaConf

from ploutos.errors import ConfigError
from ploutos.rewards import DiffSharpeReward, StepOutcome, make_reward


def outcome(prev_eq, eq, prev_peak=None, peak=None, **extra) -> StepOutcome:
    t = lambda x: torch.tensor(x, dtype=torch.float64)  # noqa: E731
    prev_eq, eq = t(prev_eq), t(eq)
    prev_peak = prev_eq if prev_peak is None else t(prev_peak)
    peak = torch.maximum(prev_peak, eq) if peak is None else t(peak)
    n, a = eq.shape[0], 2
    fields = {
        "fill_day": torch.zeros(n, dtype=torch.int64),
        "fill_price": torch.ones((n, a), dtype=torch.float64),
        "buy_mask": torch.zeros((n, a), dtype=torch.bool),
        "sell_mask": torch.zeros((n, a), dtype=torch.bool),
        "last_day": 0,
    }
    fields.update(extra)
    return StepOutcome(prev_eq, eq, prev_peak, peak, **fields)


def reward(name: str, market=None, n: int = 1, **params):
    market = market or make_toy_market()
    return make_reward(OmegaConf.create({"name": name, **params}), market, n)


def test_pnl_is_scaled_log_growth() -> None:
    r = reward("pnl", n=2, scale=100.0)(outcome([100.0, 100.0], [110.0, 95.0]))
    torch.testing.assert_close(r, torch.tensor([100 * math.log(1.1), 100 * math.log(0.95)]))
    assert r.dtype == torch.float32 and not reward("pnl").looks_ahead


def test_drawdown_penalizes_only_new_drawdown() -> None:
    fn = reward("drawdown", n=3, scale=1.0, penalty=2.0)
    # New drawdown 100 -> 90 from peak 100; recovery 90 -> 95 under peak 100; new high.
    r = fn(outcome([100.0, 90.0, 100.0], [90.0, 95.0, 120.0], [100.0, 100.0, 100.0]))
    expected = [math.log(0.9) - 2.0 * 0.1, math.log(95 / 90), math.log(1.2)]
    torch.testing.assert_close(r, torch.tensor(expected, dtype=torch.float32))


def test_timing_rewards_buying_low_and_selling_high() -> None:
    market = make_toy_market()
    fn = reward("v6_timing", market, n=2, scale=1.0, horizon=5, weight=0.5, ret_scale=0.02)
    assert fn.looks_ahead
    day = 50
    future = market.close[day + 5]
    # Env 0 buys asset 0 at 1% under its future close; env 1 sells asset 0 there too.
    price = torch.ones((2, 4), dtype=torch.float64)
    price[:, 0] = future[0] / math.exp(0.01)
    buys = torch.zeros((2, 4), dtype=torch.bool)
    sells = torch.zeros((2, 4), dtype=torch.bool)
    buys[0, 0], sells[1, 0] = True, True
    r = fn(
        outcome(
            [100.0, 100.0], [100.0, 100.0], fill_day=torch.tensor([day, day]),
            fill_price=price, buy_mask=buys, sell_mask=sells, last_day=299,
        )
    )  # fmt: skip
    torch.testing.assert_close(r, torch.tensor([0.25, -0.25]))  # 0.5 * clip(0.01 / 0.02)


def test_timing_horizon_stops_at_the_split_end() -> None:
    market = make_toy_market()
    fn = reward("v6_timing", market, scale=1.0, horizon=50, weight=1.0, ret_scale=100.0)
    buys = torch.tensor([[True, False, False, False]])
    price = torch.ones((1, 4), dtype=torch.float64)
    r = fn(outcome([1.0], [1.0], fill_day=torch.tensor([100]), fill_price=price,
                   buy_mask=buys, sell_mask=torch.zeros_like(buys), last_day=110))  # fmt: skip
    assert r.item() == pytest.approx(math.log(market.close[110, 0].item()) / 100, rel=1e-6)


def closed_form_diff_sharpe(returns: list[float], eta: float, a0: float, b0: float) -> list:
    a, b, out = a0, b0, []
    for r in returns:
        da, db = r - a, r * r - b
        d = (b * da - 0.5 * a * db) / (b - a * a) ** 1.5
        out.append(max(-10.0, min(10.0, d)))
        a, b = a + eta * da, b + eta * db
    return out


def test_diff_sharpe_matches_the_closed_form_update() -> None:
    returns = [0.01, -0.02, 0.015, 0.0, 0.03, -0.01, 0.005, -0.04, 0.02, 0.01]
    fn = reward("diff_sharpe", scale=1.0, decay=0.99, init_std=0.01, min_var=1e-12)
    equity = 100.0 * np.exp(np.cumsum([0.0, *returns]))
    got = [fn(outcome([equity[i]], [equity[i + 1]])).item() for i in range(len(returns))]
    expected = closed_form_diff_sharpe(returns, 0.01, 0.0, 1e-4)
    np.testing.assert_allclose(got, expected, rtol=1e-6)
    assert max(abs(x) for x in expected) > 1.0  # the warm start gives informative values


def test_diff_sharpe_is_clipped_and_resets_per_env() -> None:
    fn = DiffSharpeReward(2, torch.device("cpu"), 1.0, 0.99, 0.01, 1e-8, 10.0)
    d = fn.update(torch.tensor([0.5, 0.001], dtype=torch.float64))
    assert d[0].item() == 10.0 and abs(d[1].item()) < 10.0
    fn.reset(torch.tensor([True, False]))
    assert fn.A[0].item() == 0.0 and fn.B[0].item() == pytest.approx(1e-4)
    assert fn.A[1].item() != 0.0


def test_running_sharpe_tracks_the_sample_sharpe() -> None:
    rng = np.random.default_rng(0)
    mu, sigma = 0.002, 0.01  # per-step Sharpe 0.2
    returns = torch.tensor(rng.normal(mu, sigma, size=(8, 6000)))
    fn = DiffSharpeReward(8, torch.device("cpu"), 1.0, 0.99, 0.01, 1e-12, 10.0)
    running = []
    for t in range(returns.shape[1]):
        fn.update(returns[:, t])
        running.append(fn.running_sharpe())
    tail = torch.stack(running[1000:]).mean().item()
    sample = (returns.mean(1) / returns.std(1)).mean().item()
    assert abs(sample - 0.2) < 0.02
    assert tail == pytest.approx(sample, abs=0.03)


def test_bad_reward_params_name_the_key() -> None:
    with pytest.raises(ConfigError, match=r"^reward\.decay"):
        reward("diff_sharpe", decay=1.5)
    with pytest.raises(ConfigError, match=r"^reward\.horizon"):
        reward("v6_timing", horizon=0)
    with pytest.raises(ConfigError, match=r"^reward\.penalty"):
        reward("drawdown", penalty=-1.0)
