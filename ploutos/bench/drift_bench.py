"""Drift monitor time: `python -m ploutos.bench drift [--days 2520] [--train 2520]`.

A daily replay of `--days` days (default 10 years) after a `--train`-day training period over
15 assets x 85 features (AR(1) phi 0.9, the persistence of rolling-window features), with
Gaussian daily returns and about one trade a day: all five detectors calibrated on the
training period, then run over the replay. Prints the median of `--rounds` runs.
"""

from __future__ import annotations

import argparse
import statistics
import time

import numpy as np

from ploutos.drift.config import DriftSettings
from ploutos.drift.monitor import DriftMonitor
from ploutos.drift.scenarios import ar1_features, daily_returns, trade_pnls


def time_replay(n_train: int, n_days: int, n_assets: int, n_features: int, seed: int) -> float:
    """Seconds for DriftMonitor.run (calibration and replay) on synthetic inputs."""
    rng = np.random.default_rng(seed)
    total = n_train + n_days
    features = ar1_features(rng, total, n_assets, n_features)
    returns = daily_returns(rng, total)
    trades = np.stack([np.sort(rng.integers(0, total, total)),
                       trade_pnls(rng, [(total, 0.52)])], axis=1)
    monitor = DriftMonitor(DriftSettings())
    started = time.perf_counter()
    monitor.run(features, returns, trades, n_train)
    return time.perf_counter() - started


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(prog="python -m ploutos.bench drift", description=__doc__)
    parser.add_argument("--days", type=int, default=2520, help="replayed days")
    parser.add_argument("--train", type=int, default=2520, help="training days (calibration)")
    parser.add_argument("--assets", type=int, default=15)
    parser.add_argument("--features", type=int, default=85)
    parser.add_argument("--rounds", type=int, default=3)
    args = parser.parse_args(argv)
    times = [time_replay(args.train, args.days, args.assets, args.features, seed)
             for seed in range(args.rounds)]
    print(f"drift monitor: {args.train} training + {args.days} replayed days, "
          f"{args.assets} assets x {args.features} features, five detectors: "
          f"median {statistics.median(times):.2f} s over {args.rounds} rounds "
          f"({', '.join(f'{t:.2f}' for t in times)})")


if __name__ == "__main__":
    main()
