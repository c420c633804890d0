"""Hybrid sizing rules: vol targeting holds an always-long book near its target in calm and
stressed regimes, the EWMA matches a plain loop, and the timing actions mean what they say
inside the env step; ATR matches TA-Lib, the ATR rule holds risk_fraction x equity /
(atr_multiple x ATR) shares, and it stops on close-only data. Every sizer's causality:
tests/test_sizing_causality.py."""

from __future__ import annotations

from dataclasses import replace

import numpy as np
import pytest
import talib
import torch
from conftest import compose_config
from omegaconf import OmegaConf

from ploutos.env import make_env
from ploutos.env.sizing import (
    SIZING_RULES,
    kelly_weights,
    log_returns,
    vol_target_weights,
    wilder_atr,
)
from ploutos.env.types import BUY, HOLD, SELL
from ploutos.errors import ConfigError, DataError
from ploutos.market import Market, SplitRange
from ploutos.pipeline import build_market


def regime_market(
    n_days: int = 1600, switch: int = 800, seed: int = 0, calm: float = 0.10, n_assets: int = 2
) -> Market:
    """Uncorrelated assets at `calm` annual volatility, then 4x that from `switch` on."""
    rng = np.random.default_rng(seed)
    daily = np.where(np.arange(n_days) < switch, calm, 4 * calm)[:, None] / np.sqrt(252)
    shocks = rng.normal(0.0, 1.0, (n_days, n_assets))
    close = 100.0 * np.exp(np.cumsum(shocks * daily, axis=0))
    t = torch.tensor(close, dtype=torch.float64)
    return Market(
        dates=np.datetime64("2000-01-03") + np.arange(n_days).astype("timedelta64[D]"),
        tickers=tuple("ABCDEFGH"[:n_assets]),
        close=t,
        fill=t.clone(),
        features=torch.zeros((n_days, n_assets, 1)),
        feature_names=("zero",),
        splits={"train": SplitRange("train", 1, n_days)},
        warmup=1,
    )


def with_ranges(market: Market, seed: int = 0, wick: float = 0.01) -> Market:
    """`market` with daily highs and lows around its closes (wicks of about `wick`)."""
    rng = np.random.default_rng(seed)
    up, down = np.abs(rng.normal(0.0, wick, (2, *market.close.shape)))
    high = market.close * torch.as_tensor(np.exp(up))
    low = market.close * torch.as_tensor(np.exp(-down))
    return replace(market, high=high, low=low)


def env_cfg(rule: str, **sizing):
    return OmegaConf.create(
        {
            "env": {
                "action_mode": rule,
                "episode_days": None,
                "commission_bps": 0.0,
                "slippage_bps": 0.0,
                "sizing": {"cap": 1.0, "band": 0.0, **sizing},
            },
            "obs": {"name": "v6"},
            "reward": {"name": "pnl", "scale": 1.0},
        }
    )


def run_always(market: Market, cfg, code: int) -> np.ndarray:
    env = make_env(cfg, market, n_envs=1, split="train", evaluation=True)
    env.reset()
    equity = [float(env.equity[0])]
    for _ in range(env.episode_days):
        _, _, terminated, _, info = env.step(torch.full((1, market.n_assets), code))
        equity.append(float(info["equity"][0]))
        if bool(terminated[0]):
            break
    return np.asarray(equity)


@pytest.mark.parametrize(("n_assets", "calm"), [(1, 0.10), (3, 0.16)])
def test_vol_target_keeps_an_always_long_book_near_target_in_each_regime(n_assets, calm):
    # One asset at 10% then 40%; three uncorrelated at 16% then 64%, where the calm book's
    # gross exposure 3 x (0.1 / sqrt(3)) / 0.16 = 1.08 is trimmed to 1 (about 9.2%).
    market = regime_market(n_assets=n_assets, calm=calm)
    equity = run_always(market, env_cfg("vol_target", sigma_target=0.10, span=60), BUY)
    r = np.diff(np.log(equity))
    # Fills start on day 2; skip the EWMA warm-up (and its catch-up after the switch).
    calm, stressed = r[200:798], r[950:]
    for part in (calm, stressed):
        realized = part.std() * np.sqrt(252)
        assert 0.08 <= realized <= 0.12, realized


