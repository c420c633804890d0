"""The training app behind `python train.py`: config -> market -> algorithm -> Lightning Trainer.

The algorithm comes from the registry (cfg.algo, see ploutos.algos.registry) and is used only
through the Algorithm base's interface. Env steps are the unit throughout: the algorithm
turns total_timesteps into iterations (one Lightning batch each), and the callbacks fire on
env-step counts. A run writes into its
output folder (Hydra's run dir unless trainer.output_dir says otherwise):

    checkpoints/{best,last}.ckpt, checkpoints/periodic/envsteps_N.ckpt
    csv/metrics.csv, tensorboard/, wandb/ (per the logger group)
    summary.json, train.log (Hydra's log of what ploutos.training.console writes)

A stop signal (trainer.stop_signals) ends the run after the current iteration with last.ckpt
and an `interrupted` summary naming the resume command (ploutos/training/signals.py).
"""

from __future__ import annotations

import logging
import signal
import sys
import time
from collections.abc import Sequence
from contextlib import nullcontext
from datetime import datetime
from pathlib import Path
from typing import Any

import lightning.pytorch as pl
import torch
from hydra.core.hydra_config import HydraConfig
from hydra.utils import instantiate
from lightning.pytorch.callbacks import Callback
from omegaconf import DictConfig, OmegaConf
from tqdm.contrib.logging import logging_redirect_tqdm

from ploutos.apps.cli import ROOT_LOGGER, RunInterrupted, ensure_console
from ploutos.errors import TrainingDiverged
from ploutos.io import remove_stale_temp_files
from ploutos.market import Market
from ploutos.training.callbacks import (
    EnvStepCheckpoint,
    EnvStepEvaluation,
    EnvStepProgressBar,
    EvalEarlyStopping,
    Throughput,
)
from ploutos.training.checkpoint_io import AtomicCheckpointIO
from ploutos.training.console import IterationLog
from ploutos.training.host_memory import keep_freed_memory
from ploutos.training.loggers import finish_loggers, make_loggers, resolved_container
from ploutos.training.resume import (
    AUTO,
    check_resumable,
    check_resume_data,
    finished_summary,
    own_checkpoint,
    read_resume_checkpoint,
)
from ploutos.training.selection import Selection
from ploutos.training.signals import GracefulStop, StopNow, parse_signals, resume_command
from ploutos.training.summary import write_summary
from ploutos.training.validate import validate_training

log = logging.getLogger(__name__)


def output_dir(cfg: DictConfig) -> Path:
    """trainer.output_dir, else Hydra's run dir, else a fresh folder under outputs/."""
    if cfg.trainer.get("output_dir"):
        return Path(cfg.trainer.output_dir)
    if HydraConfig.initialized():
        return Path(HydraConfig.get().runtime.output_dir)
    return Path("outputs") / "train" / datetime.now().strftime("%Y-%m-%d/%H-%M-%S-%f")


def _overrides() -> list[str]:
    return list(HydraConfig.get().overrides.task) if HydraConfig.initialized() else []


def _resume_command(checkpoints: EnvStepCheckpoint) -> str | None:
    """The command that continues this run from its newest checkpoint, if one was written."""
    newest = checkpoints.last_path or (checkpoints.periodic[-1] if checkpoints.periodic else None)
    return resume_command(_overrides(), str(Path(newest).resolve())) if newest else None


def _devices(device: str, trainer_cfg: DictConfig) -> dict[str, Any]:
    """Trainer keyword arguments for the device: one process unless the trainer group asks for
    a strategy (trainer=ddp: `strategy`, `devices`, `num_nodes`)."""
    dev = torch.device(device)
    strategy = trainer_cfg.get("strategy")
    if strategy is None:
        if dev.type == "cpu":
            return {"accelerator": "cpu", "devices": 1}
        return {"accelerator": "cuda", "devices": [dev.index] if dev.index is not None else 1}
    return {
        "accelerator": dev.type,
        "strategy": str(strategy),
        "devices": trainer_cfg.get("devices", "auto"),
        "num_nodes": int(trainer_cfg.get("num_nodes", 1)),
    }


