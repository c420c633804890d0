"""Learning curves of a study overlaid: validation Sharpe and training episode return against
env steps, one line per job, one colour per configuration."""

from __future__ import annotations

import matplotlib

matplotlib.use("Agg")

import matplotlib.pyplot as plt  # noqa: E402
import pandas as pd  # noqa: E402

from ploutos.studies.collect import JobRecord  # noqa: E402
from ploutos.studies.table import config_label  # noqa: E402

ENV_STEPS = "train/env_steps"
PANELS = (("eval/sharpe", "validation Sharpe"), ("train/episode_return", "train episode return"))


def read_curve(job: JobRecord) -> pd.DataFrame | None:
    """The job's csv log with an env-steps column on every row (eval rows share the step of
    the training row they follow), or None when the job has no csv log."""
    if job.curve_path is None:
        return None
    frame = pd.read_csv(job.curve_path)
    if ENV_STEPS not in frame.columns or "step" not in frame.columns:
        return None
    frame = frame.sort_values("step", kind="stable")
    frame[ENV_STEPS] = frame.groupby("step")[ENV_STEPS].transform("max").ffill()
    return frame


def plot_curves(jobs: list[JobRecord]) -> plt.Figure:
    fig, axes = plt.subplots(1, len(PANELS), figsize=(6 * len(PANELS), 4), squeeze=False)
    labels = list(dict.fromkeys(config_label(job.swept) for job in jobs))
    colours = {label: plt.cm.tab10(i % 10) for i, label in enumerate(labels)}
    shown: set[str] = set()
    for job in jobs:
        frame = read_curve(job)
        if frame is None:
            continue
        label = config_label(job.swept)
        for ax, (column, _) in zip(axes[0], PANELS, strict=True):
            if column not in frame.columns:
                continue
            points = frame[[ENV_STEPS, column]].dropna()
            ax.plot(
                points[ENV_STEPS],
                points[column],
                color=colours[label],
                alpha=0.8,
                label=label if label not in shown else None,
            )
        shown.add(label)
    for ax, (_, title) in zip(axes[0], PANELS, strict=True):
        ax.set_title(title)
        ax.set_xlabel("env steps")
        ax.grid(alpha=0.3)
    if shown:
        axes[0][0].legend(fontsize=7, loc="best")
    fig.tight_layout()
    return fig
