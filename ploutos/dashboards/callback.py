"""The training run's dashboards: one Lightning callback the training app adds.

- every evaluation (EnvStepEvaluation calls `on_evaluation`): the seed's monitoring scalars
  (train-eval gap, early-stopping counter) join the evaluation's row, and the loggers whose
  `charts` is on get the equity image, action histograms and the per-ticker table
  (media.py), drawn from the evaluation's own episode;
- the drawing (matplotlib, PNG encoding, W&B media objects, TensorBoard's writer, which is
  thread-safe) runs on one worker thread while training goes on; only wandb's run.log, which
  is not thread-safe, stays on the training thread: at the first iteration end after the
  drawing is done, with the evaluation's step, and before the artifacts at the end;
- every checkpoint: the W&B run's identity inside the file, so a backtest of it can log to
  the run it evaluates;
- at the end of training: best.ckpt and last.ckpt as W&B artifacts (artifacts.py).
"""

from __future__ import annotations

import logging
from collections import deque
from collections.abc import Mapping
from concurrent.futures import Future, ThreadPoolExecutor
from typing import Any

import lightning.pytorch as pl
import torch
from lightning.pytorch.callbacks import Callback
from lightning.pytorch.loggers import TensorBoardLogger, WandbLogger
from omegaconf import DictConfig, OmegaConf

from ploutos.dashboards.artifacts import RUN_KEY, log_checkpoint_artifacts
from ploutos.dashboards.charts import EvaluationCharter, EvaluationCharts, equity_figure, render
from ploutos.dashboards.media import log_to_tensorboard, wandb_payload
from ploutos.training.callbacks import EnvStepCheckpoint, EnvStepEvaluation
from ploutos.training.metric_names import monitoring_series

log = logging.getLogger(__name__)


def _spec(logger_cfg: DictConfig | None, name: str) -> Mapping[str, Any]:
    node = (logger_cfg or {}).get(name)
    return node if isinstance(node, Mapping) else {}


