"""PPO as a LightningModule with manual optimization, readable top to bottom as in CleanRL.

One training_step is one iteration: a rollout of n_steps from N batched envs under no_grad
into a device-resident buffer of COMPACT observations (day index + portfolio state), GAE
that bootstraps truncated episodes and not terminated ones, then update_epochs over
minibatches (sample-shuffled, or partitioned by decision day so that an epoch encodes each
distinct day once: see ploutos.algos.minibatches). Env steps, not optimizer steps, are the
unit of progress.
"""

from __future__ import annotations

import math
import random
import time
from contextlib import nullcontext
from typing import Any

import lightning as L
import numpy as np
import torch
from omegaconf import DictConfig, OmegaConf
from torch.utils.data import DataLoader, IterableDataset

from ploutos.algos.config import validate_ppo_config
from ploutos.algos.gae import bootstrap_values, compute_gae
from ploutos.algos.minibatches import day_minibatches, shuffled_minibatches
from ploutos.env import CompactObs, make_env
from ploutos.errors import PloutosError
from ploutos.market import Market
from ploutos.models import make_policy

LOSS_STATS = ("policy_loss", "value_loss", "entropy", "approx_kl", "clip_fraction")


def _numpy_rng_state() -> dict[str, Any]:
    # Plain types and tensors only, so checkpoints load with torch.load(weights_only=True).
    # The legacy global numpy state is the one third-party code draws from.
    name, keys, pos, has_gauss, cached = np.random.get_state()  # noqa: NPY002
    return {
        "name": name,
        "keys": torch.from_numpy(keys.astype(np.int64)),
        "pos": int(pos),
        "has_gauss": int(has_gauss),
        "cached_gaussian": float(cached),
    }


def _set_numpy_rng_state(state: dict[str, Any]) -> None:
    keys = state["keys"].numpy().astype(np.uint32)
    np.random.set_state(  # noqa: NPY002
        (state["name"], keys, state["pos"], state["has_gauss"], state["cached_gaussian"])
    )


class TrainingDivergedError(PloutosError, FloatingPointError):
    """A loss, gradient or parameter became NaN or Inf; the optimizer step was not taken."""


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
    if norm_adv:
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
        action_shape,
        action_dtype,
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


class _Iterations(IterableDataset):
    """One dummy item per remaining iteration, counted when the epoch starts (after resume)."""

    def __init__(self, module: PPO) -> None:
        self.module = module

    def __iter__(self):
        return iter(range(self.module.iterations, self.module.n_iterations))


