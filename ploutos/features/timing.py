"""How long feature building takes on a synthetic OHLCV universe (a sanity check, not a test).

    python -m ploutos.features.timing 20 8300
"""

from __future__ import annotations

import sys
import time
from pathlib import Path

import numpy as np
from omegaconf import OmegaConf

from ploutos.data.bars import Bars
from ploutos.features.pipeline import build_features

CONF = Path(__file__).resolve().parents[2] / "conf" / "features"


def random_ohlcv(n_assets: int, n_days: int, seed: int = 0) -> Bars:
    """Random-walk OHLCV bars with consistent high/low, for timing and tests."""
    rng = np.random.default_rng(seed)
    close = 50.0 * np.exp(np.cumsum(rng.normal(0.0003, 0.015, (n_days, n_assets)), axis=0))
    open_ = close * np.exp(rng.normal(0.0, 0.005, close.shape))
    high = np.maximum(open_, close) * np.exp(np.abs(rng.normal(0.0, 0.006, close.shape)))
    low = np.minimum(open_, close) * np.exp(-np.abs(rng.normal(0.0, 0.006, close.shape)))
    volume = rng.lognormal(13.0, 0.4, close.shape)
    dates = np.datetime64("1990-01-02") + np.arange(n_days).astype("timedelta64[D]")
    return Bars(
        dates=dates,
        tickers=tuple(f"T{i}" for i in range(n_assets)),
        close=close,
        open=open_,
        high=high,
        low=low,
        volume=volume,
        source="random",
    )


def time_build(n_assets: int = 20, n_days: int = 8300, feature_set: str = "v2") -> float:
    """Seconds to build `feature_set` for n_assets x n_days of random OHLCV bars."""
    bars = random_ohlcv(n_assets, n_days)
    cfg = OmegaConf.load(CONF / f"{feature_set}.yaml")
    started = time.perf_counter()
    build_features(bars, cfg)
    return time.perf_counter() - started


if __name__ == "__main__":
    assets, days = (int(v) for v in sys.argv[1:3]) if len(sys.argv) >= 3 else (20, 8300)
    print(f"v2 features, {assets} tickers x {days} days: {time_build(assets, days):.2f} s")
