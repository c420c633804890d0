"""The sweep: ask Optuna for a batch of trials, launch them as Hydra jobs, tell the results.

Each trial's job gets its parameters as overrides plus the TrialPruning callback (study name,
storage, trial number), so it reports its evaluations to the same study and can be pruned.
A batch of `n_jobs` trials goes to whichever launcher is configured (basic: one after the
other; joblib: processes on this machine; submitit: a SLURM array). The study lives in its
storage: rerunning the same command adds `n_trials` trials to it.
"""

from __future__ import annotations

import logging
import math
import warnings
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from math import prod
from pathlib import Path
from typing import Any

import optuna
from hydra.core.utils import JobReturn
from hydra.plugins.launcher import Launcher
from omegaconf import DictConfig, OmegaConf
from optuna.trial import TrialState

from ploutos.errors import ConfigError
from ploutos.sweeper.config import CALLBACK_KEY, PRUNED_ATTR, PRUNER_ATTR, RUN_DIR_ATTR
from ploutos.sweeper.outcome import (
    mark_pruned,
    objective_values,
    read_summary,
    write_study_record,
)
from ploutos.sweeper.search_space import SearchSpace, parse_search_space
from ploutos.sweeper.storage import open_storage, resolve_storage
from ploutos.sweeper.strategies import make_pruner, make_sampler

log = logging.getLogger(__name__)

CALLBACK_TARGET = "ploutos.sweeper.pruning.TrialPruning"
RESULTS_FILE = "optimization_results.yaml"


@dataclass(frozen=True)
class SweepSettings:
    """hydra.sweeper as plain values (see ploutos/sweeper/config.py for each key)."""

    direction: str | list[str]
    metrics: list[str] | None
    study_name: str
    storage: str | None
    n_trials: int
    n_jobs: int
    sampler: dict[str, Any]
    pruner: dict[str, Any]
    params: dict[str, str] | None

    @property
    def directions(self) -> list[str]:
        return [self.direction] if isinstance(self.direction, str) else list(self.direction)

    def check(self) -> None:
        for d in self.directions:
            if d not in ("maximize", "minimize"):
                raise ConfigError("hydra.sweeper.direction", f"'{d}': maximize or minimize")
        n = len(self.directions)
        if self.metrics is None and n != 1:
            raise ConfigError("hydra.sweeper.metrics", f"{n} directions need {n} metrics")
        if self.metrics is not None and len(self.metrics) != n:
            raise ConfigError(
                "hydra.sweeper.metrics", f"{len(self.metrics)} metrics for {n} direction(s)"
            )
        if n > 1 and self.pruner.get("name", "none") != "none":
            raise ConfigError("hydra.sweeper.pruner.name", "Optuna prunes one objective only")
        if self.n_trials < 1 or self.n_jobs < 1:
            raise ConfigError("hydra.sweeper", "n_trials and n_jobs must be >= 1")


def _quoted(value: str) -> str:
    # Paths and names may hold characters the override grammar reads as syntax.
    return "'" + value.replace("'", "\\'") + "'"


def callback_overrides(study_name: str, location: str, trial_number: int) -> list[str]:
    """The overrides that attach trial `trial_number` of the study to its training run."""
    return [
        f"++{CALLBACK_KEY}._target_={CALLBACK_TARGET}",
        f"++{CALLBACK_KEY}.study_name={_quoted(study_name)}",
        f"++{CALLBACK_KEY}.storage={_quoted(location)}",
        f"++{CALLBACK_KEY}.trial_number={trial_number}",
    ]


def _trials_left(settings: SweepSettings, space: SearchSpace, study: optuna.Study) -> int:
    if settings.sampler.get("name") != "grid":
        return settings.n_trials
    # The grid sampler counts every started trial of the same grid as visited.
    size = prod(len(values) for values in space.grid().values())
    return max(0, min(settings.n_trials, size - len(study.trials)))


def _written_by_job(study: optuna.Study, trial: optuna.Trial) -> dict[str, Any]:
    """The user attributes the trial's job wrote (a Trial object caches its own copy)."""
    running = study.get_trials(deepcopy=False, states=(TrialState.RUNNING,))
    return next(t.user_attrs for t in running if t.number == trial.number)


