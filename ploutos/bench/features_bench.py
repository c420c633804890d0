"""Feature building time: `python -m ploutos.bench features [--assets 20] [--days 8300]`.

Builds a feature set on random-walk OHLCV bars of the size of the bundled universe (all 20
sample tickers over their 8,300 days), and on their close-only view, as the sample data is.
"""

from __future__ import annotations

import argparse
import time

import numpy as np
from omegaconf import OmegaConf

from ploutos.config import CONF_DIR
from ploutos.data.bars import Bars
from ploutos.features.pipeline import build_features

CONF = CONF_DIR / "features"


def random_ohlcv(n_assets: int, n_days: int, seed: int = 0) -> Bars:
    """Random-walk OHLCV bars with consistent high/low."""
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


def time_build(bars: Bars, feature_set: str = "v2") -> tuple[float, int]:
    """(seconds, features per ticker) to build `feature_set` on `bars`."""
    cfg = OmegaConf.load(CONF / f"{feature_set}.yaml")
    started = time.perf_counter()
    features = build_features(bars, cfg)
    return time.perf_counter() - started, len(features.names)


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(prog="python -m ploutos.bench features", description=__doc__)
    parser.add_argument("--assets", type=int, default=20)
    parser.add_argument("--days", type=int, default=8300)
    parser.add_argument("--features", default="v2", help="feature set (conf/features/NAME.yaml)")
    args = parser.parse_args(argv)
    bars = random_ohlcv(args.assets, args.days)
    close_only = Bars(
        dates=bars.dates, tickers=bars.tickers, close=bars.close, source="random, closes only"
    )
    for label, data in (("OHLCV", bars), ("close only", close_only)):
        seconds, n = time_build(data, args.features)
        print(
            f"{args.features} features, {args.assets} tickers x {args.days} days, {label}: "
            f"{n} per ticker in {seconds:.2f} s"
        )


if __name__ == "__main__":
    main()
