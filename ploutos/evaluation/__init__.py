"""Evaluation on the one accounting engine: metrics, timing analysis, policy runner, baselines."""

from ploutos.evaluation.backtest import BacktestResult, run_backtest
from ploutos.evaluation.baselines import BASELINES, BaselineResult, run_baselines
from ploutos.evaluation.checkpoint import LoadedModel, load_checkpoint
from ploutos.evaluation.metrics import bootstrap_sharpe, compute_metrics
from ploutos.evaluation.runner import (
    EpisodeLog,
    episode_metrics,
    episode_timing,
    evaluate_policy,
    run_policy,
)
from ploutos.evaluation.timing import timing_quality, timing_report

__all__ = [
    "BASELINES",
    "BacktestResult",
    "BaselineResult",
    "EpisodeLog",
    "LoadedModel",
    "bootstrap_sharpe",
    "compute_metrics",
    "episode_metrics",
    "episode_timing",
    "evaluate_policy",
    "load_checkpoint",
    "run_backtest",
    "run_baselines",
    "run_policy",
    "timing_quality",
    "timing_report",
]
