"""How many evaluations the dashboards may draw: a share of the training's own CPU time.

An evaluation's charts (the buy-and-hold run the first time, the figure, the PNG, W&B media
objects and run.log) cost CPU that training would otherwise use. `ChartBudget` keeps the
cumulative chart time at or under `fraction` x the process CPU time since training started:
an evaluation draws when the time already spent plus the latest drawing's cost fits, else
only its scalars are logged. The first evaluation draws (nothing is spent yet); the run's
last evaluation and its best one are drawn whatever the budget says (the callback decides
which those are).

Both clocks are CPU time, not wall time, so a loaded host (other processes taking the
cores) neither loosens nor tightens the rule.
"""

from __future__ import annotations

import time
from collections.abc import Callable

from ploutos.errors import ConfigError

Clock = Callable[[], float]


def check_fraction(fraction: float | None, key: str) -> float | None:
    """None (draw every evaluation) or a share in (0, 1]."""
    if fraction is None:
        return None
    value = float(fraction)
    if not 0.0 < value <= 1.0:
        raise ConfigError(key, f"must be in (0, 1] or null (no limit), got {fraction}")
    return value


class ChartBudget:
    """`allows()` before drawing, `charge(seconds)` after; `start()` when training starts.

    fraction None: no limit. `clock` is the training's time (process CPU by default).
    """

    def __init__(self, fraction: float | None, clock: Clock = time.process_time) -> None:
        self.fraction = fraction
        self.clock = clock
        self.spent = 0.0
        self.last_cost = 0.0
        self.drawn = 0
        self._start: float | None = None

    def start(self) -> None:
        self._start = self.clock()

    def elapsed(self) -> float:
        if self._start is None:
            self.start()
        assert self._start is not None
        return self.clock() - self._start

    def allows(self) -> bool:
        """True when one more drawing of the latest one's cost stays within the budget."""
        if self.fraction is None:
            return True
        return self.spent + self.last_cost <= self.fraction * self.elapsed()

    def charge(self, seconds: float, once: float = 0.0) -> None:
        """One drawing's CPU time, plus `once`: work it did that later drawings will not
        repeat (the buy-and-hold run), spent but not expected again."""
        self.spent += float(seconds) + float(once)
        self.last_cost = float(seconds)
        self.drawn += 1

    def share(self) -> float:
        """Chart time over the training time so far."""
        elapsed = self.elapsed()
        return self.spent / elapsed if elapsed > 0 else 0.0
