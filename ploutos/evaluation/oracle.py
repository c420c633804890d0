"""The oracle baseline of a planted-signal market, and edge capture beside it.

On a synthetic market with a planted signal (ploutos/data/planted.py) the framework knows
the rule that exploits the edge: be long where the signal points up, flat where it points
down. The oracle runs that rule in the agent's own action space, sizing and costs, on the
same engine and days as the agent (docs/design.md #3), reading the signal from the market's
closes up to the decision day only, exactly as the generator computed it:

- discrete (and its sizing rules): BUY where the signal is up, SELL where it is down, HOLD
  where it is 0 (the lead-lag leader, days before the signal's window is full);
- weights: equal target weights over the assets whose signal is up, the rest in cash.

edge_capture = a strategy's Sharpe / the oracle's Sharpe: 1 is all of the planted edge the
simple rule gets, 0 none of it. It is defined only when the oracle's Sharpe is positive.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

import numpy as np
import torch
from omegaconf import DictConfig

from ploutos.data.planted import PlantedSignal, planted_signal
from ploutos.env import EnvParams
from ploutos.env.actions import LOGIT_BOUND, ActionSpace, WeightActions, make_action_space
from ploutos.env.types import BUY, HOLD, SELL
from ploutos.evaluation.baselines import BaselineResult
from ploutos.evaluation.metrics import TRADING_DAYS
from ploutos.evaluation.runner import PolicyFn, episode_metrics, run_policy
from ploutos.market import Market
from ploutos.obs.compact import CompactObs

ORACLE = "oracle"


def oracle_direction(market: Market, signal: PlantedSignal) -> torch.Tensor:
    """float64 [T, A]: +1 where the planted edge says long, -1 flat, 0 no view; row t from
    closes up to day t (a negative strength plants the opposite of the signal)."""
    x = signal.from_close(market.close.cpu().numpy()) * np.sign(signal.strength)
    return torch.as_tensor(x, dtype=torch.float64, device=market.device)


def oracle_policy(market: Market, signal: PlantedSignal, space: ActionSpace) -> PolicyFn:
    """The oracle's action function in `space` (see the module docstring)."""
    direction = oracle_direction(market, signal)

    def act(obs: CompactObs) -> torch.Tensor:
        want = direction.index_select(0, obs.day)  # [N, A]
        if isinstance(space, WeightActions):
            up = want > 0
            logits = torch.where(up, 0.0, -LOGIT_BOUND)
            cash = torch.where(up.any(dim=1, keepdim=True), -LOGIT_BOUND, 0.0)
            return torch.cat([logits, cash], dim=1).to(torch.float32)
        return torch.where(want > 0, BUY, torch.where(want < 0, SELL, HOLD)).to(torch.int64)

    return act


def run_oracle(
    market: Market,
    cfg: DictConfig,
    data_cfg: Mapping[str, Any],
    split: str,
    horizon: int = 5,
    risk_free: float = 0.0,
    periods_per_year: int = TRADING_DAYS,
) -> BaselineResult | None:
    """The oracle over `split` with cfg.env's action mode, sizing and costs, or None when
    `data_cfg` plants no signal (another source, signal none, strength 0)."""
    signal = planted_signal(data_cfg)
    if signal is None:
        return None
    space = make_action_space(EnvParams.from_config(cfg.env).action_mode, market.n_assets)
    log = run_policy(oracle_policy(market, signal, space), market, cfg, split)
    metrics = episode_metrics(log, market, 0, horizon, risk_free, periods_per_year)
    return BaselineResult(ORACLE, log.equity[:, 0], metrics, log)


def add_edge_capture(metrics: dict[str, dict]) -> None:
    """Set edge_capture on every strategy's metrics when an oracle with a positive Sharpe is
    among them (in place); nothing otherwise."""
    oracle = metrics.get(ORACLE)
    if oracle is None or not oracle["sharpe"] > 0.0:
        return
    for entry in metrics.values():
        entry["edge_capture"] = float(entry["sharpe"] / oracle["sharpe"])
