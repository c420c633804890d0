"""Actor-critic networks: shared per-day market encoding equals per-env encoding, heads, config."""

from __future__ import annotations

import pytest
import torch
from conftest import make_toy_market
from omegaconf import OmegaConf

from ploutos.env.actions import make_action_space
from ploutos.errors import ConfigError
from ploutos.models import make_policy, parameter_counts, parameter_summary
from ploutos.models.layers import split_portfolio
from ploutos.obs import make_obs_builder
from ploutos.obs.compact import CompactObs


def _setup(model: str, obs: str, action_mode: str = "discrete", **model_overrides):
    market = make_toy_market(n_days=120, n_assets=3, n_features=5)
    obs_cfg = OmegaConf.create({"name": obs, "lookback": 10})
    builder = make_obs_builder(obs_cfg, market)
    model_cfg = OmegaConf.load(f"conf/model/{model}.yaml")
    model_cfg.update(model_overrides)
    torch.manual_seed(0)
    space = make_action_space(action_mode, 3)
    policy = make_policy(OmegaConf.create({"model": model_cfg}), builder, space)
    return market, builder, policy


def _batch(builder, n: int = 48, n_days: int = 6) -> CompactObs:
    """Many envs on few distinct days, as in a real batch."""
    gen = torch.Generator().manual_seed(1)
    day = builder.min_day + torch.randint(0, n_days, (n,), generator=gen)
    portfolio = torch.rand((n, builder.portfolio_dim), generator=gen)
    return CompactObs(day, portfolio)


def _outputs_and_grads(policy, builder, obs, actions):
    policy.zero_grad()
    dist, value = policy(obs, builder)
    loss = dist.log_prob(actions).sum() + value.square().sum() + dist.entropy().sum()
    loss.backward()
    grads = {n: p.grad.clone() for n, p in policy.named_parameters() if p.grad is not None}
    return dist.log_prob(actions).detach(), value.detach(), grads


CASES = [
    ("mlp", "v6", "discrete", {}),
    ("mlp", "v6", "weights", {}),
    ("mlp", "v6", "discrete", {"asset_dim": 0}),
    ("mlp", "v6", "discrete", {"actor": "joint"}),
    ("mlp", "v6", "weights", {"actor": "joint"}),
    ("transformer", "v7", "discrete", {}),
    ("transformer", "v7", "weights", {}),
]


@pytest.mark.parametrize(("model", "obs", "mode", "overrides"), CASES)
def test_unique_day_encoding_matches_per_env_encoding_with_gradients(model, obs, mode, overrides):
    _, builder, policy = _setup(model, obs, mode, **overrides)
    obs_batch = _batch(builder)
    with torch.no_grad():
        actions = policy.act(obs_batch, builder)
    policy.unique_days = True
    lp_u, v_u, g_u = _outputs_and_grads(policy, builder, obs_batch, actions)
    policy.unique_days = False
    lp_n, v_n, g_n = _outputs_and_grads(policy, builder, obs_batch, actions)
    torch.testing.assert_close(lp_u, lp_n, atol=1e-6, rtol=1e-6)
    torch.testing.assert_close(v_u, v_n, atol=1e-6, rtol=1e-6)
    assert g_u.keys() == g_n.keys() and len(g_u) == len(list(policy.parameters()))
    for name in g_u:
        torch.testing.assert_close(g_u[name], g_n[name], atol=1e-5, rtol=1e-5, msg=name)


@pytest.mark.parametrize(("model", "obs"), [("mlp", "v6"), ("transformer", "v7")])
def test_market_is_encoded_once_per_distinct_day(model, obs, monkeypatch):
    _, builder, policy = _setup(model, obs)
    seen = []
    # The transformer reads windows straight from the feature tensor (encode_days).
    transformer = model == "transformer"
    owner, name = (policy.body, "encode_days") if transformer else (builder, "market_view")
    original = getattr(owner, name)

    def spy(*args):
        seen.append(args[-1].clone())
        return original(*args)

    monkeypatch.setattr(owner, name, spy)
    obs_batch = _batch(builder, n=64, n_days=5)
    policy(obs_batch, builder)
    assert len(seen) == 1
    assert seen[0].tolist() == sorted(set(obs_batch.day.tolist()))


def test_plain_mlp_split_equals_one_layer_over_rendered_observation():
    # asset_dim 0: market part + portfolio part of the first layer == one Linear on render(obs).
    _, builder, policy = _setup("mlp", "v6", asset_dim=0, actor="joint")
    obs_batch = _batch(builder)
    body = policy.body
    weight = torch.cat((body.market_in.weight, body.portfolio_in.weight), dim=1)
    flat = builder.render(obs_batch)
    h_pi = torch.tanh(flat @ weight.T + body.market_in.bias).chunk(2, dim=-1)[0]
    logits = body.pi_head(body.pi_trunk(h_pi)).reshape(-1, 3, 3)
    dist, _ = policy(obs_batch, builder)
    torch.testing.assert_close(dist.logits, logits.log_softmax(-1), atol=1e-6, rtol=1e-6)


