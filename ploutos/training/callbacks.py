"""Training callbacks whose clock is the env-step count of the algorithm (ploutos.algos.base).

Per iteration (one Lightning batch) they run in this order: evaluation on the validation
split when due, then checkpoints (best uses the evaluation just made), then early stopping.
All of them keep their counters in `state_dict`, so a resumed run carries on counting.
"""

from __future__ import annotations

import logging
import math
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

import lightning.pytorch as pl
import torch
from lightning.pytorch.callbacks import Callback, ProgressBar
from tqdm.auto import tqdm

from ploutos.algos.base import check_finite_parameters
from ploutos.errors import ConfigError
from ploutos.training.console import evaluation_line
from ploutos.training.schedule import crossed
from ploutos.training.selection import Selection

log = logging.getLogger(__name__)

# evaluate(policy) -> metrics without the "eval/" prefix, as ploutos.evaluation returns them;
# it runs the policy deterministically in eval mode.
EvaluateFn = Callable[[torch.nn.Module], dict[str, Any]]
EvaluationListener = Callable[[pl.Trainer, "EnvStepEvaluation", dict[str, Any], int], dict]


def _as_float(value: Any) -> float | None:
    if isinstance(value, torch.Tensor) and value.numel() == 1:
        value = value.item()
    if isinstance(value, bool) or not isinstance(value, int | float):
        return None
    return float(value)


def _log_step(trainer: pl.Trainer) -> int:
    # The step Lightning gives this iteration's self.log metrics, so eval rows line up with
    # train rows and W&B sees monotonically increasing steps.
    return int(trainer.fit_loop.epoch_loop._batches_that_stepped)


class EnvStepEvaluation(Callback):
    """Deterministic evaluation every `every` env steps and once at the end of training.

    Tracks the monitored metric: `improved` is True right after an evaluation that beat the
    best so far, `evals_since_best` counts evaluations without improvement.
    """

    def __init__(
        self,
        evaluate: EvaluateFn,
        every: int,
        total_timesteps: int,
        monitor: str = "eval/sharpe",
        mode: str = "max",
        split: str = "val",
        selection: Selection | None = None,
    ) -> None:
        self.evaluate = evaluate
        self.selection = selection  # trainer.select: what "best" means (selection.py)
        self.every = int(every)
        self.total_timesteps = int(total_timesteps)
        self.monitor = monitor
        self.mode = mode
        self.split = split  # named in the log line only; `evaluate` decides what it runs on
        self.n_evals = 0
        self.evals_since_best = 0
        self.best_score: float | None = None
        self.best_env_steps: int | None = None
        self.best_metrics: dict[str, float] = {}
        self.last_metrics: dict[str, float] = {}
        self.last_env_steps: int | None = None
        self.evaluated = False
        self.improved = False
        self._before = 0
        self._told_reward = False
        # Called at each evaluation with (trainer, self, what `evaluate` returned, log step);
        # the numbers they return join the evaluation's row (ploutos/dashboards).
        self.listeners: list[EvaluationListener] = []

    def _better(self, score: float) -> bool:
        if not math.isfinite(score):
            return False
        if self.best_score is None:
            return True
        return score > self.best_score if self.mode == "max" else score < self.best_score

    def on_train_batch_start(
        self, trainer: pl.Trainer, pl_module: pl.LightningModule, batch: Any, batch_idx: int
    ) -> None:
        self._before = int(pl_module.env_steps)

    def on_train_batch_end(
        self,
        trainer: pl.Trainer,
        pl_module: pl.LightningModule,
        outputs: Any,
        batch: Any,
        batch_idx: int,
    ) -> None:
        steps = int(pl_module.env_steps)
        self.evaluated = self.improved = False
        if crossed(self._before, steps, self.every) or steps >= self.total_timesteps:
            self.run_evaluation(trainer, pl_module, steps)

    def run_evaluation(
        self, trainer: pl.Trainer, pl_module: pl.LightningModule, steps: int
    ) -> None:
        # Evaluation must not move the training RNG streams: a run's trajectories are the
        # same whatever eval_freq is, and a resumed run matches a straight one.
        devices = [pl_module.device] if pl_module.device.type == "cuda" else []
        with torch.random.fork_rng(devices=devices), torch.no_grad():
            raw = self.evaluate(pl_module.policy)
        if raw.get("reward_replaced") and not self._told_reward:
            log.info(
                "evaluation: the training reward looks ahead, so evaluation scores with '%s' "
                "instead",
                raw.get("reward_used", "pnl"),
            )
            self._told_reward = True
        metrics = {f"eval/{k}": v for k, v in ((k, _as_float(v)) for k, v in raw.items())}
        metrics = {k: v for k, v in metrics.items() if v is not None}
        if self.monitor not in metrics:
            raise ConfigError(
                "trainer.monitor",
                f"'{self.monitor}' is not an evaluation metric; have {sorted(metrics)}",
            )
        self.n_evals += 1
        self.last_metrics = metrics
        self.last_env_steps = steps
        self.evaluated = True
        score = metrics[self.monitor] if self.selection is None else (
            self.selection.score(metrics, steps)
        )
        if self._better(score):
            self.best_score, self.best_env_steps, self.best_metrics = score, steps, metrics
            self.evals_since_best = 0
            self.improved = True
        else:
            self.evals_since_best += 1
        if trainer.is_global_zero:
            log.info(evaluation_line(steps, self.split, metrics, trainer.callback_metrics))
        row = {**metrics, "train/env_steps": float(steps)}
        for listener in self.listeners:
            row.update(listener(trainer, self, raw, _log_step(trainer)))
        for logger in trainer.loggers:
            logger.log_metrics(row, step=_log_step(trainer))

    def state_dict(self) -> dict[str, Any]:
        return {
            "n_evals": self.n_evals,
            "evals_since_best": self.evals_since_best,
            "best_score": self.best_score,
            "best_env_steps": self.best_env_steps,
            "best_metrics": self.best_metrics,
            "last_metrics": self.last_metrics,
            "last_env_steps": self.last_env_steps,
        }

    def load_state_dict(self, state_dict: dict[str, Any]) -> None:
        for key, value in state_dict.items():
            setattr(self, key, value)


