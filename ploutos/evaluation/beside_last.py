"""The selected checkpoint beside the run's last one, on the same windows.

A checkpoint picked by validation can be the one that does not generalize (trainer.select,
ploutos/training/selection.py), so a backtest of best.ckpt (or of a periodic checkpoint)
also backtests the run's last.ckpt on exactly the same days and costs and shows the two
agents side by side. `python backtest.py ... beside_last=false` turns it off.
"""

from __future__ import annotations

from pathlib import Path

import pandas as pd

from ploutos.evaluation.backtest import AGENT, BacktestResult, run_backtest
from ploutos.evaluation.checkpoint import LoadedModel
from ploutos.evaluation.oracle import ORACLE
from ploutos.evaluation.report import metrics_table


def last_checkpoint_beside(ckpt: str | Path) -> Path | None:
    """The run's last.ckpt next to `ckpt` (checkpoints/best.ckpt or checkpoints/periodic/...),
    or None when ckpt is that file or the run has none."""
    path = Path(ckpt)
    folder = path.parent.parent if path.parent.name == "periodic" else path.parent
    last = folder / "last.ckpt"
    if not last.is_file() or last.resolve() == path.resolve():
        return None
    return last


def backtest_last(
    last: LoadedModel, selected: BacktestResult, horizon: int, risk_free: float, n_boot: int
) -> BacktestResult:
    """last.ckpt on the selected backtest's windows (with the oracle, for its edge capture)."""
    return run_backtest(
        last, windows=selected.windows, baselines=[ORACLE],
        horizon=horizon, risk_free=risk_free, n_boot=n_boot, seed=int(selected.settings["seed"]),
    )


def _label(model: LoadedModel, role: str) -> str:
    steps = "?" if model.env_steps is None else f"{model.env_steps:,}"
    return f"{role}: {model.path.name if model.path else model.name} ({steps} env steps)"


def side_by_side(
    selected: LoadedModel, selected_result: BacktestResult,
    last: LoadedModel, last_result: BacktestResult,
) -> pd.DataFrame:
    """One row per checkpoint: the agent's metrics of each backtest."""
    metrics = {
        _label(selected, "selected"): selected_result.metrics[AGENT],
        _label(last, "last"): last_result.metrics[AGENT],
    }
    return metrics_table(metrics)


def last_entry(last: LoadedModel, last_result: BacktestResult) -> dict:
    """metrics.json's `last_checkpoint`: where it is and the agent's metrics on the windows."""
    m = last_result.metrics[AGENT]
    keys = ("sharpe", "sharpe_ci", "total_return", "max_drawdown", "edge_capture")
    return {
        "checkpoint": str(last.path),
        "env_steps": last.env_steps,
        "metrics": {k: m[k] for k in keys if k in m},
    }