def test_ewma_volatility_matches_a_plain_loop():
    market = regime_market(n_days=300, switch=150)
    weights = vol_target_weights(market.close, 0.10, span=20, cap=1.0)
    r = log_returns(market.close)
    lam, var = 2.0 / 21.0, r[1] ** 2
    for t in range(2, 200):
        var = (1 - lam) * var + lam * r[t] ** 2
    sigma = np.sqrt(var * 252)
    raw = (0.10 / np.sqrt(2)) / sigma
    # Cross term of the book's variance from the same recursion on products.
    cov = r[1, 0] * r[1, 1]
    for t in range(2, 200):
        cov = (1 - lam) * cov + lam * r[t, 0] * r[t, 1]
    book = np.sqrt(raw @ np.array([[var[0], cov], [cov, var[1]]]) @ raw * 252)
    expected = np.minimum(raw * 0.10 / book, 1.0)
    expected /= max(expected.sum(), 1.0)
    np.testing.assert_allclose(weights[199], expected, rtol=1e-9)
    assert (weights[:21] == 0).all()  # warm-up


def test_kelly_sizes_a_positive_edge_and_ignores_a_negative_one():
    n = 400
    rng = np.random.default_rng(1)
    r = np.stack([rng.normal(0.002, 0.01, n), rng.normal(-0.002, 0.01, n)], axis=1)
    close = torch.tensor(100.0 * np.exp(np.cumsum(r, axis=0)))
    w = kelly_weights(close, kappa=0.25, window=120, cap=0.5)
    window = r[1:][-120:]
    f = 0.25 * window[:, 0].mean() / window[:, 0].var(ddof=1)
    assert w[-1, 0] == pytest.approx(min(f, 0.5), rel=1e-9)
    assert w[-1, 1] == 0.0 and (w[:120] == 0).all()


def test_actions_mean_be_in_hold_and_get_out():
    market = regime_market(n_days=300, switch=300)
    cfg = env_cfg("vol_target", sigma_target=0.10, span=20)
    env = make_env(cfg, market, n_envs=1, split="train", evaluation=True)
    env.reset()
    for _ in range(40):  # past the warm-up, flat
        env.step(torch.full((1, 2), HOLD))
    assert float(env.shares.abs().sum()) == 0.0
    env.step(torch.tensor([[BUY, HOLD]]))
    target = env.action_space.target_weights[int(env.day[0]) - 1]
    weight = env.shares[0] * market.close[int(env.day[0])] / env.equity[0]
    assert float(weight[0]) == pytest.approx(float(target[0]), rel=0.05)
    assert float(env.shares[0, 1]) == 0.0
    held = env.shares.clone()
    env.step(torch.tensor([[HOLD, HOLD]]))
    assert torch.equal(env.shares, held)
    env.step(torch.tensor([[SELL, HOLD]]))
    assert float(env.shares.abs().sum()) == 0.0


@pytest.mark.parametrize("rule", sorted(SIZING_RULES))
def test_batched_envs_trade_as_each_env_alone(rule):
    # Each env's orders read its own equity: a batch of 3 (different actions, so different
    # books) ends where each env stepped by itself ends.
    market = with_ranges(regime_market(n_days=300, switch=150, n_assets=2))
    cfg = env_cfg(rule, span=20, window=20)
    codes = torch.tensor([[BUY, BUY], [BUY, SELL], [SELL, BUY]])
    schedule = [codes.roll(k, dims=0) for k in range(60)]

    def run(n_envs: int, rows: slice) -> torch.Tensor:
        env = make_env(cfg, market, n_envs=n_envs, split="train", evaluation=True)
        env.reset()
        for actions in schedule:
            env.step(actions[rows])
        return env.equity

    batched = run(3, slice(None))
    alone = torch.cat([run(1, slice(i, i + 1)) for i in range(3)])
    assert torch.allclose(batched, alone, rtol=1e-12)
    assert float(batched.std()) > 0.0  # the books differ, so a mix-up would show


def test_rules_are_action_modes_and_bad_keys_are_named():
    assert set(SIZING_RULES) == {"vol_target", "kelly", "atr"}
    market = regime_market(n_days=200, switch=100)
    with pytest.raises(ConfigError, match="^env.sizing.sigma_target:"):
        make_env(env_cfg("vol_target", sigma_target=-1.0), market, 1)
    with pytest.raises(ConfigError, match="^env.sizing.cap:"):
        make_env(env_cfg("kelly", cap=2.0), market, 1)


