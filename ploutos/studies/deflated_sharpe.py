"""Probabilistic and deflated Sharpe ratios (Bailey & Lopez de Prado).

All Sharpe ratios here are per observation (not annualized), as in the papers; use
`deannualize` to convert an annualized Sharpe (and `periods_per_year` for its variance).

- PSR (Bailey & Lopez de Prado 2012, "The Sharpe Ratio Efficient Frontier"): the probability
  that the true Sharpe exceeds a benchmark SR*, given an estimate SR from T observations with
  skewness g3 and (non-excess) kurtosis g4:
      PSR(SR*) = Phi((SR - SR*) sqrt(T - 1) / sqrt(1 - g3 SR + (g4 - 1) / 4 SR^2)).
- DSR (Bailey & Lopez de Prado 2014, "The Deflated Sharpe Ratio: Correcting for Selection
  Bias, Backtest Overfitting and Non-Normality", J. Portfolio Management 40(5)): the PSR whose
  benchmark is the Sharpe the best of N trials would show by luck alone when every trial has
  zero true skill,
      SR0 = sqrt(V[SR_n]) ((1 - gamma) Phi^-1(1 - 1/N) + gamma Phi^-1(1 - 1/(N e))),
  gamma the Euler-Mascheroni constant and V[SR_n] the variance of the trials' Sharpe ratios.
"""

from __future__ import annotations

import math
from dataclasses import asdict, dataclass

from scipy.stats import norm

EULER_GAMMA = 0.5772156649015329


def deannualize(sharpe: float, periods_per_year: int = 252) -> float:
    """Per-period Sharpe of an annualized one (annualized = per-period * sqrt(periods))."""
    return sharpe / math.sqrt(periods_per_year)


def probabilistic_sharpe_ratio(
    sharpe: float,
    n_obs: int,
    benchmark: float = 0.0,
    skew: float = 0.0,
    kurtosis: float = 3.0,
) -> float:
    """PSR: P(true Sharpe > benchmark); `kurtosis` is Pearson's (3 for normal returns)."""
    if n_obs < 2:
        raise ValueError(f"n_obs must be >= 2 observations, got {n_obs}")
    var_term = 1.0 - skew * sharpe + (kurtosis - 1.0) / 4.0 * sharpe**2
    if var_term <= 0:
        raise ValueError(
            f"skew {skew} and kurtosis {kurtosis} give a non-positive Sharpe variance at "
            f"SR {sharpe}; check that kurtosis is Pearson's (normal = 3), not excess"
        )
    return float(norm.cdf((sharpe - benchmark) * math.sqrt(n_obs - 1) / math.sqrt(var_term)))


def expected_max_sharpe(n_trials: int, sharpe_variance: float) -> float:
    """SR0: the expected maximum Sharpe of n_trials zero-skill trials whose estimates vary
    with variance `sharpe_variance` (0 for a single trial: nothing was selected)."""
    if n_trials < 1:
        raise ValueError(f"n_trials must be >= 1, got {n_trials}")
    if sharpe_variance < 0:
        raise ValueError(f"sharpe_variance must be >= 0, got {sharpe_variance}")
    if n_trials == 1:
        return 0.0
    quantiles = (1.0 - EULER_GAMMA) * norm.ppf(1.0 - 1.0 / n_trials) + EULER_GAMMA * norm.ppf(
        1.0 - 1.0 / (n_trials * math.e)
    )
    return float(math.sqrt(sharpe_variance) * quantiles)


@dataclass(frozen=True)
class DeflatedSharpe:
    """The DSR of a selected trial and what went into it (per-period Sharpe units)."""

    sharpe: float
    n_obs: int
    n_trials: int
    sharpe_variance: float
    skew: float
    kurtosis: float
    expected_max_sharpe: float
    dsr: float
    psr_zero: float  # PSR against 0: what the same Sharpe would mean had it been the only try

    def as_dict(self) -> dict[str, float | int]:
        return asdict(self)


def deflated_sharpe_ratio(
    sharpe: float,
    n_obs: int,
    n_trials: int,
    sharpe_variance: float,
    skew: float = 0.0,
    kurtosis: float = 3.0,
) -> DeflatedSharpe:
    """DSR of the best of `n_trials` trials, whose per-period Sharpe is `sharpe`."""
    sr0 = expected_max_sharpe(n_trials, sharpe_variance)
    return DeflatedSharpe(
        sharpe=sharpe,
        n_obs=n_obs,
        n_trials=n_trials,
        sharpe_variance=sharpe_variance,
        skew=skew,
        kurtosis=kurtosis,
        expected_max_sharpe=sr0,
        dsr=probabilistic_sharpe_ratio(sharpe, n_obs, sr0, skew, kurtosis),
        psr_zero=probabilistic_sharpe_ratio(sharpe, n_obs, 0.0, skew, kurtosis),
    )
