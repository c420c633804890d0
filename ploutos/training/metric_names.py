"""The one mapping from the names the algorithms log to Stable-Baselines3's (and the seed's).

The algorithms keep logging their own keys (`train/episode_return`, `train/entropy`, ...);
every logger of the training app also receives the SB3 name of each key that has one, in the
same row (`with_sb3_aliases`), so a user coming from SB3 finds `rollout/ep_rew_mean` and
`train/entropy_loss` where they expect them. Keys whose name
is already SB3's (`train/policy_loss`, `train/value_loss`, `train/approx_kl`,
`train/clip_fraction`, `train/explained_variance`) need no alias.

The evaluation adds the seed's monitoring series: the train-vs-eval gap (mean reward per
step on the training episodes against the evaluation split) and the early-stopping counter.
"""

from __future__ import annotations

import math
from collections.abc import Mapping
from typing import Any

import torch
from lightning.pytorch.loggers import Logger

# SB3 name -> (key the algorithm logs, sign). SB3 reports the entropy *loss*: minus the entropy.
SB3_ALIASES: dict[str, tuple[str, float]] = {
    "rollout/ep_rew_mean": ("train/episode_return", 1.0),
    "rollout/ep_len_mean": ("train/episode_length", 1.0),
    "train/entropy_loss": ("train/entropy", -1.0),
    "train/learning_rate": ("train/lr", 1.0),
    "time/fps": ("train/env_steps_per_sec", 1.0),
    "time/total_timesteps": ("train/env_steps", 1.0),
}

# The evaluation's monitoring series (logged beside the eval/ metrics at each evaluation).
TRAIN_MEAN_REWARD = "eval/train_mean_reward"
GAP = "eval/train_eval_gap"
GAP_RATIO = "eval/train_eval_gap_ratio"
EVALS_SINCE_BEST = "early_stopping/evals_since_best"
BEST_SCORE = "early_stopping/best_score"


def as_float(value: Any) -> float | None:
    """A loggable number from a float, an int or a one-element tensor; None otherwise."""
    if isinstance(value, torch.Tensor) and value.numel() == 1:
        value = value.item()
    if isinstance(value, bool) or not isinstance(value, int | float):
        return None
    return float(value)


def sb3_aliases(metrics: Mapping[str, Any]) -> dict[str, float]:
    """The SB3-named copies of the logged metrics that have an SB3 name (NaN ones too: an
    iteration without a finished episode has no ep_rew_mean, and says so)."""
    out = {}
    for sb3_name, (key, sign) in SB3_ALIASES.items():
        value = as_float(metrics.get(key))
        if value is not None:
            out[sb3_name] = sign * value
    return out


def with_sb3_aliases(logger: Logger) -> Logger:
    """`logger`, whose every log_metrics call also records the SB3 names of its metrics.

    Done at the logger, not with LightningModule.log: the mapping then costs a few dict
    lookups per logged row, where a second self.log_dict would cost milliseconds per
    iteration."""
    original = logger.log_metrics

    def log_metrics(metrics: Mapping[str, Any], step: int | None = None) -> None:
        original({**metrics, **sb3_aliases(metrics)}, step)

    logger.log_metrics = log_metrics  # type: ignore[method-assign]
    return logger


def train_eval_gap_values(
    train_stats: Mapping[str, Any], metrics: Mapping[str, Any]
) -> tuple[float, float] | None:
    """(train, eval) mean reward per step, when both are known and measured with the same
    reward (not when the evaluation replaced a look-ahead training reward by pnl)."""
    episode_return = as_float(train_stats.get("train/episode_return"))
    length = as_float(train_stats.get("train/episode_length"))
    evaluated = as_float(metrics.get("eval/mean_reward"))
    if metrics.get("eval/reward_replaced") or None in (episode_return, length, evaluated):
        return None
    if not length > 0:
        return None
    train_per_step = episode_return / length
    if not (math.isfinite(train_per_step) and math.isfinite(evaluated)):
        return None
    return train_per_step, evaluated


def monitoring_series(
    train_stats: Mapping[str, Any],
    metrics: Mapping[str, Any],
    evals_since_best: int,
    best_score: float | None,
) -> dict[str, float]:
    """The seed's series at one evaluation: train and eval reward per step, their gap
    (train - eval) and the gap relative to |train| (the seed wants it under 0.2), the
    early-stopping counter and the best monitored score so far."""
    out = {EVALS_SINCE_BEST: float(evals_since_best)}
    if best_score is not None:
        out[BEST_SCORE] = float(best_score)
    pair = train_eval_gap_values(train_stats, metrics)
    if pair is not None:
        train, evaluated = pair
        out[TRAIN_MEAN_REWARD] = train
        out[GAP] = train - evaluated
        if train != 0.0:
            out[GAP_RATIO] = (train - evaluated) / abs(train)
    return out
