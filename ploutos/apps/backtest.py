"""The backtest app behind `python backtest.py ckpt=PATH [split=val | start=.. end=..]
[episodes=10 days=90]`: metrics, CSVs, plots and report.html in its output folder."""

from __future__ import annotations

import logging
from pathlib import Path

from omegaconf import DictConfig

from ploutos.apps.cli import ensure_console
from ploutos.apps.drift import backtest_drift_section
from ploutos.drift import drift_settings
from ploutos.ensemble import EnsembleSpec, ensemble_for_backtest
from ploutos.errors import ConfigError
from ploutos.evaluation.backtest import AGENT, run_backtest
from ploutos.evaluation.checkpoint import load_checkpoint
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
    windows = {
        "split": cfg.split,
        "episodes": cfg.episodes,
        "days": cfg.days,
        "seed": int(cfg.seed),
        "start": None if cfg.start is None else str(cfg.start),
        "end": None if cfg.end is None else str(cfg.end),
    }
    horizon, risk_free = int(cfg.horizon), float(cfg.risk_free)
    if spec is None:
        model = load_checkpoint(cfg.ckpt, device=str(cfg.device))
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
    return files
