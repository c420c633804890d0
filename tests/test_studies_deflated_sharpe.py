"""Deflated and probabilistic Sharpe ratios against the literature's worked example.

Bailey & Lopez de Prado (2014), "The Deflated Sharpe Ratio: Correcting for Selection Bias,
Backtest Overfitting and Non-Normality", J. Portfolio Management 40(5), numerical example:
N = 100 trials, T = 1250 daily returns (5 years of 250 days), best annualized SR = 2.5,
variance of the trials' annualized SRs V = 0.5, skewness -3, kurtosis 10. The paper gets
SR0 = 0.1132 (non-annualized) and DSR = 0.9004.
"""

import math

import numpy as np
import pytest

from ploutos.studies import (
    deannualize,
    deflated_sharpe_ratio,
    expected_max_sharpe,
    probabilistic_sharpe_ratio,
)


def test_paper_numerical_example():
    result = deflated_sharpe_ratio(
        sharpe=deannualize(2.5, 250),
        n_obs=1250,
        n_trials=100,
        sharpe_variance=0.5 / 250,
        skew=-3.0,
        kurtosis=10.0,
    )
    assert result.sharpe == pytest.approx(0.1581, abs=1e-4)
    assert result.expected_max_sharpe == pytest.approx(0.1132, abs=1e-4)
    assert result.dsr == pytest.approx(0.9004, abs=1e-4)


def test_expected_max_matches_simulated_maximum_of_normals():
    # SR0 approximates E[max of N iid N(0, V)]; the approximation is within ~1-2% there.
    rng = np.random.default_rng(0)
    for n_trials in (10, 100, 1000):
        simulated = rng.standard_normal((4000, n_trials)).max(axis=1).mean()
        assert expected_max_sharpe(n_trials, 1.0) == pytest.approx(simulated, rel=0.02)
    assert expected_max_sharpe(100, 4.0) == pytest.approx(2 * expected_max_sharpe(100, 1.0))


def test_single_trial_is_not_deflated():
    one = deflated_sharpe_ratio(0.05, n_obs=500, n_trials=1, sharpe_variance=0.01)
    assert one.expected_max_sharpe == 0.0
    assert one.dsr == pytest.approx(one.psr_zero)


def test_psr_normal_returns_closed_form():
    # Normal returns: PSR(0) = Phi(SR sqrt(T - 1) / sqrt(1 + SR^2 / 2)).
    sr, n = 0.1, 101
    z = sr * 10.0 / math.sqrt(1 + sr**2 / 2)
    assert probabilistic_sharpe_ratio(sr, n) == pytest.approx(0.5 * (1 + math.erf(z / 2**0.5)))
    assert probabilistic_sharpe_ratio(0.0, 250) == pytest.approx(0.5)
    # Negative skew and fat tails widen the Sharpe's error: less confidence, same estimate.
    assert probabilistic_sharpe_ratio(sr, n, skew=-3, kurtosis=10) < probabilistic_sharpe_ratio(
        sr, n
    )


def test_more_trials_deflate_more():
    dsrs = [deflated_sharpe_ratio(0.08, 500, n, 0.001).dsr for n in (1, 5, 50, 500)]
    assert all(a > b for a, b in zip(dsrs, dsrs[1:], strict=False))


@pytest.mark.parametrize(
    ("kwargs", "message"),
    [
        ({"sharpe": 0.1, "n_obs": 1}, "n_obs"),
        ({"sharpe": 0.5, "n_obs": 100, "skew": 10.0, "kurtosis": 0.0}, "kurtosis"),
    ],
)
def test_psr_bad_input(kwargs, message):
    with pytest.raises(ValueError, match=message):
        probabilistic_sharpe_ratio(**kwargs)


def test_expected_max_bad_input():
    with pytest.raises(ValueError, match="n_trials"):
        expected_max_sharpe(0, 1.0)
    with pytest.raises(ValueError, match="sharpe_variance"):
        expected_max_sharpe(3, -1.0)
