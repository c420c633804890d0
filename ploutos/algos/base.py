"""What every algorithm shares, so that a new one is a short file (see docs/design.md).

An `Algorithm` is a LightningModule with manual optimization whose Lightning batch is one
iteration. The base owns:

- the training envs over the Market (`attach_env`), re-attached per process under DDP, where
  process r steps envs r * N .. (r + 1) * N - 1 of the seed's env sequence;
- the env-step clock: `env_steps` and `iterations`, advanced after each `train_iteration`,
  and the iteration count that reaches total_timesteps (`iterations_for`);
- the iteration dataloader (one dummy item per remaining iteration, counted after a resume);
- NaN/Inf guards (`check_finite`, `check_finite_parameters`) that stop before a bad step;
- resumable RNG state and env state in checkpoints, with the resolved config and the market
  metadata a backtest needs;
- the per-iteration log (`train/<stat>` for every stat `train_iteration` returns).

A subclass sets `name`, implements `validate_config`, `configure_optimizers` and
`train_iteration`, and may build its own policy (`build_policy`); the policy must satisfy
`ploutos.models.Policy` and live at `self.policy` (its weights are what checkpoints give to
backtests). The training app, callbacks and benchmarks use only what is defined here.
"""

from __future__ import annotations

import math
import random
import time
from typing import Any, ClassVar

import lightning as L
import numpy as np
import torch
from omegaconf import DictConfig, OmegaConf
from torch import nn
from torch.utils.data import DataLoader, IterableDataset

from ploutos.algos.config import positive_ints
from ploutos.env import CompactObs, TradingEnv, make_env
from ploutos.errors import TrainingDiverged
from ploutos.market import Market
from ploutos.models import make_policy


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


def check_finite_parameters(module: nn.Module, where: str) -> None:
    """Raise TrainingDiverged naming the first NaN/Inf parameter of `module`."""
    params = list(module.named_parameters())
    finite = torch.stack([torch.isfinite(p).all() for _, p in params])
    if bool(finite.all()):
        return
    bad = params[int((~finite).nonzero()[0])][0]
    raise TrainingDiverged(f"{where}: parameter '{bad}' is NaN/Inf")


class _Iterations(IterableDataset):
    """One dummy item per remaining iteration, counted when the epoch starts (after resume)."""

    def __init__(self, module: Algorithm) -> None:
        self.module = module

    def __iter__(self):
        return iter(range(self.module.iterations, self.module.n_iterations))


