"""REINFORCE with a value baseline: the smallest on-policy learner, and the proof that an
algorithm is one module plus one YAML (conf/algo/reinforce.yaml).

Each iteration: the shared rollout with GAE at lambda 1 (Monte-Carlo returns, bootstrapped
only where an episode window was truncated), then ONE gradient step on the whole batch:

    loss = -mean(log pi(a|s) * (G - V(s))) + vf_coef * mean((G - V(s))^2) - ent_coef * H
"""

from __future__ import annotations

import torch
from omegaconf import DictConfig

from ploutos.algos.config import non_negative_floats, positive_floats
from ploutos.algos.on_policy import OnPolicyAlgorithm
from ploutos.algos.optim import adam


class Reinforce(OnPolicyAlgorithm):
    name = "reinforce"

    @classmethod
    def validate_config(cls, algo: DictConfig) -> None:
        super().validate_config(algo)
        non_negative_floats(algo, ("vf_coef", "ent_coef"))
        positive_floats(algo, ("max_grad_norm",))

    def configure_optimizers(self) -> torch.optim.Optimizer:
        return adam(self.policy.parameters(), float(self.cfg.algo.learning_rate))

    def update(
        self, optimizer: torch.optim.Optimizer, advantages: torch.Tensor, returns: torch.Tensor
    ) -> dict[str, torch.Tensor]:
        a = self.cfg.algo
        obs, actions, _, _ = self.buffer.flat()
        returns = returns.flatten()
        dist, value = self.policy(obs, self.env.obs_builder)
        baseline_advantage = (returns - value).detach()
        policy_loss = -(dist.log_prob(actions) * baseline_advantage).mean()
        value_loss = (returns - value).square().mean()
        entropy = dist.entropy().mean()
        loss = policy_loss + float(a.vf_coef) * value_loss - float(a.ent_coef) * entropy
        optimizer.zero_grad(set_to_none=True)
        self.backward_loss(loss)
        grad_norm = torch.nn.utils.clip_grad_norm_(self.policy.parameters(), float(a.max_grad_norm))
        stats = {
            "policy_loss": policy_loss.detach(),
            "value_loss": value_loss.detach(),
            "entropy": entropy.detach(),
            "grad_norm": grad_norm.detach(),
        }
        self.check_finite({"loss": loss, **stats})
        optimizer.step()
        return stats
