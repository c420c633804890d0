"""Validation: every error names the ticker and the date (or the config key)."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest
from omegaconf import OmegaConf

from ploutos.data import Bars, check_history, load_bars, validate_bars
from ploutos.data.frames import bars_from_frames
from ploutos.data.validate import check_calendars, check_dates
from ploutos.errors import ConfigError, DataError

DATES = np.datetime64("2021-01-04") + np.arange(10).astype("timedelta64[D]")


def make_bars(close: np.ndarray, dates: np.ndarray = DATES, **extra) -> Bars:
    close = np.asarray(close, dtype=np.float64)
    return Bars(dates=dates[: len(close)], tickers=("AAA", "BBB")[: close.shape[1]],
                close=close, source="test", **extra)


def two_assets() -> np.ndarray:
    return np.column_stack([np.linspace(10, 19, 10), np.linspace(50, 59, 10)])


def test_forward_fills_short_runs_and_never_back_fills():
    close = two_assets()
    close[3:5, 1] = np.nan
    out = validate_bars(make_bars(close), max_ffill_days=2)
    assert not np.isnan(out.close).any()
    np.testing.assert_array_equal(out.close[3:5, 1], [52.0, 52.0])
    np.testing.assert_array_equal(out.close[:, 0], close[:, 0])


def test_nan_run_longer_than_limit_names_ticker_and_dates():
    close = two_assets()
    close[3:7, 1] = np.nan
    with pytest.raises(DataError) as err:
        validate_bars(make_bars(close), max_ffill_days=3)
    msg = str(err.value)
    assert "BBB" in msg and "2021-01-07" in msg and "2021-01-10" in msg and "4 consecutive" in msg


def test_trailing_nan_run_is_an_error():
    close = two_assets()
    close[6:, 0] = np.nan
    with pytest.raises(DataError, match=r"AAA: 4 consecutive days .* from 2021-01-10"):
        validate_bars(make_bars(close), max_ffill_days=1)


def test_leading_nan_names_first_valid_date():
    close = two_assets()
    close[:3, 0] = np.nan
    with pytest.raises(DataError) as err:
        validate_bars(make_bars(close), max_ffill_days=10, start="2021-01-01")
    msg = str(err.value)
    assert "AAA" in msg and "2021-01-07" in msg and "data.start" in msg


def test_leading_nan_is_fine_when_start_is_after_it():
    close = two_assets()
    close[:3, 0] = np.nan
    out = validate_bars(make_bars(close), max_ffill_days=0, start="2021-01-07")
    assert out.dates[0] == np.datetime64("2021-01-07") and out.n_days == 7


@pytest.mark.parametrize("bad", [0.0, -1.5])
def test_non_positive_price_names_ticker_and_date(bad):
    close = two_assets()
    close[5, 1] = bad
    with pytest.raises(DataError) as err:
        validate_bars(make_bars(close), max_ffill_days=0)
    assert "BBB" in str(err.value) and "2021-01-09" in str(err.value)


def test_non_positive_open_and_negative_volume():
    close = two_assets()
    open_ = close.copy()
    open_[2, 0] = -3.0
    with pytest.raises(DataError, match=r"AAA: non-positive open -3 on 2021-01-06"):
        validate_bars(make_bars(close, open=open_), max_ffill_days=0)
    volume = np.ones_like(close)
    volume[4, 1] = -10
    with pytest.raises(DataError, match=r"BBB: negative volume -10 on 2021-01-08"):
        validate_bars(make_bars(close, volume=volume), max_ffill_days=0)


def test_benchmark_nan_and_non_positive_are_named():
    bench = np.linspace(100, 109, 10)
    bench[4] = 0.0
    with pytest.raises(DataError, match=r"benchmark IDX: non-positive close 0 on 2021-01-08"):
        validate_bars(make_bars(two_assets(), benchmark=bench, benchmark_name="IDX"), 0)


def test_duplicate_and_unsorted_dates():
    dates = DATES.copy()
    dates[5] = dates[4]
    with pytest.raises(DataError, match=r"duplicate date 2021-01-08"):
        validate_bars(make_bars(two_assets(), dates=dates), max_ffill_days=0)
    dates = DATES.copy()
    dates[[5, 6]] = dates[[6, 5]]
    with pytest.raises(DataError, match=r"2021-01-09 comes after 2021-01-10"):
        validate_bars(make_bars(two_assets(), dates=dates), max_ffill_days=0)


def test_per_ticker_dates_name_the_ticker():
    with pytest.raises(DataError, match=r"ticker XYZ: duplicate date 2021-01-05"):
        check_dates(np.array(["2021-01-04", "2021-01-05", "2021-01-05"], "datetime64[D]"),
                    "ticker XYZ")


def test_calendars_that_disagree_name_ticker_and_first_missing_date():
    full = DATES
    holes = np.delete(DATES, [3, 7])
    with pytest.raises(DataError) as err:
        check_calendars({"AAA": full, "BBB": holes})
    msg = str(err.value)
    assert "BBB" in msg and "2021-01-07" in msg and "2 such days" in msg and "AAA" in msg


def test_later_start_goes_to_the_leading_history_check():
    frames = {
        "AAA": pd.DataFrame({"close": np.arange(10.0) + 1}, index=DATES),
        "BBB": pd.DataFrame({"close": np.arange(6.0) + 1}, index=DATES[4:]),
    }
    bars = bars_from_frames(frames, "test")
    assert np.isnan(bars.close[:4, 1]).all()
    with pytest.raises(DataError, match=r"BBB: history starts on 2021-01-08"):
        validate_bars(bars, max_ffill_days=0)


def test_unknown_tickers_listed_with_what_is_available():
    cfg = OmegaConf.create({"source": "sample", "tickers": ["AAPL", "NOPE", "ZZZ"],
                            "benchmark": "SP500", "max_ffill_days": 0})
    with pytest.raises(DataError) as err:
        load_bars(cfg)
    msg = str(err.value)
    assert "NOPE" in msg and "ZZZ" in msg and "available" in msg and "MSFT" in msg


@pytest.mark.parametrize(
    ("override", "key"),
    [
        ({"tickers": []}, "data.tickers"),
        ({"tickers": ["AAPL", "AAPL"]}, "data.tickers"),
        ({"max_ffill_days": -1}, "data.max_ffill_days"),
        ({"start": "2010-01-01", "end": "2009-12-31"}, "data.start"),
        ({"source": "bloomberg"}, "data.source"),
    ],
)
def test_config_errors_name_the_key(override, key):
    cfg = OmegaConf.create({"source": "sample", "tickers": ["AAPL"], "benchmark": "SP500",
                            "max_ffill_days": 0, **override})
    with pytest.raises(ConfigError) as err:
        load_bars(cfg)
    assert str(err.value).startswith(key + ":")


def test_check_history():
    bars = make_bars(two_assets())
    check_history(bars, 8)  # 10 days: 8 of history leave one to decide and one to fill
    with pytest.raises(DataError) as err:
        check_history(bars, 9)
    assert "AAA" in str(err.value) and "2021-01-04" in str(err.value)
    check_history(bars, 4, "2021-01-08")
    with pytest.raises(DataError) as err:
        check_history(bars, 5, "2021-01-08")
    assert "only 4 bars before 2021-01-08" in str(err.value) and "AAA" in str(err.value)
    with pytest.raises(DataError, match="only 3 bars before day 3"):
        check_history(bars, 5, 3)


def test_no_bars_in_requested_range():
    with pytest.raises(DataError, match=r"AAA.*2021-01-04 to 2021-01-13"):
        validate_bars(make_bars(two_assets()), 0, start="2022-01-01")
