"""What the dashboards draw at an evaluation, from the evaluation's own EpisodeLog.

Plain numbers, no logger library: figure.py draws them, media.py hands them to W&B and
TensorBoard. Everything comes from the one engine's record of the evaluation episode
(ploutos.evaluation.runner) and its buy-and-hold baseline on the same split and days.
"""

from __future__ import annotations

import time
from dataclasses import dataclass

import numpy as np
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
    the same at every evaluation, so it is stepped once (on first use) and kept, and
    `baseline_seconds` is that run's CPU time (the thread's: it may run on a worker).

    The buy-and-hold run draws nothing from torch's global RNG (the engine's starts are
    hashed from its own seeds), so it may run beside training on another thread."""

    def __init__(self, market: Market, cfg: DictConfig, split: str, horizon: int = 5) -> None:
        self.market = market
        self.cfg = cfg
        self.split = split
        self.horizon = int(horizon)
        self._buy_and_hold: np.ndarray | None = None
        self.baseline_seconds = 0.0

    def buy_and_hold(self, n_points: int) -> np.ndarray | None:
        if self._buy_and_hold is None:
            began = time.thread_time()
            found = run_baselines(self.market, self.cfg, self.split, names=("buy_and_hold",))
            self._buy_and_hold = found["buy_and_hold"].equity
            self.baseline_seconds = time.thread_time() - began
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
