"""Planted-signal markets (ploutos/data/planted.py): the generator plants exactly the signal an
agent can compute from closes, the signal is causal, each kind carries an edge of its sign,
`none` carries none, and the default kind reproduces the original bars."""

from __future__ import annotations

import numpy as np
import pytest
from conftest import compose_config

from ploutos.data.loader import load_bars
from ploutos.data.planted import DEFAULT_LOOKBACK, SIGNALS, make_signal, planted_signal
from ploutos.data.synthetic import synthetic_bars
from ploutos.errors import ConfigError

KINDS = [k for k in SIGNALS if k != "none"]


def bars(kind: str, strength: float, n_days: int = 1500, seed: int = 4, **kw):
    return synthetic_bars(n_assets=6, n_days=n_days, seed=seed, signal=kind,
                          signal_strength=strength, **kw)


@pytest.mark.parametrize("kind", KINDS)
def test_generator_plants_the_signal_computed_from_closes(kind: str) -> None:
    """Same seed, same random draws: the only difference between strength s and 0 is the push
    s * sigma * v * x_{t-1} on day t's intraday return, so its sign is the planted x."""
    planted, flat = bars(kind, 0.3), bars(kind, 0.0)
    push = np.log(planted.close / planted.open) - np.log(flat.close / flat.open)
    generated = np.sign(push[1:])  # x_{t-1} for t >= 1, rows 0 .. T-2
    signal = make_signal(kind, 0.3, None, 6)
    observed = signal.from_close(planted.close)[:-1]
    start = signal.history  # the first day whose window closes can fill
    np.testing.assert_array_equal(observed[start:], generated[start:])
    assert np.abs(observed[start:]).mean() > 0.5  # the signal takes a view most days


@pytest.mark.parametrize("kind", KINDS)
def test_signal_is_causal(kind: str) -> None:
    close = bars(kind, 0.3, n_days=400).close
    signal = make_signal(kind, 0.3, None, 6)
    full = signal.from_close(close)
    rng = np.random.default_rng(0)
    for t in (150, 300):
        future = close.copy()
        future[t + 1 :] *= np.exp(rng.normal(0.0, 0.05, future[t + 1 :].shape))
        changed = signal.from_close(future)
        np.testing.assert_array_equal(changed[: t + 1], full[: t + 1])
        assert not np.array_equal(changed[t + 1 :], full[t + 1 :])  # the future did move


def forward_edge(kind: str, strength: float, seed: int = 4) -> float:
    """Mean of x_t * (next day's intraday return / its scale): the edge per asset and day."""
    b = bars(kind, strength, n_days=3000, seed=seed)
    x = make_signal(kind, strength, None, 6).from_close(b.close)[:-1]
    intraday = np.log(b.close / b.open)[1:]
    scaled = intraday / intraday.std(axis=0)
    mask = x != 0
    return float((x * scaled)[mask].mean())


@pytest.mark.parametrize("kind", KINDS)
def test_each_kind_carries_an_edge_of_its_sign(kind: str) -> None:
    up, down = forward_edge(kind, 0.3), forward_edge(kind, -0.3)
    # s = 0.3 of the volatility scale, diluted by the market factor and the regime weights.
    assert 0.12 < up < 0.35, up
    assert -0.35 < down < -0.12, down


@pytest.mark.parametrize("kind", KINDS)
def test_no_edge_at_strength_zero_or_signal_none(kind: str) -> None:
    assert abs(forward_edge(kind, 0.0)) < 0.03
    none = bars("none", 0.3)
    np.testing.assert_array_equal(none.close, bars(kind, 0.0).close)


def test_default_kind_reproduces_the_original_edge() -> None:
    """ts_momentum with a one-day lookback is the original edge, the sign of today's
    close-to-close return: the bars are the ones the generator made before the kinds existed
    (closes pinned from that version)."""
    new = synthetic_bars(n_assets=4, n_days=300, seed=7, signal_strength=0.2)
    pinned = [
        [284.4975760819, 72.2935885283, 51.2112261568, 77.9121923395],
        [290.3864066614, 57.1255890822, 61.3459929624, 67.4632764536],
        [254.0360904854, 89.3149532458, 69.6472947703, 74.7550063001],
    ]
    np.testing.assert_allclose(new.close[[50, 150, 299]], pinned, rtol=1e-12)
    flat = synthetic_bars(n_assets=4, n_days=300, seed=7, signal_strength=0.0)
    push = np.log(new.close / new.open) - np.log(flat.close / flat.open)
    today = np.sign(np.diff(np.log(new.close), axis=0))
    np.testing.assert_array_equal(np.sign(push[2:]), today[:-1])


def test_config_kinds_and_errors() -> None:
    cfg = compose_config("train", ["data=synthetic", "data.signal=lead_lag",
                                   "data.signal_strength=0.2", "data.n_days=300"]).data
    loaded = load_bars(cfg)
    assert "signal lead_lag (lookback 1)" in loaded.notes[0]
    assert planted_signal(cfg).kind == "lead_lag"
    assert DEFAULT_LOOKBACK["vol_timing"] == 20
    assert make_signal("vol_timing", 1, None, 3).history == 60  # 20- against 60-day volatility
    with pytest.raises(ConfigError, match=r"^data.signal: unknown signal 'trend'"):
        synthetic_bars(signal="trend")
    with pytest.raises(ConfigError, match=r"^data.signal_lookback: must be an integer >= 1"):
        synthetic_bars(signal="ts_momentum", signal_lookback=0)
    with pytest.raises(ConfigError, match=r"^data.signal_lookback: vol_timing"):
        synthetic_bars(signal="vol_timing", signal_lookback=1)
    with pytest.raises(ConfigError, match=r"^data.n_assets: signal cs_momentum needs >= 2"):
        synthetic_bars(n_assets=1, signal="cs_momentum", signal_strength=0.1)


def test_planted_signal_is_none_without_an_edge() -> None:
    base = {"source": "synthetic", "n_assets": 4, "signal_strength": 0.2}
    assert planted_signal({**base, "signal": "none"}) is None
    assert planted_signal({**base, "signal_strength": 0.0}) is None
    assert planted_signal({**base, "source": "sample"}) is None
    # A ticker subset drops assets a cross-asset signal reads; an own-asset one keeps its rule.
    subset = {**base, "tickers": ["S01", "S02"]}
    assert planted_signal({**subset, "signal": "lead_lag"}) is None
    assert planted_signal({**subset, "signal": "vol_timing"}).lookback == 20
    assert planted_signal({**base, "signal": "cs_momentum"}).lookback == 5
