"""Our vectorized indicators against TA-Lib, the reference implementation.

TA-Lib's Wilder-smoothed indicators (RSI, ATR, ADX, +DI/-DI) and EMAs depend on how the
recursion is seeded; ours start from TA-Lib's exact seeds (and MACD's fast EMA from TA-Lib's
late seed), so they agree from the FIRST defined row, not only after an unstable period. We
therefore compare every row TA-Lib defines, with the same NaN rows, at 1e-9 relative: the
only differences left are float rounding (pandas' compensated rolling sums vs TA-Lib's
running sums). MACD components cross zero, so they get an absolute floor of 1e-9 x price.
"""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest

from ploutos.data.bars import Bars
from ploutos.features import indicators as ind
from ploutos.features.pipeline import compute_raw, finish, parse_requests
from ploutos.features.registry import Inputs

talib = pytest.importorskip("talib")

T, A = 700, 4
RTOL = 1e-9


def _ohlcv(seed: int = 3) -> dict[str, np.ndarray]:
    rng = np.random.default_rng(seed)
    close = 80.0 * np.exp(np.cumsum(rng.normal(0.0, 0.02, (T, A)), axis=0))
    open_ = close * np.exp(rng.normal(0.0, 0.006, (T, A)))
    high = np.maximum(open_, close) * np.exp(np.abs(rng.normal(0.0, 0.01, (T, A))))
    low = np.minimum(open_, close) * np.exp(-np.abs(rng.normal(0.0, 0.01, (T, A))))
    volume = rng.uniform(1e5, 1e6, (T, A))
    return {"open": open_, "high": high, "low": low, "close": close, "volume": volume}


@pytest.fixture(scope="module")
def data() -> dict[str, np.ndarray]:
    return _ohlcv()


def _frames(data: dict[str, np.ndarray]) -> dict[str, pd.DataFrame]:
    return {k: pd.DataFrame(v) for k, v in data.items()}


def _per_ticker(fn, *arrays: np.ndarray, index: int | None = None) -> np.ndarray:
    """Run a TA-Lib function ticker by ticker (the reference may loop; ours does not)."""
    cols = []
    for a in range(A):
        out = fn(*(x[:, a] for x in arrays))
        cols.append(out if index is None else out[index])
    return np.stack(cols, axis=1)


def _assert_same(ours: pd.DataFrame | np.ndarray, ref: np.ndarray, atol: float = 0.0) -> None:
    ours = np.asarray(ours)
    np.testing.assert_array_equal(np.isnan(ours), np.isnan(ref))
    defined = ~np.isnan(ref)
    assert defined.sum() > (T - 60) * A
    np.testing.assert_allclose(ours[defined], ref[defined], rtol=RTOL, atol=atol)


@pytest.mark.parametrize("period", [5, 14, 30])
def test_rsi(data, period):
    f = _frames(data)
    ref = _per_ticker(lambda c: talib.RSI(c, period), data["close"])
    _assert_same(ind.rsi(f["close"], period), ref)


@pytest.mark.parametrize(("fast", "slow", "signal"), [(12, 26, 9), (5, 35, 5)])
def test_macd(data, fast, slow, signal):
    f = _frames(data)
    ours = ind.macd(f["close"], fast, slow, signal)
    atol = 1e-9 * float(np.median(data["close"]))
    for part in range(3):
        ref = _per_ticker(lambda c: talib.MACD(c, fast, slow, signal), data["close"], index=part)
        _assert_same(ours[part], ref, atol=atol)


@pytest.mark.parametrize("period", [7, 14])
def test_atr_and_directional(data, period):
    f = _frames(data)
    hlc = (data["high"], data["low"], data["close"])
    _assert_same(
        ind.atr(f["high"], f["low"], f["close"], period),
        _per_ticker(lambda h, l, c: talib.ATR(h, l, c, period), *hlc),
    )
    plus, minus, adx = ind.directional(f["high"], f["low"], f["close"], period)
    _assert_same(plus, _per_ticker(lambda h, l, c: talib.PLUS_DI(h, l, c, period), *hlc))
    _assert_same(minus, _per_ticker(lambda h, l, c: talib.MINUS_DI(h, l, c, period), *hlc))
    _assert_same(adx, _per_ticker(lambda h, l, c: talib.ADX(h, l, c, period), *hlc))


