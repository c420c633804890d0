"""Detector arithmetic against libraries and plain reference computations."""

from __future__ import annotations

import numpy as np
import pytest
import torch
from scipy import stats

from ploutos.drift.calibrate import (
    calibrate_threshold,
    count_episodes,
    count_false_alarms,
    onsets,
)
from ploutos.drift.ess import effective_size
from ploutos.drift.ks import KSDetector, ks_pvalues, ks_statistics
from ploutos.drift.mmd import MMDDetector, _gaussian
from ploutos.drift.psi import PSIDetector, psi_series
from ploutos.drift.rolling import rolling_histograms
from ploutos.drift.scenarios import ar1_features
from ploutos.drift.streaming import CUSUM


def test_rolling_histograms_match_a_plain_count() -> None:
    rng = np.random.default_rng(0)
    codes = rng.integers(0, 5, size=(30, 3))
    counts = rolling_histograms(codes, 5, window=7)
    assert (counts[:6] == 0).all()
    for t in range(6, 30):
        expected = np.bincount(codes[t - 6 : t + 1].ravel(), minlength=5)
        np.testing.assert_array_equal(counts[t], expected)


def test_ks_statistic_on_every_reference_value_is_scipys_exactly() -> None:
    rng = np.random.default_rng(1)
    reference = rng.normal(size=(80, 3, 3))
    values = rng.normal(0.4, 1.3, size=(120, 3, 3))
    values[:, :, 2] = np.round(values[:, :, 2])  # ties within and across the samples
    reference[:, :, 2] = np.round(reference[:, :, 2])
    d = ks_statistics(values, reference, window=20, grid=None)
    assert np.isnan(d[:19]).all()
    for t in (19, 64, 119):
        for f in range(3):
            current = values[t - 19 : t + 1, :, f].ravel()
            expected = stats.ks_2samp(reference[:, :, f].ravel(), current)
            assert d[t, f] == pytest.approx(expected.statistic, abs=1e-12)


def test_ks_on_a_quantile_grid_is_a_close_lower_bound() -> None:
    rng = np.random.default_rng(2)
    reference = rng.normal(size=(504, 5, 4))
    values = rng.normal(0.2, 1.0, size=(100, 5, 4))
    exact = ks_statistics(values, reference, 63, None)
    grid = ks_statistics(values, reference, 63, 100)
    full = np.isfinite(exact)
    assert (grid[full] <= exact[full] + 1e-12).all()
    assert np.abs(grid[full] - exact[full]).max() < 0.02


def test_ks_pvalue_without_correction_matches_scipys_asymptotic() -> None:
    rng = np.random.default_rng(3)
    a, b = rng.normal(size=4000), rng.normal(0.05, 1.0, size=900)
    expected = stats.ks_2samp(a, b, method="asymp")
    assert ks_pvalues(expected.statistic, 4000, 900) == pytest.approx(expected.pvalue, rel=0.02)


def test_effective_size_of_white_noise_and_of_one_shared_series() -> None:
    rng = np.random.default_rng(4)
    white = rng.normal(size=(504, 6, 2))
    size = effective_size(white, 126)
    assert size.tau == pytest.approx([1.0, 1.0], abs=0.3)
    assert size.assets == pytest.approx([6.0, 6.0], rel=0.15)
    shared = np.repeat(ar1_features(rng, 504, 1, 1), 6, axis=1)  # every asset the same
    size = effective_size(shared, 126)
    assert size.assets == pytest.approx([1.0])
    # The indicator of an AR(1) phi 0.9 at its median: tau about 1 + 2 sum (2/pi) asin(0.9^k).
    theory = 1 + 2 * sum(2 / np.pi * np.arcsin(0.9**k) for k in range(1, 200))
    long = ar1_features(rng, 20000, 4, 1)
    assert effective_size(long, 126).tau[0] == pytest.approx(theory, rel=0.2)


def _reference_psi(ref: np.ndarray, cur: np.ndarray, bins: int, smoothing: float) -> float:
    """PSI the plain way: decile edges with np.quantile, counts with a loop."""
    edges = np.unique(np.quantile(ref, [i / bins for i in range(1, bins)]))

    def counts(x: np.ndarray) -> np.ndarray:
        c = np.zeros(len(edges) + 1)
        for v in x:
            c[int(np.sum(edges <= v))] += 1
        return c
    p_counts, q_counts = counts(ref), counts(cur)
    p = (p_counts + smoothing) / (p_counts.sum() + smoothing * len(p_counts))
    q = (q_counts + smoothing) / (q_counts.sum() + smoothing * len(q_counts))
    return float(np.sum((q - p) * np.log(q / p)))


def test_psi_matches_a_plain_computation() -> None:
    rng = np.random.default_rng(5)
    reference = rng.normal(size=(200, 2, 2))
    reference[:, :, 1] = np.round(reference[:, :, 1])  # tied deciles merge bins
    values = rng.normal(0.3, 1.2, size=(160, 2, 2))
    psi, bins = psi_series(values, reference, window=126, bins=10, smoothing=0.5)
    assert bins[0] == 10 and bins[1] < 10
    for t in (125, 159):
        for f in range(2):
            expected = _reference_psi(reference[:, :, f].ravel(),
                                      values[t - 125 : t + 1, :, f].ravel(), 10, 0.5)
            assert psi[t, f] == pytest.approx(expected, rel=1e-10)


