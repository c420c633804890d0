"""The policy runner on the engine: hand-calculated backtests and evaluate_policy."""

from __future__ import annotations

import numpy as np
import pytest
import torch
from conftest import cuda_params, make_toy_market
from omegaconf import DictConfig, OmegaConf
from test_env_accounting import reference

from ploutos.env.types import BUY, HOLD, SELL
from ploutos.evaluation.metrics import compute_metrics
from ploutos.evaluation.runner import episode_metrics, episode_timing, evaluate_policy, run_policy
from ploutos.obs import make_obs_builder
from ploutos.obs.compact import CompactObs


def make_cfg(reward: str = "pnl", obs: str = "v6", **env: object) -> DictConfig:
    env_cfg = {
        "action_mode": "discrete",
        "initial_cash": 100_000.0,
        "episode_days": 50,
        "buy_fraction": 0.5,
        "max_position_weight": 1.0,
        "sell_fraction": 1.0,
        "commission_bps": 10.0,
        "slippage_bps": 5.0,
        "min_fee": 0.0,
        "lot_size": 0,
    }
    env_cfg.update(env)
    reward_cfg = {"name": reward, "scale": 100.0}
    if reward == "v6_timing":
        reward_cfg.update(horizon=5, weight=0.01, ret_scale=0.02)
    obs_cfg = {"name": obs, "lookback": 10} if obs == "v7" else {"name": obs}
    return OmegaConf.create({"env": env_cfg, "obs": obs_cfg, "reward": reward_cfg})


def hold(obs: CompactObs, n_assets: int = 4) -> torch.Tensor:
    return torch.full((obs.day.shape[0], n_assets), HOLD, dtype=torch.int64, device=obs.day.device)


def test_always_hold_is_flat_with_no_trades(toy_market) -> None:
    log = run_policy(hold, toy_market, make_cfg(), split="val")
    val = toy_market.split("val")
    assert log.n_steps == val.stop - 1 - val.start
    assert log.days[0] == val.start and log.days[-1] == val.stop - 1
    np.testing.assert_array_equal(log.dates, toy_market.dates[val.start : val.stop])
    assert np.all(log.equity == 100_000.0) and np.all(log.cash == 100_000.0)
    assert not log.buy_mask.any() and not log.sell_mask.any()
    assert np.all(log.fees == 0.0) and np.all(log.positions == 0.0)
    m = episode_metrics(log, toy_market)
    assert m["total_return"] == 0.0 and m["sharpe"] == 0.0 and m["trades"] == 0.0
    assert m["max_drawdown"] == 0.0 and m["mean_reward"] == 0.0 and m["exposure"] == 0.0


def one_ticker_policy(asset: int, sell_after: int | None = None):
    """BUY `asset` on the first decision day; SELL it `sell_after` days later; else HOLD."""
    first: list[int] = []

    def act(obs: CompactObs) -> torch.Tensor:
        day = int(obs.day[0])
        first.append(day)
        actions = torch.full((1, 4), HOLD, dtype=torch.int64)
        if day == first[0]:
            actions[0, asset] = BUY
        elif sell_after is not None and day == first[0] + sell_after:
            actions[0, asset] = SELL
        return actions.to(obs.day.device)

    return act


@pytest.mark.parametrize("device", cuda_params())
def test_buy_one_ticker_and_hold_matches_hand_calculation(device: str) -> None:
    market = make_toy_market(device=device)
    log = run_policy(one_ticker_policy(asset=2), market, make_cfg(), split="test")
    t0 = market.split("test").start
    close = market.close.cpu().numpy()
    fill = market.fill.cpu().numpy()
    cash0, fraction, c, s = 100_000.0, 0.5, 10e-4, 5e-4

    # Decided on day t0, filled at day t0 + 1's open: half the equity's worth of shares at
    # the raw open, paid at the slipped price, plus commission on what was paid.
    open1 = fill[t0 + 1, 2]
    shares = fraction * cash0 / open1
    paid = shares * open1 * (1 + s)
    fee = c * paid
    cash = cash0 - paid - fee
    expected = cash + shares * close[t0 + 1 : market.split("test").stop, 2]

    np.testing.assert_allclose(log.equity[1:, 0], expected, rtol=1e-9, atol=0)
    assert log.equity[0, 0] == cash0
    np.testing.assert_allclose(log.cash[1:, 0], cash, rtol=1e-9)
    np.testing.assert_allclose(log.positions[-1, 0], [0, 0, shares, 0], rtol=1e-9)
    assert log.fees[0, 0, 2] == pytest.approx(fee, rel=1e-9)
    assert log.fill_price[0, 0, 2] == pytest.approx(open1 * (1 + s), rel=1e-9)
    assert log.buy_mask[:, 0].sum() == 1 and not log.sell_mask.any()

    m = episode_metrics(log, market)
    assert m["total_return"] == pytest.approx(expected[-1] / cash0 - 1, rel=1e-9)
    assert m["trades"] == 1.0 and m["closed_trades"] == 0.0
    assert m["turnover"] == pytest.approx(paid / cash0 * 252 / log.n_steps, rel=1e-9)


