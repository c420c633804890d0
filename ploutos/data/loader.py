"""load_bars: one entry point for every data source, always followed by validation."""

from __future__ import annotations

from collections.abc import Callable, Mapping, Sequence
from dataclasses import replace
from typing import Any

from ploutos.data.bars import Bars
from ploutos.data.csv_source import load_csv
from ploutos.data.sample import load_sample
from ploutos.data.synthetic import synthetic_bars
from ploutos.data.validate import check_data_config, check_known, validate_bars
from ploutos.data.yahoo import Downloader, load_yahoo
from ploutos.errors import ConfigError

SYNTHETIC_KEYS = (
    "n_assets", "n_days", "seed", "signal", "signal_strength", "signal_lookback", "ohlcv",
    "drift", "market_vol", "idio_vol", "gap_vol", "stressed_vol_ratio", "calm_persistence",
    "stressed_persistence",
)


def select_tickers(bars: Bars, tickers: Sequence[str] | None) -> Bars:
    """Bars restricted to `tickers`, in that order (all when None)."""
    if tickers is None:
        return bars
    check_known(tickers, bars.tickers, bars.source)
    cols = [bars.tickers.index(t) for t in tickers]
    return replace(
        bars,
        tickers=tuple(tickers),
        **{f: getattr(bars, f)[:, cols] for f in bars.columns},
    )


def _tickers(cfg: Mapping[str, Any]) -> list[str] | None:
    return None if cfg.get("tickers") is None else [str(t) for t in cfg["tickers"]]


def _sample(cfg: Mapping[str, Any], _: Downloader | None) -> Bars:
    return load_sample(_tickers(cfg), cfg.get("benchmark"))


def _synthetic(cfg: Mapping[str, Any], _: Downloader | None) -> Bars:
    kwargs = {k: cfg[k] for k in SYNTHETIC_KEYS if cfg.get(k) is not None}
    # The generated calendar begins at data.start, so start cuts nothing.
    bars = synthetic_bars(start=str(cfg.get("start") or "2000-01-03"),
                          benchmark=cfg.get("benchmark"), **kwargs)
    return select_tickers(bars, _tickers(cfg))


def _csv(cfg: Mapping[str, Any], _: Downloader | None) -> Bars:
    return load_csv(cfg, _tickers(cfg))


def _yahoo(cfg: Mapping[str, Any], downloader: Downloader | None) -> Bars:
    return load_yahoo(cfg, _tickers(cfg), downloader)


SOURCES: dict[str, Callable[[Mapping[str, Any], Downloader | None], Bars]] = {
    "sample": _sample,
    "yahoo": _yahoo,
    "csv": _csv,
    "synthetic": _synthetic,
}


def load_bars(cfg: Mapping[str, Any], downloader: Downloader | None = None) -> Bars:
    """Bars for the `data` config group: load from cfg.source, restrict, validate.

    `downloader` replaces yfinance for the yahoo source (tests pass a fake). The result is
    on [cfg.start, cfg.end], NaN-free (gaps of at most cfg.max_ffill_days forward-filled)
    and checked; any problem raises ConfigError (naming the key) or DataError (naming the
    ticker and date) before later stages run.
    """
    source = cfg.get("source", "sample")
    if source not in SOURCES:
        raise ConfigError("data.source", f"unknown source {source!r}; choose one of "
                                         f"{', '.join(SOURCES)}")
    check_data_config(cfg)
    bars = SOURCES[source](cfg, downloader)
    return validate_bars(bars, cfg.get("max_ffill_days", 0), cfg.get("start"), cfg.get("end"))
