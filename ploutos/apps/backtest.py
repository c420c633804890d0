"""The backtest app behind `python backtest.py ckpt=PATH [split=val | start=.. end=..]
[episodes=10 days=90]`: metrics, CSVs, plots and report.html in its output folder."""

from __future__ import annotations

from pathlib import Path

from omegaconf import DictConfig

from ploutos.errors import ConfigError
from ploutos.evaluation.backtest import AGENT, run_backtest
from ploutos.evaluation.checkpoint import load_checkpoint
from ploutos.evaluation.report import console_table, write_backtest_report
from ploutos.evaluation.timing import timing_report


def run(cfg: DictConfig, out_dir: Path) -> dict[str, Path]:
    """`python backtest.py`: load cfg.ckpt, backtest it as cfg says, write the report into
    out_dir and print the summary table and the timing analysis."""
    if not cfg.get("ckpt"):
        raise ConfigError("ckpt", "give the checkpoint to backtest: python backtest.py ckpt=PATH")
    model = load_checkpoint(cfg.ckpt, device=str(cfg.device))
    result = run_backtest(
        model,
        split=cfg.split,
        episodes=cfg.episodes,
        days=cfg.days,
        seed=int(cfg.seed),
        start=None if cfg.start is None else str(cfg.start),
        end=None if cfg.end is None else str(cfg.end),
        baselines=list(cfg.baselines),
        horizon=int(cfg.horizon),
        risk_free=float(cfg.risk_free),
        n_boot=int(cfg.n_boot),
    )
    extra = {"checkpoint": str(model.path), "env_steps": model.env_steps, "model": model.name}
    files = write_backtest_report(result, out_dir, f"Backtest of {model.name}", extra)
    print(f"backtest of {model.path} ({model.env_steps} env steps): {result.description}")
    print(console_table(result.metrics))
    if len(result.windows) > 1:
        print(
            "metrics are means over windows (timing counts pooled); the Sharpe CI is of the "
            f"pooled daily returns (agent: {result.metrics[AGENT]['sharpe_ci']['sharpe']:+.2f})"
        )
    if AGENT in result.timing:
        print(timing_report(result.timing[AGENT]))
    print(f"report: {files['report']}")
    return files
