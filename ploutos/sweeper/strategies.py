"""Samplers and pruners from the sweeper config (hydra.sweeper.sampler / .pruner).

A trial's step is its evaluation index (0 for the first evaluation), so trials that sample
different rollout sizes, and so evaluate at slightly different env steps, are compared
evaluation by evaluation.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

import optuna
from optuna.pruners import BasePruner, MedianPruner, NopPruner, SuccessiveHalvingPruner
from optuna.samplers import BaseSampler, CmaEsSampler, GridSampler, RandomSampler, TPESampler
from optuna.trial import FrozenTrial, TrialState

from ploutos.errors import ConfigError
from ploutos.sweeper.config import PRUNERS, SAMPLERS
from ploutos.sweeper.search_space import SearchSpace


class AskTellGridSampler(GridSampler):
    """GridSampler without its stop at the last grid point: `study.stop()` works only inside
    `study.optimize`, and raises under ask / tell. The sweep stops at the grid's size itself."""

    def after_trial(
        self,
        study: optuna.Study,
        trial: FrozenTrial,
        state: TrialState,
        values: Sequence[float] | None,
    ) -> None:
        return None


def make_sampler(
    spec: dict[str, Any], space: SearchSpace, n_objectives: int, n_existing_trials: int
) -> BaseSampler:
    """The configured sampler. A seeded sampler of a resumed study is seeded with
    seed + the trials already stored, so it does not repeat the first run's draws."""
    name = str(spec.get("name", "tpe"))
    seed = spec.get("seed")
    seed = None if seed is None else int(seed) + n_existing_trials
    startup = int(spec.get("n_startup_trials", 10))
    if name == "tpe":
        return TPESampler(seed=seed, n_startup_trials=startup)
    if name == "cmaes":
        if n_objectives > 1:
            raise ConfigError("hydra.sweeper.sampler.name", "CMA-ES has one objective; use tpe")
        return CmaEsSampler(seed=seed, n_startup_trials=startup, warn_independent_sampling=False)
    if name == "random":
        return RandomSampler(seed=seed)
    if name == "grid":
        return AskTellGridSampler(space.grid(), seed=seed)
    raise ConfigError("hydra.sweeper.sampler.name", f"'{name}' is not one of {list(SAMPLERS)}")


class AfterStartupTrials(BasePruner):
    """Consult `pruner` at every step (so it records every trial's rungs) but act on its
    answer only once `n_startup_trials` trials have completed."""

    def __init__(self, pruner: BasePruner, n_startup_trials: int) -> None:
        self.pruner = pruner
        self.n_startup_trials = int(n_startup_trials)

    def prune(self, study: optuna.Study, trial: FrozenTrial) -> bool:
        verdict = self.pruner.prune(study, trial)
        done = study.get_trials(deepcopy=False, states=(TrialState.COMPLETE,))
        return verdict and len(done) >= self.n_startup_trials


def make_pruner(spec: dict[str, Any]) -> BasePruner:
    """median: stop a trial whose evaluation is worse than the median of the completed trials'
    at the same evaluation. successive_halving: at evaluations w, w * r, w * r^2, ... (w the
    warm-up, at least 1; r the reduction factor) keep only the top 1/r of the trials that got
    there."""
    name = str(spec.get("name", "none"))
    startup = int(spec.get("n_startup_trials", 5))
    warmup = int(spec.get("n_warmup_evals", 1))
    if startup < 0 or warmup < 0:
        raise ConfigError("hydra.sweeper.pruner", "n_startup_trials and n_warmup_evals are >= 0")
    if name == "none":
        return NopPruner()
    if name == "median":
        return MedianPruner(n_startup_trials=startup, n_warmup_steps=warmup)
    if name == "successive_halving":
        halving = SuccessiveHalvingPruner(
            min_resource=max(warmup, 1), reduction_factor=int(spec.get("reduction_factor", 3))
        )
        return AfterStartupTrials(halving, startup)
    raise ConfigError("hydra.sweeper.pruner.name", f"'{name}' is not one of {list(PRUNERS)}")
