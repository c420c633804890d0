"""SAC on target weights: valid weights, the temperature moving toward its entropy target,
the squashed log-prob, resume with the replay buffer, and the action-mode check."""

from __future__ import annotations

import io

import pytest
import torch
from conftest import compose_config, make_toy_market

from ploutos.algos.sac import SAC
from ploutos.errors import ConfigError
from ploutos.models.policy import Policy
from ploutos.models.sac import BatchMarket
from ploutos.obs.compact import CompactObs


def sac_cfg(*overrides: str):
    """conf/algo/sac.yaml on env=weights, v6 + mlp at toy sizes (the market is passed in)."""
    return compose_config(
        "train",
        [
            "algo=sac", "env=weights", "obs=v6", "model=mlp", "reward=pnl", "seed=11",
            "total_timesteps=4000", "ent_coef=0.0", "env.episode_days=20",
            "model.hidden_sizes=[16,16]", "algo.n_envs=8", "algo.n_steps=4",
            "algo.buffer_size=500", "algo.learning_starts=64", "algo.batch_size=32",
            *overrides,
        ],
    )  # fmt: skip


def test_policy_gives_valid_target_weights_and_a_squashed_log_prob():
    module = SAC(sac_cfg(), make_toy_market(n_days=120))
    policy, builder, obs = module.policy, module.env.obs_builder, module.next_obs
    assert isinstance(policy, Policy)
    weights = policy.action_probs(obs, builder)
    assert weights.shape == (8, 5) and bool((weights >= 0).all())
    assert torch.allclose(weights.sum(-1), torch.ones(8))
    actions = policy.act(obs, builder)
    assert float(actions.abs().max()) <= 3.0
    # log pi of a squashed sample, by torch.distributions: Normal + tanh + scale transforms.
    torch.manual_seed(0)
    sample, logp = policy.sample(obs, builder)
    mean = policy.body.decide(policy.encode_market(builder, obs.day), obs.portfolio)[0]
    dist = torch.distributions.TransformedDistribution(
        torch.distributions.Normal(mean, policy.log_std.exp()),
        [torch.distributions.TanhTransform(), torch.distributions.AffineTransform(0.0, 3.0)],
    )
    expected = dist.log_prob(sample.clamp(-3 + 1e-5, 3 - 1e-5)).sum(-1)
    assert torch.allclose(logp, expected, atol=2e-3)
    assert policy.value(obs, builder).shape == (8,)


def test_temperature_moves_toward_the_entropy_target():
    module = SAC(sac_cfg(), make_toy_market(n_days=120))
    optimizers = module.configure_optimizers()
    stats = [module.run_iteration(optimizers) for _ in range(6)]
    # The initial policy's entropy (std e^-0.5 per logit) is far above -(A + 1) = -5.
    assert stats[-1]["entropy"] > module.target_entropy
    assert stats[-1]["alpha"] < stats[2]["alpha"] < 1.0


def test_resume_with_the_replay_buffer_matches_a_straight_run():
    market = make_toy_market(n_days=120)
    straight = SAC(sac_cfg(), market)
    optimizers = straight.configure_optimizers()
    for _ in range(3):
        straight.run_iteration(optimizers)
    saved = {
        "state_dict": straight.state_dict(),
        "optimizers": [o.state_dict() for o in optimizers],
    }
    straight.on_save_checkpoint(saved)
    buffer = io.BytesIO()
    torch.save(saved, buffer)
    expected = [straight.run_iteration(optimizers) for _ in range(2)]

    buffer.seek(0)
    loaded = torch.load(buffer, weights_only=True)
    torch.manual_seed(99)
    resumed = SAC(sac_cfg(), market)
    resumed.load_state_dict(loaded["state_dict"])
    resumed_optimizers = resumed.configure_optimizers()
    for opt, state in zip(resumed_optimizers, loaded["optimizers"], strict=True):
        opt.load_state_dict(state)
    resumed.on_load_checkpoint(loaded)
    got = [resumed.run_iteration(resumed_optimizers) for _ in range(2)]
    for a, b in zip(expected, got, strict=True):
        for key in ("q_loss", "policy_loss", "alpha", "replay_size"):
            assert a[key] == b[key], key
    assert torch.equal(resumed.log_alpha, straight.log_alpha)


class CountingBuilder:
    """An obs builder that counts its market renderings."""

    def __init__(self, builder) -> None:
        self.builder, self.renders = builder, 0

    def __getattr__(self, name: str):
        return getattr(self.builder, name)

    def market_view(self, days: torch.Tensor) -> torch.Tensor:
        self.renders += 1
        return self.builder.market_view(days)


def test_a_shared_batch_market_renders_once_and_encodes_as_each_network_would():
    module = SAC(sac_cfg(), make_toy_market(n_days=120))
    policy = module.policy
    builder = CountingBuilder(module.env.obs_builder)
    day = torch.tensor([30, 31, 30, 45, 31, 50, 45, 30])
    obs = CompactObs(day, module.next_obs.portfolio)
    actions = torch.randn(8, 5)
    market = BatchMarket(builder, day)
    targets = module.target_critics

    def evaluate(market: BatchMarket | None) -> list[torch.Tensor]:
        torch.manual_seed(5)
        return [
            *policy.sample(obs, builder, market),
            policy.q_values(obs, builder, actions, None, market),
            policy.q_values(obs, builder, actions, targets, market),
        ]

    shared = evaluate(market)
    assert builder.renders == 1  # five networks' encodings, one rendering of 4 distinct days
    alone = evaluate(None)
    assert builder.renders == 6
    assert all(torch.equal(a, b) for a, b in zip(shared, alone, strict=True))
    with pytest.raises(ValueError, match="its own distinct days"):
        market.market_view(torch.tensor([30, 31]))


def test_sac_refuses_discrete_actions():
    with pytest.raises(ConfigError, match="^env.action_mode:.*squashed_gaussian"):
        SAC(sac_cfg("env.action_mode=discrete"), make_toy_market(n_days=120))
