"""Sources behind load_bars: the embedded sample, user CSV/Parquet, the synthetic market."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pandas as pd
import pytest
from omegaconf import OmegaConf

from ploutos.data import data_fingerprint, load_bars, synthetic_bars
from ploutos.errors import ConfigError, DataError

CONF = Path(__file__).parents[1] / "conf" / "data"
DEFAULT_TICKERS = ("AAPL", "AMD", "BAC", "CVX", "GE", "HD", "JNJ", "JPM", "KO", "LLY", "MRK",
                   "MSFT", "PEP", "PFE", "XOM")


def conf(name: str, **over) -> dict:
    cfg = OmegaConf.load(CONF / f"{name}.yaml")
    return OmegaConf.merge(cfg, {"seed": 3, **over}) if name == "synthetic" else \
        OmegaConf.merge(cfg, over)


# --- sample ---------------------------------------------------------------------------------

def test_sample_default_universe():
    bars = load_bars(conf("sample"))
    assert bars.tickers == DEFAULT_TICKERS and bars.benchmark_name == "SP500"
    assert bars.dates[0] == np.datetime64("1990-01-02")
    assert bars.dates[-1] == np.datetime64("2022-12-28") and bars.n_days == 8313
    assert bars.columns == ("close",) and not bars.has_ohlcv
    assert not np.isnan(bars.close).any() and not np.isnan(bars.benchmark).any()
    assert bars.close.dtype == np.float64 and bars.dates.dtype == np.dtype("datetime64[D]")
    assert any("closes only" in n for n in bars.notes)
    # values are skfolio's, unchanged
    assert bars.close[0, 0] == pytest.approx(0.264) and bars.benchmark[0] == pytest.approx(359.69)
    assert bars.close[-1, bars.tickers.index("XOM")] == pytest.approx(106.627)


def test_sample_restricts_to_tickers_and_dates():
    bars = load_bars(conf("sample", tickers=["MSFT", "KO"], start="2020-01-01",
                          end="2020-12-31", benchmark=None))
    assert bars.tickers == ("MSFT", "KO") and bars.benchmark is None
    assert bars.dates[0] == np.datetime64("2020-01-02")
    assert bars.dates[-1] == np.datetime64("2020-12-31") and bars.n_days == 253


# --- csv ------------------------------------------------------------------------------------

def ticker_frame(seed: int, n: int = 30) -> pd.DataFrame:
    rng = np.random.default_rng(seed)
    close = 20 * np.exp(np.cumsum(rng.normal(0, 0.01, n)))
    return pd.DataFrame({
        "Date": pd.bdate_range("2021-03-01", periods=n).strftime("%Y-%m-%d"),
        "Open": close * 0.99, "High": close * 1.02, "Low": close * 0.97,
        "Adj Close": close, "Volume": rng.integers(1000, 5000, n),
    })


COLUMNS = {"date": "Date", "ticker": "Symbol", "open": "Open", "high": "High", "low": "Low",
           "close": "Adj Close", "volume": "Volume"}


def csv_cfg(path: Path, **over) -> dict:
    return conf("csv", **{"path": str(path), "columns": COLUMNS, **over})


def test_csv_directory_one_file_per_ticker(tmp_path):
    ticker_frame(1).to_csv(tmp_path / "AAA.csv", index=False)
    ticker_frame(2).to_parquet(tmp_path / "BBB.parquet")
    ticker_frame(3)[["Date", "Adj Close"]].to_csv(tmp_path / "IDX.csv", index=False)
    bars = load_bars(csv_cfg(tmp_path, tickers=["BBB", "AAA"], benchmark="IDX"))
    assert bars.tickers == ("BBB", "AAA") and bars.has_ohlcv and bars.n_days == 30
    np.testing.assert_allclose(bars.close[:, 1], ticker_frame(1)["Adj Close"], rtol=1e-12)
    np.testing.assert_allclose(bars.benchmark, ticker_frame(3)["Adj Close"], rtol=1e-12)
    assert bars.dates[0] == np.datetime64("2021-03-01")
    # tickers null: every file but the benchmark
    assert load_bars(csv_cfg(tmp_path, benchmark="IDX")).tickers == ("AAA", "BBB")


def test_csv_long_format(tmp_path):
    long = pd.concat([ticker_frame(s).assign(Symbol=t) for s, t in ((1, "AAA"), (2, "BBB"))])
    path = tmp_path / "prices.csv"
    long.sample(frac=1.0, random_state=0).sort_values("Date", kind="stable").to_csv(path,
                                                                                   index=False)
    bars = load_bars(csv_cfg(path, tickers=["AAA", "BBB"]))
    np.testing.assert_allclose(bars.close[:, 0], ticker_frame(1)["Adj Close"], rtol=1e-12)
    np.testing.assert_allclose(bars.volume[:, 1], ticker_frame(2)["Volume"], rtol=0)
    with pytest.raises(DataError, match=r"unknown tickers \['CCC'\].*available: AAA, BBB"):
        load_bars(csv_cfg(path, tickers=["AAA", "CCC"]))


def test_csv_missing_ticker_file_names_ticker_and_path(tmp_path):
    ticker_frame(1).to_csv(tmp_path / "AAA.csv", index=False)
    with pytest.raises(DataError) as err:
        load_bars(csv_cfg(tmp_path, tickers=["AAA", "ZZZ"]))
    assert "ZZZ" in str(err.value) and str(tmp_path) in str(err.value)


def test_csv_calendar_disagreement_and_bad_columns(tmp_path):
    ticker_frame(1).to_csv(tmp_path / "AAA.csv", index=False)
    ticker_frame(2).drop(index=[4]).to_csv(tmp_path / "BBB.csv", index=False)
    with pytest.raises(DataError, match=r"ticker BBB has no bar on 2021-03-05"):
        load_bars(csv_cfg(tmp_path))
    assert load_bars(csv_cfg(tmp_path, start="2021-03-08")).n_days == 25  # the gap is cut off
    with pytest.raises(DataError, match=r"ticker AAA .*no close column 'Close'"):
        load_bars(csv_cfg(tmp_path, columns={**COLUMNS, "close": "Close"}))
    with pytest.raises(ConfigError, match=r"^data.path:"):
        load_bars(csv_cfg(tmp_path / "nowhere"))


def test_csv_duplicate_date_in_a_ticker_file(tmp_path):
    frame = ticker_frame(1)
    frame.loc[5, "Date"] = frame.loc[4, "Date"]
    frame.to_csv(tmp_path / "AAA.csv", index=False)
    with pytest.raises(DataError, match=r"ticker AAA \(.*AAA.csv\): duplicate date 2021-03-05"):
        load_bars(csv_cfg(tmp_path))


# --- synthetic ------------------------------------------------------------------------------

def test_synthetic_is_deterministic_by_seed():
    a = load_bars(conf("synthetic", n_days=300, n_assets=4))
    b = load_bars(conf("synthetic", n_days=300, n_assets=4))
    c = load_bars(conf("synthetic", n_days=300, n_assets=4, seed=4))
    assert data_fingerprint(a) == data_fingerprint(b) != data_fingerprint(c)
    assert a.tickers == ("S00", "S01", "S02", "S03") and a.has_ohlcv and a.benchmark_name == "MKT"
    assert np.is_busday(a.dates).all() and a.dates[0] == np.datetime64("2000-01-03")


def test_synthetic_ohlc_is_consistent_and_correlated():
    bars = synthetic_bars(n_assets=6, n_days=2000, seed=1)
    assert (bars.high >= np.maximum(bars.open, bars.close)).all()
    assert (bars.low <= np.minimum(bars.open, bars.close)).all()
    assert (bars.volume > 0).all() and (bars.close > 0).all()
    returns = np.diff(np.log(bars.close), axis=0)
    corr = np.corrcoef(returns.T)[np.triu_indices(6, 1)]
    assert 0.15 < corr.mean() < 0.7  # a common market factor
    # volatility regimes: rolling volatility varies far more than sampling noise would
    vol = pd.Series(returns[:, 0]).rolling(40).std().dropna()
    assert vol.quantile(0.95) / vol.quantile(0.05) > 2.0


def planted_correlations(strength: float, seed: int) -> np.ndarray:
    """Per asset: corr(sign of today's close-close return, tomorrow's open->close return)."""
    bars = synthetic_bars(n_assets=5, n_days=4000, seed=seed, signal_strength=strength)
    today = np.sign(np.diff(np.log(bars.close), axis=0))[:-1]
    tomorrow = np.log(bars.close / bars.open)[2:]
    return np.array([np.corrcoef(today[:, a], tomorrow[:, a])[0, 1] for a in range(5)])


def test_planted_signal_present_with_documented_strength():
    s = 0.3
    ev, ev2 = 5 / 6 + 2.5 / 6, 5 / 6 + 2.5**2 / 6  # stationary E[v], E[v^2] of the defaults
    expected = s * ev / np.sqrt((1 + s**2) * ev2)  # 0.262, as the module docstring derives
    corr = planted_correlations(s, seed=5)
    assert abs(corr.mean() - expected) < 0.04 and (corr > 0.15).all()
    assert (planted_correlations(-s, seed=5) < -0.15).all()  # mean reversion


def test_no_signal_at_strength_zero():
    assert np.abs(planted_correlations(0.0, seed=5)).max() < 0.04


def test_synthetic_config_errors_and_ticker_subset():
    with pytest.raises(ConfigError, match=r"^data.n_days:"):
        synthetic_bars(n_days=1)
    with pytest.raises(ConfigError, match=r"^data.calm_persistence:"):
        synthetic_bars(calm_persistence=1.0)
    bars = load_bars(conf("synthetic", n_days=100, tickers=["S03", "S01"], benchmark=None))
    full = synthetic_bars(n_assets=10, n_days=100, seed=3, signal_strength=0.1, benchmark=None)
    np.testing.assert_array_equal(bars.close, full.close[:, [3, 1]])
    assert synthetic_bars(ohlcv=False).columns == ("close",)


# --- fingerprint ----------------------------------------------------------------------------

def test_fingerprint_changes_with_any_value_or_name():
    bars = synthetic_bars(n_days=50)
    base = data_fingerprint(bars)
    assert len(base) == 64 and base == data_fingerprint(synthetic_bars(n_days=50))
    close = bars.close.copy()
    close[10, 2] *= 1.0000001
    from dataclasses import replace

    assert data_fingerprint(replace(bars, close=close)) != base
    assert data_fingerprint(replace(bars, tickers=("A", "B", "C", "D", "E"))) != base
    assert data_fingerprint(replace(bars, volume=None)) != base
