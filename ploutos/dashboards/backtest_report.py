"""A backtest's report on the W&B run that trained the checkpoint it evaluates.

The training app writes the run's identity into every checkpoint (artifacts.RUN_KEY). The
backtest app then resumes that run by id (offline unless logged in, as for training) and
puts the report into its summary under `backtest_<split>/`: metrics_table (agent beside the
baselines), equity_table and trades_table, the report's four images (equity_image,
drawdown_image, trades_image, timing_image), and the agent's metrics as numbers. Summary
entries do not depend on the run's step counter, which an offline resume cannot know.
Offline, `wandb sync` the training run's folder first and the backtest's `wandb/` folder
after it.
"""

from __future__ import annotations

import logging
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Any

from ploutos.dashboards.artifacts import RUN_KEY, is_reference, resolve_reference
from ploutos.evaluation.backtest import AGENT, BacktestResult
from ploutos.evaluation.checkpoint import read_checkpoint
from ploutos.evaluation.report import equity_frame, metrics_table, trades_frame

IMAGES = ("equity_png", "drawdown_png", "trades_png", "timing_png")

log = logging.getLogger(__name__)


def checkpoint_path(ckpt: str, artifact_dirs: Sequence[str]) -> str:
    """ckpt itself, or the file a `wandb:NAME:ALIAS` reference names (artifacts.py)."""
    if not is_reference(ckpt):
        return ckpt
    from ploutos.training.loggers import wandb_mode

    online = wandb_mode(None) == "online"
    path = resolve_reference(ckpt, [Path(d) for d in artifact_dirs], online)
    log.info("%s: %s", ckpt, path)
    return str(path)


def training_run(checkpoint: Path) -> dict[str, Any] | None:
    """The W&B run recorded in a training checkpoint, or None (trained without W&B)."""
    run = read_checkpoint(Path(checkpoint)).get(RUN_KEY)
    return dict(run) if isinstance(run, Mapping) and run.get("id") else None


def section(settings: Mapping[str, Any]) -> str:
    """backtest_<split> for a split, backtest_range for a date range."""
    if settings.get("start") is not None or settings.get("end") is not None:
        return "backtest_range"
    return f"backtest_{settings.get('split') or 'test'}"


def summary_payload(
    result: BacktestResult, files: Mapping[str, Path], name: str
) -> dict[str, Any]:
    import wandb

    table = metrics_table(result.metrics).reset_index(names="strategy")
    payload: dict[str, Any] = {
        f"{name}/metrics_table": wandb.Table(dataframe=table.astype(str)),
        f"{name}/equity_table": wandb.Table(dataframe=equity_frame(result).reset_index()),
        f"{name}/trades_table": wandb.Table(dataframe=trades_frame(result)),
        f"{name}/description": result.description,
    }
    for key in IMAGES:
        if key in files:
            payload[f"{name}/{key.removesuffix('_png')}_image"] = wandb.Image(str(files[key]))
    for key, value in result.metrics[AGENT].items():
        if isinstance(value, int | float) and not isinstance(value, bool):
            payload[f"{name}/{key}"] = float(value)
    return payload


def log_backtest_report(
    run: Mapping[str, Any],
    result: BacktestResult,
    files: Mapping[str, Path],
    settings: Mapping[str, Any],
    out_dir: Path,
) -> Path:
    """Resume the training run `run` (training_run's dict) and put the report in its summary;
    returns the local run folder (what `wandb sync` takes)."""
    import wandb

    from ploutos.training.loggers import wandb_mode

    resumed = wandb.init(
        id=str(run["id"]),
        project=run.get("project") or "ploutos",
        entity=run.get("entity"),
        group=run.get("group"),
        resume="allow",
        dir=str(out_dir),
        mode=wandb_mode(None),
        reinit="finish_previous",
    )
    try:
        resumed.summary.update(summary_payload(result, files, section(settings)))
        folder = Path(resumed.dir).parent
    finally:
        resumed.finish()
    return folder


def report_to_training_run(
    checkpoint: Path | None,
    result: BacktestResult,
    files: Mapping[str, Path],
    settings: Mapping[str, Any],
    out_dir: Path,
) -> Path | None:
    """log_backtest_report when the checkpoint's run used W&B; the local run folder, or None."""
    run = training_run(checkpoint) if checkpoint is not None else None
    if run is None:
        return None
    folder = log_backtest_report(run, result, files, settings, out_dir)
    log.info("W&B: report logged to run %s (%s; offline: wandb sync %s)", run["id"],
             section(settings), folder)
    return folder