def test_psi_expectation_matches_simulated_no_drift_psi() -> None:
    """Mean PSI / ((B - 1)(1/N + 1/M)) over independent no-drift samples is about 1."""
    rng = np.random.default_rng(6)
    detector = PSIDetector(window=126, bins=10, smoothing=0.5, multiple=1.0, max_lag=20)
    reference = rng.normal(size=(504, 1, 40))
    detector.fit(reference)
    scores = detector.scores(rng.normal(size=(126 * 8, 1, 40)))
    ratios = scores.per_feature["psi_ratio"][125::126]
    assert np.nanmean(ratios) == pytest.approx(1.0, abs=0.15)


def test_mmd_block_sums_equal_the_quadratic_form_on_the_full_kernel() -> None:
    rng = np.random.default_rng(7)
    reference, values = rng.normal(size=(24, 2, 3)), rng.normal(size=(30, 2, 3))
    values[20:] += 0.7
    detector = MMDDetector(window=6, permutations=20, alpha=0.05, block_days=3, seed=0)
    detector.fit(reference)
    scores = detector.scores(values)
    z = detector._standardize(values)
    weights = torch.cat([detector.w_ref, detector.w_cur], dim=1).repeat_interleave(3, dim=1)
    for t in (5, 17, 29):
        pooled = torch.cat([detector.z_ref, z[t - 5 : t + 1]])
        kernel = _gaussian(torch.cdist(pooled, pooled).square(), detector.bandwidth)
        totals = torch.einsum("pi,ij,pj->p", weights, kernel, weights)
        assert scores.statistic[t] == pytest.approx(float(totals[0]), rel=1e-9)
        p = (1 + int((totals[1:] >= totals[0]).sum())) / 21
        assert scores.extra["mmd_p"][t] == pytest.approx(p)


def test_mmd_permutation_test_holds_its_level_on_independent_days() -> None:
    rng = np.random.default_rng(8)
    detector = MMDDetector(window=63, permutations=100, alpha=0.05, block_days=21, seed=0)
    detector.fit(rng.normal(size=(504, 3, 5)))
    p = detector.scores(rng.normal(size=(63 * 30, 3, 5))).extra["mmd_p"][62::63]
    assert np.mean(p <= 0.05) <= 0.15  # 30 disjoint windows at level 0.05


def test_streaming_update_equals_the_batch_scores() -> None:
    rng = np.random.default_rng(9)
    reference = ar1_features(rng, 504, 3, 4)
    values = ar1_features(rng, 140, 3, 4)
    values[100:, :, 0] += 1.5
    for detector in (KSDetector(63, 0.05, 100, 126), PSIDetector(126, 10, 0.5, 3.5, 126),
                     MMDDetector(63, 50, 0.05, 21, 0)):
        detector.fit(reference)
        detector.threshold = detector.nominal
        batch = detector.scores(values)
        alarms = detector.alarms(batch)
        for t, day in enumerate(values):
            alarm = detector.update(day)
            if t >= detector.window - 1:
                assert detector.statistic == pytest.approx(batch.statistic[t], rel=1e-9)
                assert alarm == alarms[t]
            else:
                assert not alarm


def test_calibrated_threshold_allows_the_given_number_of_alarms() -> None:
    stat = np.array([0.0, 3.0, 3.0, 0.0, 0.0, 0.0, 5.0, 0.0, 0.0, 0.0, 2.0, 0.0])
    # Episodes after 3 quiet days: three at the nominal, two above 2, one above 3.
    assert calibrate_threshold(stat, 1.0, allowed=3, span=3) == 1.0
    assert calibrate_threshold(stat, 1.0, allowed=2, span=3) == 2.0
    assert calibrate_threshold(stat, 1.0, allowed=1, span=3) == 3.0
    # With a span of one day every alarm day counts: four days at the nominal.
    assert calibrate_threshold(stat, 1.0, allowed=3, span=1) == 2.0
    # Staying on longer than its span counts once per span.
    on = np.ones(10, bool)
    assert count_episodes(on) == 1 and count_false_alarms(on, span=4) == 3


def test_an_alarm_flickering_within_its_window_is_one_onset() -> None:
    alarm = np.array([1, 0, 1, 0, 0, 0, 1, 1, 0], bool)
    assert onsets(alarm, span=3).tolist() == [1, 0, 0, 0, 0, 0, 1, 0, 0]
    assert onsets(alarm, span=1).tolist() == [1, 0, 1, 0, 0, 0, 1, 0, 0]


def test_cusum_alarms_when_the_mean_shifts_and_restarts() -> None:
    cusum = CUSUM(slack=0.5, threshold=4.0)
    alarms = [cusum.update(x) for x in [0.0] * 10 + [2.0] * 10]
    # 1.5 per day above the slack: S+ passes 4 on the third day of the shift, then restarts.
    assert np.flatnonzero(alarms).tolist() == [12, 15, 18]
