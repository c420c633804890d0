"""Date splits and walk-forward folds, with exact day-index expectations."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest

from ploutos.data import resolve_splits, walk_forward_folds
from ploutos.errors import ConfigError, DataError
from ploutos.market import SplitRange

# 100 consecutive calendar days from 2020-01-01 (index i is 2020-01-01 + i days).
DATES = np.datetime64("2020-01-01") + np.arange(100).astype("timedelta64[D]")
SPLITS = {"train_start": None, "val_start": "2020-02-10", "test_start": "2020-03-01", "end": None}


def test_resolve_splits_exact_indices_and_warmup():
    splits = resolve_splits(DATES, SPLITS, warmup=0)
    assert splits == {
        "train": SplitRange("train", 0, 40),
        "val": SplitRange("val", 40, 60),
        "test": SplitRange("test", 60, 100),
    }
    warm = resolve_splits(DATES, SPLITS, warmup=15)
    assert warm["train"] == SplitRange("train", 15, 40)
    assert warm["val"] == SplitRange("val", 40, 60)  # warm-up bars before val feed features


def test_boundaries_fall_on_next_trading_day_and_end_is_inclusive():
    weekdays = DATES[np.is_busday(DATES)]  # 2020-01-04 and 05 are a weekend
    splits = resolve_splits(weekdays, {"train_start": "2020-01-04", "val_start": "2020-02-01",
                                       "test_start": "2020-02-15", "end": "2020-03-02"}, 0)
    assert weekdays[splits["train"].start] == np.datetime64("2020-01-06")
    assert weekdays[splits["val"].start] == np.datetime64("2020-02-03")
    assert weekdays[splits["test"].start] == np.datetime64("2020-02-17")
    assert weekdays[splits["test"].stop - 1] == np.datetime64("2020-03-02")


@pytest.mark.parametrize(
    ("override", "key", "text"),
    [
        ({"val_start": "2020-03-05"}, "data.splits.test_start",
         "2020-03-01 is before data.splits.val_start 2020-03-05"),
        ({"train_start": "2020-02-20"}, "data.splits.val_start",
         "2020-02-10 is before data.splits.train_start 2020-02-20"),
        ({"test_start": "2020-02-10"}, "data.splits.test_start", "the same day as"),
        ({"end": "2020-02-20"}, "data.splits.end", "before data.splits.test_start"),
        ({"test_start": "2021-01-01", "end": "2021-02-01"}, "data.splits.test_start",
         "after the last date of the data 2020-04-09"),
        ({"val_start": None}, "data.splits.val_start", "is required"),
    ],
)
def test_split_order_errors_name_the_key(override, key, text):
    with pytest.raises(ConfigError) as err:
        resolve_splits(DATES, {**SPLITS, **override}, warmup=0)
    assert str(err.value).startswith(key + ":") and text in str(err.value)


def test_warmup_that_swallows_a_split_is_a_data_error():
    with pytest.raises(DataError, match=r"split train has 0 tradable days"):
        resolve_splits(DATES, SPLITS, warmup=45)


def test_sample_defaults_leave_2020_2022_as_test():
    from omegaconf import OmegaConf

    from ploutos.data import load_bars

    cfg = OmegaConf.load(Path(__file__).parents[1] / "conf" / "data" / "sample.yaml")
    bars = load_bars(cfg)
    splits = resolve_splits(bars.dates, cfg.splits, warmup=200)
    test = splits["test"]
    assert bars.dates[test.start] == np.datetime64("2020-01-02")
    assert bars.dates[test.stop - 1] == np.datetime64("2022-12-28") and test.stop == bars.n_days
    assert bars.dates[splits["val"].start] == np.datetime64("2017-01-03")
    assert splits["train"].start == 200


WF = {"mode": "expanding", "train_days": 30, "val_days": 10, "test_days": 10,
      "step_days": 15, "embargo_days": 2}


def test_expanding_folds_exact():
    folds = walk_forward_folds(DATES, WF, warmup=5)
    # fold k: train [5, 35 + 15k), val after 2 embargo days, test after 2 more
    assert [(f["train"].start, f["train"].stop) for f in folds] == [(5, 35), (5, 50), (5, 65)]
    assert [(f["val"].start, f["val"].stop) for f in folds] == [(37, 47), (52, 62), (67, 77)]
    assert [(f["test"].start, f["test"].stop) for f in folds] == [(49, 59), (64, 74), (79, 89)]
    # the next fold would test on [94, 104), past the 100 days
    assert all(set(f) == {"train", "val", "test"} for f in folds)


def test_rolling_folds_exact_and_default_step():
    cfg = {**WF, "mode": "rolling", "step_days": None, "embargo_days": 0}
    folds = walk_forward_folds(DATES, cfg, warmup=0)
    assert [(f["train"].start, f["train"].stop) for f in folds] == [
        (0, 30), (10, 40), (20, 50), (30, 60), (40, 70), (50, 80)]
    assert [(f["test"].start, f["test"].stop) for f in folds][-1] == (90, 100)
    # default step = test_days: test windows tile without overlap
    tests = [(f["test"].start, f["test"].stop) for f in folds]
    assert all(a[1] == b[0] for a, b in zip(tests, tests[1:], strict=False))


def test_walk_forward_errors():
    with pytest.raises(ConfigError, match=r"^data.walk_forward.mode:"):
        walk_forward_folds(DATES, {**WF, "mode": "anchored"}, 0)
    with pytest.raises(ConfigError, match=r"^data.walk_forward.train_days:"):
        walk_forward_folds(DATES, {**WF, "train_days": 0}, 0)
    with pytest.raises(ConfigError, match=r"^data.walk_forward.embargo_days:"):
        walk_forward_folds(DATES, {**WF, "embargo_days": -1}, 0)
    with pytest.raises(DataError, match=r"not one fold fits.*= 104 days, but the data have 100"):
        walk_forward_folds(DATES, {**WF, "train_days": 80}, warmup=0)
