"""model.actor=per_asset: one actor head shared by the assets (ploutos.models.per_asset).

Permuting the tickers permutes the actions, the day/env split equals the plain first layers,
the Policy contract holds, a trained checkpoint loads into the same network, and the joint
default is untouched."""

from __future__ import annotations

import json
from dataclasses import replace
from pathlib import Path

import pytest
import torch
from conftest import compose_config, make_toy_market
from omegaconf import OmegaConf

from ploutos.apps.train import run
from ploutos.env.actions import make_action_space
from ploutos.errors import ConfigError
from ploutos.evaluation.checkpoint import load_checkpoint
from ploutos.evaluation.runner import evaluate_policy
from ploutos.market import Market
from ploutos.models import make_policy
from ploutos.models.layers import split_portfolio
from ploutos.models.mlp import MLPBody
from ploutos.models.per_asset import PerAssetMLPBody
from ploutos.models.policy import Policy
from ploutos.obs import make_obs_builder
from ploutos.obs.compact import CompactObs

N_ASSETS = 4
PERM = [2, 0, 3, 1]


def _policy(mode: str = "discrete", market: Market | None = None, **overrides):
    market = market or make_toy_market(n_days=120, n_assets=N_ASSETS, n_features=5)
    builder = make_obs_builder(OmegaConf.create({"name": "v6", "lookback": 10}), market)
    model_cfg = OmegaConf.load("conf/model/mlp.yaml")
    model_cfg.update({"actor": "per_asset", **overrides})
    torch.manual_seed(0)
    space = make_action_space(mode, market.n_assets)
    return builder, make_policy(OmegaConf.create({"model": model_cfg}), builder, space)


def _batch(builder, n: int = 40, n_days: int = 8) -> CompactObs:
    gen = torch.Generator().manual_seed(1)
    day = builder.min_day + torch.randint(0, n_days, (n,), generator=gen)
    return CompactObs(day, torch.rand((n, builder.portfolio_dim), generator=gen))


def _permuted(market: Market, obs: CompactObs, perm: list[int]) -> tuple[Market, CompactObs]:
    """The same market and portfolios with ticker i of the copy = ticker perm[i]."""
    market_p = replace(
        market,
        tickers=tuple(market.tickers[i] for i in perm),
        close=market.close[:, perm],
        fill=market.fill[:, perm],
        features=market.features[:, perm].contiguous(),
    )
    a = market.n_assets
    # Portfolio layout: [cash, weights (A), unrealized returns (A), drawdown, episode left].
    columns = [0, *(1 + i for i in perm), *(1 + a + i for i in perm)]
    columns += list(range(1 + 2 * a, obs.portfolio.shape[1]))
    return market_p, CompactObs(obs.day, obs.portfolio[:, columns])


def test_permuting_tickers_permutes_the_discrete_action_probabilities_exactly() -> None:
    market = make_toy_market(n_days=120, n_assets=N_ASSETS, n_features=5)
    builder, policy = _policy(market=market, context_dim=0)
    obs = _batch(builder)
    market_p, obs_p = _permuted(market, obs, PERM)
    builder_p = make_obs_builder(OmegaConf.create({"name": "v6", "lookback": 10}), market_p)
    probs = policy.action_probs(obs, builder)
    probs_p = policy.action_probs(obs_p, builder_p)
    assert probs.shape == (40, N_ASSETS, 3)
    # Each asset's logits are computed from its own inputs alone: same numbers, bit for bit.
    assert torch.equal(probs_p, probs[:, PERM])
    # Not trivially: the assets' probabilities differ from one another.
    assert (probs[:, 0] - probs[:, 1]).abs().max() > 1e-4


