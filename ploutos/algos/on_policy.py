"""The on-policy machinery PPO, A2C and REINFORCE share: rollout buffer, rollout, GAE.

One iteration collects n_steps from N batched envs under no_grad into a device-resident
buffer of COMPACT observations (day index + portfolio state), computes GAE that bootstraps
truncated episodes and not terminated ones, then hands advantages and returns to the
subclass's `update`. The rollout loop has no host sync per step.
"""

from __future__ import annotations

import time
from contextlib import nullcontext

import torch
from omegaconf import DictConfig

from ploutos.algos.base import Algorithm
from ploutos.algos.config import booleans, positive_floats, unit_interval
from ploutos.algos.gae import bootstrap_values, compute_gae
from ploutos.env import CompactObs


def explained_variance(values: torch.Tensor, returns: torch.Tensor) -> torch.Tensor:
    """1 - Var(returns - values) / Var(returns); NaN when the returns are constant."""
    var = returns.var()
    return torch.where(var > 0, 1.0 - (returns - values).var() / var, torch.nan)


class RolloutBuffer:
    """[n_steps, N] tensors on the env's device; observations stay compact."""

    def __init__(
        self,
        n_steps: int,
        n_envs: int,
        portfolio_dim: int,
        action_shape: tuple[int, ...],
        action_dtype: torch.dtype,
        device: torch.device,
    ) -> None:
        s, n, f32 = n_steps, n_envs, torch.float32
        self.day = torch.zeros((s, n), dtype=torch.int64, device=device)
        self.portfolio = torch.zeros((s, n, portfolio_dim), dtype=f32, device=device)
        self.actions = torch.zeros((s, n, *action_shape), dtype=action_dtype, device=device)
        self.logprobs = torch.zeros((s, n), dtype=f32, device=device)
        self.values = torch.zeros((s, n), dtype=f32, device=device)
        self.rewards = torch.zeros((s, n), dtype=f32, device=device)
        self.terminated = torch.zeros((s, n), dtype=torch.bool, device=device)
        self.truncated = torch.zeros((s, n), dtype=torch.bool, device=device)
        self.final_day = torch.zeros((s, n), dtype=torch.int64, device=device)
        self.final_portfolio = torch.zeros((s, n, portfolio_dim), dtype=f32, device=device)

    def flat(self) -> tuple[CompactObs, torch.Tensor, torch.Tensor, torch.Tensor]:
        """(observations, actions, log-probs, values) over all n_steps * N samples."""
        obs = CompactObs(self.day.flatten(), self.portfolio.flatten(0, 1))
        return obs, self.actions.flatten(0, 1), self.logprobs.flatten(), self.values.flatten()


