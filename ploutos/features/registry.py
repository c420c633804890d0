"""The feature registry: what each indicator needs, how long it warms up, what it is called.

A registered feature computes ONE column per ticker ([T, A]) from the bars, vectorized across
tickers. Configs name features and give their parameters; the pipeline looks them up here,
skips those whose columns the bars lack, and enforces the declared warm-up.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from functools import cached_property
from typing import Any

import numpy as np
import pandas as pd

from ploutos.data.bars import Bars

Params = Mapping[str, Any]


class Inputs:
    """The bars as [T, A] DataFrames, plus intermediates several features share (cached)."""

    def __init__(self, bars: Bars) -> None:
        self.bars = bars

        def frame(values: np.ndarray | None) -> pd.DataFrame | None:
            return None if values is None else pd.DataFrame(np.asarray(values, np.float64))

        self.close = frame(bars.close)
        self.open = frame(bars.open)
        self.high = frame(bars.high)
        self.low = frame(bars.low)
        self.volume = frame(bars.volume)

    @cached_property
    def log_close(self) -> pd.DataFrame:
        return np.log(self.close)

    @cached_property
    def ret1(self) -> pd.DataFrame:
        """Daily log returns; row 0 is NaN."""
        return self.log_close.diff()

    @cached_property
    def market_ret1(self) -> pd.Series:
        """Daily log return of the market: the benchmark when the bars carry one, else the
        equal-weight (daily rebalanced) universe."""
        if self.bars.benchmark is not None:
            bench = pd.Series(np.asarray(self.bars.benchmark, np.float64))
            return np.log(bench).diff()
        simple = self.close.pct_change(fill_method=None).mean(axis=1, skipna=False)
        return np.log1p(simple)

    def market_frame(self) -> pd.DataFrame:
        """The market's daily log return broadcast to every ticker's column."""
        values = np.repeat(self.market_ret1.to_numpy()[:, None], self.close.shape[1], axis=1)
        return pd.DataFrame(values, index=self.close.index, columns=self.close.columns)


Compute = Callable[..., pd.DataFrame | np.ndarray]


@dataclass(frozen=True)
class FeatureSpec:
    """One registered feature.

    `warmup(params)` is the first day index at which the value is defined; the pipeline
    blanks rows before it to NaN, so the declaration is the contract (a test checks it is
    exact). `label` is a format string over the params that names the built column.
    `check(params)` returns a message when the params are inconsistent (fast >= slow ...).
    """

    name: str
    compute: Compute
    needs: tuple[str, ...]
    group: str
    params: Mapping[str, Any]
    warmup: Callable[[Params], int]
    label: str
    check: Callable[[Params], str | None] = field(default=lambda p: None)

    def column_name(self, params: Params) -> str:
        return self.label.format(**params)

    def missing(self, bars: Bars) -> tuple[str, ...]:
        """Columns this feature needs that the bars do not have."""
        return tuple(c for c in self.needs if getattr(bars, c) is None)


REGISTRY: dict[str, FeatureSpec] = {}


def register(
    name: str,
    *,
    needs: tuple[str, ...],
    group: str,
    params: Mapping[str, Any],
    warmup: Callable[[Params], int],
    label: str,
    check: Callable[[Params], str | None] | None = None,
) -> Callable[[Compute], Compute]:
    """Decorator that adds a compute function to REGISTRY under `name`."""

    def wrap(fn: Compute) -> Compute:
        if name in REGISTRY:
            raise ValueError(f"feature '{name}' is registered twice")
        REGISTRY[name] = FeatureSpec(
            name=name,
            compute=fn,
            needs=needs,
            group=group,
            params=dict(params),
            warmup=warmup,
            label=label,
            check=check or (lambda p: None),
        )
        return fn

    return wrap


def at_least(key: str, low: int) -> Callable[[Params], str | None]:
    """A `check` that parameter `key` is >= `low`."""

    def check(p: Params) -> str | None:
        return None if p[key] >= low else f"{key} must be >= {low}, got {p[key]}"

    return check


def fast_below_slow(p: Params) -> str | None:
    return None if p["fast"] < p["slow"] else f"fast ({p['fast']}) must be < slow ({p['slow']})"
