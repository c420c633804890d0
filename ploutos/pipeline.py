"""From config to Market: load and validate bars, build causal features, fit the normalizer
on the training split only, and put everything on tensors.

This is the one place the data flow of docs/design.md's data flow is wired together; the
training app, the backtest and the gymnasium adapter all start here.
"""

from __future__ import annotations

import time
from dataclasses import dataclass, field
from typing import Any

import numpy as np
import torch
from omegaconf import DictConfig, OmegaConf

from ploutos.data import data_fingerprint, load_bars
from ploutos.data.bars import Bars
from ploutos.data.splits import resolve_splits
from ploutos.data.validate import check_history
from ploutos.features import build_features
from ploutos.features.normalizer import AdaptiveNormalizer
from ploutos.market import Market, SplitRange
from ploutos.obs.builders import first_observable_day, obs_lookback


@dataclass
class MarketReport:
    """What a run needs to remember about its market: shown at start, stored in checkpoints."""

    bars: Bars
    feature_names: tuple[str, ...]
    feature_groups: tuple[str, ...]
    skipped: dict[str, str]
    splits: dict[str, SplitRange]
    warmup: int
    first_observable_day: int
    normalizer_state: dict[str, Any]
    fingerprint: str
    build_seconds: float
    feature_summary: str = ""
    notes: list[str] = field(default_factory=list)

    @property
    def tickers(self) -> tuple[str, ...]:
        return self.bars.tickers

    def market_meta(self, cfg: DictConfig) -> dict[str, Any]:
        """Everything a checkpoint must carry so a backtest needs nothing else."""
        return {
            "tickers": list(self.tickers),
            "feature_names": list(self.feature_names),
            "normalizer_state": self.normalizer_state,
            "fingerprint": self.fingerprint,
            "data": OmegaConf.to_container(cfg.data, resolve=True),
            "features": OmegaConf.to_container(cfg.features, resolve=True),
        }

    def summary(self) -> str:
        bars = self.bars
        dates = bars.dates
        lines = [
            f"data: {bars.source}, {bars.n_assets} tickers x {bars.n_days} days "
            f"({dates[0]} .. {dates[-1]}), columns: {', '.join(bars.columns)}",
            f"tickers: {' '.join(bars.tickers)}",
            f"benchmark: {bars.benchmark_name or 'none (equal-weight universe)'}",
        ]
        lines += [f"note: {n}" for n in (*bars.notes, *self.notes)]
        lines.append(self.feature_summary.rstrip())
        lines.append(
            f"warm-up: features need {self.warmup} days, observations "
            f"{self.first_observable_day}; nothing before that is traded"
        )
        for split in self.splits.values():
            lines.append(
                f"split {split.name:5s}: {dates[split.start]} .. {dates[split.stop - 1]} "
                f"({split.n_days} tradable days)"
            )
        lines.append(f"normalizer: {self.normalizer_state.get('mode', 'off')}")
        lines.append(f"fingerprint: {self.fingerprint[:16]}  built in {self.build_seconds:.2f}s")
        return "\n".join(lines)


def build_market(
    cfg: DictConfig, normalizer_state: dict[str, Any] | None = None, bars: Bars | None = None
) -> tuple[Market, MarketReport]:
    """Build the run's Market (on the CPU; call .to(device) for another device).

    A backtest passes the `normalizer_state` its checkpoint carries, so the features are
    scaled exactly as in training instead of being refitted. `bars`: validated bars to use
    instead of loading cfg.data (paper trading checks each day's bars before building).
    """
    started = time.perf_counter()
    bars = load_bars(cfg.data) if bars is None else bars
    feature_set = build_features(bars, cfg.features)
    # A v7 window reaches lookback - 1 days further back than the features' own warm-up,
    # so the first tradable day of every split is where the whole window is defined.
    lookback = obs_lookback(cfg.obs)
    first_day = first_observable_day(feature_set.warmup, lookback)
    check_history(bars, first_day, None)
    splits = resolve_splits(bars.dates, cfg.data.splits, first_day)

    if normalizer_state is None:
        train = splits["train"]
        normalizer = AdaptiveNormalizer.from_config(cfg.features.normalizer)
        normalizer.fit(feature_set.values, slice(train.start, train.stop))
    else:
        normalizer = AdaptiveNormalizer.from_state_dict(normalizer_state)
    values = normalizer.transform(feature_set.values)

    fill = bars.open if bars.open is not None else bars.close
    market = Market(
        dates=bars.dates,
        tickers=bars.tickers,
        close=torch.as_tensor(bars.close, dtype=torch.float64),
        fill=torch.as_tensor(fill, dtype=torch.float64),
        features=torch.as_tensor(np.ascontiguousarray(values), dtype=torch.float32),
        feature_names=feature_set.names,
        splits=splits,
        warmup=feature_set.warmup,
        benchmark=None
        if bars.benchmark is None
        else torch.as_tensor(bars.benchmark, dtype=torch.float64),
        benchmark_name=bars.benchmark_name,
        fills_at_open=bars.open is not None,
        high=None if bars.high is None else torch.as_tensor(bars.high, dtype=torch.float64),
        low=None if bars.low is None else torch.as_tensor(bars.low, dtype=torch.float64),
    )
    report = MarketReport(
        bars=bars,
        feature_names=feature_set.names,
        feature_groups=feature_set.groups,
        skipped=dict(feature_set.skipped),
        splits=splits,
        warmup=feature_set.warmup,
        first_observable_day=first_day,
        normalizer_state=normalizer.state_dict(),
        fingerprint=data_fingerprint(bars),
        build_seconds=time.perf_counter() - started,
        feature_summary=feature_set.summary(),
    )
    return market, report
