"""Event detectors fed one value at a time: river's ADWIN, HDDM_A and Page-Hinkley, and CUSUM.

Each one is calibrated by replaying the training stream with its sensitivity parameter
stepped from the configured (most sensitive) value towards stricter ones, keeping the first
that raises at most the allowed number of alarms; the detector that did that replay is kept,
so monitoring starts warm, with the training period in its memory.

Inputs are standardized with training statistics, because river's bounds are not scale-free:
ADWIN's Hoeffding-type cut assumes values of order one (on raw squared returns, ~1e-4, it never
cuts) and Page-Hinkley's threshold is in the input's units.
"""

from __future__ import annotations

import math
from collections.abc import Callable, Iterable, Sequence

import numpy as np
from river.drift import ADWIN, PageHinkley
from river.drift.binary import HDDMA

from ploutos.drift.calibrate import calibrate_parameter

# Calibration steps: confidences shrink tenfold, thresholds grow by half, eight times at most.
CONFIDENCE_STEPS = tuple(10.0 ** -k for k in range(9))
THRESHOLD_STEPS = tuple(1.5**k for k in range(9))


class StreamDetector:
    """Common state: the last statistic, the (calibrated) threshold, whether it alarmed."""

    name: str

    def __init__(self) -> None:
        self.statistic = float("nan")
        self.threshold = float("nan")
        self.alarm = False
        self.training_alarms = 0
        self.calibrated = False

    def _make(self, level: float) -> object:
        raise NotImplementedError

    def _step(self, detector: object, x: float) -> bool:
        raise NotImplementedError

    def _calibrate(self, levels: Sequence[float], stream: Sequence[float], allowed: int,
                   level: float | None = None) -> None:
        """Keep the first of `levels` whose replay of `stream` raises at most `allowed`
        alarms; a given `level` (one found before, e.g. stored by paper trading) is replayed
        alone, which rebuilds exactly the warm detector that calibration kept."""
        if level is not None:
            levels, allowed = [level], len(stream)
        replays: dict[float, object] = {}

        def count(level: float) -> int:
            detector = self._make(level)
            replays[level] = detector
            return sum(self._step(detector, x) for x in stream)

        level, self.training_alarms, self.calibrated = calibrate_parameter(levels, count, allowed)
        self.threshold, self._detector = level, replays[level]
        self.statistic, self.alarm = float("nan"), False

    def update(self, x: object) -> bool:
        value = float(x)  # type: ignore[arg-type]
        if not math.isfinite(value):
            self.alarm = False
            return False
        self.alarm = self._step(self._detector, value)
        return self.alarm


def standardize(train: np.ndarray) -> Callable[[np.ndarray], np.ndarray]:
    """z-scores with the finite training values' mean and standard deviation."""
    finite = train[np.isfinite(train)]
    mean = float(finite.mean()) if finite.size else 0.0
    std = float(finite.std()) if finite.size > 1 and finite.std() > 0 else 1.0
    return lambda x: (np.asarray(x, np.float64) - mean) / std


class ADWINDetector(StreamDetector):
    """Volatility regime: ADWIN on squared standardized daily returns (mean 1 in training).

    statistic: ADWIN's window mean, the current variance relative to training's;
    threshold: the calibrated delta."""

    name = "adwin"

    def __init__(self, delta: float, clock: int) -> None:
        super().__init__()
        self.delta, self.clock = delta, clock

    def _make(self, level: float) -> ADWIN:
        return ADWIN(delta=level, clock=self.clock)

    def _step(self, detector: ADWIN, x: float) -> bool:
        detector.update(x)
        self.statistic = float(detector.estimation)
        return bool(detector.drift_detected)

    def fit(self, train_returns: np.ndarray, allowed: int, level: float | None = None) -> None:
        self._z = standardize(train_returns)
        stream = self.transform(train_returns)
        self._calibrate([self.delta * s for s in CONFIDENCE_STEPS],
                        stream[np.isfinite(stream)], allowed, level)

    def transform(self, returns: np.ndarray) -> np.ndarray:
        return self._z(returns) ** 2


