"""Baselines on the engine: equal-weight buy-and-hold by hand, index, cash, random, momentum."""

from __future__ import annotations

from dataclasses import replace

import numpy as np
import pytest
import torch
from conftest import make_toy_market
from test_evaluation_runner import make_cfg

from ploutos.env.types import BUY, HOLD, SELL
from ploutos.evaluation.baselines import BASELINES, momentum_policy, run_baselines
from ploutos.evaluation.metrics import compute_metrics
from ploutos.market import Market
from ploutos.obs.compact import CompactObs


@pytest.fixture(scope="module")
def market() -> Market:
    return make_toy_market()


@pytest.fixture(scope="module")
def results(market: Market) -> dict:
    return run_baselines(market, make_cfg(), split="test")


def test_every_baseline_reports_the_same_metrics(results: dict) -> None:
    assert tuple(results) == BASELINES
    keys = set(results["cash"].metrics)
    assert {
        "total_return",
        "sharpe",
        "sortino",
        "calmar",
        "max_drawdown",
        "win_rate",
        "profit_factor",
        "turnover",
        "exposure",
        "buy_quality",
        "sell_quality",
        "mean_reward",
        "trades",
    } <= keys
    lengths = {len(r.equity) for r in results.values()}
    assert len(lengths) == 1
    for name, r in results.items():
        assert set(r.metrics) == keys
        # The curve metrics are those of the strategy's own equity curve.
        curve = compute_metrics(r.equity)
        for key in ("total_return", "sharpe", "sortino", "calmar", "max_drawdown"):
            assert r.metrics[key] == pytest.approx(curve[key], rel=1e-12, abs=1e-12), (name, key)
        if r.log is not None:  # every filled order is one trade
            filled = r.log.buy_mask[:, 0].sum() + r.log.sell_mask[:, 0].sum()
            assert r.metrics["trades"] == filled, name


def test_cash_is_flat(results: dict) -> None:
    r = results["cash"]
    assert np.all(r.equity == 100_000.0) and r.metrics["trades"] == 0.0


def test_buy_and_hold_is_equal_weight_bought_once(market: Market, results: dict) -> None:
    r = results["buy_and_hold"]
    t0 = market.split("test").start
    fill = market.fill.cpu().numpy()
    close = market.close.cpu().numpy()
    c, s, a = 10e-4, 5e-4, market.n_assets
    # All cash split into A equal outlays, each paying the slipped open plus commission.
    shares = 100_000.0 / a / (1 + c) / (fill[t0 + 1] * (1 + s))
    expected = close[t0 + 1 : market.split("test").stop] @ shares
    np.testing.assert_allclose(r.equity[1:], expected, rtol=1e-9)
    assert r.metrics["trades"] == float(a)
    assert r.log.buy_mask[1:].sum() == 0 and r.log.sell_mask.sum() == 0
    assert r.log.cash[-1, 0] == pytest.approx(0.0, abs=1e-6)
    assert r.metrics["exposure"] == pytest.approx(1.0, abs=1e-9)


def test_index_is_the_benchmark_without_costs(market: Market, results: dict) -> None:
    """Bought where every strategy's first fill is (the day after the decision day), not at
    the decision day's close: the day in between is cash, as it is for the strategies."""
    r = results["index"]
    test = market.split("test")
    bench = market.benchmark.cpu().numpy()[test.start : test.stop]
    assert r.equity[0] == r.equity[1] == 100_000.0
    np.testing.assert_allclose(r.equity[1:], 100_000.0 * bench[1:] / bench[1], rtol=1e-12)
    assert r.equity.shape == results["buy_and_hold"].equity.shape
    assert r.log is None
    assert r.metrics["sharpe"] == pytest.approx(compute_metrics(r.equity)["sharpe"], abs=1e-12)
    no_bench = replace(market, benchmark=None)
    assert "index" not in run_baselines(no_bench, make_cfg(), "test", names=("index", "cash"))


def test_random_is_seeded_and_uses_the_agents_action_mode(market: Market) -> None:
    a = run_baselines(market, make_cfg(), "val", names=("random",), seed=3)["random"]
    b = run_baselines(market, make_cfg(), "val", names=("random",), seed=3)["random"]
    c = run_baselines(market, make_cfg(), "val", names=("random",), seed=4)["random"]
    np.testing.assert_array_equal(a.equity, b.equity)
    assert not np.array_equal(a.equity, c.equity)
    # Uniform over hold/buy/sell: about a third of the asset-days are buy orders.
    buys = a.log.actions[:, 0] == BUY
    assert 0.25 < buys.mean() < 0.42
    assert a.metrics["trades"] == a.log.buy_mask.sum() + a.log.sell_mask.sum()
    w = run_baselines(market, make_cfg(action_mode="weights"), "val", names=("random",))
    assert w["random"].log.actions.shape[-1] == market.n_assets + 1


def trend_market() -> Market:
    """Asset 0 rises 1 % a day, assets 1-3 fall 1 % a day (no noise)."""
    base = make_toy_market(n_days=120, warmup=25)
    days = np.arange(120)[:, None]
    close = 100.0 * np.concatenate([1.01**days, 0.99 ** np.repeat(days, 3, axis=1)], axis=1)
    t = torch.tensor(close, dtype=torch.float64)
    return replace(base, close=t, fill=t.clone(), fills_at_open=False)


def test_momentum_holds_the_riser_only() -> None:
    market = trend_market()
    r = run_baselines(market, make_cfg(), "train", names=("momentum",), top_k=2)["momentum"]
    log = r.log
    assert log.buy_mask[:, 0, 0].sum() == 1  # bought once, held (no top-ups)
    assert log.buy_mask[:, 0, 1:].sum() == 0  # the fallers never have a positive return
    assert log.positions[-1, 0, 0] > 0
    # Sized at 1 / k of equity.
    first_value = log.positions[1, 0, 0] * log.close[1, 0]
    assert first_value == pytest.approx(log.equity[1, 0] / 2, rel=5e-3)


def test_momentum_is_causal() -> None:
    market = trend_market()
    policy = momentum_policy(market, top_k=2, lookback=20)
    obs = CompactObs(torch.arange(30, 60), torch.zeros(30, 2 * 4 + 3))
    before = policy(obs)
    noisy = market.close.clone()
    noisy[60:] *= torch.rand(noisy[60:].shape, generator=torch.Generator().manual_seed(0))
    after = momentum_policy(replace(market, close=noisy), top_k=2, lookback=20)(obs)
    torch.testing.assert_close(before, after)
    assert set(before.unique().tolist()) <= {HOLD, BUY, SELL}
    assert torch.all(before[:, 0] == BUY) and torch.all(before[:, 1:] == SELL)


def test_bad_baseline_arguments(market: Market) -> None:
    with pytest.raises(ValueError, match="unknown baselines"):
        run_baselines(market, make_cfg(), "val", names=("hodl",))
    with pytest.raises(ValueError, match="top_k"):
        momentum_policy(market, top_k=0)
