"""A2C: its one update step against a hand computation, and its config checks."""

from __future__ import annotations

import copy
import math

import pytest
import torch
from conftest import compose_config, make_toy_market

from ploutos.algos.a2c import A2C
from ploutos.errors import ConfigError


def a2c_cfg(*overrides: str):
    """conf/algo/a2c.yaml on v6 + mlp at toy sizes (the market is passed in, not built)."""
    return compose_config(
        "train",
        [
            "algo=a2c", "obs=v6", "model=mlp", "reward=pnl", "seed=5",
            "total_timesteps=1000", "ent_coef=0.01", "env.episode_days=12",
            "model.hidden_sizes=[16,16]", "algo.n_envs=8", *overrides,
        ],
    )  # fmt: skip


def test_defaults_are_sb3s():
    a = a2c_cfg().algo
    assert (a.n_steps, a.learning_rate, a.gae_lambda, a.vf_coef, a.max_grad_norm) == (
        5,
        7e-4,
        1.0,
        0.5,
        0.5,
    )
    assert (a.rms_prop_alpha, a.rms_prop_eps, a.norm_adv) == (0.99, 1e-5, False)


def test_update_equals_a_hand_computed_rmsprop_step():
    module = A2C(a2c_cfg(), make_toy_market(n_days=120))
    optimizer = module.configure_optimizers()
    advantages, returns = module.collect_rollout()
    obs, actions, _, _ = module.buffer.flat()
    before = copy.deepcopy(module.policy)

    # By hand: log-probs and entropy from torch.distributions, SB3's loss, global-norm
    # clipping, then RMSprop's first step from zero state: v = (1 - alpha) g^2,
    # p <- p - lr g / (sqrt(v) + eps).
    builder = module.env.obs_builder
    params, value = before.body.decide(before.encode_market(builder, obs.day), obs.portfolio)
    cat = torch.distributions.Categorical(logits=params.reshape(-1, 4, 3))
    logprob = cat.log_prob(actions).sum(dim=1)
    entropy = cat.entropy().sum(dim=1)
    adv, ret = advantages.flatten(), returns.flatten()
    loss = -(adv * logprob).mean() + 0.5 * ((ret - value) ** 2).mean() - 0.01 * entropy.mean()
    named = list(before.named_parameters())
    grads = torch.autograd.grad(loss, [p for _, p in named], allow_unused=True)
    grads = [
        torch.zeros_like(p) if g is None else g for (_, p), g in zip(named, grads, strict=True)
    ]
    norm = torch.sqrt(sum((g**2).sum() for g in grads))
    scale = min(1.0, 0.5 / (float(norm) + 1e-6))
    expected = {}
    for (name, p), g in zip(named, grads, strict=True):
        g = g * scale
        v = (1 - 0.99) * g**2
        expected[name] = p.detach() - 7e-4 * g / (v.sqrt() + 1e-5)

    stats = module.update(optimizer, advantages, returns)
    assert float(stats["grad_norm"]) == pytest.approx(float(norm), rel=1e-5)
    value_loss = float(((ret - value) ** 2).mean().detach())
    assert float(stats["value_loss"]) == pytest.approx(value_loss, rel=1e-5)
    moved = 0
    for name, p in module.policy.named_parameters():
        torch.testing.assert_close(p.detach(), expected[name], rtol=1e-5, atol=1e-7)
        moved += int(not torch.equal(p.detach(), dict(before.named_parameters())[name]))
    assert moved > 4  # a real step, not a no-op


def test_iteration_counts_five_steps_per_env_and_learns_values():
    module = A2C(a2c_cfg(), make_toy_market(n_days=120))
    optimizer = module.configure_optimizers()
    stats = [module.run_iteration(optimizer) for _ in range(3)]
    assert module.env_steps == 3 * 8 * 5 and module.n_iterations == 25  # ceil(1000 / 40)
    assert stats[-1]["lr"] == 7e-4  # constant schedule
    # A fresh head is near uniform over hold/buy/sell for each of the 4 assets.
    assert stats[0]["entropy"] == pytest.approx(4 * math.log(3), rel=2e-3)


def test_bad_rmsprop_alpha_names_the_key():
    with pytest.raises(ConfigError, match="^algo.rms_prop_alpha:"):
        A2C.validate_config(a2c_cfg("algo.rms_prop_alpha=1.0").algo)