class OnPolicyAlgorithm(Algorithm):
    """Rollout + GAE per iteration; the subclass's `update` turns them into optimizer steps."""

    @classmethod
    def validate_config(cls, algo: DictConfig) -> None:
        super().validate_config(algo)
        unit_interval(algo, ("gamma", "gae_lambda"))
        positive_floats(algo, ("learning_rate",))
        booleans(algo, ("anneal_lr",))

    def on_env_attached(self) -> None:
        env = self.env
        # Every day a rollout can observe: decision days and final (bootstrap) days of the split.
        self.rollout_days = torch.arange(env.first_day, env.split.stop, device=env.device)
        # A table of all those days pays off once the rollout has more steps than days.
        self.use_table = len(self.rollout_days) < self.batch_size
        self.buffer = RolloutBuffer(
            self.n_steps,
            self.n_envs,
            env.obs_builder.portfolio_dim,
            env.action_space.shape,
            env.action_space.dtype,
            env.device,
        )

    def update(
        self, optimizer: torch.optim.Optimizer, advantages: torch.Tensor, returns: torch.Tensor
    ) -> dict[str, torch.Tensor]:
        """Optimizer steps on the filled buffer; returns 0-d stat tensors."""
        raise NotImplementedError

    def learning_rate(self) -> float:
        """algo.learning_rate, decayed linearly to 0 over the run when anneal_lr is set."""
        a = self.cfg.algo
        lr = float(a.learning_rate)
        if a.anneal_lr:
            lr *= max(0.0, 1.0 - self.iterations / self.n_iterations)
        return lr

    def train_iteration(
        self, optimizer: torch.optim.Optimizer
    ) -> dict[str, torch.Tensor | float]:
        started = time.perf_counter()
        lr = self.learning_rate()
        for group in optimizer.param_groups:
            group["lr"] = lr
        self.policy.train()
        advantages, returns = self.collect_rollout()
        # The rollout ends with a host sync (truncated-episode lookup), so this split is honest.
        rolled_out = time.perf_counter()
        stats: dict[str, torch.Tensor | float] = dict(self.update(optimizer, advantages, returns))
        stats["explained_variance"] = explained_variance(
            self.buffer.values.flatten(), returns.flatten()
        )
        stats["episode_return"], stats["episode_length"] = self.episode_stats.unbind()
        stats.update(
            lr=lr,
            rollout_seconds=rolled_out - started,
            update_seconds=time.perf_counter() - rolled_out,
        )
        return stats

    @torch.no_grad()
    def collect_rollout(self) -> tuple[torch.Tensor, torch.Tensor]:
        """Fill the buffer with n_steps of every env; (advantages, returns) [n_steps, N]."""
        builder = self.env.obs_builder
        use_table = self.use_table and self.policy.unique_days
        days, table_days = self.next_obs.day, self.rollout_days
        # The table is indexed by day - first day: a day outside it would read another day's
        # encoding (or wrap around) without a word. Envs only visit the split's days, so this
        # guards restored state; one host sync per iteration, outside the step loop.
        if use_table and bool(((days < table_days[0]) | (days > table_days[-1])).any()):
            raise IndexError(
                f"rollout starts on days {int(days.min())}..{int(days.max())}, outside the "
                f"training split's observable days {int(table_days[0])}..{int(table_days[-1])}"
            )
        table = self.policy.market_table(builder, self.rollout_days) if use_table else None
        with table or nullcontext():
            return self._rollout_steps(self.next_obs)

    def _rollout_steps(self, obs: CompactObs) -> tuple[torch.Tensor, torch.Tensor]:
        a, b, env, policy = self.cfg.algo, self.buffer, self.env, self.policy
        builder = env.obs_builder
        n_done = torch.zeros((), dtype=torch.float64, device=env.device)
        sums = torch.zeros(2, dtype=torch.float64, device=env.device)
        for t in range(self.n_steps):
            dist, value = policy(obs, builder)
            action = dist.sample()
            b.day[t], b.portfolio[t] = obs.day, obs.portfolio
            b.actions[t], b.logprobs[t], b.values[t] = action, dist.log_prob(action), value
            obs, reward, terminated, truncated, info = env.step(action)
            b.rewards[t], b.terminated[t], b.truncated[t] = reward, terminated, truncated
            b.final_day[t], b.final_portfolio[t] = info["final_day"], info["final_portfolio"]
            done = (terminated | truncated).to(torch.float64)
            n_done += done.sum()
            sums += torch.stack(
                (
                    info["episode_reward"].to(torch.float64) @ done,
                    info["episode_length"].to(torch.float64) @ done,
                )
            )
        self.next_obs = obs
        self.record_episodes(n_done, sums)

        # Truncated episodes bootstrap from their final observation, evaluated only there.
        final_values = torch.zeros_like(b.values)
        where = b.truncated.nonzero(as_tuple=True)
        if where[0].numel():
            final_obs = CompactObs(b.final_day[where], b.final_portfolio[where])
            final_values[where] = policy.value(final_obs, builder)
        next_values = bootstrap_values(
            b.values, policy.value(obs, builder), final_values, b.terminated, b.truncated
        )
        return compute_gae(
            b.rewards,
            b.values,
            next_values,
            b.terminated | b.truncated,
            float(a.gamma),
            float(a.gae_lambda),
        )
