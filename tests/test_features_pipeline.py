"""build_features: feature sets from config, warm-ups, close-only skipping, clean values,
config errors that name their key, and the numbers of a few features checked by hand."""

from __future__ import annotations

import dataclasses
from pathlib import Path

import numpy as np
import pytest
from omegaconf import OmegaConf

from ploutos.data.bars import Bars
from ploutos.errors import ConfigError
from ploutos.features import REGISTRY, FeatureSet, build_features
from ploutos.features.pipeline import compute_raw, parse_requests
from ploutos.features.registry import Inputs

CONF = Path(__file__).resolve().parents[1] / "conf" / "features"

T, A = 400, 4


def make_bars(seed: int = 0, n_days: int = T, n_assets: int = A, benchmark: bool = False) -> Bars:
    """Seeded random-walk OHLCV with high >= max(open, close) >= min(open, close) >= low > 0."""
    rng = np.random.default_rng(seed)
    close = 30.0 * np.exp(np.cumsum(rng.normal(0.0, 0.02, (n_days, n_assets)), axis=0))
    open_ = close * np.exp(rng.normal(0.0, 0.006, close.shape))
    high = np.maximum(open_, close) * np.exp(np.abs(rng.normal(0.0, 0.008, close.shape)))
    low = np.minimum(open_, close) * np.exp(-np.abs(rng.normal(0.0, 0.008, close.shape)))
    assert (high >= np.maximum(open_, close)).all() and (np.minimum(open_, close) >= low).all()
    return Bars(
        dates=np.datetime64("2010-01-04") + np.arange(n_days).astype("timedelta64[D]"),
        tickers=tuple(f"T{i}" for i in range(n_assets)),
        close=close,
        open=open_,
        high=high,
        low=low,
        volume=rng.lognormal(12.0, 0.5, close.shape),
        benchmark=1000.0 * np.exp(np.cumsum(rng.normal(0, 0.01, n_days))) if benchmark else None,
        source="test",
    )


def close_only(bars: Bars) -> Bars:
    return dataclasses.replace(bars, open=None, high=None, low=None, volume=None)


def load(name: str):
    return OmegaConf.load(CONF / f"{name}.yaml")


@pytest.fixture(scope="module")
def v2() -> FeatureSet:
    return build_features(make_bars(), load("v2"))


def test_v2_on_ohlcv_builds_about_85_scale_free_features(v2):
    assert 80 <= v2.n_features <= 95
    assert v2.values.shape == (T, A, v2.n_features) and v2.values.dtype == np.float32
    assert not v2.skipped
    assert len(set(v2.names)) == v2.n_features == len(v2.groups)
    assert {
        "returns",
        "volatility",
        "momentum",
        "trend",
        "volume",
        "oscillators",
        "cross_section",
        "market",
    } <= set(v2.groups)
    assert v2.warmup == max(v2.warmups) == 252
    # NaN exactly during each feature's warm-up, finite after it.
    for f, warmup in enumerate(v2.warmups):
        assert np.isnan(v2.values[:warmup, :, f]).all(), v2.names[f]
        assert np.isfinite(v2.values[warmup:, :, f]).all(), v2.names[f]


def test_declared_warmups_are_exact():
    """Each registered feature's raw output is first defined exactly on its declared day."""
    bars = make_bars(seed=1)
    inputs = Inputs(bars)
    entries = [{"name": n} for n in sorted(REGISTRY)] + list(load("v2").include)
    requests = {}
    for entry in entries:
        request = parse_requests({"include": [entry]})[0]
        requests.setdefault(request.column, request)
    assert {r.spec.name for r in requests.values()} == set(REGISTRY)
    for request in requests.values():
        raw = compute_raw(inputs, request)
        warmup = request.spec.warmup(request.params)
        assert np.isfinite(raw[warmup:]).all(), request.column
        if warmup > 0:
            assert np.isnan(raw[warmup - 1]).all(), request.column