def test_round_trip_realized_pnl_and_win_rate(toy_market) -> None:
    market = toy_market
    log = run_policy(one_ticker_policy(asset=1, sell_after=10), market, make_cfg(), "val")
    t0 = market.split("val").start
    fill = market.fill.cpu().numpy()
    cash0, c, s = 100_000.0, 10e-4, 5e-4
    shares = 0.5 * cash0 / fill[t0 + 1, 1]
    cost = shares * fill[t0 + 1, 1] * (1 + s) * (1 + c)
    proceeds = shares * fill[t0 + 11, 1] * (1 - s) * (1 - c)
    assert log.sell_mask[10, 0, 1] and log.sell_mask.sum() == 1
    assert log.realized_pnl[10, 0, 1] == pytest.approx(proceeds - cost, rel=1e-9)
    np.testing.assert_allclose(log.equity[11:, 0], cash0 - cost + proceeds, rtol=1e-12)
    m = episode_metrics(log, market)
    assert m["trades"] == 2.0 and m["closed_trades"] == 1.0
    assert m["win_rate"] == float(proceeds > cost)
    timing = episode_timing(log, market)
    t1 = timing["per_ticker"]["T1"]
    assert t1["buy_good"] + t1["buy_bad"] == 1 and t1["sell_good"] + t1["sell_bad"] == 1
    bought_low = market.close[t0 + 1 + 5, 1].item() > log.fill_price[0, 0, 1]
    assert t1["buy_good"] == int(bought_low)
    assert timing["per_ticker"]["T0"]["buy_good"] == 0


def test_v7_starts_after_the_window_fills() -> None:
    market = make_toy_market(n_days=200, warmup=20)
    log = run_policy(hold, market, make_cfg(obs="v7"), split="train")
    train = market.split("train")
    assert log.days[0] == max(train.start, market.warmup + 10 - 1)
    assert log.days[-1] == train.stop - 1


def test_batched_random_envs_are_independent(toy_market) -> None:
    gen = torch.Generator().manual_seed(1)

    def rand(obs: CompactObs) -> torch.Tensor:
        return torch.randint(0, 3, (obs.day.shape[0], 4), generator=gen)

    log = run_policy(rand, toy_market, make_cfg(), split="val", n_envs=3)
    assert log.equity.shape == (log.n_steps + 1, 3)
    assert len({round(float(e), 6) for e in log.equity[-1]}) == 3
    # Each env's cash and positions mark to its equity at the close.
    marked = log.cash + (log.positions * log.close[:, None, :]).sum(axis=2)
    np.testing.assert_allclose(marked, log.equity, rtol=1e-9)


class FixedPolicy(torch.nn.Module):
    """A policy whose act() is a fixed rule, recording the flags evaluation must set."""

    def __init__(self) -> None:
        super().__init__()
        self.scale = torch.nn.Parameter(torch.ones(1))
        self.seen: list[tuple[bool, bool]] = []

    def act(self, obs: CompactObs, obs_builder, deterministic: bool = False) -> torch.Tensor:
        self.seen.append((deterministic, self.training))
        actions = torch.full((obs.day.shape[0], 4), HOLD, dtype=torch.int64)
        phase = obs.day % 7
        actions[:, 0] = torch.where(phase == 0, BUY, torch.where(phase == 3, SELL, HOLD))
        return actions


def _builder(market):
    return make_obs_builder(make_cfg().obs, market)


@pytest.mark.parametrize("reward", ["pnl", "v6_timing"])
def test_evaluate_policy_is_deterministic_and_causal(toy_market, reward: str) -> None:
    policy = FixedPolicy()
    policy.train()
    cfg = make_cfg(reward=reward)
    m = evaluate_policy(policy, _builder(toy_market), cfg, split="val")
    assert all(flags == (True, False) for flags in policy.seen)
    assert policy.training  # the caller's mode is restored
    # The books against the slow replay of the same rule from the split's first day.
    val = toy_market.split("val")
    days = np.arange(val.start, val.stop - 1)
    rule = FixedPolicy().act(CompactObs(torch.tensor(days), torch.zeros(len(days), 1)), None)
    books = reference(toy_market.close.numpy(), toy_market.fill.numpy(), cfg.env, val.start,
                      rule.numpy(), "discrete")
    equity = np.array([cfg.env.initial_cash] + [b["equity"] for b in books])
    expected = compute_metrics(equity)
    for key in ("total_return", "sharpe", "max_drawdown"):
        assert m[key] == pytest.approx(expected[key], rel=1e-9), key
    held = np.array([[0.0] * 4] + [b["shares"] for b in books])
    assert m["trades"] == np.count_nonzero(np.diff(held, axis=0)) > 0
    assert m["reward_used"] == "pnl"
    assert m["reward_replaced"] == (1.0 if reward == "v6_timing" else 0.0)
    # Same trades, same pnl reward: the look-ahead reward leaves no trace in the numbers.
    if reward == "v6_timing":
        ref = evaluate_policy(FixedPolicy(), _builder(toy_market), make_cfg(), split="val")
        assert {k: v for k, v in m.items() if k != "reward_replaced"} == {
            k: v for k, v in ref.items() if k != "reward_replaced"
        }


def test_timing_stays_inside_the_split(toy_market) -> None:
    # Buys on the split's last decision days cannot be judged with val data alone.
    val = toy_market.split("val")

    def buy_late(obs: CompactObs) -> torch.Tensor:
        late = (obs.day >= val.stop - 4).unsqueeze(1).expand(-1, 4)
        return torch.where(late, BUY, HOLD).to(torch.int64)

    log = run_policy(buy_late, toy_market, make_cfg(buy_fraction=0.1), split="val")
    m = episode_metrics(log, toy_market, horizon=5)
    # Decisions on the split's last 3 decision days (its last day only marks), 4 assets each.
    late_days = int((log.days[:-1] >= val.stop - 4).sum())
    assert late_days == 3 and m["trades"] == log.buy_mask.sum() == 4 * late_days
    assert m["buy_good"] + m["buy_bad"] == 0.0
