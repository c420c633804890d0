"""DriftMonitor: calibrate every detector on the training days, then replay the later days.

Inputs are plain arrays: the market's features [T, A, F] (the normalized tensor the policy
sees), the portfolio's daily simple returns [T] (NaN where there is none), the executed trades
as (day index, pnl) pairs, and `train_days`: days 0 .. train_days - 1 are the training period
(start them where the features are warmed up). The feature tests compare against the last
`drift.reference_days` training days; every threshold comes from a replay of the training
period (calibrate.py); the monitored days are train_days .. T - 1.

Causality: a window test's value on day t is computed from days t - window + 1 .. t and the
reference, an event detector has been fed the days (and trades) up to t, and the thresholds
depend on the training days only; so nothing at day t moves when later data does (tested).

Combined alarm: a detector is active for `combine.hold_days` days from each onset of its alarm
(calibrate.onsets: for a window test, switching on after a window of quiet days); the
combined alarm is on while at least `combine.k` enabled detectors are active. Onsets, not
alarm days: KS, PSI and MMD read the same features and a window test stays on while its window
holds an odd stretch, so "both still on" would count one excursion of the features as
agreement; agreement here means alarms raised close together in time.
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from typing import Any

import numpy as np
import pandas as pd
import torch

from ploutos.drift.base import WindowDetector, WindowScores
from ploutos.drift.calibrate import allowed_alarms, count_episodes, count_false_alarms, onsets
from ploutos.drift.config import DriftSettings
from ploutos.drift.ks import KSDetector
from ploutos.drift.mmd import MMDDetector
from ploutos.drift.psi import PSIDetector
from ploutos.drift.streaming import (
    ADWINDetector,
    CUSUMDetector,
    HDDMADetector,
    PageHinkleyDetector,
    StreamDetector,
    losses,
)
from ploutos.errors import ConfigError, DataError

WINDOW_TESTS = ("ks", "psi", "mmd")
# Per-feature scores that go into the table (the others stay in DriftResult.feature_scores).
TABLE_FEATURE_SCORES = ("ks_q", "psi")
RETURN_TESTS = ("adwin", "page_hinkley", "cusum")


@dataclass
class DriftResult:
    table: pd.DataFrame  # one row per monitored day
    summary: dict[str, Any]
    feature_scores: dict[str, np.ndarray]  # e.g. "psi_ratio" -> [monitored days, F]


def window_detector(name: str, s: DriftSettings) -> WindowDetector:
    if name == "ks":
        return KSDetector(s.ks.window, s.ks.q, s.ks.grid, s.max_lag)
    if name == "psi":
        return PSIDetector(s.psi.window, s.psi.bins, s.psi.smoothing, s.psi.multiple, s.max_lag)
    return MMDDetector(s.mmd.window, s.mmd.permutations, s.mmd.alpha, s.mmd.block_days,
                       s.mmd.seed)


def stream_detector(name: str, s: DriftSettings) -> StreamDetector:
    if name == "adwin":
        return ADWINDetector(s.adwin.delta, s.adwin.clock)
    if name == "hddm_a":
        return HDDMADetector(s.hddm_a.drift_confidence)
    if name == "page_hinkley":
        return PageHinkleyDetector(s.page_hinkley.delta, s.page_hinkley.threshold)
    return CUSUMDetector(s.cusum.slack, s.cusum.threshold)


def as_trades(trades: Iterable[Sequence[float]] | np.ndarray | None, n_days: int) -> np.ndarray:
    """[n, 2] float array of (day, pnl), sorted by day; checks every day is in [0, n_days)."""
    rows = np.zeros((0, 2)) if trades is None else np.asarray(list(trades), np.float64)
    if rows.size == 0:
        return np.zeros((0, 2))
    if rows.ndim != 2 or rows.shape[1] != 2:
        raise DataError(f"trades: expected (day, pnl) pairs, got shape {rows.shape}")
    days = rows[:, 0]
    bad = (days < 0) | (days >= n_days) | (days != np.round(days)) | ~np.isfinite(rows[:, 1])
    if bad.any():
        raise DataError(f"trades: trade {int(np.flatnonzero(bad)[0])} has day or pnl "
                        f"{tuple(rows[bad][0])} outside days 0 .. {n_days - 1} or not finite")
    return rows[np.argsort(days, kind="stable")]


def hold_active(onset: np.ndarray, days: int) -> np.ndarray:
    """True on each day within `days` days from an onset (the onset day included)."""
    counts = np.concatenate([[0], np.cumsum(onset, dtype=np.int64)])
    ends = np.arange(1, onset.size + 1)
    return counts[ends] - counts[np.maximum(ends - days, 0)] > 0


def replay_days(s: DriftSettings, train_days: int, window: int) -> slice:
    """Training days a window test is calibrated on: those whose window ends before the
    reference starts (a window inside the reference matches it trivially), when they are
    at least a year of full windows; else every training day."""
    before = train_days - s.reference_days
    if before >= window + s.calibration.trading_days:
        return slice(0, before)
    return slice(0, train_days)


def detector_span(name: str, s: DriftSettings) -> int:
    """Quiet days before an alarm counts as a new onset: a window test's window, else 1."""
    return window_detector(name, s).window if name in WINDOW_TESTS else 1


