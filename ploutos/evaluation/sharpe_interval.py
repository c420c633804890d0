"""The bootstrap confidence interval of an evaluation's Sharpe ratio, logged beside it.

Three hundred validation days give a Sharpe standard error near 0.9 (annualized), so the
checkpoint with the best point value is often the luckiest one. Every evaluation therefore
carries `sharpe_ci_low` and `sharpe_ci_high`, the stationary-bootstrap percentile interval of
metrics.bootstrap_sharpe (blocks keep volatility clustering), which the `lower_bound` model
selection rule (ploutos/training/selection.py) ranks checkpoints by.
"""

from __future__ import annotations

import numpy as np

from ploutos.evaluation.metrics import TRADING_DAYS, bootstrap_sharpe, simple_returns

# Two-sided 90%: the low end is a one-sided 95% lower bound.
CONFIDENCE = 0.90
# Resamples per evaluation: the low end's Monte-Carlo error is ~0.03 of a Sharpe of spread 1,
# small beside the interval's width, for ~10 ms per evaluation of 300 days.
N_BOOT = 1000
MEAN_BLOCK = 10.0


def with_sharpe_interval(
    metrics: dict, equity: np.ndarray, risk_free: float = 0.0,
    periods_per_year: int = TRADING_DAYS,
) -> dict:
    """`metrics` with sharpe_ci_low and sharpe_ci_high inserted right after sharpe, for the
    equity curve [D + 1] they were computed from (seeded: the same curve, the same interval)."""
    ci = bootstrap_sharpe(
        simple_returns(equity), risk_free, periods_per_year, n_boot=N_BOOT,
        mean_block=MEAN_BLOCK, confidence=CONFIDENCE, seed=0,
    )
    out = {}
    for key, value in metrics.items():
        out[key] = value
        if key == "sharpe":
            out["sharpe_ci_low"], out["sharpe_ci_high"] = ci["low"], ci["high"]
    return out
