"""Per-ticker tables (CSV files, Yahoo downloads) -> Bars on one checked calendar."""

from __future__ import annotations

from collections.abc import Mapping

import numpy as np
import pandas as pd

from ploutos.data.bars import Bars
from ploutos.data.validate import check_calendars, check_dates
from ploutos.errors import DataError

FIELDS = ("open", "high", "low", "close", "volume")


def day_index(index: pd.Index) -> np.ndarray:
    """A date-like index as datetime64[D]; time-zone aware stamps keep their local date."""
    stamps = pd.DatetimeIndex(pd.to_datetime(index))
    if stamps.tz is not None:
        stamps = stamps.tz_localize(None)
    return stamps.values.astype("datetime64[D]")


def _within(days: np.ndarray, start: np.datetime64 | None, end: np.datetime64 | None
            ) -> np.ndarray:
    keep = np.ones(len(days), dtype=bool)
    if start is not None:
        keep &= days >= start
    if end is not None:
        keep &= days <= end
    return keep


def bars_from_frames(
    frames: Mapping[str, pd.DataFrame],
    source: str,
    benchmark: pd.Series | None = None,
    benchmark_name: str | None = None,
    notes: tuple[str, ...] = (),
    start: np.datetime64 | None = None,
    end: np.datetime64 | None = None,
) -> Bars:
    """Stack per-ticker frames (date index, lower-case field columns) into Bars.

    Each ticker's dates must be sorted and unique, and on [start, end] every ticker must
    trade on every day of the union calendar from its first bar on. A field absent for some
    ticker is dropped for all (with a note) so the arrays stay rectangular; `close` is required.
    """
    calendars: dict[str, np.ndarray] = {}
    kept: dict[str, pd.DataFrame] = {}
    for ticker, frame in frames.items():
        if "close" not in frame.columns:
            raise DataError(f"ticker {ticker}: no close column (has {list(frame.columns)})")
        days = day_index(frame.index)
        check_dates(days, f"ticker {ticker}")
        inside = _within(days, start, end)
        calendars[ticker], kept[ticker] = days[inside], frame[inside]
    frames = kept
    dates = check_calendars(calendars)
    fields = [f for f in FIELDS if all(f in frame.columns for frame in frames.values())]
    dropped = [f for f in FIELDS if f not in fields and any(f in fr for fr in frames.values())]
    if dropped:
        notes = (*notes, f"fields {dropped} dropped: not present for every ticker")
    arrays: dict[str, np.ndarray] = {f: np.full((len(dates), len(frames)), np.nan) for f in fields}
    for a, (ticker, frame) in enumerate(frames.items()):
        rows = np.searchsorted(dates, calendars[ticker])
        for f in fields:
            arrays[f][rows, a] = pd.to_numeric(frame[f], errors="coerce").to_numpy(np.float64)
    bench = None
    if benchmark is not None:
        bench_days = day_index(benchmark.index)
        check_dates(bench_days, f"benchmark {benchmark_name}")
        inside = _within(bench_days, start, end)
        bench = (
            pd.Series(benchmark.to_numpy(np.float64)[inside], index=bench_days[inside])
            .reindex(dates)
            .to_numpy(np.float64)
        )
    return Bars(
        dates=dates,
        tickers=tuple(frames),
        benchmark=bench,
        benchmark_name=benchmark_name if benchmark is not None else None,
        source=source,
        notes=notes,
        **arrays,
    )