@pytest.mark.parametrize("mode", ["discrete", "weights"])
def test_a_pooled_context_keeps_the_actor_equivariant(mode: str) -> None:
    """With context_dim > 0 every asset also reads a mean over all assets, which is the same
    set whatever the order: the outputs are permuted, equal up to the summation order of the
    mean (float rounding). In weights mode the cash logit (last) does not move."""
    market = make_toy_market(n_days=120, n_assets=N_ASSETS, n_features=5)
    builder, policy = _policy(mode, market=market, context_dim=4)
    obs = _batch(builder)
    market_p, obs_p = _permuted(market, obs, PERM)
    builder_p = make_obs_builder(OmegaConf.create({"name": "v6", "lookback": 10}), market_p)
    probs, probs_p = policy.action_probs(obs, builder), policy.action_probs(obs_p, builder_p)
    order = PERM if mode == "discrete" else [*PERM, N_ASSETS]
    torch.testing.assert_close(probs_p, probs[:, order], atol=1e-6, rtol=1e-6)
    # The context is read: zeroing its weights changes the actions' probabilities.
    with torch.no_grad():
        policy.body.context[0].weight.zero_()
    assert (policy.action_probs(obs, builder) - probs).abs().max() > 1e-6


def test_a_learned_pool_starts_as_the_mean_and_can_single_out_one_ticker() -> None:
    """context_pool=learned: with its zero initial logits the policy is the mean-pool policy
    number for number; with the weights on ticker 0, every asset's context is ticker 0's, so
    moving ticker 2's features moves ticker 2's actions only, and moving ticker 0's moves all."""
    market = make_toy_market(n_days=120, n_assets=N_ASSETS, n_features=5)
    builder, mean_policy = _policy(market=market, context_dim=3)
    _, learned = _policy(market=market, context_dim=3, context_pool="learned")
    assert learned.body.context_logits.shape == (3, N_ASSETS)
    obs = _batch(builder)
    probs = learned.action_probs(obs, builder)
    torch.testing.assert_close(probs, mean_policy.action_probs(obs, builder), atol=1e-7, rtol=0)

    with torch.no_grad():
        learned.body.context_logits.zero_()
        learned.body.context_logits[:, 0] = 50.0  # softmax weight 1 on ticker 0
    focused = learned.action_probs(obs, builder)

    def moved(ticker: int) -> torch.Tensor:
        features = market.features.clone()
        features[:, ticker] += 3.0
        changed = make_obs_builder(
            OmegaConf.create({"name": "v6", "lookback": 10}), replace(market, features=features)
        )
        return (learned.action_probs(obs, changed) - focused).abs().amax(dim=(0, 2))  # [A]

    by_asset = moved(2)
    assert by_asset[2] > 1e-3
    assert by_asset[[0, 1, 3]].max() < 1e-6
    assert moved(0).min() > 1e-3


@pytest.mark.parametrize("context_dim", [0, 3])
def test_day_and_env_split_equals_the_plain_first_layers(context_dim: int) -> None:
    """Actor logits and value from the split path equal one plain layer over each asset's
    [own encoding | context | own position | global state] and the critic's
    [mean encoding | context | portfolio]."""
    builder, policy = _policy(context_dim=context_dim, hidden_sizes=[8])
    body: PerAssetMLPBody = policy.body
    obs = _batch(builder)
    params, value = body.decide(policy.encode_market(builder, obs.day), obs.portfolio)

    encoding = body.asset_encoder(builder.market_view(obs.day))  # [N, A, d]
    per_asset, global_state = split_portfolio(obs.portfolio, N_ASSETS)
    parts = [encoding]
    pooled = [encoding.mean(dim=1), obs.portfolio]
    if context_dim:
        context = body.context(encoding).mean(dim=1)
        parts.append(context.unsqueeze(1).expand(-1, N_ASSETS, -1))
        pooled.insert(1, context)
    parts += [per_asset, global_state.unsqueeze(1).expand(-1, N_ASSETS, -1)]
    actor_in = torch.cat(parts, dim=-1)
    logits = body.pi_head(torch.tanh(body.pi_in(actor_in)))
    critic = body.vf_head(torch.tanh(body.vf_in(torch.cat(pooled, dim=-1)))).squeeze(-1)
    torch.testing.assert_close(params, logits.flatten(1), atol=1e-6, rtol=1e-5)
    torch.testing.assert_close(value, critic, atol=1e-6, rtol=1e-5)


