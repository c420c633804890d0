"""The plan-B presets compose as the issue names them, and the shaped reward pays +5 per
good buy and -2 per bad buy (by hand) and is refused in evaluation."""

from __future__ import annotations

import pytest
import torch
from conftest import compose_config, make_toy_market
from omegaconf import OmegaConf

from ploutos.env import make_env
from ploutos.errors import ConfigError
from ploutos.rewards.base import StepOutcome
from ploutos.rewards.factory import make_reward


def test_presets_compose():
    simple = compose_config("train", ["experiment=v7_simple"])
    assert list(simple.data.tickers) == ["AAPL"] and simple.features.name == "minimal"
    assert simple.reward.name == "pnl" and simple.total_timesteps == 10_000_000
    shaped = compose_config("train", ["experiment=v6_shaped"])
    assert (shaped.reward.name, shaped.reward.good_buy, shaped.reward.bad_buy) == (
        "buy_bonus",
        5.0,
        2.0,
    )
    hybrid = compose_config("train", ["experiment=hybrid_vol_target", "algo=dqn"])
    assert hybrid.env.action_mode == "vol_target" and hybrid.env.sizing.sigma_target == 0.10


def test_buy_bonus_by_hand_and_refused_in_evaluation():
    market = make_toy_market(n_days=60, n_assets=3)
    cfg = compose_config("train", ["reward=buy_bonus"]).reward
    reward = make_reward(cfg, market, n_envs=1)
    fill_day = torch.tensor([30])
    later = market.close[35]
    # Asset 0 bought below its close 5 days later (good), asset 1 above it (bad), 2 not bought.
    fill_price = torch.stack((later[0] * 0.99, later[1] * 1.01, later[2] * 0.5)).unsqueeze(0)
    step = StepOutcome(
        prev_equity=torch.tensor([100.0], dtype=torch.float64),
        equity=torch.tensor([101.0], dtype=torch.float64),
        prev_peak=torch.tensor([100.0], dtype=torch.float64),
        peak=torch.tensor([101.0], dtype=torch.float64),
        fill_day=fill_day,
        fill_price=fill_price.to(torch.float64),
        buy_mask=torch.tensor([[True, True, False]]),
        sell_mask=torch.zeros((1, 3), dtype=torch.bool),
        last_day=59,
    )
    expected = 100.0 * torch.log(torch.tensor(1.01, dtype=torch.float64)) + 5.0 - 2.0
    assert float(reward(step)[0]) == pytest.approx(float(expected), rel=1e-6)
    root = OmegaConf.create(
        {"env": {"action_mode": "discrete"}, "obs": {"name": "v6"}, "reward": cfg}
    )
    with pytest.raises(ConfigError, match="^reward.name:.*looks ahead"):
        make_env(root, market, 1, split="val", evaluation=True)
