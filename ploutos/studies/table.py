"""Tables of a study: one row per job, then one row per configuration (mean and spread over
seeds), and the markdown a person reads."""

from __future__ import annotations

import math
from typing import Any

import numpy as np
import pandas as pd

from ploutos.studies.collect import SEED_KEY, JobRecord

# (column, where in summary.json) for the validation metrics; "final" is the last
# evaluation, "best" the evaluation of the best checkpoint (by trainer.monitor).
VAL_METRICS = ("sharpe", "total_return", "max_drawdown", "sortino")
# Agent metrics read from a backtest's metrics.json (the test split unless told otherwise).
TEST_METRICS = ("sharpe", "total_return", "max_drawdown", "sortino", "buy_quality",
                "sell_quality", "edge_capture")
# Baselines of the same backtest (same windows and costs) whose test Sharpe is tabled.
BASELINE_SHARPES = ("buy_and_hold", "index", "momentum", "random", "oracle")
RUN_METRICS = ("env_steps", "env_steps_per_s", "wall_time_s")
# A job's status without a result to average: not started or still running ("missing"), or
# stopped part way by a signal ("interrupted", resumable with ckpt_path=auto).
UNFINISHED = ("missing", "interrupted")


def _short(value: str) -> str:
    # Optuna samples floats to 17 digits; four significant ones tell configurations apart.
    # Short values stay as the user typed them.
    if len(value) <= 8:
        return value
    try:
        number = float(value)
    except ValueError:
        return value
    return f"{number:.4g}" if any(c in value for c in ".eE") else value


def config_label(swept: dict[str, str]) -> str:
    """The configuration a job belongs to: its swept values other than the seed."""
    parts = [f"{k}={_short(str(v))}" for k, v in swept.items() if k != SEED_KEY]
    return " ".join(parts) or "(single configuration)"


def _num(value: Any) -> float:
    try:
        out = float(value)
    except (TypeError, ValueError):
        return math.nan
    return out


def job_row(job: JobRecord) -> dict[str, Any]:
    row: dict[str, Any] = {"job": job.name, "status": job.status, **job.swept}
    row["config"] = config_label(job.swept)
    row["seed"] = job.config.get(SEED_KEY)
    summary = job.summary or {}
    final = summary.get("final_eval") or {}
    best = (summary.get("best_eval") or {}).get("metrics") or {}
    for metric in VAL_METRICS:
        row[f"val_final_{metric}"] = _num(final.get(f"eval/{metric}"))
        row[f"val_best_{metric}"] = _num(best.get(f"eval/{metric}"))
    row["val_days"] = _num(final.get("eval/days", best.get("eval/days")))
    backtest = job.backtest or {}
    for metric in TEST_METRICS:
        row[f"test_{metric}"] = _num(backtest.get(metric))
    h1 = job.backtest_h1 or {}
    for metric in ("buy_quality", "sell_quality"):
        row[f"test_h1_{metric}"] = _num(h1.get(metric))
    last = (job.last_checkpoint or {}).get("metrics") or {}
    row["test_last_sharpe"] = _num(last.get("sharpe"))
    for name in BASELINE_SHARPES:
        row[f"test_{name}_sharpe"] = _num((job.baselines.get(name) or {}).get("sharpe"))
    # The base rate a buy-timing figure is judged against: random buys on the same window.
    row["test_random_buy_quality"] = _num((job.baselines.get("random") or {}).get("buy_quality"))
    for metric in RUN_METRICS:
        row[metric] = _num(summary.get(metric))
    return row


def jobs_frame(jobs: list[JobRecord]) -> pd.DataFrame:
    return pd.DataFrame([job_row(job) for job in jobs])


def metric_columns(frame: pd.DataFrame) -> list[str]:
    prefixes = ("val_final_", "val_best_", "test_")
    cols = [c for c in frame.columns if c.startswith(prefixes)]
    return [*cols, "val_days", *RUN_METRICS]


def configs_frame(jobs: pd.DataFrame, swept: list[str]) -> pd.DataFrame:
    """Per configuration: n completed jobs, and mean / std (over seeds) of every metric.

    Jobs without a finished result (no summary yet, or stopped part way by a signal and not
    resumed) are counted in `n_missing` and left out of the statistics.
    """
    keys = [k for k in swept if k != SEED_KEY]
    done = jobs[~jobs["status"].isin(UNFINISHED)]
    rows = []
    for label, group in jobs.groupby("config", sort=False):
        ok = done[done["config"] == label]
        row: dict[str, Any] = {"config": label, **{k: group[k].iloc[0] for k in keys}}
        row["n_jobs"] = len(ok)
        row["n_missing"] = len(group) - len(ok)
        # Stopped by a sweeper's pruner: tried, but not a candidate winner.
        row["n_pruned"] = int((ok["status"] == "pruned").sum())
        row["n_backtested"] = int(ok["test_sharpe"].notna().sum())
        for col in metric_columns(jobs):
            values = ok[col].to_numpy(dtype=np.float64)
            values = values[np.isfinite(values)]
            row[f"{col}_mean"] = values.mean() if values.size else math.nan
            row[f"{col}_std"] = values.std(ddof=1) if values.size > 1 else math.nan
        rows.append(row)
    return pd.DataFrame(rows)


def _fmt(value: Any) -> str:
    if isinstance(value, float | np.floating):
        if not np.isfinite(value):
            return "-"
        return f"{value:,.0f}" if abs(value) >= 1000 else f"{value:.3f}"
    return str(value)


def _mean_pm(row: pd.Series, col: str) -> str:
    mean, std = row[f"{col}_mean"], row[f"{col}_std"]
    if not np.isfinite(mean):
        return "-"
    return _fmt(mean) if not np.isfinite(std) else f"{_fmt(mean)} ± {_fmt(std)}"


def to_markdown(configs: pd.DataFrame, columns: list[str]) -> str:
    """A markdown table of `columns` as mean ± std (std over seeds), one row per config."""
    present = [c for c in columns if np.isfinite(configs[f"{c}_mean"]).any()]
    header = ["config", "n", *present]
    lines = ["| " + " | ".join(header) + " |", "|" + "---|" * len(header)]
    for _, row in configs.iterrows():
        cells = [str(row["config"]), str(row["n_jobs"]), *(_mean_pm(row, c) for c in present)]
        lines.append("| " + " | ".join(cells) + " |")
    return "\n".join(lines)
