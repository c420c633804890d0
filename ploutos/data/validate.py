"""Validation of config and bars before anything else runs.

Every data error names the ticker and the date so the researcher can look at the row.
NaN gaps are forward-filled up to `max_ffill_days` and never back-filled: a back-fill would
copy a future price into the past.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping, Sequence
from dataclasses import replace
from typing import Any

import numpy as np

from ploutos.data.bars import Bars
from ploutos.errors import ConfigError, DataError

DateLike = str | np.datetime64 | None


def to_day(value: Any) -> np.datetime64 | None:
    """A config date (str, date, datetime64 or None) as datetime64[D]."""
    if value is None:
        return None
    return np.datetime64(str(value)[:10], "D")


def day_str(value: np.datetime64) -> str:
    return str(np.datetime64(value, "D"))


def _name_list(names: Sequence[str], limit: int = 5) -> str:
    shown = ", ".join(names[:limit])
    return shown if len(names) <= limit else f"{shown} (and {len(names) - limit} more)"


def check_data_config(cfg: Mapping[str, Any]) -> None:
    """ConfigErrors for values no source could serve: empty tickers, negative fill limit..."""
    tickers = cfg.get("tickers")
    if tickers is not None:
        tickers = list(tickers)
        if not tickers:
            raise ConfigError("data.tickers", "the ticker list is empty; name at least one")
        seen: set[str] = set()
        dups = [t for t in tickers if t in seen or seen.add(t)]
        if dups:
            raise ConfigError("data.tickers", f"duplicate tickers {dups}")
    max_ffill = cfg.get("max_ffill_days", 0)
    if not isinstance(max_ffill, int) or isinstance(max_ffill, bool) or max_ffill < 0:
        raise ConfigError("data.max_ffill_days", f"must be an integer >= 0, got {max_ffill!r}")
    start, end = to_day(cfg.get("start")), to_day(cfg.get("end"))
    if start is not None and end is not None and start > end:
        raise ConfigError(
            "data.start", f"{day_str(start)} is after data.end {day_str(end)}"
        )


def check_known(requested: Iterable[str], available: Sequence[str], source: str) -> None:
    """DataError naming every requested ticker the source does not have, and what it has."""
    unknown = [t for t in requested if t not in available]
    if unknown:
        raise DataError(
            f"unknown tickers {unknown} for data source '{source}'; "
            f"available: {', '.join(available)}"
        )


def check_dates(dates: np.ndarray, who: str) -> None:
    """Dates must be strictly increasing; `who` names the ticker (or file) they belong to."""
    if len(dates) < 2:
        return
    step = np.diff(dates.astype("datetime64[D]").astype(np.int64))
    dup = np.flatnonzero(step == 0)
    if dup.size:
        raise DataError(f"{who}: duplicate date {day_str(dates[dup[0] + 1])}")
    back = np.flatnonzero(step < 0)
    if back.size:
        i = back[0]
        raise DataError(
            f"{who}: dates are not sorted: {day_str(dates[i + 1])} comes after "
            f"{day_str(dates[i])}"
        )


def check_calendars(calendars: Mapping[str, np.ndarray]) -> np.ndarray:
    """The union calendar of per-ticker sources; a ticker missing a day others trade is an error.

    Only days from a ticker's first bar on count: a later start is the leading-history check's
    business (it knows the requested start and names the first valid date).
    """
    union = np.unique(np.concatenate([np.asarray(d, "datetime64[D]") for d in calendars.values()]))
    for ticker, dates in calendars.items():
        dates = np.asarray(dates, "datetime64[D]")
        if dates.size == 0:
            continue
        expected = union[union >= dates[0]]
        missing = np.setdiff1d(expected, dates, assume_unique=True)
        if missing.size:
            others = [t for t, d in calendars.items() if t != ticker and missing[0] in d]
            raise DataError(
                f"calendars disagree: ticker {ticker} has no bar on {day_str(missing[0])} "
                f"({missing.size} such days in all) while {_name_list(others)} have one"
            )
    return union


def _series(bars: Bars) -> list[tuple[str, str, np.ndarray, tuple[str, ...]]]:
    """(Bars attribute, price field, [T, K] array, column names) for every array checked."""
    out = [(f, f, getattr(bars, f), bars.tickers) for f in bars.columns]
    if bars.benchmark is not None:
        name = bars.benchmark_name or "benchmark"
        out.append(("benchmark", "close", bars.benchmark[:, None], (f"benchmark {name}",)))
    return out


def _who(name: str) -> str:
    return name if name.startswith("benchmark ") else f"ticker {name}"


def _check_positive(bars: Bars) -> None:
    for _, field, values, names in _series(bars):
        bad = values < 0 if field == "volume" else values <= 0
        if bad.any():
            t, a = np.argwhere(bad)[0]
            kind = "negative volume" if field == "volume" else f"non-positive {field}"
            raise DataError(
                f"{_who(names[a])}: {kind} {values[t, a]:g} on {day_str(bars.dates[t])}"
            )


def _ffill(values: np.ndarray, limit: int) -> np.ndarray:
    """Forward-fill NaN runs of at most `limit` rows, column-wise, without a loop over days."""
    t = np.arange(values.shape[0])[:, None]
    valid = ~np.isnan(values)
    last = np.maximum.accumulate(np.where(valid, t, -1), axis=0)
    fill = ~valid & (last >= 0) & (t - last <= limit)
    filled = values.copy()
    rows, cols = np.nonzero(fill)
    filled[rows, cols] = values[last[rows, cols], cols]
    return filled


def _check_nan(bars: Bars, max_ffill_days: int, requested_start: np.datetime64 | None) -> Bars:
    dates = bars.dates
    filled: dict[str, np.ndarray] = {}
    for attr, field, values, names in _series(bars):
        valid = ~np.isnan(values)
        has_any = valid.any(axis=0)
        if not has_any.all():
            a = int(np.argmin(has_any))
            raise DataError(
                f"{_who(names[a])}: no {field} at all between {day_str(dates[0])} and "
                f"{day_str(dates[-1])}"
            )
        first = valid.argmax(axis=0)
        if first.max() > 0:
            a = int(np.argmax(first))
            start = requested_start if requested_start is not None else dates[0]
            start = max(start, dates[0])
            first_day = day_str(dates[first[a]])
            raise DataError(
                f"{_who(names[a])}: history starts on {first_day}, after the requested start "
                f"{day_str(start)} (no {field} from {day_str(dates[0])} until then, and prices "
                f"are never back-filled); set data.start to {first_day} or later, or drop "
                f"{names[a]} from data.tickers"
            )
        out = _ffill(values, max_ffill_days)
        left = np.isnan(out)
        if left.any():
            t, a = np.argwhere(left)[0]
            run_start = t
            while run_start > 0 and np.isnan(values[run_start - 1, a]):
                run_start -= 1
            run_end = t
            while run_end + 1 < len(dates) and np.isnan(values[run_end + 1, a]):
                run_end += 1
            raise DataError(
                f"{_who(names[a])}: {run_end - run_start + 1} consecutive days without {field} "
                f"from {day_str(dates[run_start])} to {day_str(dates[run_end])}, more than "
                f"data.max_ffill_days={max_ffill_days} can forward-fill"
            )
        filled[attr] = out[:, 0] if attr == "benchmark" else out
    return replace(bars, **filled)


def validate_bars(
    bars: Bars,
    max_ffill_days: int,
    start: DateLike = None,
    end: DateLike = None,
) -> Bars:
    """Check and clean bars: sorted unique dates, [start, end] cut, NaN gaps, positive prices.

    Returns bars without NaN (gaps of at most `max_ffill_days` forward-filled) on the requested
    date range. Raises DataError naming the ticker and date of the first problem found.
    """
    check_dates(bars.dates, f"{bars.source} bars (all tickers)")
    lo, hi = to_day(start), to_day(end)
    i0 = 0 if lo is None else int(np.searchsorted(bars.dates, lo, side="left"))
    i1 = bars.n_days if hi is None else int(np.searchsorted(bars.dates, hi, side="right"))
    if i1 <= i0:
        cover = (
            f"the {bars.source} data cover {day_str(bars.dates[0])} to {day_str(bars.dates[-1])}"
            if bars.n_days else f"the {bars.source} source returned no bars"
        )
        raise DataError(
            f"tickers {_name_list(bars.tickers)}: no bars between data.start={start} and "
            f"data.end={end}; {cover}"
        )
    if (i0, i1) != (0, bars.n_days):
        bars = bars.slice_days(i0, i1)
    _check_positive(bars)
    return _check_nan(bars, max_ffill_days, lo)


def check_history(bars: Bars, required_days: int, split_start: DateLike | int = None) -> None:
    """Raise DataError when fewer than `required_days` bars precede `split_start`.

    Later stages call this with the feature warm-up plus the observation lookback. With
    `split_start` None the whole history must hold `required_days` bars and leave two more
    (one to decide on, one to fill on); otherwise `split_start` (a date or day index) is the
    first day to trade and must have `required_days` bars before it.
    """
    if isinstance(split_start, int | np.integer):
        index, at = int(split_start), None
    elif split_start is None:
        index, at = bars.n_days - 2, None
    else:
        at = to_day(split_start)
        index = int(np.searchsorted(bars.dates, at, side="left"))
    if index >= required_days:
        return
    first = day_str(bars.dates[0]) if bars.n_days else "(no bars)"
    where = (
        f"before {day_str(at)}" if at is not None
        else f"before day {index}" if split_start is not None
        else "in all (leaving two days to trade)"
    )
    need = f"{required_days} that the feature warm-up and observation lookback need"
    raise DataError(
        f"tickers {_name_list(bars.tickers)}: only {max(index, 0)} bars {where} "
        f"(history starts {first}), fewer than the {need}; move data.start earlier or the "
        f"split later"
    )
