"""Ensembles of trained models: an Ensemble is a Policy over member policies (vote,
mean_probs, best_val, weighted), built from checkpoints or a multirun folder's best jobs."""

from ploutos.ensemble.model import (
    EnsembleModel,
    build_ensemble,
    ensemble_beside,
    ensemble_for_backtest,
)
from ploutos.ensemble.policy import Ensemble
from ploutos.ensemble.rules import RULES
from ploutos.ensemble.spec import EnsembleSpec

__all__ = [
    "RULES",
    "Ensemble",
    "EnsembleModel",
    "EnsembleSpec",
    "build_ensemble",
    "ensemble_beside",
    "ensemble_for_backtest",
]
