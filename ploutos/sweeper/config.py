"""The sweeper's structured config (`hydra/sweeper=ploutos_optuna`; ppo_search builds on it).

Registered in Hydra's ConfigStore by the plugin shim (hydra_plugins/ploutos_sweeper), so an
unknown key or a wrong type fails when the config is composed.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

from hydra.core.config_store import ConfigStore

SAMPLERS = ("tpe", "cmaes", "random", "grid")
# The node of the training config's `callbacks` group the sweeper fills for each trial.
CALLBACK_KEY = "callbacks.optuna_trial"
# Study user attribute holding the pruner spec (written by the sweeper, read by each trial).
PRUNER_ATTR = "ploutos_pruner"
# Trial user attributes: the run folder and, for a pruned trial, where it stopped.
RUN_DIR_ATTR = "run_dir"
PRUNED_ATTR = "pruned"
PRUNERS = ("none", "median", "successive_halving")


@dataclass
class SamplerConf:
    # tpe (default) | cmaes | random | grid (needs every searched key as a choice)
    name: str = "tpe"
    # null: unseeded. A resumed study seeds with seed + trials already in the storage, so a
    # rerun does not draw the first invocation's parameters again.
    seed: int | None = 0
    # tpe and cmaes: random trials before the model of the search space takes over.
    n_startup_trials: int = 10


@dataclass
class PrunerConf:
    # none | median | successive_halving
    name: str = "none"
    # Trials that must complete before any trial is pruned.
    n_startup_trials: int = 5
    # Evaluations of every trial that are never pruned (the first ones are noisy).
    n_warmup_evals: int = 1
    # successive_halving: the top 1/reduction_factor of a rung goes on to the next.
    reduction_factor: int = 3


@dataclass
class OptunaSweeperConf:
    # Hydra instantiates plugins from the hydra_plugins package only (the shim subclasses it).
    _target_: str = "hydra_plugins.ploutos_sweeper.ploutos_sweeper.PloutosOptunaSweeper"
    # maximize | minimize, or one per metric for a multi-objective study.
    direction: Any = "maximize"
    # null: one objective, the job's return value (the best eval score of trainer.monitor).
    # A list: one value per direction, read from summary.json's best_eval.metrics (the
    # evaluation of the best checkpoint), e.g. [eval/sharpe, eval/max_drawdown].
    metrics: list[str] | None = None
    study_name: str = "ploutos"
    # sqlite:///PATH.db (or any SQLAlchemy URL), or a journal file PATH (no "://"). null: a
    # fresh SQLite file in the sweep folder. The same storage and study_name resume a study.
    storage: str | None = None
    # Trials this invocation runs (a resumed study adds them to those it has).
    n_trials: int = 20
    # Trials asked for at once and handed to the launcher as one batch.
    n_jobs: int = 1
    sampler: SamplerConf = field(default_factory=SamplerConf)
    pruner: PrunerConf = field(default_factory=PrunerConf)
    # key: interval(a, b) | tag(log, interval(a, b)) | choice(a, b, ...) | range(a, b) | value
    params: dict[str, str] | None = None


def register_sweeper_config() -> None:
    ConfigStore.instance().store(
        group="hydra/sweeper", name="ploutos_optuna", node=OptunaSweeperConf, provider="ploutos"
    )
