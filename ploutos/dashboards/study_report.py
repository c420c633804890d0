"""A study report's verdict as a W&B run in its sweep's group.

The jobs of a multirun share the W&B group of their sweep folder (training/loggers.py,
group_name); `python experiments/report.py MULTIRUN --wandb` adds one run of job type
`study` to that group whose summary is the verdict (the deflated Sharpe ratio of the best
configuration given how many were tried, ploutos/studies/report.py) beside the table of
configurations, so the W&B workspace of the sweep answers "is the winner luck?" next to
its parallel-coordinates chart.
"""

from __future__ import annotations

from collections.abc import Mapping
from pathlib import Path
from typing import Any

import pandas as pd


def verdict_summary(verdict: Mapping[str, Any], configs: pd.DataFrame) -> dict[str, Any]:
    """verdict/<key> for every number, flag and text of the verdict, and the configurations
    table (one row per configuration, mean and std over seeds)."""
    import wandb

    out: dict[str, Any] = {
        f"verdict/{key}": value
        for key, value in verdict.items()
        if isinstance(value, bool | int | float | str)
    }
    out["study/configs"] = wandb.Table(dataframe=configs.astype(str))
    return out


def log_study_verdict(
    root: Path,
    verdict: Mapping[str, Any],
    configs: pd.DataFrame,
    out_dir: Path,
    project: str = "ploutos",
    entity: str | None = None,
) -> Path:
    """One `study` run in the sweep's group with the verdict as its summary; returns its
    local folder (offline unless logged in: `wandb sync` it)."""
    import wandb

    from ploutos.training.loggers import group_name, wandb_mode

    group = group_name(root)
    run = wandb.init(
        project=project,
        entity=entity,
        group=group,
        job_type="study",
        name=f"study {group}",
        dir=str(out_dir),
        mode=wandb_mode(None),
        reinit="finish_previous",
    )
    try:
        run.summary.update(verdict_summary(verdict, configs))
        folder = Path(run.dir).parent
    finally:
        run.finish()
    return folder
