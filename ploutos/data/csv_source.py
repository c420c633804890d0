"""A user's CSV or Parquet files: a directory of TICKER.csv|.csv.gz|.parquet or one long table.

data.columns maps our fields to the user's column names, e.g. {date: Date, close: "Adj Close"};
a field mapped to null (or absent from the files) is not loaded. The long layout (data.path
is a file) needs a ticker column too.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Any

import pandas as pd

from ploutos.data.bars import Bars
from ploutos.data.frames import FIELDS, bars_from_frames, day_index
from ploutos.data.validate import check_dates, check_known, to_day
from ploutos.errors import ConfigError, DataError

SUFFIXES = (".csv", ".csv.gz", ".parquet")
DEFAULT_COLUMNS = {"date": "date", "ticker": "ticker", **{f: f for f in FIELDS}}


def _read(path: Path, who: str) -> pd.DataFrame:
    """The file as a frame; an empty or unparseable file names the ticker and the path."""
    try:
        if path.name.endswith(".parquet"):
            return pd.read_parquet(path)
        return pd.read_csv(path)
    except (pd.errors.EmptyDataError, pd.errors.ParserError, ValueError, OSError) as err:
        reason = str(err).strip().splitlines()[0] if str(err).strip() else type(err).__name__
        raise DataError(f"{who}: cannot read the file ({reason})") from err


def _numeric(frame: pd.DataFrame, dates: pd.Series, who: str) -> pd.DataFrame:
    """Every field as float64; a cell that is not a number (and not empty) is refused with
    the ticker, date, column and raw value, never silently turned into a gap."""
    out = {}
    for name in frame.columns:
        raw = frame[name]
        values = pd.to_numeric(raw, errors="coerce")
        bad = values.isna() & raw.notna() & (raw.astype(str).str.strip() != "")
        if bad.any():
            row = int(bad.to_numpy().argmax())
            day = pd.Timestamp(dates.iloc[row]).date()
            raise DataError(
                f"{who}: non-numeric {name} {raw.iloc[row]!r} on {day} (row {row + 1}); "
                "fix or remove the cell"
            )
        out[name] = values.astype("float64")
    return pd.DataFrame(out, index=frame.index)


def _to_frame(raw: pd.DataFrame, columns: Mapping[str, str | None], who: str,
              date_format: str | None) -> pd.DataFrame:
    """Our field names on a date index; `who` names the ticker and file for errors."""
    date_col = columns["date"]
    if date_col not in raw.columns:
        raise DataError(f"{who}: no date column {date_col!r} (columns: {list(raw.columns)}); "
                        "set data.columns.date")
    dates = pd.to_datetime(raw[date_col], format=date_format, errors="coerce")
    if dates.isna().any():
        row = int(dates.isna().to_numpy().argmax())
        raise DataError(f"{who}: unreadable date {raw[date_col].iloc[row]!r} in row {row + 1}")
    fields = {f: columns[f] for f in FIELDS if columns.get(f) and columns[f] in raw.columns}
    if "close" not in fields:
        raise DataError(f"{who}: no close column {columns.get('close')!r} (columns: "
                        f"{list(raw.columns)}); set data.columns.close")
    check_dates(day_index(dates), who)
    frame = raw[list(fields.values())].set_axis(list(fields), axis=1)
    frame = _numeric(frame, dates, who)
    return frame.set_axis(pd.DatetimeIndex(dates), axis=0)


def _ticker_file(root: Path, ticker: str) -> Path:
    for suffix in SUFFIXES:
        candidate = root / f"{ticker}{suffix}"
        if candidate.is_file():
            return candidate
    raise DataError(
        f"ticker {ticker}: no file {root / ticker}{{{','.join(SUFFIXES)}}} in data.path {root}"
    )


def _from_directory(root: Path, tickers: Sequence[str] | None, benchmark: str | None,
                    columns: Mapping[str, str | None], date_format: str | None
                    ) -> tuple[dict[str, pd.DataFrame], pd.Series | None]:
    if tickers is None:
        names = {p.name.split(".")[0] for p in root.iterdir()
                 if any(p.name.endswith(s) for s in SUFFIXES)}
        tickers = sorted(names - {benchmark})
    frames = {}
    for ticker in tickers:
        path = _ticker_file(root, ticker)
        who = f"ticker {ticker} ({path})"
        frames[ticker] = _to_frame(_read(path, who), columns, who, date_format)
    bench = None
    if benchmark is not None:
        path = _ticker_file(root, benchmark)
        who = f"benchmark {benchmark} ({path})"
        bench = _to_frame(_read(path, who), columns, who, date_format)["close"]
    return frames, bench


def _from_long(path: Path, tickers: Sequence[str] | None, benchmark: str | None,
               columns: Mapping[str, str | None], date_format: str | None
               ) -> tuple[dict[str, pd.DataFrame], pd.Series | None]:
    raw = _read(path, f"csv file {path}")
    ticker_col = columns.get("ticker")
    if ticker_col not in raw.columns:
        raise DataError(f"{path}: no ticker column {ticker_col!r} (columns: {list(raw.columns)});"
                        " set data.columns.ticker")
    groups = {str(name): group for name, group in raw.groupby(ticker_col, sort=True)}
    available = [t for t in groups if t != benchmark]
    tickers = available if tickers is None else list(tickers)
    check_known(tickers, available, f"csv ({path})")
    frames = {t: _to_frame(groups[t], columns, f"ticker {t} ({path})", date_format)
              for t in tickers}
    bench = None
    if benchmark is not None:
        check_known([benchmark], list(groups), f"csv ({path}, benchmark)")
        bench = _to_frame(groups[benchmark], columns, f"benchmark {benchmark} ({path})",
                          date_format)["close"]
    return frames, bench


def load_csv(cfg: Mapping[str, Any], tickers: Sequence[str] | None) -> Bars:
    """Bars from data.path: per-ticker files when it is a directory, long format when a file."""
    if not cfg.get("path"):
        raise ConfigError("data.path", "is required for source csv (a directory or a file)")
    path = Path(str(cfg["path"])).expanduser()
    if not path.exists():
        raise ConfigError("data.path", f"{path} does not exist")
    columns = {**DEFAULT_COLUMNS, **dict(cfg.get("columns") or {})}
    benchmark, date_format = cfg.get("benchmark"), cfg.get("date_format")
    read = _from_directory if path.is_dir() else _from_long
    frames, bench = read(path, tickers, benchmark, columns, date_format)
    return bars_from_frames(frames, "csv", bench, benchmark, notes=(f"csv: {path}",),
                            start=to_day(cfg.get("start")), end=to_day(cfg.get("end")))
