"""Yahoo Finance daily OHLCV (adjusted) through yfinance, cached on disk as Parquet.

One Parquet file per ticker under data.cache_dir records the date range it covers, so a
repeated request makes no network call and a longer one downloads only the missing part.
That part overlaps the cache by one trading day: Yahoo's adjusted prices are rescaled after
every dividend or split, so the cached history is multiplied onto the new download's basis at
the shared day and the stitched series has no jump. Bars dated today or later are never
cached (today's bar is not final). Downloads retry with exponential backoff; when they keep
failing and the cache cannot serve the request, a DataError names the tickers.
"""

from __future__ import annotations

import json
import os
import time
from collections.abc import Callable, Mapping, Sequence
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd
import pyarrow as pa
import pyarrow.parquet as pq

from ploutos.data.bars import Bars
from ploutos.data.frames import bars_from_frames, day_index
from ploutos.data.validate import day_str, to_day
from ploutos.errors import ConfigError, DataError
from ploutos.io import atomic_write

# (tickers, start, end) -> a frame shaped like yfinance.download(tickers, start, end,
# group_by="column", auto_adjust=True): date index, columns (field, ticker); end exclusive.
Downloader = Callable[[list[str], str, str], pd.DataFrame]
YF_FIELDS = {"Open": "open", "High": "high", "Low": "low", "Close": "close", "Volume": "volume"}
PRICE_COLUMNS = ["open", "high", "low", "close"]
META_KEY = b"ploutos.coverage"
ONE_DAY = np.timedelta64(1, "D")


def default_cache_dir() -> Path:
    """$PLOUTOS_CACHE/yahoo, else ~/.cache/ploutos/yahoo (conf/data/yahoo.yaml says the same)."""
    return Path(os.environ.get("PLOUTOS_CACHE", "~/.cache/ploutos")).expanduser() / "yahoo"


def yfinance_download(tickers: list[str], start: str, end: str) -> pd.DataFrame:
    """The real downloader; an empty answer (yfinance's way of saying offline) raises."""
    import yfinance as yf

    frame = yf.download(tickers, start=start, end=end, group_by="column", auto_adjust=True,
                        progress=False, threads=False, multi_level_index=True)
    if frame is None or frame.empty:
        raise ConnectionError(f"yfinance returned no rows for {tickers} {start}..{end}")
    return frame


class YahooCache:
    """Per-ticker Parquet files with the covered [start, end] range in the file metadata."""

    def __init__(self, root: Path) -> None:
        self.root = root

    def path(self, ticker: str) -> Path:
        return self.root / f"{ticker.replace('/', '_')}.parquet"

    def read(self, ticker: str) -> tuple[pd.DataFrame, np.datetime64, np.datetime64] | None:
        path = self.path(ticker)
        if not path.is_file():
            return None
        table = pq.read_table(path)
        covered = json.loads(table.schema.metadata[META_KEY])
        return table.to_pandas(), to_day(covered["start"]), to_day(covered["end"])

    def write(self, ticker: str, frame: pd.DataFrame, start: np.datetime64,
              end: np.datetime64) -> None:
        """Atomic: a reader sees the old file or the new one, never half of one."""
        self.root.mkdir(parents=True, exist_ok=True)
        table = pa.Table.from_pandas(frame, preserve_index=True)
        meta = {**(table.schema.metadata or {}),
                META_KEY: json.dumps({"start": day_str(start), "end": day_str(end)}).encode()}
        table = table.replace_schema_metadata(meta)
        atomic_write(self.path(ticker), lambda fh: pq.write_table(table, fh))


def split_download(frame: pd.DataFrame, tickers: Sequence[str]) -> dict[str, pd.DataFrame]:
    """yfinance's (field, ticker) columns -> one frame per ticker, rows without close dropped."""
    out = {}
    for ticker in tickers:
        if isinstance(frame.columns, pd.MultiIndex):
            if ticker not in frame.columns.get_level_values(1):
                continue
            sub = frame.xs(ticker, axis=1, level=1)
        else:  # a single ticker downloaded without the ticker level
            sub = frame
        sub = sub[[c for c in YF_FIELDS if c in sub.columns]].rename(columns=YF_FIELDS)
        sub = sub.astype(np.float64).set_axis(pd.DatetimeIndex(day_index(sub.index)), axis=0)
        out[ticker] = sub[sub["close"].notna()]
    return out


def _stitch(old: pd.DataFrame, new: pd.DataFrame) -> pd.DataFrame:
    """Union of rows, `new` winning; `old` prices rescaled to `new`'s adjustment at the overlap."""
    shared = old.index.intersection(new.index)
    if len(shared) and len(old):
        day = shared[-1] if new.index[-1] > old.index[-1] else shared[0]
        ratio = new.at[day, "close"] / old.at[day, "close"]
        old = old.assign(**{c: old[c] * ratio for c in PRICE_COLUMNS if c in old})
    merged = pd.concat([old[~old.index.isin(new.index)], new])
    return merged.sort_index()


