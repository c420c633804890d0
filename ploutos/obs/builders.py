"""Observation builders: render the market part of a CompactObs lazily from market.features.

An env never copies market data per env (docs/design.md #5). It hands out the decision day
and its portfolio state; a builder turns days into market tensors on demand, from views of
the one shared feature tensor.
"""

from __future__ import annotations

import functools
import math

import torch
from omegaconf import DictConfig

from ploutos.errors import ConfigError
from ploutos.market import Market
from ploutos.obs.compact import CompactObs
from ploutos.obs.portfolio import portfolio_dim


class ObsBuilder:
    """Base class: subclasses define name, market_shape, min_day and market_view."""

    name: str
    market_shape: tuple[int, ...]
    min_day: int

    def __init__(self, market: Market) -> None:
        self.market = market
        self.portfolio_dim = portfolio_dim(market.n_assets)

    @property
    def market_dim(self) -> int:
        return math.prod(self.market_shape)

    @property
    def flat_dim(self) -> int:
        return self.market_dim + self.portfolio_dim

    def market_view(self, days: torch.Tensor) -> torch.Tensor:
        raise NotImplementedError

    def render(self, obs: CompactObs) -> torch.Tensor:
        """[N, flat_dim] float32: market part flattened, then the portfolio state."""
        n = obs.day.shape[0]
        out = torch.empty((n, self.flat_dim), dtype=torch.float32, device=obs.day.device)
        self.render_into(obs, out)
        return out

    def render_into(self, obs: CompactObs, out: torch.Tensor) -> None:
        """Render into a preallocated [N, flat_dim] buffer (saves an allocation per step)."""
        self._gather(obs.day, out[:, : self.market_dim])
        out[:, self.market_dim :] = obs.portfolio

    def _gather(self, days: torch.Tensor, out: torch.Tensor) -> None:
        """Write the flattened market part of `days` [N] into out [N, market_dim]."""
        # index_select over 2-D rows is a plain row copy; over [T, A, F] it is many times slower.
        flat = self.market.features.view(self.market.n_days, -1)
        torch.index_select(flat, 0, days, out=out)


class V6Builder(ObsBuilder):
    """Features of the decision day for all assets: market_shape (A, F)."""

    name = "v6"

    def __init__(self, market: Market) -> None:
        super().__init__(market)
        self.market_shape = (market.n_assets, market.n_features)
        self.min_day = market.warmup

    def market_view(self, days: torch.Tensor) -> torch.Tensor:
        flat = self.market.features.view(self.market.n_days, -1)
        return flat.index_select(0, days).view(-1, *self.market_shape)


class V7Builder(ObsBuilder):
    """A window of the last L days ending at the decision day: market_shape (L, A, F).

    `windows` is an unfold view of market.features ([T - L + 1, L, A, F], same storage), so
    holding it costs nothing; only the rows a caller asks for are materialized.
    """

    name = "v7"

    def __init__(self, market: Market, lookback: int) -> None:
        super().__init__(market)
        self.lookback = lookback
        self.market_shape = (lookback, market.n_assets, market.n_features)
        self.min_day = first_observable_day(market.warmup, lookback)
        # unfold over days puts the window last: [T - L + 1, A, F, L] -> [T - L + 1, L, A, F].
        self.windows = market.features.unfold(0, lookback, 1).permute(0, 3, 1, 2)

    def market_view(self, days: torch.Tensor) -> torch.Tensor:
        return self.windows[days - (self.lookback - 1)]

    @functools.cached_property
    def features_by_asset(self) -> torch.Tensor:
        """market.features as one contiguous [A, T, F] copy, made on first use: there a run of
        consecutive days of one asset is contiguous, which the transformer's patch gather
        reads (ploutos.models.transformer.encode_days). The feature tensor is read-only once
        the Market is built, so the copy never goes stale."""
        return self.market.features.transpose(0, 1).contiguous()

    def _gather(self, days: torch.Tensor, out: torch.Tensor) -> None:
        # Envs share days; materialize each distinct window once and copy it to its envs.
        unique, inverse = torch.unique(days, return_inverse=True)
        windows = self.market_view(unique).reshape(unique.shape[0], -1)
        torch.index_select(windows, 0, inverse, out=out)


OBS_VERSIONS = ("v6", "v7")


def obs_lookback(obs_cfg: DictConfig) -> int:
    """Days of history one observation spans (1 for v6), checked before any data is read."""
    name = obs_cfg.get("name")
    if name not in OBS_VERSIONS:
        raise ConfigError("obs.name", f"unknown observation version {name!r}; choose v6 or v7")
    if name == "v6":
        return 1
    lookback = obs_cfg.get("lookback", 60)
    if isinstance(lookback, bool) or not isinstance(lookback, int) or lookback < 1:
        raise ConfigError("obs.lookback", f"must be a positive integer, got {lookback!r}")
    return lookback


def first_observable_day(warmup: int, lookback: int) -> int:
    """The first day an observation spanning `lookback` days is defined on: the features'
    warm-up, plus the lookback - 1 earlier days a window reaches back (the one place this sum
    is made; use `obs_lookback(cfg.obs)` for the lookback)."""
    return int(warmup) + int(lookback) - 1


def market_first_day(obs_cfg: DictConfig, market: Market) -> int:
    """The first observable day of `market` for the observation config `obs_cfg`."""
    return first_observable_day(market.warmup, obs_lookback(obs_cfg))


def make_obs_builder(obs_cfg: DictConfig, market: Market) -> ObsBuilder:
    lookback = obs_lookback(obs_cfg)
    if obs_cfg.get("name") == "v6":
        return V6Builder(market)
    if first_observable_day(market.warmup, lookback) >= market.n_days:
        raise ConfigError(
            "obs.lookback",
            f"{lookback} days of history leave no tradable day in a market of "
            f"{market.n_days} days with a {market.warmup}-day warm-up",
        )
    return V7Builder(market, lookback)
