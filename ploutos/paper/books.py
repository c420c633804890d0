"""The paper account as the one accounting engine sees it.

A TradingEnv with one env in evaluation mode, over the session's market, is restored from the
books the last NAV event stored (or started fresh on the account's first day) and stepped one
market day at a time with the recorded decisions (a day without one holds). Its equity is the
account's expected equity, exactly what the backtest computes for the same decisions; its
observation is what the policy decides on; and one more step over the next session's bar
(the real one in a replay, an estimate at the last close live) sizes the orders, through the
env's own order rule and fills. No P&L arithmetic lives here.
"""

from __future__ import annotations

from dataclasses import dataclass, replace
from typing import Any

import numpy as np
import torch
from omegaconf import DictConfig

from ploutos.env import make_env
from ploutos.env.engine import TradingEnv
from ploutos.evaluation.runner import evaluation_config
from ploutos.market import Market, SplitRange
from ploutos.obs.builders import ObsBuilder
from ploutos.obs.compact import CompactObs

PAPER_SPLIT = "paper"


def snapshot(env: TradingEnv) -> dict[str, Any]:
    """The env's state as JSON-ready lists (float64 survives json's repr round trip)."""
    return {k: {"dtype": str(v.dtype).removeprefix("torch."), "value": v.tolist()}
            for k, v in env.state_dict().items()}  # fmt: skip


def _tensors(books: dict[str, Any]) -> dict[str, torch.Tensor]:
    return {k: torch.tensor(v["value"], dtype=getattr(torch, v["dtype"])) for k, v in books.items()}


@dataclass
class Trade:
    """One engine step's fills for the account (env 0), as numpy."""

    day: int  # the fill day's market index
    filled_shares: np.ndarray  # [A], + bought, - sold
    fill_price: np.ndarray  # [A]
    fees: np.ndarray  # [A]
    realized_pnl: np.ndarray  # [A]: proceeds minus entry cost of the shares sold
    sold: np.ndarray  # [A] bool: a sell filled
    equity: float


class Books:
    """The engine's books over `market` for an account deciding from day `start` to `end`
    (market indices; the last fill is on `end`)."""

    def __init__(
        self,
        cfg: DictConfig,
        market: Market,
        obs_builder: ObsBuilder,
        start: int,
        end: int,
        books: dict[str, Any] | None,
    ) -> None:
        self.market = replace(
            market,
            splits={**market.splits, PAPER_SPLIT: SplitRange(PAPER_SPLIT, start, market.n_days)},
        )
        eval_cfg, _ = evaluation_config(cfg, self.market)
        self.env = make_env(eval_cfg, self.market, n_envs=1, split=PAPER_SPLIT, evaluation=True,
                            obs_builder=obs_builder)  # fmt: skip
        if self.env.first_day != start:
            raise ValueError(
                f"the account starts on day {start}, before the first observable day "
                f"{self.env.first_day} of this checkpoint's features and observation"
            )
        self.env.reset()
        if books is None:
            state = self.env.state_dict()
            state["end"] = torch.full_like(state["end"], end)
        else:
            state = _tensors(books)
        self.env.load_state_dict(state)

    @property
    def day(self) -> int:
        return int(self.env.day[0])

    @property
    def equity(self) -> float:
        return float(self.env.equity[0])

    @property
    def shares(self) -> np.ndarray:
        return self.env.shares[0].numpy().copy()

    def hold(self) -> torch.Tensor:
        """The action that places no order: HOLD everywhere (discrete), or logits of the
        current allocation (weights: the rebalance to it is nil up to rounding)."""
        space = self.env.action_space
        if space.name == "discrete":
            return torch.zeros((1, *space.shape), dtype=space.dtype)
        close = self.market.close[self.day]
        value = self.env.shares[0] * close
        weights = torch.cat([value, self.env.cash]) / self.env.equity
        return torch.log(weights.clamp(min=1e-12)).to(space.dtype).unsqueeze(0)

    def observe(self) -> CompactObs:
        return self.env.observe()

    def step(self, actions: torch.Tensor) -> Trade:
        _, _, _, _, info = self.env.step(actions)
        return Trade(
            day=int(info["day"][0]),
            filled_shares=info["filled_shares"][0].numpy().copy(),
            fill_price=info["fill_price"][0].numpy().copy(),
            fees=info["fees"][0].numpy().copy(),
            realized_pnl=info["realized_pnl"][0].numpy().copy(),
            sold=info["sell_mask"][0].numpy().copy(),
            equity=float(info["equity"][0]),
        )

    def snapshot(self) -> dict[str, Any]:
        return snapshot(self.env)
