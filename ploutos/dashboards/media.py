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

The image is encoded to PNG once (figure.png_bytes) and the same bytes go to both loggers.
The line plot's table is built untyped: W&B's per-row type inference is most of the cost
of a table of a few thousand rows, and its columns' types are known here.
"""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path
from typing import Any

import numpy as np
from tensorboard.compat.proto.summary_pb2 import Summary

from ploutos.dashboards.charts import EvaluationCharts

LINE_SERIES_FIELDS = {"step": "step", "lineKey": "lineKey", "lineVal": "lineVal"}


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


def equity_series_rows(charts: EvaluationCharts) -> list[list]:
    """[day, line, equity] rows, agent then buy-and-hold: the layout of W&B's line_series."""
    rows = [[day, "agent", value] for day, value in enumerate(charts.equity.tolist())]
    if charts.buy_and_hold is not None:
        held = charts.buy_and_hold.tolist()
        rows += [[day, "buy and hold", value] for day, value in enumerate(held)]
    return rows


def equity_line_plot(charts: EvaluationCharts) -> Any:
    """wandb.plot.line_series's chart (same vega spec and table layout) over a table that
    skips W&B's per-row type inference."""
    import wandb

    table = wandb.Table(
        columns=list(LINE_SERIES_FIELDS),
        data=equity_series_rows(charts),
        allow_mixed_types=True,
        optional=False,
    )
    return wandb.plot_table(
        "wandb/lineseries/v0",
        table,
        LINE_SERIES_FIELDS,
        {"title": f"{charts.split} equity", "xname": "day"},
    )


def wandb_payload(charts: EvaluationCharts, png_path: Path) -> dict[str, Any]:
    """The media of one evaluation as one wandb.log dict (logged at the evaluation's step
    under Lightning's x-axis, trainer/global_step). `png_path`: the image, which W&B copies
    into the run when the payload is logged."""
    import wandb

    p = section(charts.split)
    edges = histogram_edges(charts)
    payload: dict[str, Any] = {
        f"{p}/equity": wandb.Image(
            str(png_path), caption=f"{charts.split}: equity and drawdown"
        ),
        f"{p}/equity_curve": equity_line_plot(charts),
        f"{p}/tickers": wandb.Table(
            columns=list(charts.ticker_columns()), data=charts.ticker_rows()
        ),
    }
    for ticker, values in charts.actions.items():
        counts, bins = np.histogram(values, bins=edges)
        payload[f"{p}/actions/{ticker}"] = wandb.Histogram(np_histogram=(counts, bins))
    return payload


def log_to_tensorboard(
    writer: Any, charts: EvaluationCharts, png: bytes, shape: tuple[int, ...], step: int
) -> None:
    """The same image (already encoded; shape [H, W, 3]), histograms and tables on a torch
    SummaryWriter. The image goes in as the Summary that writer.add_image would build
    from the pixels, without encoding them a second time."""
    p = section(charts.split)
    image = Summary.Image(height=shape[0], width=shape[1], colorspace=3, encoded_image_string=png)
    summary = Summary(value=[Summary.Value(tag=f"{p}/equity", image=image)])
    writer._get_file_writer().add_summary(summary, step)  # as add_image does
    edges = histogram_edges(charts)
    for ticker, values in charts.actions.items():
        writer.add_histogram(f"{p}/actions/{ticker}", values.astype(np.float64), step, bins=edges)
    writer.add_text(
        f"{p}/tickers", markdown_table(charts.ticker_columns(), charts.ticker_rows()), step
    )