class Dashboards(Callback):
    """See the module docstring. `charter` turns an evaluation's EpisodeLog into charts."""

    def __init__(
        self,
        cfg: DictConfig,
        evaluation: EnvStepEvaluation,
        checkpoints: EnvStepCheckpoint,
        charter: EvaluationCharter,
        market_meta: Mapping[str, Any] | None = None,
    ) -> None:
        self.cfg = cfg
        self.evaluation = evaluation
        self.checkpoints = checkpoints
        self.charter = charter
        self.market_meta = dict(market_meta or {})
        self.wandb_charts = bool(_spec(cfg.logger, "wandb").get("charts", True))
        self.wandb_checkpoints = bool(_spec(cfg.logger, "wandb").get("checkpoints", True))
        self.tensorboard_charts = bool(_spec(cfg.logger, "tensorboard").get("charts", True))
        self._worker: ThreadPoolExecutor | None = None
        self._drawn: deque[Future] = deque()  # in evaluation order: W&B payloads or None
        evaluation.listeners.append(self.on_evaluation)

    @staticmethod
    def _wandb(trainer: pl.Trainer) -> WandbLogger | None:
        return next((lg for lg in trainer.loggers if isinstance(lg, WandbLogger)), None)

    def _chart_targets(self, trainer: pl.Trainer) -> list[Any]:
        return [
            logger
            for logger in trainer.loggers
            if (isinstance(logger, WandbLogger) and self.wandb_charts)
            or (isinstance(logger, TensorBoardLogger) and self.tensorboard_charts)
        ]

    def on_evaluation(
        self, trainer: pl.Trainer, evaluation: EnvStepEvaluation, raw: dict[str, Any], step: int
    ) -> dict[str, float]:
        scalars = monitoring_series(
            trainer.callback_metrics,
            evaluation.last_metrics,
            evaluation.evals_since_best,
            evaluation.best_score,
        )
        episode = raw.get("episode_log")
        targets = self._chart_targets(trainer) if trainer.is_global_zero else []
        if episode is None or not targets:
            return scalars
        # The buy-and-hold run must not move the training RNG streams either.
        with torch.random.fork_rng(devices=[]), torch.no_grad():
            charts = self.charter(episode)
        steps = f"{evaluation.last_env_steps:,}" if evaluation.last_env_steps is not None else "?"
        wandb_on = any(isinstance(lg, WandbLogger) for lg in targets)
        writers = [lg.experiment for lg in targets if isinstance(lg, TensorBoardLogger)]
        if self._worker is None:
            self._worker = ThreadPoolExecutor(max_workers=1, thread_name_prefix="dashboards")
        self._drawn.append(
            self._worker.submit(
                self._draw, charts, f"{charts.split} at {steps} env steps", step, wandb_on, writers
            )
        )
        return scalars

    @staticmethod
    def _draw(
        charts: EvaluationCharts, title: str, step: int, wandb_on: bool, writers: list[Any]
    ) -> dict[str, Any] | None:
        """On the worker: render once, write TensorBoard, build the W&B payload."""
        image = render(equity_figure(charts, title))
        for writer in writers:
            log_to_tensorboard(writer, charts, image, step)
        return {**wandb_payload(charts, image), "trainer/global_step": step} if wandb_on else None

    def _log_drawn(self, trainer: pl.Trainer, wait: bool) -> None:
        """run.log the finished drawings in order (all of them when `wait`); a failure on the
        worker is raised here."""
        while self._drawn and (wait or self._drawn[0].done()):
            payload = self._drawn.popleft().result()
            wb = self._wandb(trainer)
            if payload is not None and wb is not None:
                wb.experiment.log(payload)

    def _stop_worker(self, trainer: pl.Trainer) -> None:
        self._log_drawn(trainer, wait=True)
        if self._worker is not None:
            self._worker.shutdown(wait=True)
            self._worker = None

    def on_train_batch_end(
        self,
        trainer: pl.Trainer,
        pl_module: pl.LightningModule,
        outputs: Any,
        batch: Any,
        batch_idx: int,
    ) -> None:
        if self._drawn:
            self._log_drawn(trainer, wait=False)

    def on_exception(
        self, trainer: pl.Trainer, pl_module: pl.LightningModule, exception: BaseException
    ) -> None:
        try:
            self._stop_worker(trainer)
        except Exception as err:  # the training's own exception is the one to report
            log.warning("dashboards: evaluation charts not logged (%s)", err)

    def on_save_checkpoint(
        self, trainer: pl.Trainer, pl_module: pl.LightningModule, checkpoint: dict[str, Any]
    ) -> None:
        wb = self._wandb(trainer)
        if wb is None or not trainer.is_global_zero:
            return
        run = wb.experiment
        checkpoint[RUN_KEY] = {
            "id": str(run.id),
            "project": str(run.project),
            "entity": run.entity or None,
            "group": run.group or None,
        }

    def artifact_metadata(self) -> dict[str, Any]:
        ev = self.evaluation
        return {
            "config": OmegaConf.to_container(self.cfg, resolve=True),
            "data_fingerprint": self.market_meta.get("fingerprint"),
            "tickers": self.market_meta.get("tickers"),
            "monitor": ev.monitor,
            "best_score": ev.best_score,
            "best_env_steps": ev.best_env_steps,
        }

    def on_train_end(self, trainer: pl.Trainer, pl_module: pl.LightningModule) -> None:
        self._stop_worker(trainer)
        wb = self._wandb(trainer)
        if wb is None or not self.wandb_checkpoints or not trainer.is_global_zero:
            return
        paths = {"best": self.checkpoints.best_path, "latest": self.checkpoints.last_path}
        logged = log_checkpoint_artifacts(wb.experiment, paths, self.artifact_metadata())
        if logged:
            name = f"model-{wb.experiment.id}"
            log.info(
                "W&B artifacts: %s (backtest one with: python backtest.py ckpt=wandb:%s:best)",
                ", ".join(f"{name}:{a}" for a in logged), name,
            )