class PPO(L.LightningModule):
    def __init__(self, cfg: DictConfig, market: Market, market_meta: dict | None = None) -> None:
        super().__init__()
        validate_ppo_config(cfg.algo)
        self.automatic_optimization = False
        self.cfg = cfg
        self.market_meta = market_meta
        a = cfg.algo
        self.n_envs, self.n_steps = int(a.n_envs), int(a.n_steps)
        # Env steps of one process's iteration; with DDP every process collects its own.
        self.batch_size = self.n_envs * self.n_steps
        self.world_size = 1
        self.n_iterations = self.iterations_for(1)
        torch.manual_seed(int(cfg.seed))
        self._attach_env(market, int(cfg.seed))
        self.policy = make_policy(
            cfg, self.env.obs_builder, self.env.action_mode, self.env.n_assets
        )
        self.env_steps = 0
        self.iterations = 0

    def _attach_env(self, market: Market, seed: int) -> None:
        """The training envs over `market` and everything that lives on their device."""
        self.env = make_env(self.cfg, market, n_envs=self.n_envs, split="train", seed=seed)
        self._next_obs = self.env.reset()
        # Last finished episodes' mean return and length; NaN until one finishes.
        self._episode_stats = torch.full(
            (2,), torch.nan, dtype=torch.float64, device=self.env.device
        )
        # Every day a rollout can observe: decision days and final (bootstrap) days of the split.
        split, first = self.env.split, self.env.obs_builder.min_day
        self._rollout_days = torch.arange(
            max(split.start, first), split.stop, device=self.env.device
        )
        # A table of all those days pays off once the rollout has more steps than days.
        self._use_table = len(self._rollout_days) < self.batch_size
        discrete = self.env.action_mode == "discrete"
        self._buffer = RolloutBuffer(
            self.n_steps,
            self.n_envs,
            self.env.obs_builder.portfolio_dim,
            (self.env.n_assets,) if discrete else (self.env.n_assets + 1,),
            torch.int64 if discrete else torch.float32,
            self.env.device,
        )

    # ---- Lightning plumbing -----------------------------------------------------------------

    def setup(self, stage: str) -> None:
        """Under DDP (trainer=ddp) process r steps envs r * N .. (r + 1) * N - 1 of the seed's
        env sequence (the envs one run with world_size x N envs would step) on its own device,
        and samples actions from its own torch seed; env steps and total_timesteps count all
        processes together."""
        world_size = int(self.trainer.world_size)
        if world_size == 1 or self.world_size == world_size:
            return
        self.world_size = world_size
        rank = int(self.trainer.global_rank)
        torch.manual_seed(int(self.cfg.seed) + rank)
        market = self.env.market.to(self.trainer.strategy.root_device)
        self._attach_env(market, int(self.cfg.seed) + rank * self.n_envs)
        self.policy.obs_builder = self.env.obs_builder
        self.n_iterations = self.iterations_for(world_size)

    def iterations_for(self, world_size: int) -> int:
        """Iterations that reach total_timesteps when `world_size` processes each collect
        batch_size env steps per iteration."""
        return math.ceil(int(self.cfg.algo.total_timesteps) / (self.batch_size * world_size))

    def configure_optimizers(self) -> torch.optim.Optimizer:
        return torch.optim.Adam(
            self.policy.parameters(), lr=float(self.cfg.algo.learning_rate), eps=1e-5
        )

    def train_dataloader(self) -> DataLoader:
        # Its own generator: a DataLoader iterator otherwise draws a seed from the global torch
        # RNG when an epoch starts, and a resumed run would then sample other actions.
        return DataLoader(_Iterations(self), batch_size=None, generator=torch.Generator())

    def on_train_epoch_start(self) -> None:
        if self.iterations >= self.n_iterations:
            self.trainer.should_stop = True

    def training_step(self, batch: Any, batch_idx: int) -> None:
        if self.iterations >= self.n_iterations:
            self.trainer.should_stop = True
            return
        stats = self.train_iteration(self.optimizers())
        self.log_dict(
            {f"train/{k}": v for k, v in stats.items()}, on_step=True, on_epoch=False, batch_size=1
        )
        if self.iterations >= self.n_iterations:
            self.trainer.should_stop = True

    # ---- one iteration ----------------------------------------------------------------------

    def train_iteration(self, optimizer: torch.optim.Optimizer) -> dict[str, float]:
        """Rollout + GAE + update with `optimizer`; returns the iteration's stats."""
        started = time.perf_counter()
        a = self.cfg.algo
        lr = float(a.learning_rate)
        if a.anneal_lr:
            lr *= max(0.0, 1.0 - self.iterations / self.n_iterations)
        for group in optimizer.param_groups:
            group["lr"] = lr
        self.policy.train()
        advantages, returns = self._collect_rollout()
        # The rollout ends with a host sync (truncated-episode lookup), so this split is honest.
        rolled_out = time.perf_counter()
        update = self._update(optimizer, advantages, returns)
        self.iterations += 1
        self.env_steps += self.batch_size * self.world_size
        self._check_parameters()
        b = self._buffer
        scalars = torch.stack(
            (
                *(update[k] for k in LOSS_STATS),
                update["grad_norm"],
                explained_variance(b.values.flatten(), returns.flatten()).to(update["grad_norm"]),
                *self._episode_stats.to(update["grad_norm"]),
            )
        ).tolist()
        stats = dict(
            zip(
                (
                    *LOSS_STATS,
                    "grad_norm",
                    "explained_variance",
                    "episode_return",
                    "episode_length",
                ),
                scalars,
                strict=True,
            )
        )
        elapsed = time.perf_counter() - started
        stats.update(
            env_steps=float(self.env_steps),
            env_steps_per_sec=self.batch_size / elapsed,
            lr=lr,
            rollout_seconds=rolled_out - started,
            update_seconds=elapsed - (rolled_out - started),
        )
        return stats

    @torch.no_grad()
    def _collect_rollout(self) -> tuple[torch.Tensor, torch.Tensor]:
        use_table = self._use_table and self.policy.unique_days
        table = self.policy.market_table(self._rollout_days) if use_table else nullcontext()
        with table:
            return self._rollout_steps(self._next_obs)

    def _rollout_steps(self, obs: CompactObs) -> tuple[torch.Tensor, torch.Tensor]:
        a, b, env, policy = self.cfg.algo, self._buffer, self.env, self.policy
        n_done = torch.zeros((), dtype=torch.float64, device=env.device)
        sums = torch.zeros(2, dtype=torch.float64, device=env.device)
        for t in range(self.n_steps):
            dist, value = policy(obs)
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
        self._next_obs = obs
        self._episode_stats = torch.where(
            n_done > 0, sums / n_done.clamp(min=1.0), self._episode_stats
        )

        # Truncated episodes bootstrap from their final observation, evaluated only there.
        final_values = torch.zeros_like(b.values)
        where = b.truncated.nonzero(as_tuple=True)
        if where[0].numel():
            final_obs = CompactObs(b.final_day[where], b.final_portfolio[where])
            final_values[where] = policy.value(final_obs)
        next_values = bootstrap_values(
            b.values, policy.value(obs), final_values, b.terminated, b.truncated
        )
        return compute_gae(
            b.rewards,
            b.values,
            next_values,
            b.terminated | b.truncated,
            float(a.gamma),
            float(a.gae_lambda),
        )

    def _update(
        self, optimizer: torch.optim.Optimizer, advantages: torch.Tensor, returns: torch.Tensor
    ) -> dict[str, torch.Tensor]:
        a, b = self.cfg.algo, self._buffer
        obs = CompactObs(b.day.flatten(), b.portfolio.flatten(0, 1))
        actions, logprobs = b.actions.flatten(0, 1), b.logprobs.flatten()
        values, advantages, returns = b.values.flatten(), advantages.flatten(), returns.flatten()
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
                dist, new_value = self.policy(obs.index(idx))
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
                self._backward(loss)
                grad_norm = torch.nn.utils.clip_grad_norm_(params, float(a.max_grad_norm))
                step_stats = torch.stack((*(stats[k] for k in LOSS_STATS), grad_norm.detach()))
                self._check_finite(loss.detach(), step_stats)
                optimizer.step()
                totals += step_stats
                n_minibatches += 1
            if a.target_kl is not None and self._mean_over_processes(stats["approx_kl"]) > float(
                a.target_kl
            ):
                break
        means = totals / n_minibatches
        out = dict(zip(LOSS_STATS, means[:-1], strict=True))
        # approx KL of the last minibatch, as CleanRL logs it (the early-stop criterion).
        out["approx_kl"] = stats["approx_kl"]
        out["grad_norm"] = means[-1]
        return out

    def _mean_over_processes(self, value: torch.Tensor) -> float:
        """The mean over DDP processes (every process must leave the epoch loop together, or
        the others wait forever in their next gradient all-reduce)."""
        if self.world_size > 1:
            value = self.trainer.strategy.reduce(value.detach(), reduce_op="mean")
        return float(value.item())

    def _backward(self, loss: torch.Tensor) -> None:
        # Inside a Trainer, Lightning's precision plugins want manual_backward.
        if self._trainer is not None:
            self.manual_backward(loss)
        else:
            loss.backward()

    def _check_finite(self, loss: torch.Tensor, step_stats: torch.Tensor) -> None:
        """Stop before the optimizer step if the loss or the gradients are NaN or Inf."""
        values = torch.cat((loss.reshape(1).to(step_stats), step_stats))
        if bool(torch.isfinite(values).all()):
            return
        names = ("loss", *LOSS_STATS, "grad_norm")
        bad = next(i for i, ok in enumerate(torch.isfinite(values).tolist()) if not ok)
        raise TrainingDivergedError(
            f"iteration {self.iterations + 1}: {names[bad]} is {values[bad].item()} "
            f"(at {self.env_steps:,} env steps); the optimizer step was not taken"
        )

    def _check_parameters(self) -> None:
        finite = torch.stack([torch.isfinite(p).all() for p in self.policy.parameters()])
        if bool(finite.all()):
            return
        names = [n for n, _ in self.policy.named_parameters()]
        bad = names[int((~finite).nonzero()[0])]
        raise TrainingDivergedError(f"iteration {self.iterations}: parameter {bad} is not finite")

    # ---- checkpoints ------------------------------------------------------------------------

    def on_save_checkpoint(self, checkpoint: dict[str, Any]) -> None:
        checkpoint["env_steps"] = self.env_steps
        checkpoint["iterations"] = self.iterations
        checkpoint["env_state"] = self.env.state_dict()
        checkpoint["next_obs"] = {
            "day": self._next_obs.day.clone(),
            "portfolio": self._next_obs.portfolio.clone(),
        }
        checkpoint["episode_stats"] = self._episode_stats.clone()
        checkpoint["rng_states"] = {
            "torch": torch.get_rng_state(),
            "cuda": torch.cuda.get_rng_state_all() if torch.cuda.is_available() else None,
            "numpy": _numpy_rng_state(),
            "python": random.getstate(),
        }
        checkpoint["cfg"] = OmegaConf.to_container(self.cfg, resolve=True)
        checkpoint["market_meta"] = self.market_meta

    def on_load_checkpoint(self, checkpoint: dict[str, Any]) -> None:
        self.env_steps = int(checkpoint["env_steps"])
        self.iterations = int(checkpoint["iterations"])
        if checkpoint.get("market_meta") is not None:
            self.market_meta = checkpoint["market_meta"]
        dev = self.env.device
        # The checkpoint holds the first process's envs and RNG; under DDP the others keep
        # their own envs (fresh episodes) and draw a seed of their own for this resume.
        rank = self.trainer.global_rank if self.world_size > 1 else 0
        if rank > 0:
            torch.manual_seed(int(self.cfg.seed) + rank + 7919 * self.iterations)
            return
        self.env.load_state_dict(checkpoint["env_state"])
        nxt = checkpoint["next_obs"]
        self._next_obs = CompactObs(nxt["day"].to(dev), nxt["portfolio"].to(dev))
        self._episode_stats = checkpoint["episode_stats"].to(dev)
        rng = checkpoint["rng_states"]
        torch.set_rng_state(rng["torch"])
        if rng["cuda"] is not None and torch.cuda.is_available():
            torch.cuda.set_rng_state_all(rng["cuda"])
        _set_numpy_rng_state(rng["numpy"])
        random.setstate(rng["python"])
