"""The seed's V6 timing reward: pnl plus shaping for how well buys and sells were timed.

A buy is well timed when the close H days after its fill is above the fill price (bought
low), a sell when it is below (sold high). The shaping per trade is
    weight * clip(log(close[f + H] / fill_price) / ret_scale, -1, 1)
with the sign flipped for sells, summed over the step's trades. It reads prices after the
fill day, so it declares looks_ahead and evaluation refuses it; the horizon never reaches
past the end of the split being trained on.
"""

from __future__ import annotations

import torch

from ploutos.market import Market
from ploutos.rewards.base import Reward, StepOutcome, close_after, log_growth


class TimingReward(Reward):
    looks_ahead = True

    def __init__(
        self,
        n_envs: int,
        market: Market,
        scale: float,
        horizon: int,
        weight: float,
        ret_scale: float,
    ) -> None:
        super().__init__(n_envs, market.device, scale)
        self.close = market.close
        self.horizon = horizon
        self.weight = weight
        self.ret_scale = ret_scale

    def shaping(self, step: StepOutcome) -> torch.Tensor:
        """float64 [N] timing bonus (positive) or penalty (negative) of the step's trades."""
        future = close_after(self.close, step, self.horizon)
        score = torch.clamp(
            torch.log(future / step.fill_price) / self.ret_scale, -1.0, 1.0
        )
        signed = step.buy_mask.to(score.dtype) - step.sell_mask.to(score.dtype)
        return self.weight * (signed * score).sum(dim=1)

    def __call__(self, step: StepOutcome) -> torch.Tensor:
        return (self.scale * (log_growth(step) + self.shaping(step))).to(torch.float32)