def test_cci_willr_mfi_obv(data):
    f = _frames(data)
    hlc = (data["high"], data["low"], data["close"])
    _assert_same(
        ind.cci(f["high"], f["low"], f["close"], 20),
        _per_ticker(lambda h, l, c: talib.CCI(h, l, c, 20), *hlc),
    )
    _assert_same(
        ind.willr(f["high"], f["low"], f["close"], 14),
        _per_ticker(lambda h, l, c: talib.WILLR(h, l, c, 14), *hlc),
    )
    _assert_same(
        ind.mfi(f["high"], f["low"], f["close"], f["volume"], 14),
        _per_ticker(lambda h, l, c, v: talib.MFI(h, l, c, v, 14), *hlc, data["volume"]),
    )
    ours_obv = ind.obv(f["close"], f["volume"])
    ref_obv = _per_ticker(talib.OBV, data["close"], data["volume"])
    # Same additions in the same order: bit-for-bit equal.
    np.testing.assert_array_equal(ours_obv.to_numpy(), ref_obv)


def test_stoch(data):
    """TA-Lib defines slow %K only where %D is defined; ours starts d - 1 rows earlier."""
    f = _frames(data)
    hlc = (data["high"], data["low"], data["close"])
    k, d = ind.stoch(f["high"], f["low"], f["close"], 14, 3, 3)
    ref_k = _per_ticker(lambda h, l, c: talib.STOCH(h, l, c, 14, 3, 0, 3, 0), *hlc, index=0)
    ref_d = _per_ticker(lambda h, l, c: talib.STOCH(h, l, c, 14, 3, 0, 3, 0), *hlc, index=1)
    _assert_same(d, ref_d)
    k = k.to_numpy()
    assert np.isnan(k[:15]).all() and np.isfinite(k[15:]).all()
    _assert_same(np.where(np.isnan(ref_k), np.nan, k), ref_k)


def test_bbands_sma_ema(data):
    f = _frames(data)
    c = data["close"]
    for part, ours in enumerate(ind.bbands(f["close"], 20, 2.0)):
        ref = _per_ticker(lambda x: talib.BBANDS(x, 20, 2.0, 2.0, 0), c, index=part)
        _assert_same(ours, ref)
    _assert_same(ind.sma(f["close"], 30), _per_ticker(lambda x: talib.SMA(x, 30), c))
    _assert_same(ind.ema(f["close"], 30), _per_ticker(lambda x: talib.EMA(x, 30), c))


def test_registered_features_are_rescaled_talib(data):
    """The features are TA-Lib's values, centred and scaled as their docstrings say."""
    bars = Bars(
        dates=np.datetime64("2001-01-01") + np.arange(T).astype("timedelta64[D]"),
        tickers=tuple(f"T{i}" for i in range(A)),
        **data,
    )
    requests = parse_requests(
        {
            "include": [
                {"name": "rsi", "period": 14},
                {"name": "willr", "period": 14},
                {"name": "cci", "period": 20},
                {"name": "adx", "period": 14},
                {"name": "mfi", "period": 14},
                {"name": "atr", "period": 14},
                {"name": "close_ema", "window": 26},
                {"name": "bb_pctb", "period": 20, "nbdev": 2.0},
            ]
        }
    )
    hlc = (data["high"], data["low"], data["close"])
    c = data["close"]
    upper = _per_ticker(lambda x: talib.BBANDS(x, 20, 2.0, 2.0, 0), c, index=0)
    lower = _per_ticker(lambda x: talib.BBANDS(x, 20, 2.0, 2.0, 0), c, index=2)
    expected = [
        (_per_ticker(lambda x: talib.RSI(x, 14), c) - 50.0) / 50.0,
        (_per_ticker(lambda h, l, x: talib.WILLR(h, l, x, 14), *hlc) + 50.0) / 50.0,
        _per_ticker(lambda h, l, x: talib.CCI(h, l, x, 20), *hlc) / 100.0,
        _per_ticker(lambda h, l, x: talib.ADX(h, l, x, 14), *hlc) / 100.0,
        (_per_ticker(lambda h, l, x, v: talib.MFI(h, l, x, v, 14), *hlc, data["volume"]) - 50)
        / 50.0,
        _per_ticker(lambda h, l, x: talib.ATR(h, l, x, 14), *hlc) / c,
        c / _per_ticker(lambda x: talib.EMA(x, 26), c) - 1.0,
        (c - lower) / (upper - lower) - 0.5,
    ]
    inputs = Inputs(bars)
    for request, ref in zip(requests, expected, strict=True):
        ours = finish(compute_raw(inputs, request), request.spec.warmup(request.params))
        _assert_same(ours, ref, atol=1e-12)
