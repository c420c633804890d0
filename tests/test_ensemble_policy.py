"""The Ensemble policy over untrained members on a toy market: copies of one member give
that member's outputs exactly, a mixed v6 MLP + v7 transformer ensemble renders each
member's own observation from the caller's market (a permuted market too), its market table
encodes a window once per member and renders it once per observation, and the vote over
different members follows the rule in any member order."""

from __future__ import annotations

import itertools
import math
from dataclasses import replace

import pytest
import torch
from conftest import make_toy_market
from omegaconf import OmegaConf

from ploutos.ensemble import Ensemble
from ploutos.ensemble.rules import vote
from ploutos.env.actions import make_action_space
from ploutos.env.types import HOLD
from ploutos.errors import ConfigError
from ploutos.models import make_policy
from ploutos.obs import make_obs_builder
from ploutos.obs.compact import CompactObs

V6 = OmegaConf.create({"name": "v6"})
V7 = OmegaConf.create({"name": "v7", "lookback": 10})
SMALL_TRANSFORMER = {"d_model": 16, "n_heads": 2, "temporal_layers": 1, "cross_layers": 1,
                     "head_hidden": 16}  # fmt: skip


@pytest.fixture(scope="module")
def market():
    return make_toy_market(n_days=120, n_assets=3, n_features=5)


def member(market, obs_cfg, mode: str = "discrete", seed: int = 0, **model_overrides):
    model = "mlp" if obs_cfg.name == "v6" else "transformer"
    model_cfg = OmegaConf.load(f"conf/model/{model}.yaml")
    # v6 members are joint MLPs unless a test names the actor (both stack, not with each other).
    model_cfg.update({"hidden_sizes": [16, 16], "actor": "joint"} if model == "mlp"
                     else SMALL_TRANSFORMER)  # fmt: skip
    model_cfg.update(model_overrides)
    torch.manual_seed(seed)
    space = make_action_space(mode, market.n_assets)
    builder = make_obs_builder(obs_cfg, market)
    return make_policy(OmegaConf.create({"model": model_cfg}), builder, space).eval()


def batch(builder, n: int = 40) -> CompactObs:
    gen = torch.Generator().manual_seed(1)
    day = builder.min_day + torch.randint(0, 30, (n,), generator=gen)
    return CompactObs(day, torch.rand((n, builder.portfolio_dim), generator=gen))


@pytest.mark.parametrize("rule", ["vote", "mean_probs", "best_val", "weighted"])
def test_copies_of_one_member_give_its_outputs_exactly(market, rule) -> None:
    policy = member(market, V6)
    builder = make_obs_builder(V6, market)
    obs = batch(builder)
    weights = [0.0, 1.0, 0.0] if rule == "best_val" else [0.2, 0.5, 0.3]
    ensemble = Ensemble([policy] * 3, [V6] * 3, rule, None if rule == "vote" else weights)
    expected = policy.act(obs, builder, deterministic=True)
    assert torch.equal(ensemble.act(obs, builder, deterministic=True), expected)
    if rule != "vote":
        assert torch.equal(ensemble.action_probs(obs, builder), policy.action_probs(obs, builder))
        torch.testing.assert_close(ensemble.value(obs, builder), policy.value(obs, builder))


def test_copies_in_weights_mode_give_the_member_target_weights(market) -> None:
    policy = member(market, V6, "weights")
    builder = make_obs_builder(V6, market)
    obs = batch(builder)
    ensemble = Ensemble([policy] * 3, [V6] * 3, "mean_probs")
    target = policy.action_probs(obs, builder)
    torch.testing.assert_close(ensemble.action_probs(obs, builder), target, rtol=0, atol=1e-7)
    logits = ensemble.act(obs, builder, deterministic=True)
    assert logits.shape == (40, 4) and logits.dtype == torch.float32
    torch.testing.assert_close(torch.softmax(logits, -1), target, rtol=0, atol=1e-6)
    with pytest.raises(ConfigError, match="ensemble.name: vote needs discrete actions"):
        Ensemble([policy] * 3, [V6] * 3, "vote")


def test_mixed_observations_render_from_the_callers_market(market) -> None:
    mlp, transformer = member(market, V6, seed=1), member(market, V7, seed=2)
    ensemble = Ensemble([mlp, transformer], [V6, V7], "mean_probs")
    for caller in (make_obs_builder(V7, market), make_obs_builder(V6, market)):
        obs = batch(make_obs_builder(V7, market))  # days every member can observe
        own = [make_obs_builder(V6, market), make_obs_builder(V7, market)]
        manual = (mlp.action_probs(obs, own[0]) + transformer.action_probs(obs, own[1])) / 2
        torch.testing.assert_close(ensemble.action_probs(obs, caller), manual, rtol=0, atol=1e-7)
        builders = ensemble.member_builders(caller)
        assert [b.name for b in builders] == ["v6", "v7"]
        assert caller in builders  # the member reading the caller's obs uses its builder
        assert all(b.market is market for b in builders)

    # A permuted market (as permutation importance passes) is what every member then reads.
    gen = torch.Generator().manual_seed(3)
    shuffled = replace(
        market, features=market.features[torch.randperm(market.n_days, generator=gen)]
    )
    caller = make_obs_builder(V7, shuffled)
    obs = batch(caller)
    own = [make_obs_builder(V6, shuffled), make_obs_builder(V7, shuffled)]
    manual = (mlp.action_probs(obs, own[0]) + transformer.action_probs(obs, own[1])) / 2
    torch.testing.assert_close(ensemble.action_probs(obs, caller), manual, rtol=0, atol=1e-7)
    assert all(b.market is shuffled for b in ensemble.member_builders(caller))