class EnvStepCheckpoint(Callback):
    """periodic/envsteps=N.ckpt every `every` env steps (the newest `keep_periodic` of them, or
    all), best.ckpt whenever the evaluation improved, last.ckpt with every periodic one and at
    the end of training.

    Files are written by the trainer's checkpoint IO (atomic, see checkpoint_io.py).
    """

    def __init__(
        self,
        dirpath: Path,
        every: int,
        evaluation: EnvStepEvaluation,
        save_best: bool = True,
        save_last: bool = True,
        keep_periodic: int | None = None,
    ) -> None:
        self.dirpath = Path(dirpath)
        self.every = int(every)
        self.evaluation = evaluation
        self.save_best = save_best
        self.save_last = save_last
        self.keep_periodic = keep_periodic
        self.periodic: list[str] = []
        self.best_path: str | None = None
        self.last_path: str | None = None
        self.last_saved_steps: int | None = None
        self._before = 0

    @property
    def last_good(self) -> str:
        return self.last_path or (self.periodic[-1] if self.periodic else "none written yet")

    def check_weights(self, pl_module: pl.LightningModule) -> None:
        """Refuse to write a checkpoint from non-finite weights (the last good one stays)."""
        check_finite_parameters(
            pl_module,
            f"iteration {pl_module.iterations} (last good checkpoint kept: {self.last_good})",
        )

    def save(self, trainer: pl.Trainer, pl_module: pl.LightningModule, path: Path) -> str:
        trainer.save_checkpoint(path, weights_only=False)
        self.last_saved_steps = int(pl_module.env_steps)
        if trainer.is_global_zero:
            log.info("checkpoint: %s (%s env steps)", path, f"{self.last_saved_steps:,}")
        return str(path)

    def on_train_batch_start(
        self, trainer: pl.Trainer, pl_module: pl.LightningModule, batch: Any, batch_idx: int
    ) -> None:
        self._before = int(pl_module.env_steps)

    def on_train_batch_end(
        self,
        trainer: pl.Trainer,
        pl_module: pl.LightningModule,
        outputs: Any,
        batch: Any,
        batch_idx: int,
    ) -> None:
        steps = int(pl_module.env_steps)
        periodic_due = crossed(self._before, steps, self.every)
        if periodic_due or (self.save_best and self.evaluation.improved):
            self.check_weights(pl_module)
        if self.save_best and self.evaluation.improved:
            self.best_path = str(self.dirpath / "best.ckpt")
            self.save(trainer, pl_module, Path(self.best_path))
        if periodic_due:
            # No '=' in the name: Hydra's command line would reject it in ckpt_path=...
            path = self.dirpath / "periodic" / f"envsteps_{steps:012d}.ckpt"
            # The lists are recorded before the writes, so every checkpoint lists itself;
            # last.ckpt goes first, so a kill between the two leaves it the newest file.
            self.periodic.append(str(path))
            if self.save_last:
                self.last_path = str(self.dirpath / "last.ckpt")
                self.save(trainer, pl_module, Path(self.last_path))
            self.save(trainer, pl_module, path)
            if self.keep_periodic is not None:
                self.prune_periodic(trainer)

    def prune_periodic(self, trainer: pl.Trainer) -> None:
        """Delete this run's oldest periodic checkpoints beyond `keep_periodic` (a 50M-step run
        writes hundreds); files listed from a run this one resumed are never touched."""
        own = [p for p in self.periodic if Path(p).parent == self.dirpath / "periodic"]
        for path in own[: max(len(own) - self.keep_periodic, 0)]:
            self.periodic.remove(path)
            if trainer.is_global_zero:
                Path(path).unlink(missing_ok=True)

    def on_train_end(self, trainer: pl.Trainer, pl_module: pl.LightningModule) -> None:
        if self.save_last:
            self.check_weights(pl_module)
            self.last_path = str(self.dirpath / "last.ckpt")
            self.save(trainer, pl_module, Path(self.last_path))

    def paths(self) -> dict[str, Any]:
        return {"best": self.best_path, "last": self.last_path, "periodic": list(self.periodic)}

    def state_dict(self) -> dict[str, Any]:
        return {"periodic": self.periodic, "best_path": self.best_path, "last_path": self.last_path}

    def load_state_dict(self, state_dict: dict[str, Any]) -> None:
        # Paths of the run this one resumes from: kept for the record, new files go to dirpath.
        self.periodic = list(state_dict.get("periodic", []))
        self.best_path = state_dict.get("best_path")
        self.last_path = state_dict.get("last_path")


