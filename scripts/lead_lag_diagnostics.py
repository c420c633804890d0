"""What the lead_lag market's features give, without an agent (README, "Planted edges").

    python scripts/lead_lag_diagnostics.py [SEED ...]

Per seed of `data=synthetic data.signal=lead_lag data.signal_strength=0.2`:
- how often `lead_return`'s peer is the true leader S00 on the followers' training days,
  with raw returns and with the volatility-standardized ones it uses;
- the Sharpe ratio on train and test of "long where lead_return > 0" (every ticker, 10% of
  equity each, next day's open-to-close, no costs) beside the same for the planted rule.
"""

from __future__ import annotations

import sys

import numpy as np
import pandas as pd

from ploutos.config import compose_train_config
from ploutos.features.catalog_peers import lagged_correlations, standardized_returns
from ploutos.pipeline import build_market

MIN_DAYS, VOL_WINDOW, WEIGHT = 60, 20, 0.1


def _sharpe(positions: np.ndarray, returns: np.ndarray) -> float:
    daily = (positions * returns).sum(axis=1) * WEIGHT
    return float(daily.mean() / daily.std() * np.sqrt(252))


def diagnose(seed: int) -> None:
    cfg = compose_train_config(["data=synthetic", "data.signal=lead_lag",
                                "data.signal_strength=0.2", f"seed={seed}"])  # fmt: skip
    market, _ = build_market(cfg)
    close = market.close.numpy()
    intraday = np.log(close / market.fill.numpy())
    ret = pd.DataFrame(np.log(close)).diff()
    train = market.splits["train"]
    for name, series in (("raw", ret), ("standardized", standardized_returns(ret, VOL_WINDOW))):
        leader = np.nan_to_num(np.abs(lagged_correlations(series, MIN_DAYS)), nan=-1).argmax(2)
        right = (leader[train.start : train.stop, 1:] == 0).mean()
        print(f"seed {seed}: leader named on {right:.0%} of training days ({name} returns)")
    feature = market.features[:, :, list(market.feature_names).index("lead_z_60")].numpy()
    leader_up = (ret[0].to_numpy() > 0).astype(float)
    for split in ("train", "test"):
        days = np.arange(market.splits[split].start, market.splits[split].stop - 1)
        planted = np.zeros((len(days), close.shape[1]))
        planted[:, 1:] = leader_up[days, None]
        nxt = intraday[days + 1]
        print(f"seed {seed} {split}: long where lead_return > 0: Sharpe "
              f"{_sharpe((feature[days] > 0).astype(float), nxt):+.2f}; planted rule "
              f"{_sharpe(planted, nxt):+.2f}")  # fmt: skip


if __name__ == "__main__":
    for seed in [int(s) for s in sys.argv[1:]] or [0, 1]:
        diagnose(seed)
