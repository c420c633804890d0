"""lead_return (ploutos/features/catalog_peers.py): the lagged correlations so far match
numpy's, the returns are standardized by the previous days' volatility, the feature is the
standardized return of the peer that leads, signed by the lead, it shows 0 for a lead whose
t statistic (checked against scipy's Pearson test) is below min_t, it never reads the future,
and the compact feature set that carries it builds on close-only bars."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pandas as pd
import pytest
from omegaconf import OmegaConf
from scipy import stats

from ploutos.data.bars import Bars
from ploutos.data.synthetic import synthetic_bars
from ploutos.features.catalog_peers import (
    Z_CLIP,
    lagged_correlations,
    lagged_pair_counts,
    lead_return,
    lead_t_stat,
    standardized_returns,
)
from ploutos.features.pipeline import build_features
from ploutos.features.registry import Inputs

CONF = Path(__file__).resolve().parents[1] / "conf" / "features"


def _led_market(n_days: int = 400, sign: float = 1.0, seed: int = 3) -> np.ndarray:
    """Log returns [T, 4]: ticker 2 follows ticker 0's previous return (times sign); the rest
    are noise."""
    rng = np.random.default_rng(seed)
    r = rng.normal(0.0, 0.01, (n_days, 4))
    r[1:, 2] += sign * 0.8 * r[:-1, 0]
    return r


def _bars(log_returns: np.ndarray) -> Bars:
    close = 50.0 * np.exp(np.cumsum(log_returns, axis=0))
    return Bars(
        dates=np.datetime64("2004-01-05") + np.arange(len(close)).astype("timedelta64[D]"),
        tickers=tuple(f"T{i}" for i in range(close.shape[1])),
        close=close,
    )


MIN_DAYS = 60
VOL_WINDOW = 20


def _standardized_by_hand(ret: np.ndarray) -> np.ndarray:
    """ret[t] / std(ret[t - VOL_WINDOW .. t - 1], ddof 1), clipped: a loop, not pandas."""
    out = np.full_like(ret, np.nan)
    for t in range(VOL_WINDOW + 1, len(ret)):
        window = ret[t - VOL_WINDOW : t]
        if np.isfinite(window).all():
            out[t] = np.clip(ret[t] / window.std(axis=0, ddof=1), -Z_CLIP, Z_CLIP)
    return out


def test_standardized_returns_match_a_loop_and_are_clipped() -> None:
    r = _led_market()
    r[250, 1] = 0.2  # a 20-sigma day: winsorized
    ret = Inputs(_bars(r)).ret1
    z = standardized_returns(ret, VOL_WINDOW).to_numpy()
    expected = _standardized_by_hand(ret.to_numpy())
    np.testing.assert_allclose(z, expected, rtol=1e-12, atol=1e-12)
    assert z[250, 1] == Z_CLIP and np.isnan(z[: VOL_WINDOW + 1]).all()


def test_lagged_correlations_match_numpy() -> None:
    inputs = Inputs(_bars(_led_market()))
    corr = lagged_correlations(inputs.ret1, MIN_DAYS)
    ret = inputs.ret1.to_numpy()
    t = 250
    first = 2  # day 0 has no return, day 1 no previous one
    for a, b in ((2, 0), (1, 3), (0, 2)):
        expected = np.corrcoef(ret[first : t + 1, a], ret[first - 1 : t, b])[0, 1]
        assert corr[t, a, b] == pytest.approx(expected, abs=1e-9)
    assert np.isnan(corr[t].diagonal()).all()
    assert np.isnan(corr[MIN_DAYS]).all() and np.isfinite(corr[MIN_DAYS + 1, 2, :2]).all()


@pytest.mark.parametrize("sign", [1.0, -1.0])
def test_lead_return_is_the_leaders_return_signed_by_the_lead(sign: float) -> None:
    inputs = Inputs(_bars(_led_market(sign=sign)))
    values = lead_return(inputs, MIN_DAYS, VOL_WINDOW).to_numpy()
    z = _standardized_by_hand(inputs.ret1.to_numpy())
    late = slice(200, None)  # enough history for the expanding correlation to find the lead
    np.testing.assert_allclose(values[late, 2], sign * z[late, 0], rtol=0, atol=1e-12)
    # The others have no leader: their feature is some peer's return, never their own.
    for a in (0, 1, 3):
        own = np.isclose(np.abs(values[late, a]), np.abs(z[late, a]), rtol=0, atol=1e-12)
        assert own.mean() < 0.05
    warmup = VOL_WINDOW + MIN_DAYS + 1
    assert np.isnan(values[:warmup, 2]).all() and np.isfinite(values[warmup:, 2]).all()


def test_pair_counts_and_t_stat_match_a_loop_and_scipy() -> None:
    ret = Inputs(_bars(_led_market())).ret1.to_numpy().copy()
    ret[100:130, 3] = np.nan  # a gap in one ticker
    frame = pd.DataFrame(ret)
    counts = lagged_pair_counts(frame)
    corr = lagged_correlations(frame, MIN_DAYS)
    t = 300
    for a, b in ((2, 0), (3, 1), (1, 3)):
        x, y = ret[1 : t + 1, a], ret[: t, b]  # a on day s, b on day s - 1, s <= t
        both = np.isfinite(x) & np.isfinite(y)
        assert counts[t, a, b] == both.sum()
        result = stats.pearsonr(x[both], y[both])
        assert corr[t, a, b] == pytest.approx(result.statistic, abs=1e-9)
        t_stat = lead_t_stat(np.array(corr[t, a, b]), np.array(counts[t, a, b]))
        p_value = 2.0 * stats.t.sf(t_stat, both.sum() - 2)
        assert p_value == pytest.approx(result.pvalue, rel=1e-6, abs=1e-12)


def test_an_unproven_lead_reads_as_no_lead() -> None:
    inputs = Inputs(_bars(_led_market()))
    shown = lead_return(inputs, MIN_DAYS, VOL_WINDOW).to_numpy()
    gated = lead_return(inputs, MIN_DAYS, VOL_WINDOW, min_t=3.0).to_numpy()
    late = slice(200, None)
    # Ticker 2's lead (0.8 of ticker 0's return) is proven: the feature is unchanged.
    np.testing.assert_array_equal(gated[late, 2], shown[late, 2])
    # The noise tickers' best peers are chance correlations: almost always shown as 0.
    for a in (0, 1, 3):
        assert (gated[late, a] == 0.0).mean() > 0.9
        kept = gated[late, a] != 0.0
        np.testing.assert_array_equal(gated[late, a][kept], shown[late, a][kept])
    # The warm-up is untouched: NaN stays NaN, so the feature starts on the same day.
    np.testing.assert_array_equal(np.isnan(gated), np.isnan(shown))


def test_lead_return_ignores_the_future() -> None:
    r = _led_market()
    t = 300
    future = r.copy()
    future[t + 1 :] = np.random.default_rng(9).normal(0.0, 0.03, future[t + 1 :].shape)
    before = lead_return(Inputs(_bars(r)), MIN_DAYS, VOL_WINDOW).to_numpy()
    after = lead_return(Inputs(_bars(future)), MIN_DAYS, VOL_WINDOW).to_numpy()
    np.testing.assert_array_equal(after[: t + 1], before[: t + 1])
    assert not np.allclose(after[t + 1 :], before[t + 1 :])


def test_one_ticker_has_no_peer() -> None:
    one = Inputs(_bars(_led_market()[:, :1]))
    assert (lead_return(one, MIN_DAYS, VOL_WINDOW).to_numpy() == 0.0).all()


def test_compact_set_builds_on_close_only_bars() -> None:
    bars = synthetic_bars(n_assets=6, n_days=300, seed=1, ohlcv=False)
    cfg = OmegaConf.load(CONF / "compact.yaml")
    features = build_features(bars, cfg)
    assert features.skipped == {}
    assert features.n_features == len(cfg.include) == 13
    assert "lead_z_60" in features.names
    assert features.warmup == VOL_WINDOW + MIN_DAYS + 1
    assert np.isfinite(features.values[features.warmup :]).all()
    assert pd.Series(features.names).is_unique
