"""Causality of every registered feature: perturbing the bars after day t leaves every value
at days <= t exactly unchanged.

Exact (bit-for-bit) equality is the right bar: pandas' rolling and ewm kernels and numpy's
cumsum walk the rows forward, so a value at t is a function of rows <= t computed in the
same order whatever follows; a compensated rolling sum depends on where it started, never on
what comes after. Rankings and means across tickers use one day only.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest
from omegaconf import OmegaConf

from ploutos.data.bars import Bars
from ploutos.features.pipeline import build_features, compute_raw, finish, parse_requests
from ploutos.features.registry import REGISTRY, Inputs

CONF = Path(__file__).resolve().parents[1] / "conf" / "features"

T, A = 420, 5


def _walk(rng: np.random.Generator, start: np.ndarray, n: int) -> dict[str, np.ndarray]:
    """n days of OHLCV continuing a random walk from closes `start`."""
    close = start * np.exp(np.cumsum(rng.normal(0.0, 0.02, (n, start.size)), axis=0))
    open_ = close * np.exp(rng.normal(0.0, 0.006, close.shape))
    high = np.maximum(open_, close) * np.exp(np.abs(rng.normal(0.0, 0.008, close.shape)))
    low = np.minimum(open_, close) * np.exp(-np.abs(rng.normal(0.0, 0.008, close.shape)))
    volume = rng.lognormal(12.0, 0.5, close.shape)
    bench = 1000.0 * np.exp(np.cumsum(rng.normal(0.0, 0.01, n)))
    return {
        "open": open_,
        "high": high,
        "low": low,
        "close": close,
        "volume": volume,
        "benchmark": bench,
    }


def _bars(cols: dict[str, np.ndarray], with_benchmark: bool) -> Bars:
    def valid(a: np.ndarray, b: np.ndarray, c: np.ndarray, d: np.ndarray) -> bool:
        return bool((a >= np.maximum(b, c)).all() and (np.minimum(b, c) >= d).all())

    assert valid(cols["high"], cols["open"], cols["close"], cols["low"])
    assert (cols["low"] > 0).all()
    return Bars(
        dates=np.datetime64("2005-01-03") + np.arange(T).astype("timedelta64[D]"),
        tickers=tuple(f"T{i}" for i in range(A)),
        close=cols["close"],
        open=cols["open"],
        high=cols["high"],
        low=cols["low"],
        volume=cols["volume"],
        benchmark=cols["benchmark"] if with_benchmark else None,
        benchmark_name="IDX" if with_benchmark else None,
    )


def _perturbed(cols: dict[str, np.ndarray], t: int, seed: int) -> dict[str, np.ndarray]:
    """Same bars up to day t; a different (valid) future after it, every column changed."""
    rng = np.random.default_rng(seed)
    future = _walk(rng, cols["close"][t] * 1.3, T - t - 1)
    future["benchmark"] = future["benchmark"] * cols["benchmark"][t] / 700.0
    return {k: np.concatenate([v[: t + 1], future[k]]) for k, v in cols.items()}


def _every_registered_feature() -> list[dict]:
    """Every registered feature at its default parameters, plus every v2 entry."""
    v2 = OmegaConf.to_container(OmegaConf.load(CONF / "v2.yaml").include)
    defaults = [{"name": name} for name in sorted(REGISTRY)]
    seen, entries = set(), []
    for entry in defaults + v2:
        column = parse_requests({"include": [entry]})[0].column
        if column not in seen:
            seen.add(column)
            entries.append(entry)
    return entries


ENTRIES = _every_registered_feature()


@pytest.fixture(scope="module")
def base() -> dict[str, np.ndarray]:
    return _walk(np.random.default_rng(11), np.full(A, 40.0), T)


def _raw_all(bars: Bars) -> dict[str, np.ndarray]:
    inputs = Inputs(bars)
    return {
        r.column: finish(compute_raw(inputs, r), r.spec.warmup(r.params))
        for r in parse_requests({"include": ENTRIES})
    }


def test_every_registered_feature_is_covered():
    names = {entry["name"] for entry in ENTRIES}
    assert names == set(REGISTRY)


@pytest.mark.parametrize("with_benchmark", [True, False])
def test_features_at_or_before_t_ignore_the_future(base, with_benchmark):
    before = _raw_all(_bars(base, with_benchmark))
    for i, t in enumerate((5, 40, 260, 300, T - 2)):
        after = _raw_all(_bars(_perturbed(base, t, seed=100 + i), with_benchmark))
        for column, values in before.items():
            np.testing.assert_array_equal(
                after[column][: t + 1], values[: t + 1], err_msg=f"{column} leaks at t={t}"
            )
            if 260 <= t < T - 2:
                # The perturbation reaches the feature: it is not trivially constant.
                assert not np.array_equal(after[column][t + 2 :], values[t + 2 :]), column


def test_built_feature_tensor_is_causal(base):
    """The same through build_features on the v2 set (float32 tensor)."""
    cfg = OmegaConf.load(CONF / "v2.yaml")
    t = 300
    before = build_features(_bars(base, True), cfg).values
    after = build_features(_bars(_perturbed(base, t, seed=7), True), cfg).values
    np.testing.assert_array_equal(after[: t + 1], before[: t + 1])
    assert not np.array_equal(after[t + 1 :], before[t + 1 :])
