"""The seed's aggressive shaping: pnl plus a fixed bonus for each good buy and a fixed
penalty for each bad one, judged on the close `horizon` days after the fill.

    reward = scale * log growth + good_buy * (# buys with close[f + H] > fill price)
                                - bad_buy * (# buys with close[f + H] <= fill price)

The bonus and penalty are in reward units (+5.0 and -2.0 in the seed), not scaled. It reads
prices after the fill day, so it declares looks_ahead: training only, evaluation refuses it.
"""

from __future__ import annotations

import torch

from ploutos.market import Market
from ploutos.rewards.base import Reward, StepOutcome, close_after, log_growth


class BuyBonusReward(Reward):
    looks_ahead = True

    def __init__(
        self,
        n_envs: int,
        market: Market,
        scale: float,
        horizon: int,
        good_buy: float,
        bad_buy: float,
    ) -> None:
        super().__init__(n_envs, market.device, scale)
        self.close = market.close
        self.horizon = horizon
        self.good_buy = good_buy
        self.bad_buy = bad_buy

    def shaping(self, step: StepOutcome) -> torch.Tensor:
        """float64 [N]: bonuses minus penalties of the step's buys."""
        good = close_after(self.close, step, self.horizon) > step.fill_price
        buys = step.buy_mask.to(torch.float64)
        n_good = (buys * good.to(torch.float64)).sum(dim=1)
        return self.good_buy * n_good - self.bad_buy * (buys.sum(dim=1) - n_good)

    def __call__(self, step: StepOutcome) -> torch.Tensor:
        return (self.scale * log_growth(step) + self.shaping(step)).to(torch.float32)