class HDDMADetector(StreamDetector):
    """The agent's edge: HDDM_A on trade losses (1 = a trade that did not make money).

    One-sided: it alarms when the loss rate rises. statistic: the win rate of the trades since
    the last alarm; threshold: the calibrated drift confidence."""

    name = "hddm_a"

    def __init__(self, drift_confidence: float) -> None:
        super().__init__()
        self.drift_confidence = drift_confidence
        self._wins = self._trades = 0

    def _make(self, level: float) -> HDDMA:
        self._wins = self._trades = 0
        return HDDMA(drift_confidence=level, warning_confidence=min(0.5, 5 * level))

    def _step(self, detector: HDDMA, x: float) -> bool:
        detector.update(x)
        self._trades += 1
        self._wins += int(x == 0.0)
        self.statistic = self._wins / self._trades
        if detector.drift_detected:
            self._wins = self._trades = 0
            return True
        return False

    def fit(self, train_pnl: np.ndarray, allowed: int, level: float | None = None) -> None:
        self._calibrate([self.drift_confidence * s for s in CONFIDENCE_STEPS],
                        losses(train_pnl), allowed, level)


def losses(pnl: Iterable[float]) -> np.ndarray:
    """1.0 for each trade that did not make money, else 0.0."""
    return (np.asarray(list(pnl), np.float64) <= 0.0).astype(np.float64)


class PageHinkleyDetector(StreamDetector):
    """Option: river's two-sided Page-Hinkley on the standardized daily log return.

    statistic: the larger of its two cumulative deviations (river 0.26's internal sums)."""

    name = "page_hinkley"

    def __init__(self, delta: float, threshold: float) -> None:
        super().__init__()
        self.delta, self.base_threshold = delta, threshold

    def _make(self, level: float) -> PageHinkley:
        return PageHinkley(delta=self.delta, threshold=level)

    def _step(self, detector: PageHinkley, x: float) -> bool:
        detector.update(x)
        self.statistic = max(detector._sum_increase - detector._min_increase,
                             detector._max_decrease - detector._sum_decrease)
        return bool(detector.drift_detected)

    def fit(self, train_returns: np.ndarray, allowed: int, level: float | None = None) -> None:
        self._z = standardize(np.log1p(train_returns))
        stream = self.transform(train_returns)
        self._calibrate([self.base_threshold * s for s in THRESHOLD_STEPS],
                        stream[np.isfinite(stream)], allowed, level)

    def transform(self, returns: np.ndarray) -> np.ndarray:
        return self._z(np.log1p(returns))


class CUSUM:
    """Two-sided tabular CUSUM: S+ = max(0, S+ + x - k), S- = max(0, S- - x - k); alarm when
    either exceeds h, then both restart at 0."""

    def __init__(self, slack: float, threshold: float) -> None:
        self.slack, self.threshold = slack, threshold
        self.high = self.low = self.value = 0.0

    def update(self, x: float) -> bool:
        self.high = max(0.0, self.high + x - self.slack)
        self.low = max(0.0, self.low - x - self.slack)
        self.value = max(self.high, self.low)  # kept for the caller across the restart
        if self.value > self.threshold:
            self.high = self.low = 0.0
            return True
        return False


class CUSUMDetector(StreamDetector):
    """Option: CUSUM on the standardized daily log return. statistic: max(S+, S-)."""

    name = "cusum"

    def __init__(self, slack: float, threshold: float) -> None:
        super().__init__()
        self.slack, self.base_threshold = slack, threshold

    def _make(self, level: float) -> CUSUM:
        return CUSUM(self.slack, level)

    def _step(self, detector: CUSUM, x: float) -> bool:
        alarm = detector.update(x)
        self.statistic = detector.value
        return alarm

    def fit(self, train_returns: np.ndarray, allowed: int, level: float | None = None) -> None:
        self._z = standardize(np.log1p(train_returns))
        stream = self.transform(train_returns)
        self._calibrate([self.base_threshold * s for s in THRESHOLD_STEPS],
                        stream[np.isfinite(stream)], allowed, level)

    def transform(self, returns: np.ndarray) -> np.ndarray:
        return self._z(np.log1p(returns))
