"""make_env: the one way training, evaluation and backtests build a TradingEnv."""

from __future__ import annotations

from omegaconf import DictConfig

from ploutos.env.actions import make_action_space
from ploutos.env.engine import TradingEnv
from ploutos.env.params import EnvParams
from ploutos.errors import ConfigError
from ploutos.market import Market
from ploutos.obs.builders import ObsBuilder, make_obs_builder
from ploutos.rewards.factory import make_reward


def make_env(
    cfg: DictConfig,
    market: Market,
    n_envs: int,
    split: str = "train",
    seed: int = 0,
    evaluation: bool = False,
    obs_builder: ObsBuilder | None = None,
) -> TradingEnv:
    """Build N envs over `market` from the root config's env, obs and reward groups.

    evaluation=True: every env runs the whole split once from its first tradable day, and a
    reward that looks ahead is refused (it would leak future prices into the evaluation).
    obs_builder: a ready builder over `market` for cfg.obs (shared with a policy's caller).
    """
    if not isinstance(n_envs, int) or n_envs < 1:
        raise ConfigError("algo.n_envs", f"must be a positive integer, got {n_envs!r}")
    params = EnvParams.from_config(cfg.env)
    builder = make_obs_builder(cfg.obs, market) if obs_builder is None else obs_builder
    reward = make_reward(cfg.reward, market, n_envs)
    if evaluation and reward.looks_ahead:
        raise ConfigError(
            "reward.name",
            f"'{cfg.reward.name}' looks ahead at future prices; evaluation needs a causal "
            "reward such as pnl",
        )
    space = make_action_space(params.action_mode, market.n_assets).bind(market, cfg.env)
    return TradingEnv(
        market, params, builder, reward, n_envs, market.split(split), seed, evaluation, space
    )
