"""What DQN and SAC share: collect env steps into a replay buffer, then gradient steps.

One iteration collects n_steps from the N batched envs (with the algorithm's behaviour
policy, under no_grad and the policy's per-day market table), pushes them through the
n-step window into the replay buffer, and, once the buffer holds learning_starts
transitions, runs gradient_steps updates on batches of batch_size. The buffer, the n-step
window and the gradient-step count are checkpoint extras (tensors and ints only), so a
resumed run continues exactly where a straight run would; algo.checkpoint_replay=false
leaves the buffer out of checkpoints (a resume then refills it from scratch).
"""

from __future__ import annotations

from contextlib import nullcontext
from types import SimpleNamespace
from typing import Any

import torch
from omegaconf import DictConfig, OmegaConf

from ploutos.algos.base import Algorithm
from ploutos.algos.config import booleans, number, positive_floats, positive_ints, unit_interval
from ploutos.algos.replay import NStepWindow, PrioritizedReplay, ReplayBuffer
from ploutos.errors import ConfigError
from ploutos.obs.compact import CompactObs

REPLAYS = ("uniform", "prioritized")


class OffPolicyAlgorithm(Algorithm):
    @classmethod
    def validate_config(cls, algo: DictConfig) -> None:
        super().validate_config(algo)
        positive_ints(
            algo, ("buffer_size", "batch_size", "learning_starts", "gradient_steps", "n_step")
        )
        unit_interval(algo, ("gamma", "tau", "per_alpha", "per_beta"))
        positive_floats(algo, ("per_eps",))
        booleans(algo, ("checkpoint_replay",))
        if algo.get("replay") not in REPLAYS:
            raise ConfigError(
                "algo.replay", f"must be one of {REPLAYS}, got {algo.get('replay')!r}"
            )
        if number(algo, "tau") == 0.0:
            raise ConfigError("algo.tau", "must be > 0 (1 copies the online weights)")

    def on_env_attached(self) -> None:
        # The algo group's values, resolved once instead of an OmegaConf lookup (and
        # interpolation, total_timesteps: ${total_timesteps}) per env and gradient step.
        self.hp = SimpleNamespace(**OmegaConf.to_container(self.cfg.algo, resolve=True))
        a, env = self.hp, self.env
        space = env.action_space
        # Per-asset codes fit in int8; the buffer is the largest thing an off-policy run holds.
        dtype = torch.int8 if space.dtype == torch.int64 else space.dtype
        args = (int(a.buffer_size), env.obs_builder.portfolio_dim, space.shape, dtype, env.device)
        if a.replay == "prioritized":
            self.replay: ReplayBuffer = PrioritizedReplay(
                *args, alpha=float(a.per_alpha), eps=float(a.per_eps)
            )
        else:
            self.replay = ReplayBuffer(*args)
        self.window = NStepWindow(int(a.n_step), float(a.gamma))
        self.rollout_days = torch.arange(env.first_day, env.split.stop, device=env.device)
        self.use_table = len(self.rollout_days) < self.batch_size
        self.gradient_step_count = 0

    # ---- what a subclass provides -----------------------------------------------------------

    def behaviour_actions(self, obs: CompactObs) -> torch.Tensor:
        """Actions to explore with (no grad, inside the rollout's market table)."""
        raise NotImplementedError

    def gradient_step(self, optimizer: Any, beta: float) -> dict[str, torch.Tensor]:
        """One update from a sampled batch; 0-d stat tensors."""
        raise NotImplementedError

    # ---- shared loop ------------------------------------------------------------------------

    def progress(self) -> float:
        """Fraction of total_timesteps done, in [0, 1]."""
        return min(1.0, self.env_steps / int(self.hp.total_timesteps))

    def per_beta(self) -> float:
        """Importance-sampling exponent, annealed linearly from per_beta to 1 over the run."""
        beta0 = float(self.hp.per_beta)
        return beta0 + (1.0 - beta0) * self.progress()

    @torch.no_grad()
    def collect(self) -> None:
        env, policy = self.env, self.policy
        table = (
            policy.market_table(env.obs_builder, self.rollout_days)
            if (self.use_table and policy.unique_days)
            else None
        )
        obs = self.next_obs
        n_done = torch.zeros((), dtype=torch.float64, device=env.device)
        sums = torch.zeros(2, dtype=torch.float64, device=env.device)
        with table or nullcontext():
            for _ in range(self.n_steps):
                actions = self.behaviour_actions(obs)
                next_obs, reward, terminated, truncated, info = env.step(actions)
                final = CompactObs(info["final_day"], info["final_portfolio"])
                ready = self.window.push(obs, actions, reward, terminated, truncated, final)
                if ready is not None:
                    self.replay.add(ready)
                done = (terminated | truncated).to(torch.float64)
                n_done += done.sum()
                sums += torch.stack(
                    (
                        info["episode_reward"].to(torch.float64) @ done,
                        info["episode_length"].to(torch.float64) @ done,
                    )
                )
                obs = next_obs
        self.next_obs = obs
        self.record_episodes(n_done, sums)

    def train_iteration(self, optimizer: Any) -> dict[str, torch.Tensor | float]:
        a = self.hp
        self.policy.train()
        self.collect()
        stats: dict[str, torch.Tensor | float] = {}
        if len(self.replay) >= int(a.learning_starts):
            beta = self.per_beta()
            totals: dict[str, torch.Tensor] = {}
            for _ in range(int(a.gradient_steps)):
                step = self.gradient_step(optimizer, beta)
                self.gradient_step_count += 1
                totals = {k: totals.get(k, 0.0) + v for k, v in step.items()}
            stats.update({k: v / int(a.gradient_steps) for k, v in totals.items()})
            stats["per_beta"] = beta
        stats["episode_return"], stats["episode_length"] = self.episode_stats.unbind()
        stats.update(replay_size=float(len(self.replay)), gradient_steps=self.gradient_step_count)
        return stats

    @staticmethod
    def soft_update(target: torch.nn.Module, online: torch.nn.Module, tau: float) -> None:
        # One foreach call instead of a lerp_ per parameter tensor; the same per-element lerp.
        with torch.no_grad():
            torch._foreach_lerp_(list(target.parameters()), list(online.parameters()), tau)

    # ---- checkpoints ------------------------------------------------------------------------

    def on_save_checkpoint(self, checkpoint: dict[str, Any]) -> None:
        super().on_save_checkpoint(checkpoint)
        checkpoint["gradient_step_count"] = self.gradient_step_count
        checkpoint["nstep_window"] = self.window.state_dict()
        if self.hp.checkpoint_replay:
            checkpoint["replay"] = self.replay.state_dict()

    def on_load_checkpoint(self, checkpoint: dict[str, Any]) -> None:
        super().on_load_checkpoint(checkpoint)
        self.gradient_step_count = int(checkpoint["gradient_step_count"])
        self.window.load_state_dict(checkpoint["nstep_window"], self.env.device)
        if "replay" in checkpoint:
            self.replay.load_state_dict(checkpoint["replay"])