def run(cfg: DictConfig) -> float | None:
    """Hydra entry: validate, build the market, train. Returns the best monitored eval
    metric (what a Hydra sweeper optimizes), or None with summary_only. A run stopped by a
    signal raises RunInterrupted after writing its files (the exit status says so)."""
    ensure_console()
    validate_training(cfg)
    if cfg.ckpt_path == AUTO:
        finished = finished_summary(output_dir(cfg), int(cfg.total_timesteps))
        if finished is not None:
            log.info("%s: already %s at %s env steps; skipped (ckpt_path=auto)",
                     output_dir(cfg), finished["status"], f"{finished['env_steps']:,}")
            return finished["best_eval"]["score"]
        own = own_checkpoint(output_dir(cfg))
        # Nothing written yet: the run starts afresh in its folder.
        cfg.ckpt_path = str(own) if own is not None else None
        log.info("ckpt_path=auto: %s", f"continuing from {own}" if own else "fresh start")
    if cfg.ckpt_path is not None:
        # A resume that cannot continue fails here, before any data is loaded.
        check_resumable(read_resume_checkpoint(cfg.ckpt_path), cfg, cfg.ckpt_path)
    pl.seed_everything(int(cfg.seed), workers=True, verbose=False)
    # Imported here so `--cfg job` and config errors never pay for the data stack.
    from ploutos.pipeline import build_market

    market, report = build_market(cfg)
    log.info(report.summary())
    if cfg.summary_only:
        return None
    summary = train(cfg, market, report.market_meta(cfg))
    if summary["status"] == "interrupted":
        raise RunInterrupted(
            signal.Signals[summary["signal"]],
            f"{summary['signal']} at {summary['env_steps']:,} env steps; resume with: "
            f"{summary['resume_command']}",
        )
    return summary["best_eval"]["score"]


