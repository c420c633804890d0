"""A2C: the shared on-policy rollout with one unclipped gradient step per rollout.

Stable-Baselines3's A2C, on our batched env: n_steps 5 per env, GAE with lambda 1.0 (plain
n-step returns, bootstrapped at the rollout's end and at truncated windows), RMSprop with
alpha 0.99 and eps 1e-5, and

    loss = -mean(log pi(a|s) * A) + vf_coef * mean((R - V(s))^2) - ent_coef * H

with advantages A = R - V taken from the rollout (not normalized, as SB3's default), then
gradient clipping at max_grad_norm. SB3's value loss is F.mse_loss(R, V), with no 0.5.
"""

from __future__ import annotations

import torch
from omegaconf import DictConfig

from ploutos.algos.config import booleans, non_negative_floats, number, positive_floats
from ploutos.algos.on_policy import OnPolicyAlgorithm
from ploutos.errors import ConfigError


def a2c_loss(
    logprob: torch.Tensor,
    advantages: torch.Tensor,
    value: torch.Tensor,
    returns: torch.Tensor,
    entropy: torch.Tensor,
    *,
    vf_coef: float,
    ent_coef: float,
    norm_adv: bool,
) -> tuple[torch.Tensor, dict[str, torch.Tensor]]:
    """(loss, detached stats) of one A2C step over the whole rollout."""
    if norm_adv:
        advantages = (advantages - advantages.mean()) / (advantages.std() + 1e-8)
    policy_loss = -(advantages * logprob).mean()
    value_loss = (returns - value).square().mean()
    entropy_mean = entropy.mean()
    loss = policy_loss + vf_coef * value_loss - ent_coef * entropy_mean
    stats = {
        "policy_loss": policy_loss.detach(),
        "value_loss": value_loss.detach(),
        "entropy": entropy_mean.detach(),
    }
    return loss, stats


class A2C(OnPolicyAlgorithm):
    name = "a2c"

    @classmethod
    def validate_config(cls, algo: DictConfig) -> None:
        super().validate_config(algo)
        non_negative_floats(algo, ("vf_coef", "ent_coef"))
        positive_floats(algo, ("max_grad_norm", "rms_prop_eps"))
        booleans(algo, ("norm_adv",))
        if not 0.0 < number(algo, "rms_prop_alpha") < 1.0:
            raise ConfigError(
                "algo.rms_prop_alpha", f"must be in (0, 1), got {algo.rms_prop_alpha}"
            )

    def configure_optimizers(self) -> torch.optim.Optimizer:
        a = self.cfg.algo
        return torch.optim.RMSprop(
            self.policy.parameters(),
            lr=float(a.learning_rate),
            alpha=float(a.rms_prop_alpha),
            eps=float(a.rms_prop_eps),
            weight_decay=0.0,
        )

    def update(
        self, optimizer: torch.optim.Optimizer, advantages: torch.Tensor, returns: torch.Tensor
    ) -> dict[str, torch.Tensor]:
        a = self.cfg.algo
        obs, actions, _, _ = self.buffer.flat()
        dist, value = self.policy(obs, self.env.obs_builder)
        loss, stats = a2c_loss(
            dist.log_prob(actions),
            advantages.flatten(),
            value,
            returns.flatten(),
            dist.entropy(),
            vf_coef=float(a.vf_coef),
            ent_coef=float(a.ent_coef),
            norm_adv=bool(a.norm_adv),
        )
        optimizer.zero_grad(set_to_none=True)
        self.backward_loss(loss)
        grad_norm = torch.nn.utils.clip_grad_norm_(self.policy.parameters(), float(a.max_grad_norm))
        stats["grad_norm"] = grad_norm.detach()
        self.check_finite({"loss": loss, **stats})
        optimizer.step()
        return stats
