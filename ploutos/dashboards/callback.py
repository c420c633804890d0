"""The training run's dashboards: one Lightning callback the training app adds.

- every evaluation (EnvStepEvaluation calls `on_evaluation`): the seed's monitoring scalars
  (train-eval gap, early-stopping counter) join the evaluation's row, always; the loggers whose
  `charts` is on get the equity image, action histograms and the per-ticker table (media.py),
  drawn from the evaluation's own episode, when the charts budget allows (budget.py: the
  charts' CPU time stays within `charts_budget` x the training's); an evaluation the budget
  skipped is drawn at the end of training when it was the last or the best one;
- the drawing (the charts' numbers and the buy-and-hold run, matplotlib, PNG encoding, W&B
  media objects, TensorBoard's writer, which is thread-safe) runs on one worker thread while
  training goes on, one drawing at a time (an evaluation arriving while one is in flight is
  not drawn); only wandb's run.log, which is not thread-safe, stays on the training thread:
  at the first iteration end after the drawing is done, with the evaluation's step, and
  before the artifacts at the end;
- every checkpoint: the W&B run's identity inside the file, so a backtest of it can log to
  the run it evaluates;
- at the end of training: best.ckpt and last.ckpt as W&B artifacts (artifacts.py).
"""

from __future__ import annotations

import logging
import shutil
import tempfile
import time
from collections import deque
from collections.abc import Mapping
from concurrent.futures import Future, ThreadPoolExecutor
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import lightning.pytorch as pl
import torch
from lightning.pytorch.callbacks import Callback
from lightning.pytorch.loggers import TensorBoardLogger, WandbLogger
from omegaconf import DictConfig, OmegaConf

from ploutos.dashboards.artifacts import RUN_KEY, log_checkpoint_artifacts
from ploutos.dashboards.budget import ChartBudget, check_fraction
from ploutos.dashboards.charts import EvaluationCharter
from ploutos.dashboards.figure import EquityFigure, png_bytes
from ploutos.dashboards.media import log_to_tensorboard, section, wandb_payload
from ploutos.evaluation.runner import EpisodeLog
from ploutos.training.callbacks import EnvStepCheckpoint, EnvStepEvaluation
from ploutos.training.metric_names import monitoring_series

log = logging.getLogger(__name__)


CHART_LOGGERS = ("wandb", "tensorboard")
DEFAULT_BUDGET = 0.02


def _spec(logger_cfg: DictConfig | None, name: str) -> Mapping[str, Any]:
    node = (logger_cfg or {}).get(name)
    return node if isinstance(node, Mapping) else {}


def charts_budget(logger_cfg: DictConfig | None) -> float | None:
    """The share of training CPU time the charts may take: each chart logger's
    `charts_budget`; one drawing serves all of them, so the largest applies (null: none)."""
    shares = []
    for name in CHART_LOGGERS:
        spec = _spec(logger_cfg, name)
        if (logger_cfg or {}).get(name) is None or not spec.get("charts", True):
            continue
        share = check_fraction(
            spec.get("charts_budget", DEFAULT_BUDGET), f"logger.{name}.charts_budget"
        )
        if share is None:
            return None
        shares.append(share)
    return max(shares, default=DEFAULT_BUDGET)


@dataclass(frozen=True)
class _Evaluation:
    """What drawing an evaluation needs: its episode, the image's title, its log step."""

    episode: EpisodeLog
    title: str
    step: int


@dataclass(frozen=True)
class _Drawn:
    """A finished drawing: the W&B payload (None without W&B) and the PNG file it points
    at, its CPU time on the worker, and `once`: the part spent on the buy-and-hold run."""

    payload: dict[str, Any] | None
    png_path: Path | None
    seconds: float
    once: float