def calibrated_window_test(name: str, s: DriftSettings, x: np.ndarray, train_days: int
                           ) -> tuple[WindowDetector, WindowScores, dict[str, Any]]:
    """The window test `name` fitted on the reference (the last reference_days of the
    training days 0 .. train_days - 1 of x) with its threshold calibrated on the training
    replay; its scores of every day of x (causal: one pass for all days) and its report."""
    detector = window_detector(name, s)
    detector.fit(x[train_days - s.reference_days : train_days])
    scores = detector.scores(x)
    replay = replay_days(s, train_days, detector.window)
    train_scores = WindowScores(
        scores.statistic[replay], None if scores.gate is None else scores.gate[replay]
    )
    detector.threshold = detector.threshold_from(
        train_scores, allowed_alarms(replay.stop, s.calibration)
    )
    report = {"nominal": detector.nominal, "threshold": detector.threshold,
              "calibration_days": replay.stop,
              "training_alarms": count_false_alarms(detector.alarms(scores)[replay],
                                                    detector.window)}
    return detector, scores, report


class DriftMonitor:
    def __init__(self, settings: DriftSettings) -> None:
        self.settings = settings

    def _check(self, features: np.ndarray, returns: np.ndarray, train_days: int) -> None:
        if features.ndim != 3:
            raise DataError(f"features: expected [days, assets, features], got {features.shape}")
        if returns.shape != (features.shape[0],):
            raise DataError(f"returns: expected [{features.shape[0]}] daily returns, "
                            f"got shape {returns.shape}")
        if not np.isfinite(features).all():
            day = int(np.flatnonzero(~np.isfinite(features).all(axis=(1, 2)))[0])
            raise DataError(f"features: not finite on day {day}")
        if not 0 < train_days <= features.shape[0]:
            raise DataError(f"train_days: must be in 1 .. {features.shape[0]}, got {train_days}")
        if train_days < self.settings.reference_days:
            raise ConfigError("drift.reference_days", f"must be <= the {train_days} training "
                              f"days, got {self.settings.reference_days}")

    def run(
        self,
        features: np.ndarray | torch.Tensor,
        returns: np.ndarray | torch.Tensor,
        trades: Iterable[Sequence[float]] | np.ndarray | None,
        train_days: int,
        feature_names: Sequence[str] | None = None,
    ) -> DriftResult:
        s = self.settings
        x = (features.detach().cpu().numpy() if isinstance(features, torch.Tensor)
             else np.asarray(features))
        r = np.asarray(returns.detach().cpu() if isinstance(returns, torch.Tensor) else returns,
                       np.float64)
        self._check(x, r, train_days)
        n_days = x.shape[0]
        names = list(feature_names) if feature_names is not None else [
            str(i) for i in range(x.shape[2])]
        if len(names) != x.shape[2]:
            raise DataError(f"feature_names: {len(names)} names for {x.shape[2]} features")
        trade_rows = as_trades(trades, n_days)
        allowed = allowed_alarms(train_days, s.calibration)
        monitored = slice(train_days, n_days)
        columns: dict[str, np.ndarray] = {"day": np.arange(train_days, n_days)}
        per_feature: dict[str, np.ndarray] = {}
        alarms: dict[str, np.ndarray] = {}
        report: dict[str, dict[str, Any]] = {}
        enabled = s.enabled_detectors()

        for name in (n for n in enabled if n in WINDOW_TESTS):
            detector, scores, report[name] = calibrated_window_test(name, s, x, train_days)
            alarm = detector.alarms(scores)
            alarms[name] = alarm[monitored]
            columns[f"{name}_stat"] = scores.statistic[monitored]
            columns[f"{name}_threshold"] = np.full(n_days - train_days, detector.threshold)
            columns[f"{name}_alarm"] = alarm[monitored]
            for key, values in scores.extra.items():
                columns[key] = values[monitored]
            for key, values in scores.per_feature.items():
                per_feature[key] = values[monitored]

        for name in (n for n in enabled if n in RETURN_TESTS):
            detector = stream_detector(name, s)
            detector.fit(r[:train_days], allowed)
            stream = detector.transform(r[monitored])
            stat, alarm = np.full(stream.size, np.nan), np.zeros(stream.size, bool)
            for i, value in enumerate(stream):
                alarm[i] = detector.update(value)
                stat[i] = detector.statistic
            self._stream_columns(name, detector, stat, alarm, columns, alarms, report)

        if "hddm_a" in enabled:
            detector = stream_detector("hddm_a", s)
            before = trade_rows[:, 0] < train_days
            detector.fit(trade_rows[before, 1], allowed)
            stat = np.full(n_days - train_days, np.nan)
            alarm = np.zeros(n_days - train_days, bool)
            for day, loss in zip(trade_rows[~before, 0].astype(int),
                                 losses(trade_rows[~before, 1]), strict=True):
                alarm[day - train_days] |= detector.update(loss)
                stat[day - train_days] = detector.statistic
            # The win rate since the last alarm carries over days without trades.
            stat = pd.Series(stat).ffill().to_numpy()
            self._stream_columns("hddm_a", detector, stat, alarm, columns, alarms, report)
            report["hddm_a"]["training_trades"] = int(before.sum())

        spans = {name: detector_span(name, s) for name in enabled}
        active = np.stack([hold_active(onsets(alarms[name], spans[name]), s.combine.hold_days)
                           for name in enabled])
        votes = active.sum(axis=0)
        columns["combined_votes"] = votes
        columns["combined_alarm"] = votes >= s.combine.k
        frames = [pd.DataFrame(columns)]
        frames += [pd.DataFrame(per_feature[key], columns=[f"{key}:{n}" for n in names])
                   for key in TABLE_FEATURE_SCORES if key in per_feature]
        table = pd.concat(frames, axis=1)
        for name in enabled:
            report[name].update(self._alarm_report(alarms[name], train_days, spans[name]))
        summary = {
            "train_days": train_days,
            "monitored_days": n_days - train_days,
            "allowed_training_alarms": allowed,
            "detectors": report,
            "combined": {"k": s.combine.k, "hold_days": s.combine.hold_days,
                         **self._alarm_report(columns["combined_alarm"], train_days)},
        }
        return DriftResult(table=table, summary=summary, feature_scores=per_feature)

    @staticmethod
    def _stream_columns(name: str, detector: StreamDetector, stat: np.ndarray,
                        alarm: np.ndarray, columns: dict[str, np.ndarray],
                        alarms: dict[str, np.ndarray], report: dict[str, dict[str, Any]]) -> None:
        columns[f"{name}_stat"] = stat
        columns[f"{name}_threshold"] = np.full(stat.size, detector.threshold)
        columns[f"{name}_alarm"] = alarm
        alarms[name] = alarm
        report[name] = {"threshold": detector.threshold, "calibrated": detector.calibrated,
                        "training_alarms": detector.training_alarms}

    @staticmethod
    def _alarm_report(alarm: np.ndarray, offset: int, span: int = 1) -> dict[str, Any]:
        days = np.flatnonzero(alarm)
        return {"alarms": count_episodes(alarm, span), "alarm_days": int(days.size),
                "first_alarm_day": int(days[0] + offset) if days.size else None}