def test_close_only_builds_the_close_subset_and_says_why(v2):
    fs = build_features(close_only(make_bars()), load("v2"))
    assert 55 <= fs.n_features < v2.n_features
    assert fs.n_features + len(fs.skipped) == v2.n_features
    assert fs.skipped["atr_14"] == "needs high, low"
    assert fs.skipped["mfi_14"] == "needs high, low, volume"
    assert fs.skipped["gap"] == "needs open"
    assert all(REGISTRY_NEEDS[n] == ("close",) for n in fs.names)
    # The close-only features are the same numbers as on OHLCV data.
    idx = [v2.names.index(n) for n in fs.names]
    np.testing.assert_array_equal(fs.values, v2.values[:, :, idx])
    summary = fs.summary()
    assert f"{fs.n_features} of {v2.n_features} built" in summary
    assert "needs high, low: atr_7, atr_14" in summary


REGISTRY_NEEDS = {
    r.column: r.spec.needs
    for r in parse_requests({"include": list(OmegaConf.load(CONF / "v2.yaml").include)})
}


def test_minimal_set():
    fs = build_features(make_bars(), load("minimal"))
    assert 10 <= fs.n_features <= 15
    assert {"logret_1", "logret_5", "logret_20", "rsi_14", "macd_hist_12_26_9"} <= set(fs.names)
    assert fs.warmup == 59
    assert build_features(close_only(make_bars()), load("minimal")).n_features >= 10


def test_features_are_scale_free(v2):
    """Prices x 1000 (a stock split, a currency) give the same features."""
    bars = make_bars()
    scaled = dataclasses.replace(
        bars, **{k: getattr(bars, k) * 1000.0 for k in ("open", "high", "low", "close")}
    )
    other = build_features(scaled, load("v2")).values
    np.testing.assert_allclose(other, v2.values, rtol=1e-4, atol=1e-5)


def test_hand_checked_values():
    bars = make_bars(seed=2, benchmark=True)
    cfg = {
        "include": [
            {"name": "log_return", "horizon": 5},
            {"name": "volatility", "window": 20},
            {"name": "drawdown", "window": 60},
            {"name": "xs_rank_return", "horizon": 20},
            {"name": "beta", "window": 60},
            {"name": "market_corr", "window": 60},
            {"name": "rel_strength", "horizon": 20},
            {"name": "close_sma", "window": 50},
        ]
    }
    fs = build_features(bars, cfg)
    v = {n: fs.values[:, :, i].astype(np.float64) for i, n in enumerate(fs.names)}
    c, t = bars.close, 300
    r = np.diff(np.log(c), axis=0)  # r[t - 1] is day t's return
    m = np.diff(np.log(bars.benchmark))
    tol = {"rtol": 1e-5, "atol": 1e-6}  # float32 storage
    np.testing.assert_allclose(v["logret_5"][t], np.log(c[t] / c[t - 5]), **tol)
    np.testing.assert_allclose(v["vol_20"][t], r[t - 20 : t].std(axis=0, ddof=1), **tol)
    np.testing.assert_allclose(v["drawdown_60"][t], c[t] / c[t - 59 : t + 1].max(0) - 1, **tol)
    np.testing.assert_allclose(v["close_sma_50"][t], c[t] / c[t - 49 : t + 1].mean(0) - 1, **tol)
    ret20 = np.log(c[t] / c[t - 20])
    expected_rank = np.argsort(np.argsort(ret20)) / (A - 1) * 2 - 1
    np.testing.assert_allclose(v["xs_rank_ret_20"][t], expected_rank, **tol)
    x, y = r[t - 60 : t], m[t - 60 : t]
    beta = ((x - x.mean(0)) * (y - y.mean())[:, None]).mean(0) / y.var()
    corr = np.array([np.corrcoef(x[:, a], y)[0, 1] for a in range(A)])
    np.testing.assert_allclose(v["beta_60"][t], beta, rtol=1e-4)
    np.testing.assert_allclose(v["mkt_corr_60"][t], corr, rtol=1e-4)
    np.testing.assert_allclose(
        v["rel_strength_20"][t], ret20 - np.log(bars.benchmark[t] / bars.benchmark[t - 20]), **tol
    )


