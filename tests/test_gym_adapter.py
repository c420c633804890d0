"""Gymnasium adapters: registration, env checkers, vector env over the batched engine."""

from __future__ import annotations

import warnings

import gymnasium as gym
import numpy as np
import pytest
import torch
from conftest import make_toy_market
from gymnasium.utils.env_checker import check_env
from omegaconf import OmegaConf

import ploutos  # noqa: F401  (registers Ploutos-v0)
from ploutos.env import make_env
from ploutos.env.gym import PloutosEnv, PloutosVectorEnv


def cfg(mode: str = "discrete", obs: str = "v6") -> OmegaConf:
    return OmegaConf.create(
        {
            "env": {"action_mode": mode, "episode_days": 15, "min_fee": 1.0},
            "obs": {"name": obs, "lookback": 8},
            "reward": {"name": "pnl", "scale": 100.0},
        }
    )


@pytest.mark.parametrize("obs", ["v6", "v7"])
@pytest.mark.parametrize("mode", ["discrete", "weights"])
def test_gymnasium_checker_passes(obs: str, mode: str) -> None:
    env = gym.make("Ploutos-v0", market=make_toy_market(), cfg=cfg(mode, obs))
    check_env(env.unwrapped, skip_render_check=True)
    obs_, _ = env.reset(seed=3)
    assert obs_.shape == env.observation_space.shape and obs_.dtype == np.float32
    if mode == "discrete":
        assert env.action_space == gym.spaces.MultiDiscrete([3] * 4)
    else:
        assert env.action_space.shape == (5,)


def test_stable_baselines3_accepts_the_env() -> None:
    sb3_checker = pytest.importorskip("stable_baselines3.common.env_checker")
    env = PloutosEnv(market=make_toy_market(), cfg=cfg())
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")  # SB3 advises on unbounded Boxes; that is advice only
        sb3_checker.check_env(env, warn=True)


def test_single_env_episode_matches_the_engine() -> None:
    market = make_toy_market()
    env = PloutosEnv(market=market, cfg=cfg(), seed=4)
    engine = make_env(cfg(), market, 1, seed=4)
    first, _ = env.reset(seed=4)
    start = engine.reset()
    expected = engine.obs_builder.render(start)[0].numpy()
    np.testing.assert_array_equal(first, expected)
    total, done, steps = 0.0, False, 0
    while not done:
        action = np.array([1, 0, 2, 1])
        obs, reward, term, trunc, _ = env.step(action)
        _, r, _, _, _ = engine.step(torch.from_numpy(action[None]))
        assert reward == pytest.approx(r.item())
        total += reward
        done, steps = term or trunc, steps + 1
    assert steps == 15
    # The episode's own last observation: its time left to the split's end, in episode
    # lengths (capped at 1), as the engine defines it in training and evaluation alike.
    final_day = int(start.day.item()) + steps
    assert obs[-1] == pytest.approx(min(1.0, (engine.last_day - final_day) / 15), abs=1e-6)


def test_vector_env_autoresets_in_the_same_step() -> None:
    venv = PloutosVectorEnv(6, market=make_toy_market(), cfg=cfg())
    obs, _ = venv.reset(seed=1)
    assert obs.shape == (6, venv.single_observation_space.shape[0])
    for _ in range(15):
        obs, rew, term, trunc, info = venv.step(venv.action_space.sample())
        assert rew.shape == (6,) and rew.dtype == np.float32
    assert (term | trunc).all() and info["_final_obs"].all()
    # A truncated episode's last state has time left (the split goes on); a terminated one's,
    # at the split's last day, has none.
    left = info["final_obs"][:, -1]
    assert (left[trunc & ~term] == 1.0).all() and (left[term] == 0.0).all()
    np.testing.assert_array_equal(obs[:, -1], np.ones(6, dtype=np.float32))
