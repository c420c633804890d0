"""v6 / v7 observation builders: shapes, values, laziness."""

from __future__ import annotations

import pytest
import torch
from conftest import cuda_params, make_toy_market
from omegaconf import OmegaConf

from ploutos.errors import ConfigError
from ploutos.obs import make_obs_builder
from ploutos.obs.compact import CompactObs


def compact(market, days: list[int], p_dim: int, seed: int = 0) -> CompactObs:
    gen = torch.Generator().manual_seed(seed)
    day = torch.tensor(days, dtype=torch.int64, device=market.device)
    portfolio = torch.rand((len(days), p_dim), generator=gen).to(market.device)
    return CompactObs(day, portfolio)


@pytest.mark.parametrize("device", cuda_params())
def test_v6_renders_the_decision_day_then_the_portfolio(device: str) -> None:
    market = make_toy_market(n_assets=3, n_features=5, device=device)
    b = make_obs_builder(OmegaConf.create({"name": "v6"}), market)
    assert b.market_shape == (3, 5) and b.portfolio_dim == 9 and b.flat_dim == 24
    assert b.min_day == market.warmup
    obs = compact(market, [25, 40, 25], b.portfolio_dim)
    flat = b.render(obs)
    assert flat.shape == (3, 24) and flat.dtype == torch.float32
    for i, d in enumerate([25, 40, 25]):
        assert torch.equal(flat[i, :15], market.features[d].reshape(-1))
        assert torch.equal(flat[i, 15:], obs.portfolio[i])
    assert torch.equal(b.market_view(obs.day), market.features[obs.day])


@pytest.mark.parametrize("device", cuda_params())
def test_v7_windows_end_at_the_decision_day(device: str) -> None:
    market = make_toy_market(n_assets=3, n_features=5, device=device)
    b = make_obs_builder(OmegaConf.create({"name": "v7", "lookback": 7}), market)
    assert b.market_shape == (7, 3, 5) and b.min_day == market.warmup + 6
    days = [b.min_day, 100, 100, 299]
    view = b.market_view(torch.tensor(days, device=device))
    flat = b.render(compact(market, days, b.portfolio_dim))
    for i, d in enumerate(days):
        window = market.features[d - 6 : d + 1]
        assert torch.equal(view[i], window)
        assert torch.equal(flat[i, : 7 * 15], window.reshape(-1))


def test_v7_holds_views_of_the_market_not_copies() -> None:
    market = make_toy_market(n_days=400, n_assets=4, n_features=6)
    b = make_obs_builder(OmegaConf.create({"name": "v7", "lookback": 60}), market)
    storage = market.features.untyped_storage()
    # The window tensor for every day is an unfold view: same storage, no extra bytes.
    assert b.windows.untyped_storage().data_ptr() == storage.data_ptr()
    assert b.windows.shape == (400 - 59, 60, 4, 6)
    # A batch of 4,096 envs spread over a few days: each distinct window is gathered once.
    gen = torch.Generator().manual_seed(0)
    days = torch.randint(100, 108, (4096,), generator=gen)
    p = torch.zeros(4096, b.portfolio_dim)
    flat = b.render(CompactObs(days, p))
    assert flat.shape == (4096, 60 * 4 * 6 + b.portfolio_dim)
    assert torch.equal(flat[:, : 60 * 24].view(4096, 60, 4, 6), b.windows[days - 59])
    assert market.features.untyped_storage().data_ptr() == storage.data_ptr()
    assert b.market_view(days.unique()).shape == (8, 60, 4, 6)


def test_lookback_longer_than_the_data_names_the_key() -> None:
    market = make_toy_market(n_days=50)
    with pytest.raises(ConfigError, match=r"^obs\.lookback"):
        make_obs_builder(OmegaConf.create({"name": "v7", "lookback": 40}), market)
    with pytest.raises(ConfigError, match=r"^obs\.lookback"):
        make_obs_builder(OmegaConf.create({"name": "v7", "lookback": 0}), market)