def test_market_table_renders_each_chunk_once_for_the_members_sharing_an_obs(
    market, monkeypatch
) -> None:
    policies = [member(market, V6, seed=s) for s in range(3)] + [member(market, V7, seed=3)]
    ensemble = Ensemble(policies, [V6, V6, V6, V7], "mean_probs")
    caller = make_obs_builder(V7, market)
    obs = batch(caller)
    per_step = ensemble.action_probs(obs, caller)
    v6 = ensemble.member_builders(caller)[0]
    assert ensemble.member_builders(caller)[:3] == [v6] * 3  # one v6 builder for the three
    rendered: list[list[int]] = []
    render = v6.market_view
    monkeypatch.setattr(v6, "market_view", lambda d: rendered.append(d.tolist()) or render(d))
    days = torch.arange(caller.min_day, market.n_days)
    with ensemble.market_table(caller, days, chunk=16):
        assert all(p._table is not None for p in policies)
        built = len(rendered)
        tabled = ensemble.action_probs(obs, caller)
        assert len(rendered) == built  # a step reads the tables and renders nothing
    assert all(p._table is None for p in policies)  # the tables live inside the block only
    assert len(rendered) == math.ceil(len(days) / 16)  # once per chunk, not once per member
    assert sum(rendered, []) == days.tolist()
    # Batched encodings differ from per-day ones only in float rounding.
    torch.testing.assert_close(tabled, per_step, rtol=0, atol=1e-6)

    # best_val runs its pick alone: only the pick gets a table.
    best = Ensemble(policies[:3], [V6] * 3, "best_val", [0.0, 1.0, 0.0])
    with best.market_table(caller, days):
        assert [p._table is not None for p in policies[:3]] == [False, True, False]


def test_vote_of_different_members_in_any_order(market) -> None:
    policies = [member(market, V6, seed=s, init_log_std=0.0) for s in range(4)]
    builder = make_obs_builder(V6, market)
    obs = batch(builder, n=200)
    modes = torch.stack([p.act(obs, builder, deterministic=True) for p in policies])
    expected = vote(modes)
    # Untrained members disagree often enough for the rule to matter.
    assert (modes != modes[0]).any(dim=0).float().mean() > 0.3
    for order in itertools.permutations(range(4)):
        ensemble = Ensemble([policies[i] for i in order], [V6] * 4, "vote")
        assert torch.equal(ensemble.act(obs, builder, deterministic=True), expected)
    # action_probs gives the vote shares: where one action has the most, the vote is it.
    shares = Ensemble(policies, [V6] * 4, "vote").action_probs(obs, builder)
    first, second = shares.topk(2, dim=-1).values.unbind(-1)
    strict = first > second
    assert torch.equal(shares.argmax(-1)[strict], expected[strict])
    assert (expected[~strict] == HOLD).all() and (~strict).any()


def test_members_must_act_in_one_space(market) -> None:
    with pytest.raises(ConfigError, match="ensemble.members: members act in different spaces"):
        Ensemble([member(market, V6), member(market, V6, "weights")], [V6, V6], "mean_probs")
    with pytest.raises(ConfigError, match="ensemble.name: must be one of"):
        Ensemble([member(market, V6)], [V6], "median")


