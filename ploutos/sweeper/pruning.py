"""TrialPruning: the Lightning callback that ties one training run to its Optuna trial.

The sweeper adds it to every trial through the training app's `callbacks` group:

    ++callbacks.optuna_trial._target_=ploutos.sweeper.pruning.TrialPruning
    ++callbacks.optuna_trial.study_name=NAME ++callbacks.optuna_trial.storage=LOCATION
    ++callbacks.optuna_trial.trial_number=N

After each evaluation of the app's EnvStepEvaluation it reports the monitored metric
(trainer.monitor) at step = evaluation index, and asks the study's pruner (the sweeper stores
its spec in the study) whether the trial falls behind. If so it records where in the trial's
user attributes and stops the run the way early stopping does: the app keeps its checkpoints
and writes summary.json, which the sweeper then marks `status: pruned`.
"""

from __future__ import annotations

import logging
from pathlib import Path
from typing import Any

import lightning.pytorch as pl
import optuna
from lightning.pytorch.callbacks import Callback
from optuna.study import StudyDirection

from ploutos.errors import ConfigError
from ploutos.sweeper.config import PRUNED_ATTR, PRUNER_ATTR, RUN_DIR_ATTR
from ploutos.sweeper.storage import open_storage
from ploutos.sweeper.strategies import make_pruner
from ploutos.training.callbacks import EnvStepEvaluation

log = logging.getLogger(__name__)

def _evaluation(trainer: pl.Trainer) -> EnvStepEvaluation:
    found = [cb for cb in trainer.callbacks if isinstance(cb, EnvStepEvaluation)]
    if len(found) != 1:
        raise RuntimeError(f"TrialPruning needs one EnvStepEvaluation callback, found {len(found)}")
    return found[0]


class TrialPruning(Callback):
    """Report evaluations to trial `trial_number` of `study_name` in `storage`; stop the run
    when the study's pruner says so."""

    def __init__(self, study_name: str, storage: str, trial_number: int) -> None:
        self.study_name = str(study_name)
        self.storage = str(storage)
        self.trial_number = int(trial_number)
        self.pruned_at: dict[str, Any] | None = None
        self._trial: optuna.Trial | None = None
        self._evaluation: EnvStepEvaluation | None = None
        self._reports = False

    def on_fit_start(self, trainer: pl.Trainer, pl_module: pl.LightningModule) -> None:
        self._evaluation = _evaluation(trainer)
        if not trainer.is_global_zero:
            return
        storage = open_storage(self.storage)
        study = optuna.load_study(study_name=self.study_name, storage=storage)
        study.pruner = make_pruner(study.user_attrs.get(PRUNER_ATTR, {"name": "none"}))
        study_id = storage.get_study_id_from_name(self.study_name)
        trial_id = storage.get_trial_id_from_study_id_trial_number(study_id, self.trial_number)
        self._trial = optuna.Trial(study, trial_id)
        self._trial.set_user_attr(RUN_DIR_ATTR, str(Path(trainer.default_root_dir).resolve()))
        # Optuna prunes single-objective studies only; a Pareto search reports nothing.
        self._reports = len(study.directions) == 1
        if self._reports:
            wanted = "max" if study.direction == StudyDirection.MAXIMIZE else "min"
            if self._evaluation.mode != wanted:
                raise ConfigError(
                    "trainer.mode",
                    f"is '{self._evaluation.mode}' but the study {study.direction.name.lower()}s "
                    f"{self._evaluation.monitor}; make them agree",
                )

    def on_train_batch_end(
        self,
        trainer: pl.Trainer,
        pl_module: pl.LightningModule,
        outputs: Any,
        batch: Any,
        batch_idx: int,
    ) -> None:
        evaluation = self._evaluation
        if evaluation is None or not evaluation.evaluated:
            return
        prune = self._report(evaluation) if self._trial is not None and self._reports else False
        # Every process of a DDP run stops at the same iteration.
        if trainer.strategy.broadcast(prune, src=0):
            trainer.should_stop = True

    def _report(self, evaluation: EnvStepEvaluation) -> bool:
        """Report the evaluation just made; True when the pruner stops the trial."""
        assert self._trial is not None
        score = float(evaluation.last_metrics[evaluation.monitor])
        step = evaluation.n_evals - 1
        self._trial.report(score, step)
        if not self._trial.should_prune():
            return False
        self.pruned_at = {
            "eval": step,
            "env_steps": int(evaluation.last_env_steps or 0),
            "score": score,
            "monitor": evaluation.monitor,
        }
        self._trial.set_user_attr(PRUNED_ATTR, self.pruned_at)
        log.info(
            f"optuna: trial {self.trial_number} pruned at evaluation {step} "
            f"({evaluation.monitor} {score:.4f} at {self.pruned_at['env_steps']:,} env steps)"
        )
        return True
