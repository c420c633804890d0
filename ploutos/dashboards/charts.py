"""What the dashboards draw at an evaluation, from the evaluation's own EpisodeLog.

Plain numbers and one rendered figure, no logger library: media.py hands them to W&B and
TensorBoard. Everything comes from the one engine's record of the evaluation episode
(ploutos.evaluation.runner) and its buy-and-hold baseline on the same split and days.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
from matplotlib.backends.backend_agg import FigureCanvasAgg
from matplotlib.figure import Figure
from matplotlib.ticker import MaxNLocator
from omegaconf import DictConfig
from scipy.special import softmax

from ploutos.env.actions import DiscreteActions
from ploutos.evaluation.baselines import run_baselines
from ploutos.evaluation.metrics import drawdown_curve
from ploutos.evaluation.runner import EpisodeLog, episode_timing
from ploutos.market import Market

TIMING_COLUMNS = (
    "ticker",
    "buy_good",
    "buy_bad",
    "buy_unjudged",
    "buy_quality",
    "sell_good",
    "sell_bad",
    "sell_unjudged",
    "sell_quality",
)


@dataclass(frozen=True)
class EvaluationCharts:
    """One evaluation episode (env 0) as series and tables.

    actions: per ticker the values its histogram counts: the action code of every day
    (discrete: 0 HOLD, 1 BUY, 2 SELL) or the target weight of every day (weights, with a
    "cash" entry). action_columns/action_rows: the same as a table (counts per code, or the
    weight's mean/min/max). timing_rows: buy and sell timing quality per ticker (TIMING_COLUMNS).
    """

    split: str
    dates: list[str]  # ISO dates of the D + 1 equity points
    equity: np.ndarray  # float64 [D + 1]
    buy_and_hold: np.ndarray | None  # float64 [D + 1] on the same days, if it could run
    drawdown: np.ndarray  # float64 [D + 1], <= 0
    discrete: bool
    action_labels: tuple[str, ...]  # discrete: the code names; weights: ("weight",)
    actions: dict[str, np.ndarray]
    action_columns: tuple[str, ...]
    action_rows: list[list]
    timing_rows: list[list]

    def ticker_columns(self) -> tuple[str, ...]:
        """The per-ticker table: the action mix, then the timing quality."""
        return (*self.action_columns, *TIMING_COLUMNS[1:])

    def ticker_rows(self) -> list[list]:
        """One row per ticker (weights: and cash, which has no timing), action_columns then
        TIMING_COLUMNS after the ticker."""
        timing = {row[0]: row[1:] for row in self.timing_rows}
        blank = [None] * (len(TIMING_COLUMNS) - 1)
        return [[*row, *timing.get(row[0], blank)] for row in self.action_rows]


def action_summary(
    log: EpisodeLog, env_index: int = 0
) -> tuple[dict[str, np.ndarray], tuple[str, ...], list[list]]:
    """(values per ticker, table columns, table rows) of one env's actions."""
    tickers = list(log.tickers)
    actions = log.actions[:, env_index]  # [D, A] codes or [D, A + 1] logits
    if isinstance(log.action_space, DiscreteActions):
        labels = log.action_space.labels
        values = {t: actions[:, a].astype(np.int64) for a, t in enumerate(tickers)}
        rows = [
            [t, *np.bincount(v, minlength=len(labels))[: len(labels)].tolist()]
            for t, v in values.items()
        ]
        return values, ("ticker", *labels), rows
    # The env's rule for weight actions: the softmax of the logits is the target allocation.
    weights = softmax(actions.astype(np.float64), axis=-1)
    values = {t: weights[:, a] for a, t in enumerate([*tickers, "cash"])}
    rows = [[t, float(v.mean()), float(v.min()), float(v.max())] for t, v in values.items()]
    return values, ("ticker", "mean_weight", "min_weight", "max_weight"), rows


def timing_rows(log: EpisodeLog, market: Market, horizon: int) -> list[list]:
    per_ticker = episode_timing(log, market, 0, horizon)["per_ticker"]
    return [[t, *(per_ticker[t][c] for c in TIMING_COLUMNS[1:])] for t in log.tickers]


class EvaluationCharter:
    """EpisodeLog -> EvaluationCharts for one market and split; the buy-and-hold curve is
    the same at every evaluation, so it is stepped once (on first use) and kept."""

    def __init__(self, market: Market, cfg: DictConfig, split: str, horizon: int = 5) -> None:
        self.market = market
        self.cfg = cfg
        self.split = split
        self.horizon = int(horizon)
        self._buy_and_hold: np.ndarray | None = None

    def buy_and_hold(self, n_points: int) -> np.ndarray | None:
        if self._buy_and_hold is None:
            found = run_baselines(self.market, self.cfg, self.split, names=("buy_and_hold",))
            self._buy_and_hold = found["buy_and_hold"].equity
        # A v7 window can start the agent later than the baseline's first decision day.
        if len(self._buy_and_hold) != n_points:
            return None
        return self._buy_and_hold

    def __call__(self, log: EpisodeLog) -> EvaluationCharts:
        equity = log.equity[:, 0]
        values, columns, rows = action_summary(log)
        discrete = isinstance(log.action_space, DiscreteActions)
        return EvaluationCharts(
            split=log.split,
            dates=[str(d)[:10] for d in log.dates],
            equity=equity,
            buy_and_hold=self.buy_and_hold(len(equity)),
            drawdown=drawdown_curve(equity),
            discrete=discrete,
            action_labels=tuple(log.action_space.labels),
            actions=values,
            action_columns=columns,
            action_rows=rows,
            timing_rows=timing_rows(log, self.market, self.horizon),
        )


def equity_figure(charts: EvaluationCharts, title: str) -> Figure:
    """Equity beside buy-and-hold (top) and the agent's drawdown (bottom). A bare Figure
    (no pyplot): nothing global to close, and no display backend needed. Fixed margins and
    few ticks: laying out tick labels is most of the drawing time."""
    fig = Figure(figsize=(8, 4.5), dpi=80)
    top, bottom = fig.subplots(2, 1, sharex=True, gridspec_kw={"height_ratios": [2, 1]})
    x = np.arange(len(charts.equity))
    top.plot(x, charts.equity, color="black", lw=1.6, label="agent")
    if charts.buy_and_hold is not None:
        top.plot(x, charts.buy_and_hold, color="tab:blue", lw=1.0, label="buy and hold")
    top.set_ylabel("equity")
    top.set_title(title)
    top.legend(loc="upper left", fontsize=8)
    bottom.fill_between(x, 100.0 * charts.drawdown, 0.0, color="tab:red", alpha=0.4)
    bottom.set_ylabel("drawdown (%)")
    bottom.set_xlabel(f"day of the {charts.split} split ({charts.dates[0]} to {charts.dates[-1]})")
    for ax in (top, bottom):
        ax.yaxis.set_major_locator(MaxNLocator(4))
        ax.grid(alpha=0.3)
    bottom.xaxis.set_major_locator(MaxNLocator(6, integer=True))
    fig.subplots_adjust(left=0.12, right=0.97, top=0.92, bottom=0.14, hspace=0.08)
    return fig


def render(fig: Figure) -> np.ndarray:
    """uint8 [H, W, 3] pixels of the figure: one rendering serves every logger."""
    canvas = FigureCanvasAgg(fig)
    canvas.draw()
    return np.asarray(canvas.buffer_rgba())[..., :3].copy()