def test_wilder_atr_matches_a_hand_computation_and_ta_lib():
    # True ranges of days 1..4: 1.5, 2, 2, 3; window 2: the first ATR is their mean on day 2,
    # then ATR_t = (ATR_{t-1} + TR_t) / 2.
    high = torch.tensor([[10.0], [11.0], [12.0], [11.0], [13.0]])
    low = torch.tensor([[9.0], [10.0], [10.0], [9.0], [11.0]])
    close = torch.tensor([[9.5], [10.5], [11.0], [10.0], [12.0]])
    atr = wilder_atr(high, low, close, window=2)[:, 0]
    assert np.isnan(atr[:2]).all()
    np.testing.assert_allclose(atr[2:], [1.75, 1.875, 2.4375], rtol=1e-12)

    market = with_ranges(regime_market(n_days=120, switch=60, n_assets=3), wick=0.02)
    ours = wilder_atr(market.high, market.low, market.close, window=14)
    h, lo, c = (x.numpy() for x in (market.high, market.low, market.close))
    reference = np.stack(
        [talib.ATR(h[:, i], lo[:, i], c[:, i], timeperiod=14) for i in range(3)], axis=1
    )
    np.testing.assert_array_equal(np.isnan(ours), np.isnan(reference))
    np.testing.assert_allclose(ours[14:], reference[14:], rtol=1e-12)


def buy_after_warmup(market: Market, cfg, codes: list[int]):
    """Stay flat for 20 steps, then send `codes`; returns (env, cash before, decision day)."""
    env = make_env(cfg, market, n_envs=1, split="train", evaluation=True)
    env.reset()
    for _ in range(20):
        env.step(torch.full((1, market.n_assets), HOLD))
    cash, day = float(env.cash[0]), int(env.day[0])
    env.step(torch.tensor([codes]))
    return env, cash, day


def test_atr_holds_risk_fraction_of_equity_over_k_atr_shares():
    market = with_ranges(regime_market(n_days=200, switch=200, n_assets=2), wick=0.01)
    cfg = env_cfg("atr", risk_fraction=0.01, atr_multiple=2.0, window=14)
    env, equity, day = buy_after_warmup(market, cfg, [BUY, HOLD])
    atr = wilder_atr(market.high, market.low, market.close, 14)[day]  # the decision day's
    # Flat before the buy, so equity at the fill is the cash; no costs in env_cfg.
    assert float(env.shares[0, 0]) == pytest.approx(0.01 * equity / (2.0 * atr[0]), rel=1e-9)
    assert float(env.shares[0, 1]) == 0.0
    weight = float(env.shares[0, 0] * market.fill[day + 1, 0]) / equity
    assert 0.05 < weight < 1.0  # the uncapped case: the cap (1.0) did not bind


def test_atr_positions_are_capped_per_asset_and_in_gross():
    market = with_ranges(regime_market(n_days=200, switch=200, n_assets=2), wick=0.01)
    # A 20% risk budget asks for several times equity, so the cap binds on each asset...
    for cap, expected in ((0.3, [0.3, 0.3]), (1.0, [0.5, 0.5])):  # ...and then gross <= 1
        cfg = env_cfg("atr", risk_fraction=0.2, window=14, cap=cap)
        env, equity, day = buy_after_warmup(market, cfg, [BUY, BUY])
        weights = (env.shares[0] * market.fill[day + 1] / equity).numpy()
        np.testing.assert_allclose(weights, expected, rtol=1e-9)


def test_atr_on_close_only_data_names_the_rule_and_the_missing_columns():
    with pytest.raises(DataError, match=r"^sizing=atr needs daily highs and lows.* no high or low"):
        make_env(env_cfg("atr"), regime_market(n_days=200, switch=100), 1)
    # The same through the pipeline: synthetic bars with closes only, then with OHLCV.
    overrides = ["data=synthetic", "data.n_assets=2", "+sizing=atr", "features=minimal"]
    cfg = compose_config(overrides=[*overrides, "data.ohlcv=false"])
    market, _ = build_market(cfg)
    assert market.high is None and market.low is None
    with pytest.raises(DataError, match=r"^sizing=atr .* no high or low column \(close-only"):
        make_env(cfg, market, 1)
    ohlc, _ = build_market(compose_config(overrides=[*overrides, "data.ohlcv=true"]))
    assert bool((ohlc.high >= ohlc.close).all()) and bool((ohlc.low <= ohlc.close).all())
    assert make_env(cfg, ohlc, 1).action_space.name == "atr"
