"""make_reward: build the reward named by the `reward` config group."""

from __future__ import annotations

from omegaconf import DictConfig

from ploutos.errors import ConfigError
from ploutos.market import Market
from ploutos.rewards.base import Reward
from ploutos.rewards.buy_bonus import BuyBonusReward
from ploutos.rewards.diff_sharpe import DiffSharpeReward
from ploutos.rewards.simple import DrawdownReward, PnlReward
from ploutos.rewards.timing import TimingReward

REWARDS = ("pnl", "v6_timing", "diff_sharpe", "drawdown", "buy_bonus")


def _number(cfg: DictConfig, key: str, default: float, low: float | None = None) -> float:
    value = cfg.get(key, default)
    if isinstance(value, bool) or not isinstance(value, int | float):
        raise ConfigError(f"reward.{key}", f"must be a number, got {value!r}")
    if low is not None and value < low:
        raise ConfigError(f"reward.{key}", f"must be >= {low}, got {value}")
    return float(value)


def make_reward(reward_cfg: DictConfig, market: Market, n_envs: int) -> Reward:
    name = reward_cfg.get("name")
    if name not in REWARDS:
        raise ConfigError("reward.name", f"unknown reward {name!r}; choose one of {REWARDS}")
    scale = _number(reward_cfg, "scale", 1.0)
    if name == "pnl":
        return PnlReward(n_envs, market.device, scale)
    if name == "drawdown":
        penalty = _number(reward_cfg, "penalty", 1.0, low=0.0)
        return DrawdownReward(n_envs, market.device, scale, penalty)
    if name == "diff_sharpe":
        decay = _number(reward_cfg, "decay", 0.99)
        if not 0.0 < decay < 1.0:
            raise ConfigError("reward.decay", f"must be in (0, 1), got {decay}")
        return DiffSharpeReward(
            n_envs,
            market.device,
            scale,
            decay=decay,
            init_std=_number(reward_cfg, "init_std", 0.01, low=1e-8),
            min_var=_number(reward_cfg, "min_var", 1e-8, low=1e-12),
            clip=_number(reward_cfg, "clip", 10.0, low=1e-6),
        )
    horizon = reward_cfg.get("horizon", 5)
    if isinstance(horizon, bool) or not isinstance(horizon, int) or horizon < 1:
        raise ConfigError("reward.horizon", f"must be a positive integer, got {horizon!r}")
    if name == "buy_bonus":
        return BuyBonusReward(
            n_envs,
            market,
            scale,
            horizon=horizon,
            good_buy=_number(reward_cfg, "good_buy", 5.0, low=0.0),
            bad_buy=_number(reward_cfg, "bad_buy", 2.0, low=0.0),
        )
    return TimingReward(
        n_envs,
        market,
        scale,
        horizon=horizon,
        weight=_number(reward_cfg, "weight", 0.01, low=0.0),
        ret_scale=_number(reward_cfg, "ret_scale", 0.02, low=1e-8),
    )
