"""Drift detection one day at a time (paper trading), equal to DriftMonitor's rows day by day.

`calibrate` does once, on the training period, what DriftMonitor.run does before it monitors
(every threshold from a replay of the training days) and returns a `Calibration` of plain
numbers and lists, which JSON (the paper ledger) stores exactly. `OnlineDrift` then scores one
day at a time:

- a window test (KS, PSI, MMD) on day t is a function of the reference days, the features of
  the days up to t and its calibrated threshold; it holds no other state, so it is scored from
  the market's features (which are causal: a past day's features never change);
- an event detector (ADWIN, HDDM_A, Page-Hinkley, CUSUM) has state: river's (or CUSUM's)
  memory of every value fed so far. That state is rebuilt exactly by replaying the training
  stream at the calibrated level (what calibration kept) and then each monitored day's
  recorded input (a `DayRecord`'s return and trade pnl), in order. The records are the state:
  whoever stores them durably (the paper ledger, one event per day) has the detectors' state
  durably, with no pickled objects;
- the combined alarm reads each detector's onsets over the last `combine.hold_days` days:
  window tests' from their scores of the last days, event detectors' from the records.

The day index t is the market's; days before `monitored_from` (where monitoring starts: the end of
the training period, as in DriftMonitor, or a paper account's first day) never alarm.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import asdict, dataclass
from typing import Any

import numpy as np

from ploutos.drift.base import WindowDetector
from ploutos.drift.calibrate import allowed_alarms, onsets
from ploutos.drift.config import DriftSettings
from ploutos.drift.monitor import (
    WINDOW_TESTS,
    calibrated_window_test,
    hold_active,
    stream_detector,
    window_detector,
)
from ploutos.drift.streaming import StreamDetector, losses
from ploutos.errors import ConfigError, DataError


def _finite_or_none(value: float) -> float | None:
    return float(value) if np.isfinite(value) else None


def _as_float(value: float | None) -> float:
    return float("nan") if value is None else float(value)


@dataclass(frozen=True)
class Calibration:
    """What monitoring needs from the training period, JSON-ready.

    thresholds: per enabled detector, a window test's calibrated threshold or an event
    detector's calibrated level (its delta, confidence or threshold); details: each one's
    calibration report (as DriftMonitor's summary); train_returns: the training days' daily
    returns (None where none); train_pnl: the training trades' pnl in order; settings: the
    drift settings calibrated with (a later day must use the same)."""

    train_days: int
    thresholds: dict[str, float]
    details: dict[str, dict[str, Any]]
    train_returns: list[float | None]
    train_pnl: list[float]
    settings: dict[str, Any]

    def to_json(self) -> dict[str, Any]:
        return asdict(self)

    @classmethod
    def from_json(cls, doc: Mapping[str, Any]) -> Calibration:
        return cls(**dict(doc))


def calibrate(
    settings: DriftSettings,
    features: np.ndarray,
    returns: np.ndarray,
    pnl: Sequence[float],
) -> Calibration:
    """Calibrate every enabled detector on the training days: features [n, A, F], daily
    returns [n] (NaN where none) and the pnl of the trades executed in them, in order."""
    x = np.asarray(features)
    r = np.asarray(returns, np.float64)
    n_days = x.shape[0]
    if x.ndim != 3 or r.shape != (n_days,):
        raise DataError(f"drift calibration: features {x.shape} and returns {r.shape} do not "
                        "cover the same training days")
    if n_days < settings.reference_days:
        raise ConfigError("drift.reference_days", f"must be <= the {n_days} training days, "
                          f"got {settings.reference_days}")
    allowed = allowed_alarms(n_days, settings.calibration)
    thresholds: dict[str, float] = {}
    details: dict[str, dict[str, Any]] = {}
    for name in settings.enabled_detectors():
        if name in WINDOW_TESTS:
            detector, _, details[name] = calibrated_window_test(name, settings, x, n_days)
            thresholds[name] = float(detector.threshold)
            continue
        stream = stream_detector(name, settings)
        stream.fit(np.asarray(pnl, np.float64) if name == "hddm_a" else r, allowed)
        thresholds[name] = float(stream.threshold)
        details[name] = {"threshold": stream.threshold, "calibrated": stream.calibrated,
                         "training_alarms": stream.training_alarms}
    return Calibration(
        train_days=n_days,
        thresholds=thresholds,
        details=details,
        train_returns=[_finite_or_none(v) for v in r],
        train_pnl=[float(v) for v in pnl],
        settings=asdict(settings),
    )


@dataclass(frozen=True)
class DayRecord:
    """One monitored day: its inputs (the state's increment) and every detector's verdict.

    detectors[name]: statistic (None where undefined), threshold, alarm, onset (the alarm
    switched on after a quiet spell) and active (an onset within the last hold_days days)."""

    day: int
    ret: float | None
    pnl: list[float]
    detectors: dict[str, dict[str, Any]]
    votes: int
    combined: bool

    def to_json(self) -> dict[str, Any]:
        return asdict(self)

    @classmethod
    def from_json(cls, doc: Mapping[str, Any]) -> DayRecord:
        return cls(**dict(doc))

    def alarming(self) -> list[str]:
        """The detectors whose alarm switched on this day."""
        return [name for name, d in self.detectors.items() if d["onset"]]


class OnlineDrift:
    """The detectors of `calibration` at the end of the recorded days `history` (in day
    order), ready to score the next day. `reference`: the reference features [reference_days,
    A, F] (the last training days)."""

    def __init__(
        self,
        settings: DriftSettings,
        calibration: Calibration,
        reference: np.ndarray,
        history: Sequence[DayRecord] = (),
    ) -> None:
        if asdict(settings) != calibration.settings:
            changed = _changed_key(asdict(settings), calibration.settings)
            raise ConfigError(f"drift.{changed}", "differs from the settings these detectors "
                              "were calibrated with; keep the account's drift settings")
        self.settings, self.calibration = settings, calibration
        self.history = list(history)
        self.windows: dict[str, WindowDetector] = {}
        self.streams: dict[str, StreamDetector] = {}
        allowed = allowed_alarms(calibration.train_days, settings.calibration)
        train_returns = np.array([_as_float(v) for v in calibration.train_returns])
        for name in settings.enabled_detectors():
            level = calibration.thresholds[name]
            if name in WINDOW_TESTS:
                detector = window_detector(name, settings)
                detector.fit(reference)
                detector.threshold = level
                self.windows[name] = detector
                continue
            stream = stream_detector(name, settings)
            train = np.asarray(calibration.train_pnl) if name == "hddm_a" else train_returns
            stream.fit(train, allowed, level=level)
            stream.calibrated = bool(calibration.details[name]["calibrated"])
            self.streams[name] = stream
        for record in self.history:
            self._feed(record.ret, record.pnl)

    def lookback(self) -> int:
        """Days of features up to today that `step` needs: a window for the oldest onset the
        combined alarm can still hold, plus the quiet days that make it an onset."""
        hold = self.settings.combine.hold_days
        return max((hold + 2 * d.window - 1 for d in self.windows.values()), default=1)

    def _feed(self, ret: float | None, pnl: Sequence[float]) -> dict[str, bool]:
        alarms = {}
        for name, stream in self.streams.items():
            if name == "hddm_a":
                alarms[name] = any([stream.update(loss) for loss in losses(pnl)])
            else:
                alarms[name] = stream.update(stream.transform(np.array([_as_float(ret)]))[0])
        return alarms

    def step(
        self,
        day: int,
        recent: np.ndarray,
        monitored_from: int,
        ret: float | None,
        pnl: Sequence[float],
    ) -> DayRecord:
        """Score market day `day` (after the last recorded one): `recent` holds the features
        of the days up to it (at least `lookback()` of them, fewer only at the market's
        start), `ret` its return (None: none), `pnl` its trades' pnl. Alarms count from day
        `monitored_from` on. A window test scores today's window only when every day it
        still needs a verdict of is recorded, else every needed day again from `recent`."""
        if self.history and day <= self.history[-1].day:
            raise DataError(f"drift: day {day} is not after the last recorded day "
                            f"{self.history[-1].day}")
        s = self.settings
        hold = s.combine.hold_days
        recorded = {r.day: r for r in self.history}
        detectors: dict[str, dict[str, Any]] = {}
        for name, detector in self.windows.items():
            span = detector.window
            days = np.arange(max(day - hold - span, day - recent.shape[0]) + 1, day + 1)
            earlier = days[(days >= monitored_from) & (days < day)]
            if all(d in recorded for d in earlier):
                # The days before today are recorded: score today's window alone.
                scores = detector.scores(recent[-span:])
                past = [bool(recorded[d].detectors[name]["alarm"]) if d in recorded else False
                        for d in days[:-1]]  # fmt: skip
                alarm = np.array([*past, bool(detector.alarms(scores)[-1])])
            else:
                scores = detector.scores(recent)
                first = day - recent.shape[0] + 1
                alarm = detector.alarms(scores)[-days.size :]
                alarm = alarm & (np.arange(first, day + 1)[-days.size :] >= monitored_from)
            alarm &= days >= monitored_from
            onset = onsets(alarm, span)
            detectors[name] = {
                "statistic": _finite_or_none(scores.statistic[-1]),
                "threshold": detector.threshold,
                "alarm": bool(alarm[-1]),
                "onset": bool(onset[-1]),
                "active": bool(hold_active(onset, hold)[-1]),
            }
        previous = {r.day: r for r in self.history if r.day > day - hold - 1}
        stream_alarms = self._feed(ret, pnl)
        for name, stream in self.streams.items():
            before = previous.get(day - 1)
            onset = stream_alarms[name] and not (before and before.detectors[name]["alarm"])
            held = any(r.detectors[name]["onset"] for d, r in previous.items() if d > day - hold)
            statistic = _finite_or_none(stream.statistic)
            if name == "hddm_a" and not len(pnl):
                # The win rate since the last alarm carries over days without trades.
                statistic = self.history[-1].detectors[name]["statistic"] if self.history else None
            detectors[name] = {
                "statistic": statistic,
                "threshold": stream.threshold,
                "alarm": bool(stream_alarms[name]),
                "onset": bool(onset),
                "active": bool(onset or held),
            }
        ordered = {name: detectors[name] for name in s.enabled_detectors()}
        votes = sum(d["active"] for d in ordered.values())
        record = DayRecord(day, ret, [float(v) for v in pnl], ordered, int(votes),
                           bool(votes >= s.combine.k))
        self.history.append(record)
        return record


def _changed_key(ours: Mapping[str, Any], theirs: Mapping[str, Any], prefix: str = "") -> str:
    """The first dotted key whose value differs between two nested settings dicts."""
    for key in sorted(set(ours) | set(theirs)):
        a, b = ours.get(key), theirs.get(key)
        if isinstance(a, Mapping) and isinstance(b, Mapping):
            found = _changed_key(a, b, f"{prefix}{key}.")
            if found:
                return found
        elif a != b:
            return f"{prefix}{key}"
    return ""
