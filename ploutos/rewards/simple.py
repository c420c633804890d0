"""Rewards built from equity alone: pnl and drawdown-penalized pnl."""

from __future__ import annotations

import torch

from ploutos.rewards.base import Reward, StepOutcome, log_growth


class PnlReward(Reward):
    """scale * log growth of equity over the step."""

    def __call__(self, step: StepOutcome) -> torch.Tensor:
        return (self.scale * log_growth(step)).to(torch.float32)


class DrawdownReward(Reward):
    """scale * (log growth - penalty * increase of the drawdown from peak).

    Only new drawdown is penalized: recovering toward the peak is rewarded by the pnl term
    alone, so the agent is not punished twice for one loss.
    """

    def __init__(self, n_envs: int, device: torch.device, scale: float, penalty: float) -> None:
        super().__init__(n_envs, device, scale)
        self.penalty = penalty

    def __call__(self, step: StepOutcome) -> torch.Tensor:
        prev_dd = 1.0 - step.prev_equity / step.prev_peak
        dd = 1.0 - step.equity / step.peak
        new_dd = torch.clamp(dd - prev_dd, min=0.0)
        return (self.scale * (log_growth(step) - self.penalty * new_dd)).to(torch.float32)
