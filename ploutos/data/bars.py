"""Bars: the one in-memory form every data source produces and every later stage reads."""

from __future__ import annotations

from dataclasses import dataclass, field

import numpy as np

PRICE_FIELDS = ("open", "high", "low", "close")


@dataclass(frozen=True)
class Bars:
    """Daily bars of a universe on one shared calendar.

    Every array is [T, A] float64 with rows ordered by `dates` and columns by `tickers`.
    Sources that only have closes leave open/high/low/volume as None; features and the env
    adapt to what is present (fills use the next open when opens exist, else the next close).
    """

    dates: np.ndarray  # datetime64[D], [T], strictly increasing
    tickers: tuple[str, ...]
    close: np.ndarray
    open: np.ndarray | None = None
    high: np.ndarray | None = None
    low: np.ndarray | None = None
    volume: np.ndarray | None = None
    benchmark: np.ndarray | None = None  # [T] closes of the benchmark index
    benchmark_name: str | None = None
    source: str = "unknown"
    notes: tuple[str, ...] = field(default_factory=tuple)

    @property
    def n_days(self) -> int:
        return int(self.close.shape[0])

    @property
    def n_assets(self) -> int:
        return int(self.close.shape[1])

    @property
    def has_ohlcv(self) -> bool:
        return all(getattr(self, f) is not None for f in ("open", "high", "low", "volume"))

    @property
    def columns(self) -> tuple[str, ...]:
        """Names of the fields present, e.g. ('close',) or all five of OHLCV."""
        return tuple(f for f in (*PRICE_FIELDS, "volume") if getattr(self, f) is not None)

    def require(self, name: str) -> np.ndarray:
        value = getattr(self, name)
        if value is None:
            raise KeyError(f"bars from source '{self.source}' have no '{name}' column")
        return value

    def slice_days(self, start: int, stop: int) -> Bars:
        """Rows [start, stop): used by tests that perturb or cut the future."""
        def cut(a: np.ndarray | None) -> np.ndarray | None:
            return None if a is None else a[start:stop]

        return Bars(
            dates=self.dates[start:stop],
            tickers=self.tickers,
            close=self.close[start:stop],
            open=cut(self.open),
            high=cut(self.high),
            low=cut(self.low),
            volume=cut(self.volume),
            benchmark=cut(self.benchmark),
            benchmark_name=self.benchmark_name,
            source=self.source,
            notes=self.notes,
        )