def train(
    cfg: DictConfig,
    market: Market,
    market_meta: dict[str, Any] | None = None,
    callbacks: Sequence[Callback] = (),
) -> dict[str, Any]:
    """Fit cfg.algo on `market` (any device; moved to cfg.device); return the run summary.

    `callbacks` run after the app's own (tests use them to inject faults).
    """
    from ploutos.algos.registry import make_algorithm
    from ploutos.dashboards.callback import Dashboards
    from ploutos.dashboards.charts import EvaluationCharter
    from ploutos.evaluation import evaluate_policy
    from ploutos.models import parameter_summary

    ensure_console()
    out_dir = output_dir(cfg)
    out_dir.mkdir(parents=True, exist_ok=True)
    resolved = OmegaConf.create(resolved_container(cfg))
    stop_signals = resolved.trainer.get("stop_signals", ("SIGTERM", "SIGINT"))
    stop = GracefulStop(parse_signals(stop_signals))
    resumed_at_env_steps = None
    if cfg.ckpt_path is not None:
        ckpt = read_resume_checkpoint(cfg.ckpt_path)
        check_resumable(ckpt, resolved, cfg.ckpt_path)
        if market_meta is not None:
            check_resume_data(ckpt, str(market_meta.get("fingerprint")), cfg.ckpt_path)
        resumed_at_env_steps = int(ckpt["env_steps"])
        del ckpt
    # A run killed mid-write left temporary files; the files they were for are intact.
    remove_stale_temp_files(out_dir / "checkpoints")
    tr = resolved.trainer
    if tr.get("keep_freed_host_memory", False):
        keep_freed_memory()
    deterministic = bool(tr.get("deterministic", False))
    if deterministic:
        # Bit-identical same-seed runs (and kill -9 + resume) on the CPU: one intra-op thread
        # (a parallel reduction sums in a thread-count dependent order) and deterministic
        # kernels only; off by default, since it costs the second core.
        torch.set_num_threads(1)
        torch.use_deterministic_algorithms(True)
    if (resolved.get("drift") or {}).get("name", "none") != "none":
        from ploutos.apps.drift import log_validation_drift  # the detectors load only if asked

        log_validation_drift(resolved, market)  # is validation a different regime?
    market = market.to(cfg.device)
    pl.seed_everything(int(cfg.seed), workers=True, verbose=False)
    module = make_algorithm(resolved, market, market_meta)

    selection = Selection(str(tr.get("select", "best")), str(tr.monitor), str(tr.mode),
                          float(tr.get("select_smoothing", 0.5)))
    evaluation = EnvStepEvaluation(
        # The training envs' market view: under DDP each process holds a copy on its device.
        evaluate=lambda policy: evaluate_policy(
            policy, module.env.obs_builder, resolved, split=tr.eval_split, keep_log=True
        ),
        every=int(resolved.eval_freq),
        total_timesteps=int(resolved.total_timesteps),
        monitor=str(tr.monitor),
        mode=str(tr.mode),
        split=str(tr.eval_split),
        selection=selection,
    )
    checkpoints = EnvStepCheckpoint(
        out_dir / "checkpoints",
        every=int(resolved.checkpoint_freq),
        evaluation=evaluation,
        save_best=bool(tr.save_best),
        save_last=bool(tr.save_last),
        keep_periodic=tr.get("keep_periodic"),
    )
    stopping = EvalEarlyStopping(
        evaluation,
        patience=int(resolved.early_stopping.max_no_improvement_evals),
        min_evals=int(resolved.early_stopping.min_evals),
    )
    throughput = Throughput()
    # The `callbacks` group: any Lightning callback from a `_target_` node, after the app's.
    configured = [instantiate(node) for node in (resolved.get("callbacks") or {}).values()]
    # Per iteration: the iteration's log line, then evaluation, checkpoints, stopping.
    iteration_log = IterationLog(int(tr.log_every_n_iterations), int(resolved.total_timesteps))
    own: list[Callback] = [throughput, iteration_log, selection, evaluation, checkpoints]
    # Charts at evaluations, checkpoint artifacts (after the checkpoints it logs).
    own.append(Dashboards(resolved, evaluation, checkpoints,
                          EvaluationCharter(module.env.obs_builder.market, resolved,
                                            str(tr.eval_split)), market_meta))
    if resolved.early_stopping.enabled:
        own.append(stopping)
    own.append(stop)
    # Under nohup or a scheduler a bar is one line of carriage returns: the log lines suffice.
    show_bar = bool(tr.progress_bar) and sys.stdout.isatty()
    if show_bar:
        own.append(EnvStepProgressBar(int(resolved.total_timesteps), evaluation, throughput))

    # Lightning's start-up banners (accelerator table, product tips) drown the data summary.
    logging.getLogger("lightning.pytorch.utilities.rank_zero").setLevel(logging.WARNING)
    loggers = make_loggers(
        resolved.logger, out_dir, resolved_container(resolved), resumed_at_env_steps
    )
    trainer = pl.Trainer(
        **_devices(str(resolved.device), tr),
        # The algorithm's dataloader yields one item per remaining iteration and the algorithm
        # stops the trainer at total_timesteps, so epochs never end a run: a finished run
        # resumed with a larger total_timesteps goes on in a new epoch.
        max_epochs=-1,
        logger=loggers or False,
        callbacks=[*own, *configured, *callbacks],
        enable_checkpointing=False,
        enable_progress_bar=show_bar,
        enable_model_summary=False,
        num_sanity_val_steps=0,
        limit_val_batches=0,
        log_every_n_steps=int(tr.log_every_n_iterations),
        default_root_dir=str(out_dir),
        plugins=[AtomicCheckpointIO()],
        deterministic=deterministic,
    )

    procs = int(trainer.world_size)
    per_iteration = module.batch_size * procs
    log.info(
        f"training: {module.iterations_for(procs)} iterations x "
        f"{per_iteration:,} env steps ({module.n_envs} envs x {module.n_steps} steps"
        f"{f' x {procs} processes' if procs > 1 else ''}) on {cfg.device}; output: {out_dir}"
    )
    log.info(parameter_summary(module.policy))
    started = time.perf_counter()
    status, error = "completed", None
    try:
        # Log lines print above the bar instead of breaking it (Hydra's console handler on
        # the root logger, or ensure_console's on 'ploutos').
        redirect = [logging.root, logging.getLogger(ROOT_LOGGER)]
        with logging_redirect_tqdm(redirect) if show_bar else nullcontext():
            # Checkpoints hold tensors and plain types only: loaded without pickle, a file
            # from elsewhere cannot run code.
            trainer.fit(module, ckpt_path=cfg.ckpt_path, weights_only=True)
        if stopping.stopped_at is not None:
            status = "early_stopped"
        elif stop.stopped_at is not None and module.iterations < module.n_iterations:
            status = "interrupted"
    except StopNow as err:
        # A second signal: the last checkpoint written before it is the resume point.
        status, error = "interrupted", str(err)
    except FloatingPointError as err:
        # The algorithm (or the checkpoint guard) found a NaN/Inf: no checkpoint was
        # written from the bad weights, the last good one stays where it is.
        status = "diverged"
        error = str(err)
        if "last good checkpoint" not in error:  # the checkpoint guard names it already
            error += f"; last good checkpoint kept: {checkpoints.last_good}"
    except BaseException:
        status = "failed"
        raise
    finally:
        finish_loggers(loggers, ok=status in ("completed", "early_stopped"))

    wall = time.perf_counter() - started
    steps = int(module.env_steps)
    summary = {
        "status": status,
        "error": error,
        "env_steps": steps,
        "iterations": int(module.iterations),
        "wall_time_s": wall,
        "train_seconds": throughput.seconds,
        # End to end for this fit: rollouts, updates, evaluations and checkpoint writes.
        "env_steps_per_s": throughput.steps_per_second,
        "resumed_from": cfg.ckpt_path,
        "resumed_at_env_steps": throughput.start_steps if cfg.ckpt_path else None,
        "stopped_early_at": stopping.stopped_at,
        "n_evals": evaluation.n_evals,
        "final_eval": {"env_steps": evaluation.last_env_steps, **evaluation.last_metrics},
        "best_eval": {
            "monitor": evaluation.monitor,
            "mode": evaluation.mode,
            # The monitored value at the selected evaluation (what a sweeper optimizes), not
            # the rule's ranking score (an average, an interval's low end, an index).
            "score": evaluation.best_metrics.get(evaluation.monitor, evaluation.best_score),
            "selection_score": evaluation.best_score,
            "env_steps": evaluation.best_env_steps,
            "metrics": evaluation.best_metrics,
        },
        "selection": selection.summary(),  # trainer.select and every evaluation's score
        "checkpoints": checkpoints.paths(),
        "overrides": _overrides(),
        "output_dir": str(out_dir),
        "device": str(cfg.device),
        "signal": stop.received.name if status == "interrupted" and stop.received else None,
        "resume_command": _resume_command(checkpoints) if status == "interrupted" else None,
    }
    if trainer.is_global_zero:
        path = write_summary(out_dir, summary)
        log.info(
            "%s at %s env steps (%d iterations, %.1f s); summary: %s",
            status, f"{steps:,}", module.iterations, wall, path,
        )
        if status == "interrupted":
            log.warning("stopped by %s; resume with: %s", summary["signal"],
                        summary["resume_command"])
    if status == "diverged":
        raise TrainingDiverged(error)
    return summary