@pytest.mark.parametrize(
    ("mode", "shape", "dtype"),
    [
        ("discrete", (N_ASSETS,), torch.int64),
        ("weights", (N_ASSETS + 1,), torch.float32),
    ],
)
def test_the_policy_contract_holds(mode: str, shape: tuple[int, ...], dtype) -> None:
    builder, policy = _policy(mode, context_dim=2)
    assert isinstance(policy, Policy) and isinstance(policy.body, PerAssetMLPBody)
    obs = _batch(builder)
    actions = policy.act(obs, builder)
    assert actions.shape == (40, *shape) and actions.dtype == dtype
    assert torch.equal(
        policy.act(obs, builder, deterministic=True), policy.act(obs, builder, deterministic=True)
    )
    probs = policy.action_probs(obs, builder)
    torch.testing.assert_close(probs.sum(dim=-1), torch.ones(probs.shape[:-1]))
    assert policy.value(obs, builder).shape == (40,)
    # The shared encoding: per distinct day or per env, the same outputs.
    policy.unique_days = False
    torch.testing.assert_close(policy.action_probs(obs, builder), probs, atol=1e-6, rtol=1e-6)


def test_default_actor_is_per_asset_mlp_joint_is_the_seeds_and_bad_keys_are_refused() -> None:
    market = make_toy_market(n_days=120, n_assets=3, n_features=5)
    builder = make_obs_builder(OmegaConf.create({"name": "v6", "lookback": 10}), market)
    space = make_action_space("discrete", 3)
    default = compose_config("train", []).model
    assert default.actor == "per_asset" and default.context_dim == 0
    assert type(make_policy(OmegaConf.create({"model": default}), builder, space).body) is (
        PerAssetMLPBody
    )
    model_cfg = compose_config("train", ["model=mlp_joint"]).model
    assert model_cfg.hidden_sizes == [64, 64]
    policy = make_policy(OmegaConf.create({"model": model_cfg}), builder, space)
    assert type(policy.body) is MLPBody
    for key, value, needle in (
        ("actor", "shared", "model.actor"),
        ("context_dim", 4, "model.context_dim"),  # joint does not read a context
        ("context_dim", -1, "model.context_dim"),
        ("context_pool", "max", "model.context_pool"),
    ):
        bad = model_cfg.copy()
        bad[key] = value
        if value in (-1, "max"):
            bad.actor = "per_asset"
        with pytest.raises(ConfigError, match=needle):
            make_policy(OmegaConf.create({"model": bad}), builder, space)


def test_trained_checkpoint_loads_into_the_same_network(tmp_path: Path) -> None:
    """train() saves the per-asset policy; load_checkpoint rebuilds it from the saved config
    and its validation backtest is the training run's last evaluation, number for number."""
    cfg = compose_config(
        "train",
        [
            "experiment=smoke",
            "data=synthetic",
            "data.n_assets=3",
            "features=minimal",
            "total_timesteps=1024",
            "model.actor=per_asset",
            "model.context_dim=2",
            "model.context_pool=learned",
            f"trainer.output_dir={tmp_path}",
        ],
    )
    run(cfg)
    summary = json.loads((tmp_path / "summary.json").read_text())
    loaded = load_checkpoint(tmp_path / "checkpoints" / "last.ckpt")
    assert isinstance(loaded.policy.body, PerAssetMLPBody)
    assert loaded.policy.body.context is not None
    assert loaded.policy.body.context_logits is not None
    saved = torch.load(tmp_path / "checkpoints" / "last.ckpt", weights_only=False)["state_dict"]
    for name, tensor in loaded.policy.state_dict().items():
        assert torch.equal(tensor, saved[f"policy.{name}"]), name
    metrics = evaluate_policy(loaded.policy, loaded.obs_builder, loaded.cfg, "val")
    final = summary["final_eval"]
    assert final["env_steps"] == loaded.env_steps == 1024
    assert metrics["sharpe"] == pytest.approx(final["eval/sharpe"], rel=1e-9, abs=1e-12)
    assert metrics["total_return"] == pytest.approx(final["eval/total_return"], rel=1e-9)
