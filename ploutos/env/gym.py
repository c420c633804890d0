"""Gymnasium adapters over the batched engine: a single Env and a VectorEnv.

Both step the same TradingEnv (docs/design.md #3); they only convert tensors to
numpy and render the compact observation flat (market part, then portfolio state).
"""

from __future__ import annotations

from typing import Any

import gymnasium as gym
import numpy as np
import torch
from gymnasium import spaces
from gymnasium.vector import AutoresetMode, VectorEnv
from omegaconf import DictConfig

from ploutos.env.engine import TradingEnv
from ploutos.env.factory import make_env
from ploutos.market import Market
from ploutos.obs.compact import CompactObs


def _market(cfg: DictConfig, market: Market | None) -> Market:
    if market is not None:
        return market
    from ploutos.pipeline import build_market

    return build_market(cfg)[0]


def _spaces(env: TradingEnv) -> tuple[spaces.Box, spaces.Space]:
    obs_space = spaces.Box(-np.inf, np.inf, (env.obs_builder.flat_dim,), np.float32)
    return obs_space, env.action_space.gym_space()


def _to_tensor(actions: Any, env: TradingEnv) -> torch.Tensor:
    return env.action_space.from_numpy(actions, env.device)


class PloutosEnv(gym.Env):
    """One trading env over `cfg` (its env, obs and reward groups) and `market`.

    Without `market` it is built from `cfg` by ploutos.pipeline.build_market; the config
    itself comes from the caller (gymnasium.make composes the default: ploutos.apps.gym).
    reset(seed=s) restarts the episode sequence of seed s, so equal seeds give equal episodes.
    """

    metadata = {"render_modes": []}

    def __init__(
        self,
        *,
        cfg: DictConfig,
        market: Market | None = None,
        split: str = "train",
        seed: int = 0,
        evaluation: bool = False,
    ) -> None:
        self.cfg, self.market = cfg, _market(cfg, market)
        self._split, self._evaluation = split, evaluation
        self.engine = self._build(seed)
        self.observation_space, self.action_space = _spaces(self.engine)

    def _build(self, seed: int) -> TradingEnv:
        return make_env(self.cfg, self.market, 1, self._split, seed, self._evaluation)

    def _flat(self, obs: CompactObs) -> np.ndarray:
        return self.engine.obs_builder.render(obs)[0].cpu().numpy()

    def reset(
        self, *, seed: int | None = None, options: dict[str, Any] | None = None
    ) -> tuple[np.ndarray, dict[str, Any]]:
        super().reset(seed=seed)
        if seed is not None:
            self.engine = self._build(seed)
        obs = self.engine.reset()
        return self._flat(obs), {"day": int(obs.day[0])}

    def step(self, action: Any) -> tuple[np.ndarray, float, bool, bool, dict[str, Any]]:
        obs, reward, term, trunc, info = self.engine.step(_to_tensor(action, self.engine)[None])
        done = bool(term[0] | trunc[0])
        if done:  # gymnasium wants the episode's last observation, not the next episode's
            obs = CompactObs(info["final_day"], info["final_portfolio"])
        out = {"equity": float(info["equity"][0]), "day": int(info["day"][0])}
        return self._flat(obs), float(reward[0]), bool(term[0]), bool(trunc[0]), out


class PloutosVectorEnv(VectorEnv):
    """N envs as one gymnasium VectorEnv over the batched engine (same-step autoreset:
    a finished env's last observation is in info["final_obs"])."""

    metadata = {"autoreset_mode": AutoresetMode.SAME_STEP}

    def __init__(
        self,
        num_envs: int,
        *,
        cfg: DictConfig,
        market: Market | None = None,
        split: str = "train",
        seed: int = 0,
    ) -> None:
        self.cfg, self.market = cfg, _market(cfg, market)
        self._split = split
        self.num_envs = num_envs
        self.engine = make_env(self.cfg, self.market, num_envs, split, seed)
        self.single_observation_space, self.single_action_space = _spaces(self.engine)
        self.observation_space = gym.vector.utils.batch_space(
            self.single_observation_space, num_envs
        )
        self.action_space = gym.vector.utils.batch_space(self.single_action_space, num_envs)

    def _flat(self, obs: CompactObs) -> np.ndarray:
        return self.engine.obs_builder.render(obs).cpu().numpy()

    def reset(
        self, *, seed: int | list[int] | None = None, options: dict[str, Any] | None = None
    ) -> tuple[np.ndarray, dict[str, Any]]:
        if seed is not None:
            base = seed if isinstance(seed, int) else seed[0]
            self.engine = make_env(self.cfg, self.market, self.num_envs, self._split, base)
        return self._flat(self.engine.reset()), {}

    def step(
        self, actions: Any
    ) -> tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray, dict[str, Any]]:
        obs, reward, term, trunc, info = self.engine.step(_to_tensor(actions, self.engine))
        done = (term | trunc).cpu().numpy()
        out: dict[str, Any] = {"equity": info["equity"].cpu().numpy()}
        if done.any():
            final = self._flat(CompactObs(info["final_day"], info["final_portfolio"]))
            out["final_obs"] = np.where(done[:, None], final, np.nan).astype(np.float32)
            out["_final_obs"] = done
        return (
            self._flat(obs),
            reward.cpu().numpy(),
            term.cpu().numpy(),
            trunc.cpu().numpy(),
            out,
        )