class Algorithm(L.LightningModule):
    """Base of every learner; see the module docstring for the contract."""

    name: ClassVar[str]

    def __init__(self, cfg: DictConfig, market: Market, market_meta: dict | None = None) -> None:
        super().__init__()
        self.validate_config(cfg.algo)
        self.automatic_optimization = False
        self.cfg = cfg
        self.market_meta = market_meta
        self.n_envs, self.n_steps = int(cfg.algo.n_envs), int(cfg.algo.n_steps)
        # Env steps of one process's iteration; with DDP every process collects its own.
        self.batch_size = self.n_envs * self.n_steps
        self.world_size = 1
        self.n_iterations = self.iterations_for(1)
        torch.manual_seed(int(cfg.seed))
        self.attach_env(market, int(cfg.seed))
        self.policy = self.build_policy()
        self.env_steps = 0
        self.iterations = 0

    # ---- what a subclass provides -----------------------------------------------------------

    @classmethod
    def validate_config(cls, algo: DictConfig) -> None:
        """Raise ConfigError naming the first bad key of cfg.algo (shared keys here)."""
        positive_ints(algo, ("n_envs", "n_steps", "total_timesteps"))

    def build_policy(self) -> nn.Module:
        """The network named by cfg.model for the env's observation and action space."""
        return make_policy(self.cfg, self.env.obs_builder, self.env.action_space)

    def train_iteration(
        self, optimizer: torch.optim.Optimizer
    ) -> dict[str, torch.Tensor | float]:
        """Collect batch_size env steps and update; return the iteration's stats as 0-d
        tensors (read back to the host in one transfer by the base) or floats."""
        raise NotImplementedError

    def on_env_attached(self) -> None:
        """Allocate what lives on the envs' device (buffers); called by attach_env."""

    # ---- envs and the env-step clock -------------------------------------------------------

    def attach_env(self, market: Market, seed: int) -> None:
        """The training envs over `market` and everything that lives on their device."""
        self.env: TradingEnv = make_env(
            self.cfg, market, n_envs=self.n_envs, split="train", seed=seed
        )
        self.next_obs: CompactObs = self.env.reset()
        # Last finished episodes' mean return and length; NaN until one finishes.
        self.episode_stats = torch.full(
            (2,), torch.nan, dtype=torch.float64, device=self.env.device
        )
        self.on_env_attached()

    def record_episodes(self, n_done: torch.Tensor, sums: torch.Tensor) -> None:
        """Keep the mean (return, length) of the episodes that ended in this iteration."""
        self.episode_stats = torch.where(
            n_done > 0, sums / n_done.clamp(min=1.0), self.episode_stats
        )

    def iterations_for(self, world_size: int) -> int:
        """Iterations that reach total_timesteps when `world_size` processes each collect
        batch_size env steps per iteration."""
        return math.ceil(int(self.cfg.algo.total_timesteps) / (self.batch_size * world_size))

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
        self.attach_env(market, int(self.cfg.seed) + rank * self.n_envs)
        self.n_iterations = self.iterations_for(world_size)

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
        stats = self.run_iteration(self.optimizers())
        self.log_dict(
            {f"train/{k}": v for k, v in stats.items()}, on_step=True, on_epoch=False, batch_size=1
        )
        if self.iterations >= self.n_iterations:
            self.trainer.should_stop = True

    def run_iteration(self, optimizer: torch.optim.Optimizer) -> dict[str, float]:
        """train_iteration, then advance the clock and guard the parameters; the stats as
        floats plus env_steps and the iteration's env steps/s."""
        started = time.perf_counter()
        tensors = self.train_iteration(optimizer)
        self.iterations += 1
        self.env_steps += self.batch_size * self.world_size
        check_finite_parameters(self.policy, f"iteration {self.iterations}")
        on_device = {k: v for k, v in tensors.items() if isinstance(v, torch.Tensor)}
        dev = self.env.device
        values = torch.stack([v.to(dev, torch.float64) for v in on_device.values()]).tolist()
        stats = {k: float(v) for k, v in tensors.items() if not isinstance(v, torch.Tensor)}
        stats.update(zip(on_device, values, strict=True))
        stats.update(
            env_steps=float(self.env_steps),
            env_steps_per_sec=self.batch_size / (time.perf_counter() - started),
        )
        return stats

    # ---- guards and DDP helpers -------------------------------------------------------------

    def check_finite(self, named: dict[str, torch.Tensor]) -> None:
        """Stop before the optimizer step if any of these (loss, gradient norm, ...) is not
        finite; one host sync for all of them."""
        values = torch.stack([v.detach().reshape(()).float() for v in named.values()])
        finite = torch.isfinite(values)
        if bool(finite.all()):
            return
        name = list(named)[int((~finite).nonzero()[0])]
        raise TrainingDiverged(
            f"iteration {self.iterations + 1}: {name} is {named[name].item()} "
            f"(at {self.env_steps:,} env steps); the optimizer step was not taken"
        )

    def mean_over_processes(self, value: torch.Tensor) -> float:
        """The mean over DDP processes (every process must leave an update loop together, or
        the others wait forever in their next gradient all-reduce)."""
        if self.world_size > 1:
            value = self.trainer.strategy.reduce(value.detach(), reduce_op="mean")
        return float(value.item())

    def backward_loss(self, loss: torch.Tensor) -> None:
        # Inside a Trainer, Lightning's precision plugins want manual_backward.
        if self._trainer is not None:
            self.manual_backward(loss)
        else:
            loss.backward()

    # ---- checkpoints ------------------------------------------------------------------------

    def on_save_checkpoint(self, checkpoint: dict[str, Any]) -> None:
        checkpoint["algorithm"] = self.name
        checkpoint["env_steps"] = self.env_steps
        checkpoint["iterations"] = self.iterations
        checkpoint["env_state"] = self.env.state_dict()
        checkpoint["next_obs"] = {
            "day": self.next_obs.day.clone(),
            "portfolio": self.next_obs.portfolio.clone(),
        }
        checkpoint["episode_stats"] = self.episode_stats.clone()
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
        self.next_obs = CompactObs(nxt["day"].to(dev), nxt["portfolio"].to(dev))
        self.episode_stats = checkpoint["episode_stats"].to(dev)
        rng = checkpoint["rng_states"]
        torch.set_rng_state(rng["torch"])
        if rng["cuda"] is not None and torch.cuda.is_available():
            torch.cuda.set_rng_state_all(rng["cuda"])
        _set_numpy_rng_state(rng["numpy"])
        random.setstate(rng["python"])
