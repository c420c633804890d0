"""SAC for target weights (env.action_mode=weights): squashed Gaussian actor over the A + 1
logits, twin Q critics with polyak-averaged targets, automatic entropy tuning
(ploutos.models.sac holds the networks). CleanRL's defaults: policy lr 3e-4, Q lr 1e-3,
batch 256, tau 0.005, target entropy -(A + 1), alpha from 1.

Per gradient step, on a replayed batch (n-step returns as DQN's, n_step 1 by default):

    y       = G + gamma^m * (min_i Q'_i(s', a') - alpha * log pi(a'|s')),  a' ~ pi(s')
    L_Q     = sum_i mean(w * (Q_i(s, a) - y)^2)
    L_pi    = mean(alpha * log pi(a~|s) - min_i Q_i(s, a~)),               a~ ~ pi(s)
    L_alpha = mean(-alpha * (log pi(a~|s) + target_entropy))

with w the importance weights (all 1 under uniform replay, the default). Discrete actions
are refused (a discrete SAC is not built): use algo=dqn, ppo or a2c for them.
"""

from __future__ import annotations

import copy
import math

import torch
from omegaconf import DictConfig

from ploutos.algos.config import positive_floats
from ploutos.algos.off_policy import OffPolicyAlgorithm
from ploutos.algos.optim import adam
from ploutos.errors import ConfigError
from ploutos.models.sac import BatchMarket, SquashedGaussianPolicy
from ploutos.obs.compact import CompactObs


class SAC(OffPolicyAlgorithm):
    name = "sac"

    @classmethod
    def validate_config(cls, algo: DictConfig) -> None:
        super().validate_config(algo)
        positive_floats(
            algo, ("policy_learning_rate", "q_learning_rate", "action_scale", "init_alpha")
        )
        if algo.get("policy") != "squashed_gaussian":
            raise ConfigError(
                "algo.policy", f"sac trains 'squashed_gaussian', got {algo.get('policy')!r}"
            )

    def build_policy(self) -> SquashedGaussianPolicy:
        policy = super().build_policy()
        self.target_critics = copy.deepcopy(policy.critics).requires_grad_(False)
        self.log_alpha = torch.nn.Parameter(
            torch.tensor(math.log(float(self.cfg.algo.init_alpha)), device=self.env.device)
        )
        self.target_entropy = -float(policy.action_space.shape[0])
        return policy

    def actor_parameters(self) -> list[torch.nn.Parameter]:
        critics = {id(p) for p in self.policy.critics.parameters()}
        return [p for p in self.policy.parameters() if id(p) not in critics]

    def configure_optimizers(self) -> list[torch.optim.Optimizer]:
        a = self.hp
        return [
            adam(self.policy.critics.parameters(), float(a.q_learning_rate)),
            adam(self.actor_parameters(), float(a.policy_learning_rate)),
            adam([self.log_alpha], float(a.q_learning_rate)),
        ]

    def behaviour_actions(self, obs: CompactObs) -> torch.Tensor:
        if len(self.replay) < int(self.hp.learning_starts):
            scale = self.policy.action_scale
            shape = (obs.day.shape[0], *self.policy.action_space.shape)
            return (torch.rand(shape, device=obs.day.device) * 2.0 - 1.0) * scale
        return self.policy.sample(obs, self.env.obs_builder)[0]

    def gradient_step(self, optimizers, beta: float) -> dict[str, torch.Tensor]:
        q_opt, pi_opt, alpha_opt = optimizers
        a, policy, builder = self.hp, self.policy, self.env.obs_builder
        batch, slots, weights = self.replay.sample(int(a.batch_size), beta)
        # The actor and the critics read the same days: render each batch's market once.
        market, next_market = (BatchMarket(builder, o.day) for o in (batch.obs, batch.next_obs))
        alpha = self.log_alpha.detach().exp()
        with torch.no_grad():
            next_actions, next_logp = policy.sample(batch.next_obs, builder, next_market)
            next_q = policy.q_values(
                batch.next_obs, builder, next_actions, self.target_critics, next_market
            )
            targets = batch.returns + batch.discounts * (next_q.amin(dim=0) - alpha * next_logp)
        q = policy.q_values(batch.obs, builder, batch.actions, market=market)  # [2, B]
        q_loss = (weights * (q - targets).square()).mean(dim=1).sum()
        q_opt.zero_grad(set_to_none=True)
        self.backward_loss(q_loss)
        self.check_finite({"q_loss": q_loss})
        q_opt.step()

        # The actor's loss reaches the critics only through the action. With their weights
        # frozen, its backward skips their weight gradients (which q_opt.zero_grad discards
        # unused) and their market encoders: the same actor gradients, for less work.
        policy.critics.requires_grad_(False)
        try:
            actions, logp = policy.sample(batch.obs, builder, market)
            q_pi = policy.q_values(batch.obs, builder, actions, market=market).amin(dim=0)
            policy_loss = (alpha * logp - q_pi).mean()
            pi_opt.zero_grad(set_to_none=True)
            self.backward_loss(policy_loss)
        finally:
            policy.critics.requires_grad_(True)
        self.check_finite({"policy_loss": policy_loss})
        pi_opt.step()

        alpha_loss = (-self.log_alpha.exp() * (logp.detach() + self.target_entropy)).mean()
        alpha_opt.zero_grad(set_to_none=True)
        self.backward_loss(alpha_loss)
        alpha_opt.step()

        self.replay.update_priorities(slots, (q.detach() - targets).abs().mean(dim=0))
        if (self.gradient_step_count + 1) % int(a.target_update_interval) == 0:
            self.soft_update(self.target_critics, policy.critics, float(a.tau))
        return {
            "q_loss": q_loss.detach(),
            "policy_loss": policy_loss.detach(),
            "alpha": alpha,
            "entropy": -logp.detach().mean(),
            "q_mean": q.detach().mean(),
        }