@pytest.mark.parametrize("mode", ["discrete", "weights"])
@pytest.mark.parametrize("n_envs", [1, 40])
@pytest.mark.parametrize(("actor", "hidden"), [("joint", [64, 64]), ("per_asset", [32, 32])])
def test_stacked_members_decide_with_each_members_own_numbers(mode, n_envs, actor, hidden):
    """Inside a market table three v6 MLPs of each actor's default size over 15 assets (the
    bench's shapes) decide as one batch; every action and probability is bit for bit what
    each member gives inside its own table, so the batch is what the ensemble uses."""
    market = make_toy_market(n_days=120, n_assets=15, n_features=5)
    policies = [member(market, V6, mode, seed=s, hidden_sizes=hidden, actor=actor)
                for s in range(3)]  # fmt: skip
    builder = make_obs_builder(V6, market)
    obs = batch(builder, n=n_envs)
    days = torch.arange(builder.min_day, market.n_days)
    ensemble = Ensemble(policies, [V6] * 3, "mean_probs")
    with ensemble.market_table(builder, days):
        stacked = ensemble._stacked
        assert stacked is not None
        modes = stacked.modes(obs.day, obs.portfolio)
        values = stacked.values(obs.day, obs.portfolio)
        own_modes = torch.stack([p.act(obs, builder, deterministic=True) for p in policies])
        own_probs = torch.stack([policy.action_probs(obs, builder) for policy in policies])
        own_values = torch.stack([policy.value(obs, builder) for policy in policies])
        torch.testing.assert_close(modes, own_modes, rtol=1e-5, atol=1e-6)
        # A one-column matmul (the value head, 64 -> 1; the per-asset cash logit) may round
        # differently batched: the probe finds out, and the ensemble's outputs are the
        # members' own either way. Everything else is bit for bit.
        one_column = mode == "weights" and actor == "per_asset"
        same_probs = torch.equal(stacked.probabilities(obs.day, obs.portfolio), own_probs)
        assert (same_probs and torch.equal(modes, own_modes)) or one_column
        mixed = ensemble.action_probs(obs, builder)
        value = ensemble.value(obs, builder)
        same_values = torch.equal(values, own_values)
        expected = {("probabilities", n_envs): same_probs, ("values", n_envs): same_values}
        assert stacked.exact == expected
        assert torch.equal(value, _mixed(own_values, "discrete"))
    assert torch.equal(mixed, _mixed(own_probs, mode))
    assert ensemble._stacked is None  # the stack lives inside the block only


def _mixed(outputs: torch.Tensor, mode: str) -> torch.Tensor:
    """The equal-weight mixture by hand (float64 sum, as the rule); weights renormalized."""
    weights = torch.full((outputs.shape[0],), 1 / outputs.shape[0], dtype=torch.float64)
    mixed = torch.tensordot(weights, outputs.to(torch.float64), dims=1).to(outputs.dtype)
    return mixed if mode != "weights" else mixed / mixed.sum(dim=-1, keepdim=True)


def test_a_batch_that_rounds_differently_is_not_used(market, monkeypatch) -> None:
    """Where the batch's bits differ from a member's (here: nudged by one ulp), the members run
    one by one and the ensemble's outputs are still exactly theirs."""
    policies = [member(market, V6, seed=s, hidden_sizes=[64, 64]) for s in range(3)]
    builder = make_obs_builder(V6, market)
    obs = batch(builder, n=40)
    days = torch.arange(builder.min_day, market.n_days)
    ensemble = Ensemble(policies, [V6] * 3, "mean_probs")
    with ensemble.market_table(builder, days):
        stacked = ensemble._stacked
        exact_params = stacked.params
        monkeypatch.setattr(stacked, "params", lambda d, p: torch.nextafter(
            exact_params(d, p), torch.tensor(float("inf"))))  # fmt: skip
        mixed = ensemble.action_probs(obs, builder)
        assert stacked.exact == {("probabilities", 40): False}
        own = torch.stack([p.action_probs(obs, builder) for p in policies])
    assert torch.equal(mixed, _mixed(own, "discrete"))


def test_copies_inside_a_market_table_act_exactly_as_the_member(market) -> None:
    policy = member(market, V6, init_log_std=0.0)
    builder = make_obs_builder(V6, market)
    obs = batch(builder, n=200)
    days = torch.arange(builder.min_day, market.n_days)
    with policy.market_table(builder, days):
        expected = policy.act(obs, builder, deterministic=True)
        probs = policy.action_probs(obs, builder)
    for rule in ("vote", "mean_probs", "weighted"):
        ensemble = Ensemble([policy] * 3, [V6] * 3, rule, [0.2, 0.5, 0.3] if rule == "weighted"
                            else None)  # fmt: skip
        with ensemble.market_table(builder, days):
            assert ensemble._stacked is not None
            assert torch.equal(ensemble.act(obs, builder, deterministic=True), expected)
            if rule != "vote":
                assert torch.equal(ensemble.action_probs(obs, builder), probs)


def test_members_of_other_models_or_shapes_are_not_stacked(market) -> None:
    builder = make_obs_builder(V7, market)
    days = torch.arange(builder.min_day, market.n_days)
    mixed = Ensemble([member(market, V6), member(market, V7)], [V6, V7], "mean_probs")
    wider = Ensemble([member(market, V6), member(market, V6, hidden_sizes=[32, 16])], [V6, V6],
                     "mean_probs")  # fmt: skip
    picked = Ensemble([member(market, V6, seed=s) for s in range(3)], [V6] * 3, "best_val",
                      [0.0, 1.0, 0.0])  # fmt: skip
    joint_and_per_asset = Ensemble([member(market, V6), member(market, V6, actor="per_asset")],
                                   [V6] * 2, "mean_probs")  # fmt: skip
    for ensemble in (mixed, wider, picked, joint_and_per_asset):
        with ensemble.market_table(builder, days):
            assert ensemble._stacked is None
    # Unstacked members still combine as before (each member per step).
    obs = batch(builder)
    with mixed.market_table(builder, days):
        tabled = mixed.action_probs(obs, builder)
    torch.testing.assert_close(tabled, mixed.action_probs(obs, builder), rtol=0, atol=1e-6)
