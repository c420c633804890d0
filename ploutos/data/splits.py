"""Train / val / test splits by date, and walk-forward folds, as day-index ranges.

A split's `start` is its first tradable day: it is moved forward to the warm-up, so bars
before it may feed features (and v7 windows) but are never traded. Stops are exclusive.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from itertools import pairwise
from typing import Any

import numpy as np

from ploutos.data.validate import day_str, to_day
from ploutos.errors import ConfigError, DataError
from ploutos.market import SplitRange

SPLIT_NAMES = ("train", "val", "test")
# A split needs one day to decide on and the next to fill on.
MIN_SPLIT_DAYS = 2
RETRAIN_MODES = ("schedule", "drift")
# retrain=drift's alarm source: for a fold's train range and the day its schedule ends, the
# days in train.stop .. that day - 1 on which drift is alarmed, each computed from the days up
# to it (ploutos.apps.drift.fold_alarms; kept abstract here, below the drift package).
FoldAlarms = Callable[[SplitRange, int], np.ndarray]


def _checked_range(name: str, start: int, stop: int, warmup: int, dates: np.ndarray) -> SplitRange:
    start = max(start, warmup)
    if stop - start < MIN_SPLIT_DAYS:
        at = day_str(dates[min(start, len(dates) - 1)])
        raise DataError(
            f"split {name} has {max(stop - start, 0)} tradable days from {at} (warm-up "
            f"{warmup} days), fewer than {MIN_SPLIT_DAYS}; move data.splits or data.start"
        )
    return SplitRange(name, start, stop)


def split_bounds(
    splits_cfg: Mapping[str, Any],
    first_day: np.datetime64 | None = None,
    last_day: np.datetime64 | None = None,
) -> list[tuple[str, np.datetime64]]:
    """[(key, day)] of train_start, val_start, test_start, end, checked to be in order.

    An unset train_start / end defaults to first_day / last_day (the data's); without data
    (first_day, last_day None) only the dates the config names are checked.
    """
    keys = ("train_start", "train_end", "val_start", "val_end", "test_start", "end")
    bounds = {k: to_day(splits_cfg.get(k)) for k in keys}
    for key in ("val_start", "test_start"):
        if bounds[key] is None:
            raise ConfigError(f"data.splits.{key}", "is required (a date, e.g. 2017-01-01)")
    if bounds["train_start"] is None:
        bounds["train_start"] = first_day
    if bounds["end"] is None:
        bounds["end"] = last_day
    named = [(k, bounds[k]) for k in keys if bounds[k] is not None]
    for (prev_key, prev), (key, day) in pairwise(named):
        # An *_end is inclusive and may fall on its split's start; a start must move on.
        if day < prev or (day == prev and not key.endswith("end")):
            relation = "before" if day < prev else "the same day as"
            raise ConfigError(
                f"data.splits.{key}",
                f"{day_str(day)} is {relation} data.splits.{prev_key} {day_str(prev)}",
            )
    return [(k, bounds[k]) for k in ("train_start", "val_start", "test_start", "end")]


def resolve_splits(
    dates: np.ndarray, splits_cfg: Mapping[str, Any], warmup: int
) -> dict[str, SplitRange]:
    """Day ranges of train, val and test from data.splits.{train_start,val_start,test_start,end}
    (and the optional train_end / val_end).

    train_start (None: the first day) <= val_start < test_start <= end (None: the last day).
    A boundary date falls on the first trading day on or after it; `end` is inclusive.
    """
    dates = np.asarray(dates, "datetime64[D]")
    ordered = split_bounds(splits_cfg, dates[0], dates[-1])
    bounds = dict(ordered)
    if bounds["test_start"] > dates[-1]:
        raise ConfigError(
            "data.splits.test_start",
            f"{day_str(bounds['test_start'])} is after the last date of the data "
            f"{day_str(dates[-1])}",
        )
    starts = [int(np.searchsorted(dates, d, side="left")) for _, d in ordered[:3]]
    stops = [*starts[1:], int(np.searchsorted(dates, bounds["end"], side="right"))]
    for i, key in enumerate(("train_end", "val_end")):
        if splits_cfg.get(key) is not None:
            stops[i] = int(np.searchsorted(dates, to_day(splits_cfg[key]), side="right"))
    return {
        name: _checked_range(name, starts[i], stops[i], warmup, dates)
        for i, name in enumerate(SPLIT_NAMES)
    }


def _positive(wf_cfg: Mapping[str, Any], key: str, minimum: int = 1) -> int:
    value = wf_cfg.get(key)
    if not isinstance(value, int) or isinstance(value, bool) or value < minimum:
        raise ConfigError(f"data.walk_forward.{key}", f"must be an integer >= {minimum}, "
                                                      f"got {value!r}")
    return value


def _train_stops(wf_cfg: Mapping[str, Any], first_stop: int, n_days: int, tail: int,
                 train_start: Callable[[int], int], alarms: FoldAlarms | None) -> list[int]:
    """Where each fold's training ends (exclusive), while the fold's test window fits.

    schedule: every step_days. drift: the same, except that a combined alarm on day d at
    least min_days after the fold's own start moves the next fold's start to d + 1 (trained
    on the data up to d); the schedule restarts from there.
    """
    retrain = wf_cfg.get("retrain") or "schedule"
    if retrain not in RETRAIN_MODES:
        raise ConfigError("data.walk_forward.retrain",
                          f"must be one of {', '.join(RETRAIN_MODES)}, got {retrain!r}")
    test_days = _positive(wf_cfg, "test_days", MIN_SPLIT_DAYS)
    step_days = test_days if wf_cfg.get("step_days") is None else _positive(wf_cfg, "step_days")
    min_days = 0
    if retrain == "drift":
        if alarms is None:
            raise ConfigError("data.walk_forward.retrain", "drift needs the drift detectors: "
                                                           "run walkforward.py with drift=default")
        min_days = _positive(wf_cfg, "min_days", MIN_SPLIT_DAYS)
    stops, stop = [], first_stop
    while stop + tail <= n_days:
        stops.append(stop)
        scheduled = stop + step_days
        if alarms is not None and retrain == "drift":
            days = np.asarray(alarms(SplitRange("train", train_start(stop), stop), scheduled))
            early = days[(days >= stop + min_days - 1) & (days + 1 < scheduled)]
            scheduled = int(early[0]) + 1 if early.size else scheduled
        stop = scheduled
    return stops


def walk_forward_folds(
    dates: np.ndarray, wf_cfg: Mapping[str, Any], warmup: int, alarms: FoldAlarms | None = None
) -> list[dict[str, SplitRange]]:
    """Walk-forward folds over the whole calendar, each a dict of train/val/test ranges.

    Fold k (from 0): train ends (exclusive) at warmup + train_days + k * step_days; in mode
    `expanding` it starts at the warm-up, in `rolling` it holds the last train_days days.
    Then embargo_days untouched days, val_days of validation, embargo_days again, test_days
    of test. step_days defaults to test_days (test windows tile without overlap). Folds are
    made while the test window fits in the data.

    retrain (schedule | drift): with `drift`, `alarms` (see FoldAlarms) may start a fold early,
    at most every min_days; a fold's test then ends where the next fold's begins, so the
    newest model is the one tested.
    """
    mode = wf_cfg.get("mode", "expanding")
    if mode not in ("expanding", "rolling"):
        raise ConfigError("data.walk_forward.mode", f"must be expanding or rolling, got {mode!r}")
    train_days = _positive(wf_cfg, "train_days", MIN_SPLIT_DAYS)
    val_days = _positive(wf_cfg, "val_days", MIN_SPLIT_DAYS)
    test_days = _positive(wf_cfg, "test_days", MIN_SPLIT_DAYS)
    embargo = 0 if wf_cfg.get("embargo_days") is None else _positive(wf_cfg, "embargo_days", 0)

    def train_start(stop: int) -> int:
        return warmup if mode == "expanding" else stop - train_days

    n_days = len(dates)
    drift = wf_cfg.get("retrain") == "drift"
    lead = 2 * embargo + val_days  # train stop -> test start
    stops = _train_stops(wf_cfg, warmup + train_days, n_days, lead + test_days, train_start,
                         alarms)
    folds: list[dict[str, SplitRange]] = []
    for k, train_stop in enumerate(stops):
        val_start = train_stop + embargo
        test_start = train_stop + lead
        test_stop = test_start + test_days
        if drift and k + 1 < len(stops):  # the next fold's model takes over on its test start
            test_stop = min(test_stop, stops[k + 1] + lead)
        folds.append({
            "train": SplitRange("train", train_start(train_stop), train_stop),
            "val": SplitRange("val", val_start, val_start + val_days),
            "test": SplitRange("test", test_start, test_stop),
        })
    if not folds:
        need = warmup + train_days + 2 * embargo + val_days + test_days
        raise DataError(
            f"walk-forward: not one fold fits: warm-up {warmup} + train {train_days} + val "
            f"{val_days} + test {test_days} + 2 x embargo {embargo} = {need} days, but the data "
            f"have {n_days} ({day_str(dates[0]) if n_days else '-'} to "
            f"{day_str(dates[-1]) if n_days else '-'})"
        )
    return folds
