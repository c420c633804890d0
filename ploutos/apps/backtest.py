"""The backtest app behind `python backtest.py ckpt=PATH [split=val | start=.. end=..]
[episodes=10 days=90]`: metrics, CSVs, plots and report.html in its output folder."""

from __future__ import annotations

import logging
from pathlib import Path

from omegaconf import DictConfig

from ploutos.apps.cli import ensure_console
from ploutos.apps.drift import backtest_drift_section
from ploutos.apps.windows import window_options
from ploutos.dashboards.backtest_report import checkpoint_path, report_to_training_run
from ploutos.drift import drift_settings
from ploutos.ensemble import EnsembleSpec, ensemble_for_backtest
from ploutos.errors import ConfigError
from ploutos.evaluation.backtest import AGENT, run_backtest
from ploutos.evaluation.beside_last import (
    backtest_last,
    last_checkpoint_beside,
    last_entry,
    side_by_side,
)
from ploutos.evaluation.checkpoint import load_checkpoints
from ploutos.evaluation.report import console_table, write_backtest_report
from ploutos.evaluation.timing import timing_report

log = logging.getLogger(__name__)


def run(cfg: DictConfig, out_dir: Path) -> dict[str, Path]:
    """`python backtest.py`: load cfg.ckpt (or the ensemble of cfg.ensemble), backtest it as
    cfg says, write the report into out_dir and print the summary table and the timing
    analysis."""
    ensure_console()
    spec = EnsembleSpec.from_config(cfg.get("ensemble"))
    drift_on = drift_settings(cfg.get("drift") or {"name": "none"}) is not None  # checked early
    if spec is None and not cfg.get("ckpt"):
        raise ConfigError("ckpt", "give the checkpoint to backtest: python backtest.py ckpt=PATH")
    if spec is not None and cfg.get("ckpt"):
        raise ConfigError("ckpt", "give either ckpt or ensemble.members, not both")
    windows = window_options(cfg)
    horizon, risk_free = int(cfg.horizon), float(cfg.risk_free)
    last = None
    if spec is None:
        # best.ckpt (or a periodic one) is shown beside the run's last.ckpt (beside_last.py).
        # A path, or a W&B artifact reference (ckpt=wandb:model-<run id>:best) resolved to one.
        ckpt = checkpoint_path(str(cfg.ckpt), cfg.get("artifact_dirs") or ["outputs", "multirun"])
        beside = last_checkpoint_beside(ckpt) if cfg.get("beside_last", True) else None
        model, *others = load_checkpoints([ckpt, *([beside] if beside else [])],
                                          device=str(cfg.device))
        last = others[0] if others else None
        if last is not None and last.env_steps == model.env_steps:
            # trainer.select=last (the default): best.ckpt is the last checkpoint, shown once.
            log.info("%s is the run's last checkpoint (%s env steps)", Path(ckpt).name,
                     f"{model.env_steps:,}")
            last = None
        extra = {"checkpoint": str(model.path), "env_steps": model.env_steps, "model": model.name}
    else:
        model = ensemble_for_backtest(
            spec, str(cfg.device), horizon=horizon, risk_free=risk_free, **windows
        )
        extra = {"model": model.name, "ensemble": model.doc}
    result = run_backtest(
        model,
        **windows,
        baselines=list(cfg.baselines),
        horizon=horizon,
        risk_free=risk_free,
        n_boot=int(cfg.n_boot),
    )
    if last is not None:
        last_result = backtest_last(last, result, horizon, risk_free, int(cfg.n_boot))
        extra["last_checkpoint"] = last_entry(last, last_result)
        log.info("selected checkpoint beside the run's last one, same windows:\n%s",
                 side_by_side(model, result, last, last_result).to_string())
    sections = []
    if drift_on:
        sections.append(backtest_drift_section(model, result, cfg, out_dir))
    files = write_backtest_report(result, out_dir, f"Backtest of {model.name}", extra, sections)
    log.info(f"backtest of {model.path or model.name} ({model.env_steps} env steps): "
             f"{result.description}")  # fmt: skip
    log.info(console_table(result.metrics))
    if len(result.windows) > 1:
        log.info(
            "metrics are means over windows (timing counts pooled); the Sharpe CI is of the "
            f"pooled daily returns (agent: {result.metrics[AGENT]['sharpe_ci']['sharpe']:+.2f})"
        )
    if AGENT in result.timing:
        log.info(timing_report(result.timing[AGENT]))
    log.info(f"report: {files['report']}")
    if spec is None and cfg.get("wandb", True):  # onto the W&B run that trained the checkpoint
        report_to_training_run(model.path, result, files, windows, out_dir)
    return files