def tell_outcome(
    study: optuna.Study, trial: optuna.Trial, ret: JobReturn, metrics: list[str] | None
) -> tuple[TrialState, BaseException | None]:
    """Tell Optuna how the trial's job ended: complete with its value(s), pruned, or failed."""
    trial.set_user_attr("overrides", [str(o) for o in ret.overrides])
    try:
        returned = ret.return_value
    except Exception as err:  # the job raised; Hydra keeps the exception in the JobReturn
        trial.set_user_attr("error", f"{type(err).__name__}: {err}")
        study.tell(trial, state=TrialState.FAIL)
        return TrialState.FAIL, err
    attrs = _written_by_job(study, trial)
    # The callback records the app's real output folder (trainer.output_dir may move it).
    run_dir = Path(attrs.get(RUN_DIR_ATTR) or ret.hydra_cfg.hydra.runtime.output_dir)
    trial.set_user_attr(RUN_DIR_ATTR, str(run_dir))
    pruned = attrs.get(PRUNED_ATTR)
    if pruned is not None:
        mark_pruned(run_dir, pruned, trial.number)
        study.tell(trial, state=TrialState.PRUNED)
        return TrialState.PRUNED, None
    if metrics:
        values = objective_values(read_summary(run_dir), metrics)
    elif returned is None or not math.isfinite(float(returned)):
        trial.set_user_attr("error", f"the job returned {returned!r}, not a finite score")
        study.tell(trial, state=TrialState.FAIL)
        return TrialState.FAIL, None
    else:
        values = [float(returned)]
    study.tell(trial, values)
    return TrialState.COMPLETE, None


def _results(study: optuna.Study) -> dict[str, Any]:
    done = study.get_trials(deepcopy=False, states=(TrialState.COMPLETE,))
    out: dict[str, Any] = {"name": "ploutos_optuna", "study_name": study.study_name}
    if not done:
        return {**out, "best_params": None}
    if len(study.directions) == 1:
        best = study.best_trial
        return {
            **out,
            "best_trial": best.number,
            "best_params": best.params,
            "best_value": best.value,
        }
    front = [{"trial": t.number, "params": t.params, "values": t.values} for t in study.best_trials]
    return {**out, "pareto_front": front}


def run_study(
    settings: SweepSettings,
    arguments: list[str],
    config: DictConfig,
    launcher: Launcher,
    validate_batch: Callable[[Sequence[Sequence[str]]], None],
) -> list[Sequence[JobReturn]]:
    """Run `settings.n_trials` trials of the study; returns every batch's job returns."""
    settings.check()
    space = parse_search_space(settings.params, arguments)
    sweep_dir = Path(str(config.hydra.sweep.dir))
    sweep_dir.mkdir(parents=True, exist_ok=True)
    OmegaConf.save(config, sweep_dir / "multirun.yaml")
    location = resolve_storage(settings.storage, sweep_dir)
    study = optuna.create_study(
        study_name=settings.study_name,
        storage=open_storage(location),
        directions=settings.directions,
        load_if_exists=True,
    )
    stored = [d.name.lower() for d in study.directions]
    if stored != settings.directions:
        raise ConfigError(
            "hydra.sweeper.direction",
            f"{settings.directions} but study '{settings.study_name}' in {location} has {stored}",
        )
    existing = len(study.trials)
    study.sampler = make_sampler(settings.sampler, space, len(stored), existing)
    make_pruner(settings.pruner)  # a bad pruner spec fails here, not in every trial
    study.set_user_attr(PRUNER_ATTR, dict(settings.pruner))
    # Single objective: the job's return value, the best score of trainer.monitor.
    names = settings.metrics or [
        f"best {OmegaConf.select(config, 'trainer.monitor', default='score')}"
    ]
    with warnings.catch_warnings():
        # set_metric_names is marked experimental; optuna-dashboard shows the names.
        warnings.simplefilter("ignore", optuna.exceptions.ExperimentalWarning)
        study.set_metric_names(names)
    write_study_record(
        sweep_dir,
        {
            "study_name": settings.study_name,
            "storage": location,
            "directions": stored,
            "metrics": settings.metrics,
            "objectives": names,
        },
    )
    left = _trials_left(settings, space, study)
    log.info(
        f"optuna: study '{settings.study_name}' in {location}: {existing} trial(s) stored, "
        f"running {left} ({settings.n_jobs} at a time)"
    )
    returns: list[Sequence[JobReturn]] = []
    errors: list[BaseException] = []
    finished = 0
    job_idx = 0
    while left > 0:
        trials = [study.ask(space.distributions) for _ in range(min(settings.n_jobs, left))]
        batch = [
            [
                *space.overrides_for(t.params),
                *callback_overrides(settings.study_name, location, t.number),
            ]
            for t in trials
        ]
        validate_batch(batch)
        results = launcher.launch(batch, initial_job_idx=job_idx)
        for trial, ret in zip(trials, results, strict=True):
            state, error = tell_outcome(study, trial, ret, settings.metrics)
            log.info(f"optuna: trial {trial.number} {state.name.lower()}: {trial.params}")
            if error is not None:
                errors.append(error)
            finished += state != TrialState.FAIL
        returns.append(results)
        job_idx += len(trials)
        left -= len(trials)
    results_doc = _results(study)
    OmegaConf.save(OmegaConf.create(results_doc), sweep_dir / RESULTS_FILE)
    log.info(f"optuna: {results_doc}")
    if errors and finished == 0:
        # Every trial of this invocation failed: that is a broken setup, not a search result.
        raise errors[0]
    return returns
