"""What a user reads during training, as Python logging records under the 'ploutos' logger.

Under a Hydra app the root logger has Hydra's handlers: the console and the run folder's
`<job>.log` (train.log for train.py), so `tail -f <run>/train.log` follows a run left in the
background. Outside Hydra (the Python API, a notebook) ploutos.apps.cli.ensure_console sends
the same lines to stdout, as the print() calls they replace did.

Per iteration (every `trainer.log_every_n_iterations`) `IterationLog` writes one line in
Stable-Baselines3's vocabulary; `evaluation_line` is the line of each evaluation.
"""

from __future__ import annotations

import logging
import math
import time
from collections.abc import Mapping
from typing import Any

import lightning.pytorch as pl
import torch
from lightning.pytorch.callbacks import Callback

from ploutos.training.metric_names import train_eval_gap_values

log = logging.getLogger(__name__)

# (name shown, key the algorithm logs, sign): SB3 reports the entropy *loss*, minus the entropy.
ITERATION_FIELDS = (
    ("rollout/ep_rew_mean", "train/episode_return", 1.0),
    ("train/entropy_loss", "train/entropy", -1.0),
    ("train/policy_loss", "train/policy_loss", 1.0),
    ("train/value_loss", "train/value_loss", 1.0),
    ("train/q_loss", "train/q_loss", 1.0),
    ("approx_kl", "train/approx_kl", 1.0),
)


def _number(value: float) -> str:
    return "nan" if math.isnan(value) else f"{value:.4g}"


def _floats(metrics: Mapping[str, Any]) -> dict[str, float]:
    out = {}
    for key, value in metrics.items():
        if isinstance(value, torch.Tensor) and value.numel() == 1:
            value = value.item()
        if isinstance(value, int | float) and not isinstance(value, bool):
            out[key] = float(value)
    return out


def iteration_line(
    iteration: int,
    n_iterations: int,
    env_steps: int,
    total_timesteps: int,
    steps_per_second: float,
    stats: Mapping[str, Any],
) -> str:
    """`iteration 3/8 | env steps 1,536/4,096 | env steps/s 2,310 | rollout/ep_rew_mean ...`"""
    values = _floats(stats)
    parts = [
        f"iteration {iteration:,}/{n_iterations:,}",
        f"env steps {env_steps:,}/{total_timesteps:,}",
        f"env steps/s {steps_per_second:,.0f}",
    ]
    parts += [
        f"{shown} {_number(sign * values[key])}"
        for shown, key, sign in ITERATION_FIELDS
        if key in values
    ]
    return " | ".join(parts)


def train_eval_gap(train_stats: Mapping[str, Any], metrics: Mapping[str, float]) -> str | None:
    """Mean reward per step on the training episodes vs the evaluation split, when both are
    known and measured with the same reward (not when evaluation replaced a look-ahead one)."""
    pair = train_eval_gap_values(train_stats, metrics)
    if pair is None:
        return None
    train_per_step, evaluated = pair
    return (
        f"train-eval gap (mean reward per step): train {_number(train_per_step)}, "
        f"eval {_number(evaluated)}, gap {_number(train_per_step - evaluated)}"
    )


def evaluation_line(
    env_steps: int, split: str, metrics: Mapping[str, float], train_stats: Mapping[str, Any]
) -> str:
    """`evaluation at 2,048 env steps on val: sharpe 0.53, ...; train-eval gap ...`"""
    shown = ", ".join(
        f"{key.removeprefix('eval/')} {_number(value)}" for key, value in metrics.items()
    )
    gap = train_eval_gap(train_stats, metrics)
    return f"evaluation at {env_steps:,} env steps on {split}: {shown}" + (
        f"; {gap}" if gap else ""
    )


class IterationLog(Callback):
    """One log line every `every` iterations (and after the last one) with the iteration's
    stats as the algorithm logged them and the env steps/s of this fit so far."""

    def __init__(self, every: int, total_timesteps: int) -> None:
        self.every = int(every)
        self.total_timesteps = int(total_timesteps)
        self._start_steps = 0
        self._start_time = 0.0

    def on_train_start(self, trainer: pl.Trainer, pl_module: pl.LightningModule) -> None:
        self._start_steps = int(pl_module.env_steps)
        self._start_time = time.perf_counter()

    def on_train_batch_end(
        self,
        trainer: pl.Trainer,
        pl_module: pl.LightningModule,
        outputs: Any,
        batch: Any,
        batch_idx: int,
    ) -> None:
        iterations, total = int(pl_module.iterations), int(pl_module.n_iterations)
        if iterations % self.every and iterations < total:
            return
        steps = int(pl_module.env_steps)
        elapsed = max(time.perf_counter() - self._start_time, 1e-9)
        rate = (steps - self._start_steps) / elapsed
        if trainer.is_global_zero:
            log.info(
                iteration_line(
                    iterations, total, steps, self.total_timesteps, rate, trainer.callback_metrics
                )
            )