def _gaps(entry: tuple[pd.DataFrame, np.datetime64, np.datetime64] | None,
          start: np.datetime64, end: np.datetime64) -> list[tuple[np.datetime64, np.datetime64]]:
    """Inclusive date ranges to download: outside the coverage, plus one overlapping bar."""
    if entry is None:
        return [(start, end)]
    frame, lo, hi = entry
    days = day_index(frame.index)
    gaps = []
    if start < lo:
        gaps.append((start, days[0] if len(days) else lo - ONE_DAY))
    if end > hi:
        gaps.append((days[-1] if len(days) else hi + ONE_DAY, end))
    return gaps


def _download(downloader: Downloader, tickers: list[str], start: np.datetime64,
              end: np.datetime64, retries: int, backoff: float, sleep: Callable[[float], None],
              cache_dir: Path) -> pd.DataFrame:
    last_error = "no attempt"
    for attempt in range(retries + 1):
        try:
            frame = downloader(tickers, day_str(start), day_str(end + ONE_DAY))
            if frame is not None and not frame.empty:
                return frame
            last_error = "empty response"
        except Exception as exc:  # yfinance and its HTTP stack raise many kinds
            last_error = f"{type(exc).__name__}: {exc}"
        if attempt < retries:
            sleep(backoff * 2**attempt)
    raise DataError(
        f"could not download tickers {', '.join(tickers)} from Yahoo Finance for "
        f"{day_str(start)} to {day_str(end)} after {retries + 1} attempts (last error: "
        f"{last_error}), and the cache in {cache_dir} does not cover that range; connect to "
        f"the network once, or use data=sample or data=csv"
    )


def fetch_yahoo(
    tickers: Sequence[str],
    start: str | np.datetime64,
    end: str | np.datetime64,
    cache_dir: str | Path,
    downloader: Downloader | None = None,
    retries: int = 3,
    backoff_seconds: float = 1.0,
    sleep: Callable[[float], None] = time.sleep,
) -> dict[str, pd.DataFrame]:
    """Per-ticker OHLCV frames on [start, end] (inclusive), from the cache where it can.

    Tickers missing the same range are downloaded in one call. A ticker the download has no
    rows for is left out of the result (and not cached) so the caller can name it.
    """
    downloader = downloader or yfinance_download
    cache = YahooCache(Path(cache_dir).expanduser())
    start, end = to_day(start), to_day(end)
    last_final = np.datetime64("today", "D") - ONE_DAY
    entries = {t: cache.read(t) for t in tickers}
    plans: dict[tuple[np.datetime64, np.datetime64], list[str]] = {}
    for ticker, entry in entries.items():
        for gap in _gaps(entry, start, end):
            plans.setdefault(gap, []).append(ticker)

    updated: dict[str, pd.DataFrame] = {}
    for (lo, hi), group in plans.items():
        parts = split_download(
            _download(downloader, group, lo, hi, retries, backoff_seconds, sleep, cache.root),
            group,
        )
        for ticker in group:
            entry = entries[ticker]
            base = updated.get(ticker, entry[0] if entry else None)
            new = parts.get(ticker)
            if new is None or new.empty:
                continue
            updated[ticker] = new if base is None else _stitch(base, new)
    for ticker, frame in updated.items():
        entry = entries[ticker]
        lo = start if entry is None else min(start, entry[1])
        hi = min(end, last_final) if entry is None else max(min(end, last_final), entry[2])
        final = frame[day_index(frame.index) <= last_final]
        cache.write(ticker, final, lo, hi)
        entries[ticker] = (frame, lo, hi)

    out = {}
    for ticker, entry in entries.items():
        if entry is None:
            continue
        days = day_index(entry[0].index)
        rows = entry[0][(days >= start) & (days <= end)]
        if len(rows):
            out[ticker] = rows
    return out


def load_yahoo(cfg: Mapping[str, Any], tickers: Sequence[str] | None,
               downloader: Downloader | None) -> Bars:
    """Bars for data.tickers and data.benchmark on [data.start, data.end] (end None: today)."""
    if tickers is None:
        raise ConfigError("data.tickers", "source yahoo needs an explicit ticker list")
    if cfg.get("start") is None:
        raise ConfigError("data.start", "source yahoo needs a start date")
    start = to_day(cfg["start"])
    end = np.datetime64("today", "D") if cfg.get("end") is None else to_day(cfg["end"])
    benchmark = cfg.get("benchmark")
    wanted = [*tickers, *([benchmark] if benchmark and benchmark not in tickers else [])]
    frames = fetch_yahoo(
        wanted, start, end, cfg.get("cache_dir") or default_cache_dir(), downloader,
        retries=int(cfg.get("retries", 3)), backoff_seconds=float(cfg.get("backoff_seconds", 1.0)),
    )
    missing = [t for t in wanted if t not in frames]
    if missing:
        raise DataError(
            f"Yahoo Finance has no bars for tickers {', '.join(missing)} between "
            f"{day_str(start)} and {day_str(end)} (unknown or delisted ticker?)"
        )
    return bars_from_frames(
        {t: frames[t] for t in tickers},
        "yahoo",
        frames[benchmark]["close"] if benchmark else None,
        benchmark,
        notes=("yahoo: adjusted OHLCV (auto_adjust) from Yahoo Finance via yfinance",),
    )