def test_market_without_benchmark_is_the_equal_weight_universe():
    bars = make_bars(seed=4)
    fs = build_features(bars, {"include": [{"name": "beta", "window": 60}]})
    # The equal-weight market's beta, weighted equally over tickers, is 1 (up to log vs simple).
    assert abs(float(fs.values[-1, :, 0].mean()) - 1.0) < 0.05
    one = build_features(
        dataclasses.replace(bars, benchmark=bars.close[:, 0]),
        {"include": [{"name": "beta", "window": 60}, {"name": "market_corr", "window": 60}]},
    )
    np.testing.assert_allclose(one.values[60:, 0, :], 1.0, rtol=1e-5)


def test_flat_prices_and_zero_volume_give_no_infinities():
    """Convention: undefined ratios (0 / 0 on a flat stretch) are 0, each feature's neutral."""
    bars = make_bars(seed=5)
    flat = {k: getattr(bars, k).copy() for k in ("open", "high", "low", "close", "volume")}
    for k in ("open", "high", "low", "close"):
        flat[k][150:260, 1] = flat["close"][150, 1]
    flat["volume"][150:260, 1] = 0.0
    fs = build_features(dataclasses.replace(bars, **flat), load("v2"))
    for f, warmup in enumerate(fs.warmups):
        assert np.isfinite(fs.values[warmup:, :, f]).all(), fs.names[f]
    flat_days = fs.values[200:260, 1]
    for name in (
        "vol_20",
        "bb_pctb_20",
        "bb_width_20",
        "stoch_k_14_3",
        "willr_14",
        "cci_20",
        "obv_slope_20",
        "volume_z_20",
        "volume_ratio_5_20",
        "mfi_14",
        "clv_1",
    ):
        np.testing.assert_array_equal(flat_days[:, fs.names.index(name)], 0.0, err_msg=name)
    # Wilder averages decay together on a flat stretch: RSI holds its last value (TA-Lib too).
    rsi = flat_days[:, fs.names.index("rsi_14")]
    np.testing.assert_array_equal(rsi, rsi[0])


@pytest.mark.parametrize(
    ("include", "key", "text"),
    [
        ([{"name": "rsi"}, {"name": "vol"}], "features.include[1].name", "unknown feature 'vol'"),
        ([{"name": "rsi", "window": 3}], "features.include[0].window", "no parameter 'window'"),
        ([{"name": "rsi", "period": 0}], "features.include[0].period", "integer >= 1"),
        ([{"name": "rsi", "period": 1}], "features.include[0]", "period must be >= 2"),
        ([{"name": "bb_pctb", "nbdev": -2.0}], "features.include[0].nbdev", "number > 0"),
        ([{"name": "sma_cross", "fast": 50, "slow": 20}], "features.include[0]", "fast (50)"),
        (["rsi", {"name": "rsi", "period": 14}], "features.include[1]", "builds 'rsi_14' again"),
        ([{"period": 3}], "features.include[0]", "mapping with 'name'"),
        ([], "features.include", "non-empty list"),
    ],
)
def test_config_errors_name_the_key(include, key, text):
    with pytest.raises(ConfigError) as err:
        build_features(make_bars(n_days=80), {"include": include})
    assert err.value.key == key
    assert str(err.value).startswith(f"{key}: ")
    assert text in str(err.value)


def test_no_buildable_feature_is_an_error():
    with pytest.raises(ConfigError, match="features.include: no feature can be built"):
        build_features(close_only(make_bars(n_days=80)), {"include": ["atr", "mfi"]})


def test_config_from_hydra_yaml_accepts_bare_names():
    cfg = OmegaConf.create({"include": ["rsi", {"name": "log_return", "horizon": 3}]})
    fs = build_features(make_bars(n_days=80), cfg)
    assert fs.names == ("rsi_14", "logret_3")
    assert fs.groups == ("oscillators", "returns")


def test_v2_at_the_size_of_the_bundled_universe():
    """All 20 sample tickers x 8,300 days (its time: `python -m ploutos.bench features`)."""
    bars = make_bars(n_days=8300, n_assets=20, benchmark=True)
    fs = build_features(bars, OmegaConf.load(CONF / "v2.yaml"))
    assert fs.values.shape == (8300, 20, fs.n_features) and fs.n_features == 87
    assert np.isfinite(fs.values[fs.warmup :]).all()