class Dashboards(Callback):
    """See the module docstring. `charter` turns an evaluation's EpisodeLog into charts."""

    def __init__(
        self,
        cfg: DictConfig,
        evaluation: EnvStepEvaluation,
        checkpoints: EnvStepCheckpoint,
        charter: EvaluationCharter,
        market_meta: Mapping[str, Any] | None = None,
        budget: ChartBudget | None = None,
    ) -> None:
        self.cfg = cfg
        self.evaluation = evaluation
        self.checkpoints = checkpoints
        self.charter = charter
        self.market_meta = dict(market_meta or {})
        self.wandb_charts = bool(_spec(cfg.logger, "wandb").get("charts", True))
        self.wandb_checkpoints = bool(_spec(cfg.logger, "wandb").get("checkpoints", True))
        self.tensorboard_charts = bool(_spec(cfg.logger, "tensorboard").get("charts", True))
        self.budget = budget if budget is not None else ChartBudget(charts_budget(cfg.logger))
        self.n_evaluations = 0  # evaluations that had charts to draw
        self._worker: ThreadPoolExecutor | None = None
        self._drawn: deque[Future[_Drawn]] = deque()  # in evaluation order
        self._figure: EquityFigure | None = None  # the worker's
        self._png_dir: Path | None = None
        # Evaluations the budget skipped that the end of training still draws.
        self._latest_undrawn: _Evaluation | None = None
        self._best_undrawn: _Evaluation | None = None
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

    def on_train_start(self, trainer: pl.Trainer, pl_module: pl.LightningModule) -> None:
        self.budget.start()

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
        if episode is None or not self._chart_targets(trainer) or not trainer.is_global_zero:
            return scalars
        self.n_evaluations += 1
        self._log_drawn(trainer, wait=False)  # the budget counts every finished drawing
        steps = f"{evaluation.last_env_steps:,}" if evaluation.last_env_steps is not None else "?"
        current = _Evaluation(episode, f"{episode.split} at {steps} env steps", step)
        final = (evaluation.last_env_steps or 0) >= evaluation.total_timesteps
        in_flight = bool(self._drawn) and not self._drawn[-1].done()
        if final or (not in_flight and self.budget.allows()):
            self._submit(trainer, current)
            self._latest_undrawn = None
            if evaluation.improved:
                self._best_undrawn = None
            if final:
                self._draw_undrawn(trainer)
        else:
            self._latest_undrawn = current
            if evaluation.improved:
                self._best_undrawn = current
        return scalars

    def _draw_undrawn(self, trainer: pl.Trainer) -> None:
        """The best and the last evaluation, if the budget skipped them."""
        best, latest = self._best_undrawn, self._latest_undrawn
        for pending in (best, latest if latest is not best else None):
            if pending is not None:
                self._submit(trainer, pending)
        self._best_undrawn = self._latest_undrawn = None

    def _submit(self, trainer: pl.Trainer, evaluation: _Evaluation) -> None:
        targets = self._chart_targets(trainer)
        wandb_on = any(isinstance(lg, WandbLogger) for lg in targets)
        writers = [lg.experiment for lg in targets if isinstance(lg, TensorBoardLogger)]
        if self._worker is None:
            self._worker = ThreadPoolExecutor(max_workers=1, thread_name_prefix="dashboards")
        self._drawn.append(self._worker.submit(self._draw, evaluation, wandb_on, writers))

    def _draw(self, evaluation: _Evaluation, wandb_on: bool, writers: list[Any]) -> _Drawn:
        """On the worker: the charts' numbers, one drawing and one PNG for every logger,
        TensorBoard's writes and the W&B payload."""
        began = time.thread_time()
        baseline_before = self.charter.baseline_seconds
        with torch.no_grad():  # grad mode is per thread
            charts = self.charter(evaluation.episode)
        if self._figure is None:
            self._figure = EquityFigure()
        pixels = self._figure.pixels(charts, evaluation.title)
        png = png_bytes(pixels)
        for writer in writers:
            log_to_tensorboard(writer, charts, png, pixels.shape, evaluation.step)
        payload = png_path = None
        if wandb_on:
            if self._png_dir is None:
                self._png_dir = Path(tempfile.mkdtemp(prefix="ploutos-dashboards-"))
            png_path = self._png_dir / f"{section(charts.split)}-{evaluation.step}.png"
            png_path.write_bytes(png)
            payload = {**wandb_payload(charts, png_path), "trainer/global_step": evaluation.step}
        once = self.charter.baseline_seconds - baseline_before
        return _Drawn(payload, png_path, time.thread_time() - began - once, once)

    def _log_drawn(self, trainer: pl.Trainer, wait: bool) -> None:
        """run.log the finished drawings in order (all of them when `wait`) and charge the
        budget; a failure on the worker is raised here."""
        while self._drawn and (wait or self._drawn[0].done()):
            drawn = self._drawn.popleft().result()
            began = time.thread_time()
            wb = self._wandb(trainer)
            if drawn.payload is not None and wb is not None:
                wb.experiment.log(drawn.payload)  # W&B copies the PNG into the run
            if drawn.png_path is not None:
                drawn.png_path.unlink(missing_ok=True)
            self.budget.charge(drawn.seconds + time.thread_time() - began, once=drawn.once)

    def _stop_worker(self, trainer: pl.Trainer) -> None:
        try:
            self._log_drawn(trainer, wait=True)
        finally:
            if self._worker is not None:
                self._worker.shutdown(wait=True)
                self._worker = None
            if self._png_dir is not None:
                shutil.rmtree(self._png_dir, ignore_errors=True)
                self._png_dir = None

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
        self._draw_undrawn(trainer)  # a run stopped early: its last and best evaluations
        self._stop_worker(trainer)
        if self.n_evaluations:
            budget = self.budget
            log.info(
                "dashboards: charts at %d of %d evaluations, %.2f CPU-s, %.1f%% of training "
                "(charts_budget %s)", budget.drawn, self.n_evaluations, budget.spent,
                100.0 * budget.share(), budget.fraction,
            )
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