def test_discrete_distribution_is_per_asset_categorical():
    _, builder, policy = _setup("mlp", "v6")
    obs_batch = _batch(builder, n=8)
    dist, value = policy(obs_batch, builder)
    actions = dist.sample()
    assert actions.shape == (8, 3) and actions.dtype == torch.int64
    assert set(actions.unique().tolist()) <= {0, 1, 2}
    assert value.shape == (8,)
    # Orthogonal init with gain 0.01 on the policy head: nearly uniform over hold/buy/sell.
    torch.testing.assert_close(dist.probs, torch.full((8, 3, 3), 1 / 3), atol=0.02, rtol=0)
    expected = -(dist.probs * dist.probs.log()).sum(dim=(1, 2))
    torch.testing.assert_close(dist.entropy(), expected)
    expected_lp = dist.logits.gather(-1, actions.unsqueeze(-1)).squeeze(-1).sum(-1)
    torch.testing.assert_close(dist.log_prob(actions), expected_lp)
    assert torch.equal(policy.act(obs_batch, builder, deterministic=True), dist.probs.argmax(-1))


def test_weights_distribution_is_diagonal_gaussian():
    _, builder, policy = _setup("transformer", "v7", "weights", init_log_std=-1.0)
    obs_batch = _batch(builder, n=8)
    dist, _ = policy(obs_batch, builder)
    actions = dist.sample()
    assert actions.shape == (8, 4) and actions.dtype == torch.float32
    reference = torch.distributions.Normal(dist.mean, torch.exp(torch.tensor(-1.0)))
    torch.testing.assert_close(dist.log_prob(actions), reference.log_prob(actions).sum(-1))
    torch.testing.assert_close(dist.entropy(), reference.entropy().sum(-1))
    assert torch.equal(policy.act(obs_batch, builder, deterministic=True), dist.mean.detach())


def test_orthogonal_init_gains():
    _, _, policy = _setup("mlp", "v6", hidden_sizes=[32, 32])
    body = policy.body
    hidden = body.pi_trunk[0].weight  # square 32 x 32: orthogonal * sqrt(2)
    torch.testing.assert_close(hidden @ hidden.T, 2.0 * torch.eye(32), atol=1e-4, rtol=0)
    assert torch.linalg.matrix_norm(body.pi_head.weight, ord=2).item() == pytest.approx(0.01)
    assert torch.linalg.matrix_norm(body.vf_head.weight, ord=2).item() == pytest.approx(1.0)
    assert body.pi_head.bias.abs().sum().item() == 0.0


def test_parameter_counts_and_summary():
    _, _, policy = _setup("mlp", "v6", hidden_sizes=[32, 32], asset_dim=4, actor="joint")
    counts = parameter_counts(policy)
    # asset encoder 5*4+4; market_in (3*4)*64+64; portfolio_in 9*64; trunks 2*(32*32+32);
    # heads 32*9+9 and 32+1.
    assert counts["asset_encoder"] == 24
    assert counts["market_in"] == 832
    assert counts["portfolio_in"] == 576
    assert counts["total"] == 24 + 832 + 576 + 2 * 1056 + 297 + 33
    assert counts["total"] == sum(p.numel() for p in policy.parameters())
    assert f"{counts['total']:,} trainable parameters" in parameter_summary(policy)


def test_split_portfolio_follows_the_contract_layout():
    a = 3
    portfolio = torch.arange(2 * a + 3, dtype=torch.float32).unsqueeze(0)
    per_asset, global_state = split_portfolio(portfolio, a)
    assert per_asset.tolist() == [[[1.0, 4.0], [2.0, 5.0], [3.0, 6.0]]]
    assert global_state.tolist() == [[0.0, 7.0, 8.0]]


@pytest.mark.parametrize(
    ("model", "obs", "overrides", "key"),
    [
        ("mlp", "v7", {}, "model.name"),
        ("transformer", "v6", {}, "model.name"),
        ("mlp", "v6", {"hidden_sizes": []}, "model.hidden_sizes"),
        ("mlp", "v6", {"asset_dim": -1}, "model.asset_dim"),
        ("transformer", "v7", {"patch_days": 3}, "model.patch_days"),
        ("transformer", "v7", {"n_heads": 5}, "model.n_heads"),
        ("transformer", "v7", {"d_model": 0}, "model.d_model"),
        ("mlp", "v6", {"name": "lstm"}, "model.name"),
    ],
)
def test_bad_model_config_names_the_key(model, obs, overrides, key):
    with pytest.raises(ConfigError, match=f"^{key}:"):
        _setup(model, obs, **overrides)


def test_unknown_action_mode_names_the_key():
    with pytest.raises(ConfigError, match="^env.action_mode:"):
        _setup("mlp", "v6", "short")


@pytest.mark.parametrize(("model", "obs"), [("mlp", "v6"), ("transformer", "v7")])
def test_market_table_gives_the_same_outputs(model, obs):
    market, builder, policy = _setup(model, obs)
    obs_batch = _batch(builder, n=32, n_days=20)
    with torch.no_grad():
        dist, value = policy(obs_batch, builder)
        days = torch.arange(builder.min_day, market.n_days)
        with policy.market_table(builder, days, chunk=7):
            dist_t, value_t = policy(obs_batch, builder)
    torch.testing.assert_close(value_t, value, atol=1e-6, rtol=1e-6)
    torch.testing.assert_close(dist_t.logits, dist.logits, atol=1e-6, rtol=1e-6)
    assert policy._table is None  # the table lives only inside the block
