"""Threshold calibration: replay the training period and allow about one false alarm a year.

An alarm is counted once per episode (the day it switches on), so a window test that stays
on for the days its window spans a strange stretch counts once, as an event detector's
single-day alarm does. For a window test an episode starts only after `span` (its window)
quiet days: a statistic hovering at its threshold flickers on and off while the same stretch
of days is in its window, and that is one alarm, not one per flicker. A test that stays on
longer than its window counts once per window length it stays on, so "always on" is never
calibrated as "one alarm".
"""

from __future__ import annotations

from collections.abc import Callable, Sequence

import numpy as np

from ploutos.drift.config import CalibrationSettings

# Candidate thresholds tried at most; more distinct statistic values are thinned evenly.
MAX_CANDIDATES = 1024


def allowed_alarms(n_days: int, settings: CalibrationSettings) -> int:
    """False alarms a detector may raise over a replay of n_days (at least one)."""
    years = n_days / settings.trading_days
    return max(1, int(np.floor(years * settings.false_alarms_per_year)))


def onsets(alarm: np.ndarray, span: int = 1) -> np.ndarray:
    """[..., T] True where an alarm switches on after at least `span` days without one
    (causal: it looks back only). Works on the last axis, for one series or many."""
    alarm = np.asarray(alarm, bool)
    shape = alarm.shape[:-1] + (1,)
    counts = np.concatenate([np.zeros(shape, np.int64), np.cumsum(alarm, axis=-1)], axis=-1)
    ends = np.arange(alarm.shape[-1])
    recent = counts[..., ends] - counts[..., np.maximum(ends - span, 0)]
    return alarm & (recent == 0)


def count_episodes(alarm: np.ndarray, span: int = 1) -> int:
    """Number of alarm onsets (see onsets)."""
    return int(np.count_nonzero(onsets(alarm, span)))


def count_false_alarms(alarm: np.ndarray, span: int = 1) -> int:
    """Episodes, or alarm days / span (rounded up) when that is more."""
    alarm = np.asarray(alarm, bool)
    return max(count_episodes(alarm, span), int(np.ceil(np.count_nonzero(alarm) / span)))


def calibrate_threshold(
    statistic: np.ndarray,
    nominal: float,
    allowed: int,
    gate: np.ndarray | None = None,
    span: int = 1,
) -> float:
    """The smallest threshold >= nominal at which `gate & (statistic > threshold)` raises at
    most `allowed` false alarms (count_false_alarms) over the replay. NaN never alarms."""
    stat = np.where(np.isfinite(statistic), statistic, -np.inf)
    if gate is not None:
        stat = np.where(gate, stat, -np.inf)
    above = np.unique(stat[stat > nominal])
    if above.size > MAX_CANDIDATES:
        above = above[np.linspace(0, above.size - 1, MAX_CANDIDATES).round().astype(int)]
    candidates = np.concatenate([[nominal], above])
    # [C, T] alarms for every candidate at once.
    alarms = stat[None, :] > candidates[:, None]
    counted = np.maximum(onsets(alarms, span).sum(axis=1), np.ceil(alarms.sum(axis=1) / span))
    passing = np.flatnonzero(counted <= allowed)
    # The largest candidate never alarms, so there is always one that passes.
    return float(candidates[passing[0]])


def calibrate_parameter(
    candidates: Sequence[float], count_alarms: Callable[[float], int], allowed: int
) -> tuple[float, int, bool]:
    """(value, alarms, ok): the first candidate (ordered from most to least sensitive) whose
    replay raises at most `allowed` alarms; the last one, with ok False, if none does."""
    alarms = 0
    for value in candidates:
        alarms = count_alarms(value)
        if alarms <= allowed:
            return float(value), alarms, True
    return float(candidates[-1]), alarms, False
