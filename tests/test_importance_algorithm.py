"""Permutation importance on an in-memory policy: a policy that reads only feature k is moved
by shuffling k and by nothing else; correlation clusters put duplicated features together."""

from __future__ import annotations

import json

import numpy as np
import pytest
import torch
from conftest import make_toy_market
from omegaconf import DictConfig, OmegaConf
from PIL import Image
from torch import nn

from ploutos.env.types import BUY, SELL
from ploutos.evaluation.importance import (
    correlation_clusters,
    make_units,
    permutation_importance,
    permute_features,
    permuted_rows,
    spearman_matrix,
    write_importance,
)
from ploutos.obs.compact import CompactObs


def make_cfg(obs: str = "v6") -> DictConfig:
    env = {
        "action_mode": "discrete",
        "initial_cash": 100_000.0,
        "episode_days": 50,
        "buy_fraction": 0.5,
        "max_position_weight": 1.0,
        "sell_fraction": 1.0,
        "commission_bps": 10.0,
        "slippage_bps": 5.0,
        "min_fee": 0.0,
        "lot_size": 0,
    }
    obs_cfg = {"name": obs, "lookback": 10} if obs == "v7" else {"name": obs}
    return OmegaConf.create({"env": env, "obs": obs_cfg, "reward": {"name": "pnl", "scale": 1.0}})


class OnlyFeature(nn.Module):
    """BUY an asset when its feature k is positive on the decision day (v6) or on average over
    the window (v7), SELL otherwise: it sees nothing but feature k."""

    def __init__(self, k: int) -> None:
        super().__init__()
        self.k = k

    def act(self, obs: CompactObs, obs_builder, deterministic: bool = False) -> torch.Tensor:
        view = obs_builder.market_view(obs.day)[..., self.k]  # [N, A] or [N, L, A]
        signal = view if view.dim() == 2 else view.mean(dim=1)
        return torch.where(signal > 0, BUY, SELL).to(torch.int64)


@pytest.mark.parametrize("obs", ["v6", "v7"])
def test_only_the_read_feature_matters(obs: str) -> None:
    market = make_toy_market(n_days=260, n_assets=3, n_features=4, seed=5)
    before = market.features.clone()
    cfg = make_cfg(obs)
    k = 2
    policy = OnlyFeature(k)
    units = make_units(market.feature_names, ("a", "a", "b", "b"))
    result = permutation_importance(policy, market, cfg, units, split="test", n_repeats=3, seed=1)

    by_name = {r["name"]: r for r in result.rows}
    assert by_name[f"f{k}"]["action_change_mean"] > 0.2
    assert by_name[f"f{k}"]["sharpe_drop_std"] > 0.0
    assert by_name["b"]["action_change_mean"] > 0.2  # the group that holds f2
    for name in ("f0", "f1", "f3", "a"):
        assert by_name[name]["action_change_mean"] == 0.0
        assert by_name[name]["sharpe_drop_mean"] == 0.0
        assert by_name[name]["sharpe_drop_std"] == 0.0
    # The shuffles work on copies: the market (and so anything fitted on it) is untouched.
    assert torch.equal(market.features, before)
    # Deterministic: the same seed gives the same numbers.
    again = permutation_importance(policy, market, cfg, units, split="test", n_repeats=3, seed=1)
    assert again.rows == result.rows


def test_permutation_shuffles_days_of_the_split_only_and_the_same_for_all_assets() -> None:
    market = make_toy_market(n_days=120, n_assets=3, n_features=4, seed=2)
    rows = permuted_rows(market, "test", lookback=10)
    test = market.split("test")
    assert (rows.start, rows.stop) == (test.start - 9, test.stop)
    out = permute_features(market.features, [1, 3], rows, torch.Generator().manual_seed(0))
    x, y = market.features.numpy(), out.numpy()
    outside = np.r_[0 : rows.start, rows.stop : market.n_days]
    np.testing.assert_array_equal(y[outside], x[outside])
    np.testing.assert_array_equal(y[:, :, [0, 2]], x[:, :, [0, 2]])
    block_x, block_y = x[rows.start : rows.stop], y[rows.start : rows.stop]
    assert not np.array_equal(block_x[:, :, 1], block_y[:, :, 1])
    # One permutation of days for every asset and both features: map each shuffled row
    # back to its source day through asset 0 of feature 1, then check the rest.
    src = [int(np.flatnonzero(block_x[:, 0, 1] == v)[0]) for v in block_y[:, 0, 1]]
    assert sorted(src) == list(range(len(rows)))
    np.testing.assert_array_equal(block_y[:, :, 1], block_x[src][:, :, 1])
    np.testing.assert_array_equal(block_y[:, :, 3], block_x[src][:, :, 3])


def test_spearman_matches_scipy_and_handles_constant_columns() -> None:
    from scipy.stats import spearmanr

    rng = np.random.default_rng(0)
    x = rng.normal(size=(200, 4))
    x[:, 1] = x[:, 0] ** 3 + 0.1 * rng.normal(size=200)
    np.testing.assert_allclose(spearman_matrix(x), spearmanr(x).statistic, atol=1e-12)
    x[:, 3] = 7.0
    corr = spearman_matrix(x)
    assert corr[3, 3] == 1.0 and np.all(corr[3, :3] == 0.0) and np.all(np.isfinite(corr))


def test_clusters_put_duplicated_features_together() -> None:
    rng = np.random.default_rng(1)
    base = rng.normal(size=(300, 2, 3))
    # f3 = monotone transform of f0 (Spearman 1), f4 = f1 with a little noise, f5 = -f2.
    feats = np.concatenate(
        [base, np.exp(base[..., :1]), base[..., 1:2] + 0.01 * rng.normal(size=(300, 2, 1)),
         -base[..., 2:3]],
        axis=2,
    )
    ids, _ = correlation_clusters(feats, slice(0, 200), threshold=0.5)
    assert ids[0] == ids[3] and ids[1] == ids[4] and ids[2] == ids[5]
    assert len(set(ids.tolist())) == 3
    units = make_units([f"f{i}" for i in range(6)], None, ids, kinds=("feature", "cluster"))
    clusters = [u for u in units if u.kind == "cluster"]
    assert sorted(u.features for u in clusters) == [(0, 3), (1, 4), (2, 5)]


def test_reports_are_written(tmp_path) -> None:
    market = make_toy_market(n_days=160, n_assets=2, n_features=3, seed=4)
    cfg = make_cfg()
    policy = OnlyFeature(0)
    ids, _ = correlation_clusters(market.features, slice(20, 90), threshold=0.5)
    units = make_units(market.feature_names, ("x", "x", "y"), ids)
    result = permutation_importance(policy, market, cfg, units, n_repeats=2, cluster_ids=ids)
    paths = write_importance(result, tmp_path, extra={"checkpoint": "toy"})
    lines = paths["csv"].read_text().splitlines()
    assert lines[0].startswith("kind,name,n_features,action_change_mean")
    assert len(lines) == 1 + len(units)
    payload = json.loads(paths["json"].read_text())
    assert payload["checkpoint"] == "toy" and len(payload["rows"]) == len(units)
    assert payload["baseline_sharpe"] == pytest.approx(result.baseline_sharpe)
    with Image.open(paths["png"]) as img:
        img.verify()
    assert paths["png"].stat().st_size > 1000
