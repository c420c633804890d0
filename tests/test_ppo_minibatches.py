"""Minibatches by decision day: coverage, disjoint days, one encoder pass per day per epoch."""

from __future__ import annotations

import math

import pytest
import torch
from conftest import make_toy_market
from omegaconf import OmegaConf

from ploutos.algos.minibatches import day_minibatches, shuffled_minibatches
from ploutos.algos.ppo import PPO
from ploutos.errors import ConfigError


def _cfg(model: str, obs: str, **algo):
    cfg = OmegaConf.create(
        {
            "seed": 5,
            "total_timesteps": 4096,
            "ent_coef": 0.01,
            "env": OmegaConf.load("conf/env/default.yaml"),
            "obs": OmegaConf.load(f"conf/obs/{obs}.yaml"),
            "reward": OmegaConf.load("conf/reward/pnl.yaml"),
            "model": OmegaConf.load(f"conf/model/{model}.yaml"),
            "algo": OmegaConf.load("conf/algo/ppo.yaml"),
        }
    )
    cfg.algo.update(
        {"n_envs": 16, "n_steps": 12, "update_epochs": 2, "num_minibatches": 2, "target_kl": None}
    )
    cfg.algo.update(algo)
    cfg.env.episode_days = 20
    if obs == "v7":
        cfg.obs.lookback = 10
        cfg.model.update({"d_model": 16, "head_hidden": 16})
    return cfg


def test_day_minibatches_cover_every_sample_once_with_disjoint_days():
    torch.manual_seed(0)
    day = torch.randint(100, 140, (500,))
    for _ in range(3):  # three epochs: a fresh random partition each time
        minibatches = day_minibatches(day, 4)
        assert len(minibatches) == 4
        assert sorted(torch.cat(minibatches).tolist()) == list(range(500))
        day_sets = [set(day[idx].tolist()) for idx in minibatches]
        for i in range(4):
            for j in range(i + 1, 4):
                assert not day_sets[i] & day_sets[j]
        # 40 distinct days cut into 4 groups of 10; each day's samples all in one group.
        assert sorted(len(s) for s in day_sets) == [10, 10, 10, 10]
        assert sum(len(idx) for idx in minibatches) == 500


def test_day_minibatches_are_random_and_fewer_when_days_are_few():
    day = torch.tensor([7, 7, 9, 9, 9])
    assert [len(idx) for idx in day_minibatches(day, 4)] in ([2, 3], [3, 2])
    torch.manual_seed(1)
    day = torch.arange(64).repeat(2)
    first = [set(day[idx].tolist()) for idx in day_minibatches(day, 4)]
    second = [set(day[idx].tolist()) for idx in day_minibatches(day, 4)]
    assert first != second


def test_shuffled_minibatches_are_a_permutation_in_equal_slices():
    torch.manual_seed(0)
    minibatches = shuffled_minibatches(10, 3, torch.device("cpu"))
    assert [len(idx) for idx in minibatches] == [4, 3, 3]
    assert sorted(torch.cat(minibatches).tolist()) == list(range(10))


def _encoded_days_per_epoch(module: PPO, monkeypatch) -> list[list[int]]:
    """Days handed to the encoder with gradients in each update epoch."""
    calls: list[torch.Tensor] = []
    original = module.policy.encode_distinct_days

    def spy(obs_builder, days):
        if torch.is_grad_enabled():
            calls.append(days.clone())
        return original(obs_builder, days)

    monkeypatch.setattr(module.policy, "encode_distinct_days", spy)
    module.run_iteration(module.configure_optimizers())
    per_epoch = len(calls) // int(module.cfg.algo.update_epochs)
    return [torch.cat(calls[i : i + per_epoch]).tolist() for i in range(0, len(calls), per_epoch)]


@pytest.mark.parametrize(("model", "obs"), [("transformer", "v7"), ("mlp", "v6")])
def test_by_day_each_epoch_encodes_every_distinct_day_once(model, obs, monkeypatch):
    module = PPO(_cfg(model, obs, minibatch_by_day=True), make_toy_market(n_days=160))
    epochs = _encoded_days_per_epoch(module, monkeypatch)
    batch_days = sorted(set(module.buffer.day.flatten().tolist()))
    assert len(epochs) == 2
    for encoded in epochs:
        assert sorted(encoded) == batch_days  # each distinct day exactly once


def test_shuffled_minibatches_encode_days_again_in_every_minibatch(monkeypatch):
    module = PPO(_cfg("transformer", "v7", minibatch_by_day=False), make_toy_market(n_days=160))
    epochs = _encoded_days_per_epoch(module, monkeypatch)
    n_days = len(set(module.buffer.day.flatten().tolist()))
    assert all(len(encoded) > 1.5 * n_days for encoded in epochs)


def test_by_day_update_trains():
    module = PPO(_cfg("transformer", "v7"), make_toy_market(n_days=160))
    assert module.cfg.algo.minibatch_by_day is True  # the model group's default
    before = torch.cat([p.detach().flatten() for p in module.policy.parameters()])
    stats = module.run_iteration(module.configure_optimizers())
    after = torch.cat([p.detach().flatten() for p in module.policy.parameters()])
    # 4 epochs x 4 minibatches of Adam steps at lr 3e-4 (at most about 3.17 lr each).
    assert 3e-5 < float((after - before).abs().max()) <= 3.17 * 3e-4 * 16
    # A fresh head chooses near uniformly among hold/buy/sell for each of the 4 assets.
    assert stats["entropy"] == pytest.approx(4 * math.log(3), rel=2e-3)
    assert 0 <= stats["clip_fraction"] <= 1


def test_minibatch_by_day_defaults_per_model_and_is_checked():
    assert _cfg("mlp", "v6").algo.minibatch_by_day is True
    assert _cfg("transformer", "v7").algo.minibatch_by_day is True
    assert _cfg("mlp", "v6", minibatch_by_day=False).algo.minibatch_by_day is False
    with pytest.raises(ConfigError, match="^algo.minibatch_by_day:"):
        PPO(_cfg("mlp", "v6", minibatch_by_day="yes"), make_toy_market(n_days=160))
