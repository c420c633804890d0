"""metrics.json's fees and drawdown duration, against hand computations and the engine."""

from __future__ import annotations

import numpy as np

from ploutos.evaluation.metrics import compute_metrics, max_drawdown_days


def test_drawdown_duration_is_the_longest_run_below_the_peak() -> None:
    equity = np.array([100, 110, 105, 104, 111, 108, 107, 106, 105, 112, 90.0])
    # Below the peak: 105, 104 (2 days); 108..105 (4 days); 90 (1 day, to the end).
    assert max_drawdown_days(equity) == 4
    assert max_drawdown_days(np.array([1.0, 2.0, 3.0])) == 0
    assert max_drawdown_days(np.array([3.0, 2.0, 1.0])) == 2
    assert compute_metrics(equity)["max_drawdown_days"] == 4.0


def test_fees_are_the_sum_of_every_fill_commission() -> None:
    equity = np.array([100.0, 99.0, 101.0])
    fees = np.array([[0.5, 0.25], [0.0, 1.25]])
    assert compute_metrics(equity, fees=fees)["fees"] == 2.0
    assert compute_metrics(equity)["fees"] == 0.0
