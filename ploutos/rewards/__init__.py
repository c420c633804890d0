"""Batched, per-env stateful rewards: pnl, v6_timing, diff_sharpe, drawdown."""

from ploutos.rewards.base import Reward, StepOutcome
from ploutos.rewards.diff_sharpe import DiffSharpeReward
from ploutos.rewards.factory import REWARDS, make_reward
from ploutos.rewards.simple import DrawdownReward, PnlReward
from ploutos.rewards.timing import TimingReward

__all__ = [
    "REWARDS",
    "DiffSharpeReward",
    "DrawdownReward",
    "PnlReward",
    "Reward",
    "StepOutcome",
    "TimingReward",
    "make_reward",
]