class EvalEarlyStopping(Callback):
    """Stop when `patience` evaluations in a row did not improve the monitored metric, but
    never before `min_evals` evaluations have run."""

    def __init__(self, evaluation: EnvStepEvaluation, patience: int, min_evals: int) -> None:
        self.evaluation = evaluation
        self.patience = int(patience)
        self.min_evals = int(min_evals)
        self.stopped_at: int | None = None

    def on_train_batch_end(
        self,
        trainer: pl.Trainer,
        pl_module: pl.LightningModule,
        outputs: Any,
        batch: Any,
        batch_idx: int,
    ) -> None:
        ev = self.evaluation
        if not ev.evaluated:
            return
        if trainer.is_global_zero:
            log.info(
                "early stopping: %d/%d evaluations without a better %s (%d/%d evaluations before "
                "it may stop)",
                ev.evals_since_best, self.patience, ev.monitor, min(ev.n_evals, self.min_evals),
                self.min_evals,
            )
        if ev.n_evals < self.min_evals or ev.evals_since_best < self.patience:
            return
        self.stopped_at = int(pl_module.env_steps)
        trainer.should_stop = True
        log.info(
            "early stopping at %s env steps: %d evaluations without a better %s (best %.4f at %s)",
            f"{self.stopped_at:,}", ev.evals_since_best, ev.monitor, ev.best_score,
            f"{ev.best_env_steps:,}",
        )

    def state_dict(self) -> dict[str, Any]:
        return {"stopped_at": self.stopped_at}

    def load_state_dict(self, state_dict: dict[str, Any]) -> None:
        self.stopped_at = state_dict.get("stopped_at")


class Throughput(Callback):
    """Env steps and wall time of this fit (after any resume), for the run summary."""

    def __init__(self) -> None:
        self.start_steps = 0
        self.end_steps = 0
        self._t0 = time.perf_counter()
        self.seconds = 0.0

    def on_train_start(self, trainer: pl.Trainer, pl_module: pl.LightningModule) -> None:
        self.start_steps = self.end_steps = int(pl_module.env_steps)
        self._t0 = time.perf_counter()

    def on_train_batch_end(
        self,
        trainer: pl.Trainer,
        pl_module: pl.LightningModule,
        outputs: Any,
        batch: Any,
        batch_idx: int,
    ) -> None:
        self.end_steps = int(pl_module.env_steps)
        self.seconds = time.perf_counter() - self._t0

    @property
    def steps_per_second(self) -> float:
        return (self.end_steps - self.start_steps) / self.seconds if self.seconds > 0 else 0.0


class EnvStepProgressBar(ProgressBar):
    """A tqdm bar in env steps, with the run's env steps/s (the Throughput clock, the one the
    summary reports) and the last evaluation's Sharpe."""

    def __init__(
        self, total_timesteps: int, evaluation: EnvStepEvaluation, throughput: Throughput
    ) -> None:
        super().__init__()
        self.total_timesteps = int(total_timesteps)
        self.evaluation = evaluation
        self.throughput = throughput
        self._enabled = True
        self._bar: tqdm | None = None

    def disable(self) -> None:
        self._enabled = False

    def enable(self) -> None:
        self._enabled = True

    def on_train_start(self, trainer: pl.Trainer, pl_module: pl.LightningModule) -> None:
        self._bar = tqdm(
            total=self.total_timesteps,
            initial=int(pl_module.env_steps),
            desc="training",
            unit="step",
            unit_scale=True,
            disable=not self._enabled,
            dynamic_ncols=True,
        )

    def on_train_batch_end(
        self,
        trainer: pl.Trainer,
        pl_module: pl.LightningModule,
        outputs: Any,
        batch: Any,
        batch_idx: int,
    ) -> None:
        if self._bar is None:
            return
        self._bar.update(int(pl_module.env_steps) - self._bar.n)
        postfix = {"steps/s": f"{self.throughput.steps_per_second:,.0f}"}
        sharpe = self.evaluation.last_metrics.get("eval/sharpe")
        if sharpe is not None:
            postfix["eval_sharpe"] = f"{sharpe:.3f}"
        self._bar.set_postfix(postfix, refresh=False)

    def on_train_end(self, trainer: pl.Trainer, pl_module: pl.LightningModule) -> None:
        if self._bar is not None:
            self._bar.close()
            self._bar = None

    def on_exception(
        self, trainer: pl.Trainer, pl_module: pl.LightningModule, exception: BaseException
    ) -> None:
        self.on_train_end(trainer, pl_module)
