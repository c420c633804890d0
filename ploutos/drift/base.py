"""The small interface every detector shares, and the part window tests have in common.

A detector is fed one observation at a time (`update`: a day's features, a day's return or one
trade) and then exposes `statistic`, `threshold` and `alarm` for that observation. Window
tests (KS, PSI, MMD) also score a whole series of days at once (`scores`), which is how the
monitor replays history fast; `update` keeps the last `window` days and scores them with the
same code, so the two paths cannot disagree.
"""

from __future__ import annotations

from abc import ABC, abstractmethod
from collections import deque
from dataclasses import dataclass, field
from typing import Protocol

import numpy as np

from ploutos.drift.calibrate import calibrate_threshold


class Detector(Protocol):
    name: str
    statistic: float
    threshold: float
    alarm: bool

    def update(self, x: object) -> bool: ...


@dataclass
class WindowScores:
    """Per day: the detector's statistic, whether it may alarm (gate), per-feature columns."""

    statistic: np.ndarray  # [T]; NaN before the first full window
    gate: np.ndarray | None = None  # [T] bool; None: always
    per_feature: dict[str, np.ndarray] = field(default_factory=dict)  # name -> [T, F]
    extra: dict[str, np.ndarray] = field(default_factory=dict)  # name -> [T]


class WindowDetector(ABC):
    """A test of the last `window` days against a fixed reference window of days."""

    name: str
    window: int
    nominal: float  # the threshold before calibration

    def __init__(self) -> None:
        self.threshold = float("nan")
        self.statistic = float("nan")
        self.alarm = False
        self._buffer: deque[np.ndarray] = deque()

    @abstractmethod
    def fit(self, reference: np.ndarray) -> None:
        """Learn everything the test needs from the reference days [n, A, F]."""

    @abstractmethod
    def scores(self, values: np.ndarray) -> WindowScores:
        """Score every day of consecutive days [T, A, F]; day t uses days <= t only."""

    def alarms(self, scores: WindowScores) -> np.ndarray:
        stat = np.nan_to_num(scores.statistic, nan=-np.inf)
        alarm = stat > self.threshold
        return alarm if scores.gate is None else alarm & scores.gate

    def threshold_from(self, replay: WindowScores, allowed: int) -> float:
        """The calibrated threshold for a replay of the training days."""
        return calibrate_threshold(replay.statistic, self.nominal, allowed, replay.gate,
                                   span=self.window)

    def calibrate(self, train_values: np.ndarray, allowed: int) -> WindowScores:
        """Set the threshold from a replay of the training days; returns that replay."""
        replay = self.scores(train_values)
        self.threshold = self.threshold_from(replay, allowed)
        return replay

    def update(self, x: object) -> bool:
        """Feed one day's features [A, F]; score the window ending today once it is full."""
        self._buffer.append(np.asarray(x))
        if len(self._buffer) > self.window:
            self._buffer.popleft()
        if len(self._buffer) < self.window:
            self.statistic, self.alarm = float("nan"), False
            return False
        scores = self.scores(np.stack(self._buffer))
        self.statistic = float(scores.statistic[-1])
        self.alarm = bool(self.alarms(scores)[-1])
        return self.alarm
