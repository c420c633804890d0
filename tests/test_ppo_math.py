"""GAE and the PPO loss against values worked out by hand on tiny batches."""

from __future__ import annotations

import math

import pytest
import torch

from ploutos.algos.gae import bootstrap_values, compute_gae
from ploutos.algos.on_policy import explained_variance
from ploutos.algos.ppo import ppo_loss


def _tiny_rollout():
    # S = 3 steps, N = 2 envs. Env 0 is truncated at t=1 (final obs worth 4.0);
    # env 1 terminates at t=0 (its final value 9.0 must be ignored).
    rewards = torch.tensor([[1.0, 0.0], [2.0, 1.0], [3.0, -1.0]])
    values = torch.tensor([[0.5, 1.0], [1.0, 1.0], [1.5, 1.0]])
    last_value = torch.tensor([2.0, 3.0])
    final_values = torch.tensor([[0.0, 9.0], [4.0, 0.0], [0.0, 0.0]])
    terminated = torch.tensor([[False, True], [False, False], [False, False]])
    truncated = torch.tensor([[False, False], [True, False], [False, False]])
    return rewards, values, last_value, final_values, terminated, truncated


def test_bootstrap_values_by_hand():
    _, values, last_value, final_values, terminated, truncated = _tiny_rollout()
    next_values = bootstrap_values(values, last_value, final_values, terminated, truncated)
    assert next_values.tolist() == [[1.0, 0.0], [4.0, 1.0], [2.0, 3.0]]


def test_gae_by_hand_with_a_truncation_and_a_termination():
    rewards, values, last_value, final_values, terminated, truncated = _tiny_rollout()
    next_values = bootstrap_values(values, last_value, final_values, terminated, truncated)
    adv, ret = compute_gae(rewards, values, next_values, terminated | truncated, 0.5, 0.5)
    # gamma = 0.5, gamma * lambda = 0.25.
    # env 0: deltas 1 + .5*1 - .5 = 1, 2 + .5*4 - 1 = 3, 3 + .5*2 - 1.5 = 2.5;
    #        A2 = 2.5, A1 = 3 (episode ends at t=1), A0 = 1 + .25*3 = 1.75.
    # env 1: deltas 0 + 0 - 1 = -1, 1 + .5*1 - 1 = .5, -1 + .5*3 - 1 = -.5;
    #        A2 = -.5, A1 = .5 + .25*(-.5) = .375, A0 = -1 (terminated at t=0).
    expected_adv = torch.tensor([[1.75, -1.0], [3.0, 0.375], [2.5, -0.5]])
    torch.testing.assert_close(adv, expected_adv)
    torch.testing.assert_close(ret, expected_adv + values)


def test_gae_with_lambda_one_is_the_discounted_return_minus_value():
    torch.manual_seed(0)
    rewards, values = torch.randn(5, 3), torch.randn(5, 3)
    last_value = torch.randn(3)
    no = torch.zeros(5, 3, dtype=torch.bool)
    next_values = bootstrap_values(values, last_value, torch.zeros(5, 3), no, no)
    adv, ret = compute_gae(rewards, values, next_values, no, 0.9, 1.0)
    expected = last_value.clone()
    for t in range(4, -1, -1):
        expected = rewards[t] + 0.9 * expected
        torch.testing.assert_close(ret[t], expected)


def _loss_inputs():
    return dict(
        new_logprob=torch.tensor([math.log(1.5), math.log(0.5)]),
        old_logprob=torch.zeros(2),
        advantages=torch.tensor([1.0, -2.0]),
        new_value=torch.tensor([1.0, 0.0]),
        old_value=torch.tensor([0.5, 0.5]),
        returns=torch.tensor([2.0, 0.0]),
        entropy=torch.tensor([1.0, 3.0]),
    )


def test_ppo_loss_by_hand_with_clipped_value_loss():
    loss, stats = ppo_loss(
        **_loss_inputs(), clip_coef=0.2, clip_vloss=True, vf_coef=0.5, ent_coef=0.1, norm_adv=False
    )
    # ratios 1.5, 0.5. Surrogate: max(-1*1.5, -1*1.2) = -1.2; max(2*0.5, 2*0.8) = 1.6.
    assert stats["policy_loss"].item() == pytest.approx(0.2)
    # Clipped values 0.5 +- 0.2 -> 0.7, 0.3: max((1-2)^2, (0.7-2)^2) = 1.69,
    # max(0, 0.3^2) = 0.09; 0.5 * mean = 0.445.
    assert stats["value_loss"].item() == pytest.approx(0.445)
    assert stats["entropy"].item() == pytest.approx(2.0)
    assert loss.item() == pytest.approx(0.2 - 0.1 * 2.0 + 0.5 * 0.445)
    kl = ((0.5 - math.log(1.5)) + (-0.5 - math.log(0.5))) / 2
    assert stats["approx_kl"].item() == pytest.approx(kl, rel=1e-6)
    assert stats["clip_fraction"].item() == 1.0


def test_ppo_loss_unclipped_value_and_normalized_advantages():
    loss, stats = ppo_loss(
        **_loss_inputs(), clip_coef=0.2, clip_vloss=False, vf_coef=0.5, ent_coef=0.0, norm_adv=True
    )
    # Advantages [1, -2] normalize to [+a, -a] with a = 1.5 / std([1, -2]) = 1 / sqrt(2).
    a = 1.5 / (math.sqrt(4.5) + 1e-8)
    pg = (max(-a * 1.5, -a * 1.2) + max(a * 0.5, a * 0.8)) / 2
    assert stats["policy_loss"].item() == pytest.approx(pg, abs=1e-6)
    assert stats["value_loss"].item() == pytest.approx(0.25)
    assert loss.item() == pytest.approx(pg + 0.125, abs=1e-6)


def test_ppo_loss_gradient_vanishes_outside_the_clip_range():
    inputs = _loss_inputs()
    inputs["new_logprob"] = inputs["new_logprob"].clone().requires_grad_(True)
    loss, _ = ppo_loss(
        **inputs, clip_coef=0.2, clip_vloss=False, vf_coef=0.0, ent_coef=0.0, norm_adv=False
    )
    loss.backward()
    # Both ratios sit past the clip on the side the advantage favours: no policy gradient.
    assert inputs["new_logprob"].grad.tolist() == [0.0, 0.0]


def test_explained_variance():
    returns = torch.tensor([1.0, 2.0, 3.0, 4.0])
    assert explained_variance(returns, returns).item() == pytest.approx(1.0)
    assert explained_variance(torch.zeros(4), returns).item() == pytest.approx(0.0)
    assert math.isnan(explained_variance(torch.zeros(3), torch.ones(3)).item())
