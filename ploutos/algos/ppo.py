"""PPO, readable top to bottom as in CleanRL: the clipped objective, then the update.

The rollout (n_steps from N batched envs into a buffer of compact observations) and GAE
come from ploutos.algos.on_policy; this file is what makes it PPO: update_epochs over
minibatches (sample-shuffled, or partitioned by decision day so that an epoch encodes each
distinct day once: see ploutos.algos.minibatches), the clipped surrogate, value loss,
entropy bonus, gradient clipping and the target-KL early stop of the epoch loop.
"""

from __future__ import annotations

import torch
from omegaconf import DictConfig

from ploutos.algos.config import (
    booleans,
    non_negative_floats,
    number,
    positive_floats,
    positive_ints,
)
from ploutos.algos.minibatches import day_minibatches, shuffled_minibatches
from ploutos.algos.on_policy import OnPolicyAlgorithm
from ploutos.algos.optim import adam
from ploutos.errors import ConfigError

LOSS_STATS = ("policy_loss", "value_loss", "entropy", "approx_kl", "clip_fraction")


def ppo_loss(
    new_logprob: torch.Tensor,
    old_logprob: torch.Tensor,
    advantages: torch.Tensor,
    new_value: torch.Tensor,
    old_value: torch.Tensor,
    returns: torch.Tensor,
    entropy: torch.Tensor,
    *,
    clip_coef: float,
    clip_vloss: bool,
    vf_coef: float,
    ent_coef: float,
    norm_adv: bool,
) -> tuple[torch.Tensor, dict[str, torch.Tensor]]:
    """CleanRL's PPO objective on one minibatch: (loss, detached stats)."""
    # A one-sample minibatch (possible with minibatches by day) has no std: SB3's guard.
    if norm_adv and advantages.numel() > 1:
        advantages = (advantages - advantages.mean()) / (advantages.std() + 1e-8)
    log_ratio = new_logprob - old_logprob
    ratio = log_ratio.exp()
    pg_loss = torch.max(
        -advantages * ratio, -advantages * ratio.clamp(1.0 - clip_coef, 1.0 + clip_coef)
    ).mean()
    v_loss_unclipped = (new_value - returns).square()
    if clip_vloss:
        v_clipped = old_value + (new_value - old_value).clamp(-clip_coef, clip_coef)
        v_loss = 0.5 * torch.max(v_loss_unclipped, (v_clipped - returns).square()).mean()
    else:
        v_loss = 0.5 * v_loss_unclipped.mean()
    entropy_mean = entropy.mean()
    loss = pg_loss - ent_coef * entropy_mean + vf_coef * v_loss
    with torch.no_grad():
        stats = {
            "policy_loss": pg_loss.detach(),
            "value_loss": v_loss.detach(),
            "entropy": entropy_mean.detach(),
            "approx_kl": ((ratio - 1.0) - log_ratio).mean(),
            "clip_fraction": ((ratio - 1.0).abs() > clip_coef).float().mean(),
        }
    return loss, stats


class PPO(OnPolicyAlgorithm):
    name = "ppo"

    @classmethod
    def validate_config(cls, algo: DictConfig) -> None:
        super().validate_config(algo)
        positive_ints(algo, ("update_epochs", "num_minibatches"))
        positive_floats(algo, ("clip_coef", "max_grad_norm"))
        non_negative_floats(algo, ("vf_coef", "ent_coef"))
        if algo.get("target_kl") is not None and not number(algo, "target_kl") > 0.0:
            raise ConfigError("algo.target_kl", f"must be > 0 or null, got {algo.target_kl}")
        batch = algo.n_envs * algo.n_steps
        if algo.num_minibatches > batch:
            raise ConfigError(
                "algo.num_minibatches",
                f"must be <= n_envs * n_steps ({batch}), got {algo.num_minibatches}",
            )
        booleans(algo, ("clip_vloss", "norm_adv"), optional=("minibatch_by_day",))

    def configure_optimizers(self) -> torch.optim.Optimizer:
        return adam(self.policy.parameters(), float(self.cfg.algo.learning_rate), eps=1e-5)

    def update(
        self, optimizer: torch.optim.Optimizer, advantages: torch.Tensor, returns: torch.Tensor
    ) -> dict[str, torch.Tensor]:
        a, builder = self.cfg.algo, self.env.obs_builder
        obs, actions, logprobs, values = self.buffer.flat()
        advantages, returns = advantages.flatten(), returns.flatten()
        params = [p for p in self.policy.parameters() if p.requires_grad]
        loss_kwargs = dict(
            clip_coef=float(a.clip_coef),
            clip_vloss=bool(a.clip_vloss),
            vf_coef=float(a.vf_coef),
            ent_coef=float(a.ent_coef),
            norm_adv=bool(a.norm_adv),
        )
        totals = torch.zeros(len(LOSS_STATS) + 1, device=values.device)
        n_minibatches = 0
        by_day = bool(a.get("minibatch_by_day", False))
        for _ in range(int(a.update_epochs)):
            if by_day:
                minibatches = day_minibatches(obs.day, int(a.num_minibatches))
            else:
                minibatches = shuffled_minibatches(
                    self.batch_size, int(a.num_minibatches), values.device
                )
            for idx in minibatches:
                dist, new_value = self.policy(obs.index(idx), builder)
                mb_actions = actions[idx]
                loss, stats = ppo_loss(
                    dist.log_prob(mb_actions),
                    logprobs[idx],
                    advantages[idx],
                    new_value,
                    values[idx],
                    returns[idx],
                    dist.entropy(),
                    **loss_kwargs,
                )
                optimizer.zero_grad(set_to_none=True)
                self.backward_loss(loss)
                grad_norm = torch.nn.utils.clip_grad_norm_(params, float(a.max_grad_norm))
                step_stats = torch.stack((*(stats[k] for k in LOSS_STATS), grad_norm.detach()))
                self.check_finite({"loss": loss, **stats, "grad_norm": grad_norm})
                optimizer.step()
                totals += step_stats
                n_minibatches += 1
            if a.target_kl is not None and self.mean_over_processes(stats["approx_kl"]) > float(
                a.target_kl
            ):
                break
        means = totals / n_minibatches
        out = dict(zip(LOSS_STATS, means[:-1], strict=True))
        # approx KL of the last minibatch, as CleanRL logs it (the early-stop criterion).
        out["approx_kl"] = stats["approx_kl"]
        out["grad_norm"] = means[-1]
        return out
