"""EvaluationCharts into W&B and TensorBoard, under the same names in both.

At each evaluation, with P the section of the split (`eval_val` for the default split):

    P/equity          image: equity beside buy-and-hold, drawdown below
    P/equity_curve    W&B line plot of the agent and buy-and-hold; its table holds the
                      series (W&B only: TensorBoard has the image)
    P/actions/TICKER  histogram of the day's action code (0 HOLD, 1 BUY, 2 SELL) or target
                      weight per ticker
    P/tickers         table, one row per ticker: the action mix (counts of each code, or the
                      weight's mean/min/max), then buy and sell timing (good, bad,
                      unjudged, quality)

W&B shows the table as a table; TensorBoard gets it as markdown under its Text tab. Every W&B
table is a file and an artifact of the run, so an evaluation logs two, not one per view.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

import numpy as np

from ploutos.dashboards.charts import EvaluationCharts


def section(split: str) -> str:
    return f"eval_{split}"


def histogram_edges(charts: EvaluationCharts) -> np.ndarray:
    """One bin per action code (discrete) or 20 bins over [0, 1] (weights)."""
    if charts.discrete:
        return np.arange(len(charts.action_labels) + 1, dtype=np.float64) - 0.5
    return np.linspace(0.0, 1.0, 21)


def markdown_table(columns: Sequence[str], rows: Sequence[Sequence[Any]]) -> str:
    def cell(value: Any) -> str:
        if value is None:
            return ""
        return f"{value:.4g}" if isinstance(value, float) else str(value)

    lines = ["| " + " | ".join(columns) + " |", "|" + "---|" * len(columns)]
    lines += ["| " + " | ".join(cell(v) for v in row) + " |" for row in rows]
    return "\n".join(lines)


def wandb_payload(charts: EvaluationCharts, image: np.ndarray) -> dict[str, Any]:
    """The media of one evaluation as one wandb.log dict (logged at the evaluation's step
    under Lightning's x-axis, trainer/global_step)."""
    import wandb

    p = section(charts.split)
    x = list(range(len(charts.equity)))
    series, keys = [charts.equity.tolist()], ["agent"]
    if charts.buy_and_hold is not None:
        series.append(charts.buy_and_hold.tolist())
        keys.append("buy and hold")
    edges = histogram_edges(charts)
    payload: dict[str, Any] = {
        f"{p}/equity": wandb.Image(image, caption=f"{charts.split}: equity and drawdown"),
        f"{p}/equity_curve": wandb.plot.line_series(
            xs=x, ys=series, keys=keys, title=f"{charts.split} equity", xname="day"
        ),
        f"{p}/tickers": wandb.Table(
            columns=list(charts.ticker_columns()), data=charts.ticker_rows()
        ),
    }
    for ticker, values in charts.actions.items():
        counts, bins = np.histogram(values, bins=edges)
        payload[f"{p}/actions/{ticker}"] = wandb.Histogram(np_histogram=(counts, bins))
    return payload


def log_to_tensorboard(
    writer: Any, charts: EvaluationCharts, image: np.ndarray, step: int
) -> None:
    """The same image, histograms and tables on a torch SummaryWriter."""
    p = section(charts.split)
    writer.add_image(f"{p}/equity", image, step, dataformats="HWC")
    edges = histogram_edges(charts)
    for ticker, values in charts.actions.items():
        writer.add_histogram(f"{p}/actions/{ticker}", values.astype(np.float64), step, bins=edges)
    writer.add_text(
        f"{p}/tickers", markdown_table(charts.ticker_columns(), charts.ticker_rows()), step
    )
