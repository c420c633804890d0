"""Baselines beside every agent: policies stepped on the same engine, days and costs.

- cash: HOLD every asset every day (discrete mode); equity stays at the starting cash.
- buy_and_hold: equal weight, bought once and never rebalanced. It runs in discrete mode
  with a BUY of every asset on the first decision day and HOLD after. The weights action
  mode cannot express "hold what you have": a constant target re-trades every day as prices
  drift (that is a constant-mix strategy). To make the one-day BUY equal-weight and fully
  invested, this baseline sets env.buy_fraction = env.max_position_weight = 1: every BUY
  asks for all the equity, and the engine scales all of a day's buys by the same factor to
  fit the cash, so each asset gets cash / A (fees and slippage included, as for the agent).
- random: uniform random actions in the agent's own action mode and sizing, seeded.
- momentum: each day rank the assets by their `lookback`-day close-to-close return (closes
  up to the decision day only), BUY the top-k that are not held and have a positive
  return, SELL every asset that left the top-k or whose return turned negative. Sized at
  1 / k of equity per position (env.buy_fraction = env.max_position_weight = 1 / k).
- index: the benchmark series (market.benchmark) scaled to the starting cash on the same
  days, with no costs and no cash drag (a price index, not a tradable fund). Absent when
  the market has no benchmark.
Every baseline returns the same metrics dict as the agent (episode_metrics); for the index
the trade, timing and reward entries are 0.0 since it neither trades nor earns rewards.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np
import torch
from omegaconf import DictConfig, OmegaConf

from ploutos.env import EnvParams, make_env
from ploutos.env.actions import ActionSpace, make_action_space
from ploutos.env.types import BUY, HOLD, SELL
from ploutos.evaluation.metrics import TRADING_DAYS, compute_metrics
from ploutos.evaluation.runner import (
    EpisodeLog,
    PolicyFn,
    episode_metrics,
    evaluation_config,
    run_policy,
)
from ploutos.market import Market
from ploutos.obs.compact import CompactObs

BASELINES = ("buy_and_hold", "index", "cash", "random", "momentum")


@dataclass(frozen=True)
class BaselineResult:
    name: str
    equity: np.ndarray  # float64 [D + 1] on the same days as the agent's EpisodeLog
    metrics: dict[str, float]
    log: EpisodeLog | None  # None for the index, which is not stepped on the engine


def cash_policy(n_assets: int) -> PolicyFn:
    def act(obs: CompactObs) -> torch.Tensor:
        return torch.full(
            (obs.day.shape[0], n_assets), HOLD, dtype=torch.int64, device=obs.day.device
        )

    return act


def buy_and_hold_policy(n_assets: int) -> PolicyFn:
    """BUY every asset while nothing is held (the first decision day), HOLD afterwards."""

    def act(obs: CompactObs) -> torch.Tensor:
        flat = (obs.portfolio[:, 1 : 1 + n_assets] <= 0).all(dim=1, keepdim=True)
        return torch.where(flat.expand(-1, n_assets), BUY, HOLD).to(torch.int64)

    return act


def random_policy(space: ActionSpace, seed: int = 0) -> PolicyFn:
    """Uniform random actions of the agent's action space (discrete codes, or standard-normal
    weight logits for A assets + cash)."""
    generator = torch.Generator().manual_seed(seed)

    def act(obs: CompactObs) -> torch.Tensor:
        return space.random(obs.day.shape[0], generator).to(obs.day.device)

    return act


def momentum_policy(market: Market, top_k: int = 3, lookback: int = 20) -> PolicyFn:
    """Top-k momentum rotation on closes known at the decision day (causal)."""
    n_assets = market.n_assets
    if not 1 <= top_k <= n_assets:
        raise ValueError(f"momentum top_k must be in [1, {n_assets}], got {top_k}")
    if lookback < 1:
        raise ValueError(f"momentum lookback must be >= 1 day, got {lookback}")
    close = market.close

    def act(obs: CompactObs) -> torch.Tensor:
        past = (obs.day - lookback).clamp(min=0)
        ret = close.index_select(0, obs.day) / close.index_select(0, past) - 1.0  # [N, A]
        top = torch.zeros_like(ret, dtype=torch.bool)
        top.scatter_(1, torch.topk(ret, top_k, dim=1).indices, True)
        held = obs.portfolio[:, 1 : 1 + n_assets] > 0
        buy = top & (ret > 0) & ~held
        sell = ~top | (ret < 0)
        return torch.where(buy, BUY, torch.where(sell, SELL, HOLD)).to(torch.int64)

    return act


def _with_env(cfg: DictConfig, **env: object) -> DictConfig:
    """A resolved copy of cfg with some env keys replaced (sizing only, never costs)."""
    out = OmegaConf.create(OmegaConf.to_container(cfg, resolve=True))
    for key, value in env.items():
        out.env[key] = value
    return out


def index_equity(market: Market, days: np.ndarray, initial_cash: float) -> np.ndarray:
    """float64 [D + 1] the index bought where every strategy's first fill is: cash on the
    decision day days[0], invested at the close of the first fill day days[1] (the index has
    closes only), marked at each later close."""
    if market.benchmark is None:
        raise ValueError("this market has no benchmark series")
    bench = market.benchmark.cpu().numpy()[days]
    equity = np.full(bench.shape, float(initial_cash))
    equity[1:] = initial_cash * bench[1:] / bench[1]
    return equity


def _index_metrics(equity: np.ndarray, risk_free: float, periods_per_year: int) -> dict:
    # Fully invested, never trades: exposure 1 (cash 0), no trade, timing or reward numbers.
    metrics = compute_metrics(equity, periods_per_year, risk_free, cash=np.zeros_like(equity))
    for key in (
        "buy_quality",
        "sell_quality",
        "buy_good",
        "buy_bad",
        "sell_good",
        "sell_bad",
        "mean_reward",
    ):
        metrics[key] = 0.0
    return metrics


def run_baselines(
    market: Market,
    cfg: DictConfig,
    split: str = "val",
    names: Sequence[str] = BASELINES,
    seed: int = 0,
    top_k: int = 3,
    lookback: int = 20,
    horizon: int = 5,
    risk_free: float = 0.0,
    periods_per_year: int = TRADING_DAYS,
) -> dict[str, BaselineResult]:
    """Run the named baselines over `split` with the agent's costs (cfg.env) and days.

    The index is left out when the market has no benchmark. A look-ahead training reward
    is replaced by pnl exactly as for the agent (evaluation_config).
    """
    unknown = sorted(set(names) - set(BASELINES))
    if unknown:
        raise ValueError(f"unknown baselines {unknown}; choose from {BASELINES}")
    cfg, _ = evaluation_config(cfg, market)
    a = market.n_assets
    space = make_action_space(EnvParams.from_config(cfg.env).action_mode, a)
    discrete = {"action_mode": "discrete"}
    # name -> (policy factory, the cfg it runs under)
    plans = {
        "cash": (lambda: cash_policy(a), _with_env(cfg, **discrete)),
        "buy_and_hold": (
            lambda: buy_and_hold_policy(a),
            _with_env(cfg, **discrete, buy_fraction=1.0, max_position_weight=1.0),
        ),
        "random": (lambda: random_policy(space, seed), cfg),
        "momentum": (
            lambda: momentum_policy(market, top_k, lookback),
            _with_env(cfg, **discrete, buy_fraction=1.0 / top_k, max_position_weight=1.0 / top_k),
        ),
    }
    results: dict[str, BaselineResult] = {}
    for name in names:
        if name == "index":
            continue
        make_policy, run_cfg = plans[name]
        log = run_policy(make_policy(), market, run_cfg, split)
        metrics = episode_metrics(log, market, 0, horizon, risk_free, periods_per_year)
        results[name] = BaselineResult(name, log.equity[:, 0], metrics, log)
    if "index" in names and market.benchmark is not None:
        env = make_env(cfg, market, n_envs=1, split=split, evaluation=True)
        days = np.arange(env.first_day, env.last_day + 1)
        equity = index_equity(market, days, float(env.params.initial_cash))
        results["index"] = BaselineResult(
            "index", equity, _index_metrics(equity, risk_free, periods_per_year), None
        )
    return {name: results[name] for name in names if name in results}
