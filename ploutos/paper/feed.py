"""Daily bars for a session through the data sources (yahoo with its cache, csv, synthetic),
and the checks a trade date's bars must pass before anything trades on them.

A bad day (a source error such as a missing ticker, a NaN on the trade date, or a latest bar
older than the trade date) is reported as a list of problems; the session then places no
order that day and records an alarm. Validation itself is the data layer's (validate_bars):
the feed only cuts the rows and looks at the trade date's row before any forward-fill could
hide a gap there.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, replace

import numpy as np
from omegaconf import DictConfig, OmegaConf

from ploutos.data.bars import Bars
from ploutos.data.loader import SOURCES
from ploutos.data.validate import check_data_config, day_str, validate_bars
from ploutos.data.yahoo import Downloader
from ploutos.errors import DataError

# Calendar days read past a trade date in replay: enough to reach the next session.
LOOKAHEAD_DAYS = 10


@dataclass(frozen=True)
class DayBars:
    """Validated bars up to the trade date, and the next session's bar when the data have it
    (a replay of history); `problems` lists why the day cannot be traded (then bars is None)."""

    trade_date: str
    bars: Bars | None
    has_next: bool
    problems: tuple[str, ...] = ()


def cut_rows(bars: Bars, last: np.datetime64) -> Bars:
    """The rows dated on or before `last`."""
    return bars.slice_days(0, int(np.searchsorted(bars.dates, last, side="right")))


def with_estimated_next(bars: Bars, next_date: str) -> Bars:
    """Bars plus one estimated row for next_date: every price at the last close and the last
    volume. Orders decided after a close are sized on it, as the env sizes at the fill price."""
    last_close = bars.close[-1:]

    def extend(field: str, value: np.ndarray | None) -> np.ndarray | None:
        if value is None:
            return None
        row = value[-1:] if field == "volume" else last_close
        return np.concatenate([value, row], axis=0)

    fields = {f: extend(f, getattr(bars, f)) for f in (*bars.columns,)}
    bench = None if bars.benchmark is None else np.append(bars.benchmark, bars.benchmark[-1])
    dates = np.append(bars.dates, np.datetime64(next_date, "D"))
    return replace(bars, dates=dates, benchmark=bench, **fields)


class DataFeed:
    """Raw bars of `data_cfg` (the checkpoint's data config with the paper overrides)."""

    def __init__(self, data_cfg: DictConfig, downloader: Downloader | None = None) -> None:
        self.cfg = data_cfg
        self.tickers: list[str] | None = (
            None if data_cfg.get("tickers") is None else [str(t) for t in data_cfg.tickers]
        )
        self.downloader = downloader

    def history(self, through: str, ahead_days: int = 0) -> Bars:
        """Raw (unvalidated) bars from data.start to `through` + ahead_days calendar days."""
        last = np.datetime64(through, "D") + np.timedelta64(ahead_days, "D")
        cfg = OmegaConf.merge(self.cfg, {"end": day_str(last)})
        check_data_config(cfg)
        source = str(cfg.get("source", "sample"))
        if source not in SOURCES:
            raise DataError(f"data.source: unknown source {source!r}")
        return cut_rows(SOURCES[source](cfg, self.downloader), last)

    def day(self, trade_date: str, expected: Sequence[str], lookahead: bool) -> DayBars:
        """The bars a session on trade_date may use, or the problems that stop it.

        lookahead: read the next session's bar too when the data have it (replay), so orders
        are sized at the real fill price exactly as the backtest sizes them.
        """
        try:
            raw = self.history(trade_date, LOOKAHEAD_DAYS if lookahead else 0)
        except DataError as err:
            return DayBars(trade_date, None, False, (str(err),))
        problems = day_problems(raw, trade_date, expected)
        if problems:
            return DayBars(trade_date, None, False, tuple(problems))
        day = np.datetime64(trade_date, "D")
        upto = int(np.searchsorted(raw.dates, day, side="right"))
        has_next = lookahead and raw.n_days > upto
        keep = raw.slice_days(0, upto + int(has_next))
        try:
            bars = validate_bars(
                keep, int(self.cfg.get("max_ffill_days", 0)), self.cfg.get("start")
            )
        except DataError as err:
            return DayBars(trade_date, None, False, (str(err),))
        return DayBars(trade_date, bars, has_next)


def day_problems(raw: Bars, trade_date: str, expected: Sequence[str]) -> list[str]:
    """Why raw bars cannot be traded on trade_date: missing tickers, no bar dated the trade
    date (stale data), a NaN in the trade date's row."""
    missing = [t for t in expected if t not in raw.tickers]
    if missing:
        return [f"tickers {', '.join(missing)}: no bars from data source '{raw.source}'"]
    day = np.datetime64(trade_date, "D")
    if raw.n_days == 0 or raw.dates[raw.dates <= day].size == 0:
        return [f"no bars on or before the trade date {trade_date}"]
    row = int(np.searchsorted(raw.dates, day, side="right")) - 1
    if raw.dates[row] != day:
        return [
            f"stale data: the latest bar is dated {day_str(raw.dates[row])}, older than the "
            f"trade date {trade_date}"
        ]
    problems = []
    for field in raw.columns:
        values = getattr(raw, field)[row]
        for a in np.flatnonzero(np.isnan(values)):
            problems.append(f"ticker {raw.tickers[a]}: NaN {field} on the trade date {trade_date}")
    return problems
