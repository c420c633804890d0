"""Market: everything the batched env reads, as tensors on one device.

Built once per run from bars, features and the fitted normalizer; after that the hot path
never touches pandas or numpy. Money is float64, features float32.
"""

from __future__ import annotations

from dataclasses import dataclass, replace

import numpy as np
import torch


@dataclass(frozen=True)
class SplitRange:
    """Day indices [start, stop) of a split on the market's calendar.

    `start` is the first tradable day: features (and v7 windows) are fully warmed up there.
    A decision on day t fills on day t + 1, so an episode decides on start .. stop - 2.
    """

    name: str
    start: int
    stop: int

    @property
    def n_days(self) -> int:
        return self.stop - self.start


@dataclass(frozen=True)
class Market:
    dates: np.ndarray  # datetime64[D], [T]
    tickers: tuple[str, ...]
    close: torch.Tensor  # float64 [T, A]: equity is marked at the close
    fill: torch.Tensor  # float64 [T, A]: price a decision from day t - 1 fills at on day t
    features: torch.Tensor  # float32 [T, A, F], normalized, NaN-free
    feature_names: tuple[str, ...]
    splits: dict[str, SplitRange]
    warmup: int  # first day index at which every feature is defined
    benchmark: torch.Tensor | None = None  # float64 [T]
    benchmark_name: str | None = None
    fills_at_open: bool = False
    # float64 [T, A] daily highs and lows where the source has them (sizing=atr reads them).
    high: torch.Tensor | None = None
    low: torch.Tensor | None = None

    @property
    def n_days(self) -> int:
        return int(self.close.shape[0])

    @property
    def n_assets(self) -> int:
        return int(self.close.shape[1])

    @property
    def n_features(self) -> int:
        return int(self.features.shape[2])

    @property
    def device(self) -> torch.device:
        return self.close.device

    def split(self, name: str) -> SplitRange:
        if name not in self.splits:
            raise KeyError(f"unknown split '{name}'; this market has {sorted(self.splits)}")
        return self.splits[name]

    def to(self, device: str | torch.device) -> Market:
        device = torch.device(device)
        return replace(
            self,
            close=self.close.to(device),
            fill=self.fill.to(device),
            features=self.features.to(device),
            benchmark=None if self.benchmark is None else self.benchmark.to(device),
            high=None if self.high is None else self.high.to(device),
            low=None if self.low is None else self.low.to(device),
        )
