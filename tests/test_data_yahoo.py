"""Yahoo source: Parquet cache, gap-only downloads, retries, offline errors. No network."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pandas as pd
import pytest
from omegaconf import OmegaConf

from ploutos.data import load_bars
from ploutos.data.yahoo import fetch_yahoo, split_download
from ploutos.errors import DataError

FIXTURE = Path(__file__).parent / "fixtures" / "yahoo" / "AAPL_MSFT_GSPC_2020Q1.csv"


def recorded() -> pd.DataFrame:
    """The fixture in yfinance.download(..., group_by="column", auto_adjust=True) form."""
    return pd.read_csv(FIXTURE, header=[0, 1], index_col=0, parse_dates=True)


class FakeYahoo:
    """Serves the fixture like yfinance (end exclusive) and records every call."""

    def __init__(self, frame: pd.DataFrame, failures: int = 0) -> None:
        self.frame = frame
        self.failures = failures
        self.calls: list[tuple[tuple[str, ...], str, str]] = []

    def __call__(self, tickers: list[str], start: str, end: str) -> pd.DataFrame:
        self.calls.append((tuple(tickers), start, end))
        if self.failures:
            self.failures -= 1
            raise ConnectionError("temporary failure")
        rows = self.frame.loc[(self.frame.index >= start) & (self.frame.index < end)]
        keep = [c for c in rows.columns if c[1] in tickers]
        return rows[keep]


def offline(tickers: list[str], start: str, end: str) -> pd.DataFrame:
    raise ConnectionError("no network")


def yahoo_cfg(cache: Path, **over) -> dict:
    return OmegaConf.create({
        "source": "yahoo", "tickers": ["AAPL", "MSFT"], "benchmark": "^GSPC",
        "start": "2020-01-02", "end": "2020-01-31", "max_ffill_days": 0,
        "cache_dir": str(cache), "retries": 2, "backoff_seconds": 0.0, **over,
    })


def test_first_load_downloads_once_and_builds_ohlcv_bars(tmp_path):
    fake = FakeYahoo(recorded())
    bars = load_bars(yahoo_cfg(tmp_path), downloader=fake)
    assert fake.calls == [(("AAPL", "MSFT", "^GSPC"), "2020-01-02", "2020-02-01")]
    assert bars.tickers == ("AAPL", "MSFT") and bars.has_ohlcv and bars.benchmark_name == "^GSPC"
    assert bars.dates[0] == np.datetime64("2020-01-02") and bars.n_days == 21
    assert bars.close[0, 0] == pytest.approx(73.348) and bars.benchmark[0] == pytest.approx(3257.85)
    assert sorted(p.name for p in tmp_path.iterdir()) == [
        "AAPL.parquet", "MSFT.parquet", "^GSPC.parquet"]


def test_cache_hit_makes_no_call(tmp_path):
    first = load_bars(yahoo_cfg(tmp_path), downloader=FakeYahoo(recorded()))
    again = load_bars(yahoo_cfg(tmp_path), downloader=offline)
    np.testing.assert_array_equal(first.close, again.close)
    np.testing.assert_array_equal(first.volume, again.volume)
    narrower = load_bars(yahoo_cfg(tmp_path, start="2020-01-10", end="2020-01-20"),
                         downloader=offline)
    assert narrower.dates[0] == np.datetime64("2020-01-10") and narrower.n_days == 6


def test_longer_range_fetches_only_the_gap(tmp_path):
    load_bars(yahoo_cfg(tmp_path), downloader=FakeYahoo(recorded()))
    fake = FakeYahoo(recorded())
    bars = load_bars(yahoo_cfg(tmp_path, end="2020-02-28"), downloader=fake)
    # from the last cached bar (one overlapping day to stitch adjustments) to the new end
    assert fake.calls == [(("AAPL", "MSFT", "^GSPC"), "2020-01-31", "2020-02-29")]
    full = split_download(recorded(), ["AAPL"])["AAPL"]
    expected = full.loc["2020-01-02":"2020-02-28", "close"].to_numpy()
    np.testing.assert_allclose(bars.close[:, 0], expected, rtol=1e-12)
    # any request inside what is cached (MSFT as the benchmark now) makes no call
    fake = FakeYahoo(recorded())
    load_bars(yahoo_cfg(tmp_path, tickers=["AAPL"], benchmark="MSFT", end="2020-02-28"),
              downloader=fake)
    assert fake.calls == []


def test_earlier_start_fetches_the_gap_before(tmp_path):
    load_bars(yahoo_cfg(tmp_path, start="2020-02-03", end="2020-02-28"),
              downloader=FakeYahoo(recorded()))
    fake = FakeYahoo(recorded())
    bars = load_bars(yahoo_cfg(tmp_path, start="2020-01-15", end="2020-02-28"), downloader=fake)
    assert fake.calls == [(("AAPL", "MSFT", "^GSPC"), "2020-01-15", "2020-02-04")]
    assert bars.dates[0] == np.datetime64("2020-01-15") and bars.n_days == 31


def test_adjusted_history_is_rescaled_at_the_overlap(tmp_path):
    frame = recorded()
    load_bars(yahoo_cfg(tmp_path), downloader=FakeYahoo(frame))
    # Yahoo re-adjusts all history after a dividend: the new download is 2% lower everywhere.
    adjusted = frame.copy()
    prices = [c for c in adjusted.columns if c[0] != "Volume"]
    adjusted[prices] = adjusted[prices] * 0.98
    bars = load_bars(yahoo_cfg(tmp_path, end="2020-02-28"), downloader=FakeYahoo(adjusted))
    expected = split_download(adjusted, ["AAPL"])["AAPL"].loc[:"2020-02-28", "close"]
    np.testing.assert_allclose(bars.close[:, 0], expected.to_numpy(), rtol=1e-12)


def test_retries_with_exponential_backoff_then_success(tmp_path):
    fake = FakeYahoo(recorded(), failures=2)
    waits: list[float] = []
    frames = fetch_yahoo(["AAPL"], "2020-01-02", "2020-01-31", tmp_path, fake, retries=3,
                         backoff_seconds=0.5, sleep=waits.append)
    assert len(fake.calls) == 3 and waits == [0.5, 1.0]
    assert len(frames["AAPL"]) == 21


def test_offline_without_cache_names_the_tickers(tmp_path):
    waits: list[float] = []
    with pytest.raises(DataError) as err:
        fetch_yahoo(["AAPL", "MSFT"], "2020-01-02", "2020-01-31", tmp_path / "cache", offline,
                    retries=2, backoff_seconds=1.0, sleep=waits.append)
    msg = str(err.value)
    assert "AAPL" in msg and "MSFT" in msg and "2020-01-02" in msg and "3 attempts" in msg
    assert waits == [1.0, 2.0] and not (tmp_path / "cache").exists()


def test_unknown_ticker_is_named(tmp_path):
    with pytest.raises(DataError, match=r"no bars for tickers NOPE between 2020-01-02"):
        load_bars(yahoo_cfg(tmp_path, tickers=["AAPL", "NOPE"]), downloader=FakeYahoo(recorded()))


def test_cache_write_is_atomic_and_leaves_no_temp_files(tmp_path):
    load_bars(yahoo_cfg(tmp_path), downloader=FakeYahoo(recorded()))
    load_bars(yahoo_cfg(tmp_path, end="2020-02-28"), downloader=FakeYahoo(recorded()))
    assert not [p for p in tmp_path.iterdir() if p.suffix == ".tmp"]


def test_only_uncached_tickers_are_downloaded(tmp_path):
    only_aapl = yahoo_cfg(tmp_path, tickers=["AAPL"], benchmark=None)
    load_bars(only_aapl, downloader=FakeYahoo(recorded()))
    fake = FakeYahoo(recorded())
    load_bars(yahoo_cfg(tmp_path), downloader=fake)
    assert fake.calls == [(("MSFT", "^GSPC"), "2020-01-02", "2020-02-01")]
