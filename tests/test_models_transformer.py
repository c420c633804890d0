"""Transformer body: shared patch embedding and lean layers against the plain computation."""

from __future__ import annotations

import pytest
import torch
from conftest import make_toy_market
from omegaconf import OmegaConf

from ploutos.env.actions import make_action_space
from ploutos.models import make_policy
from ploutos.models.layers import split_portfolio
from ploutos.obs import make_obs_builder
from ploutos.obs.compact import CompactObs

LOOKBACK, PATCH = 20, 5


def _setup(mode: str = "discrete"):
    market = make_toy_market(n_days=120, n_assets=3, n_features=5)
    builder = make_obs_builder(OmegaConf.create({"name": "v7", "lookback": LOOKBACK}), market)
    model_cfg = OmegaConf.load("conf/model/transformer.yaml")
    model_cfg.update({"d_model": 16, "n_heads": 2, "patch_days": PATCH, "head_hidden": 8})
    torch.manual_seed(0)
    space = make_action_space(mode, 3)
    policy = make_policy(OmegaConf.create({"model": model_cfg}), builder, space)
    return market, builder, policy


def _grads(policy, loss: torch.Tensor) -> dict[str, torch.Tensor]:
    policy.zero_grad()
    loss.backward()
    return {n: p.grad.clone() for n, p in policy.named_parameters() if p.grad is not None}


def _days(builder, n: int = 9) -> torch.Tensor:
    # Scattered days: some windows overlap (shared patches), some do not.
    gen = torch.Generator().manual_seed(2)
    return (builder.min_day + torch.randperm(80, generator=gen)[:n]).sort().values


def test_shared_patch_embedding_equals_per_window_embedding_with_gradients():
    _, builder, policy = _setup()
    body, days = policy.body, _days(builder)
    weights = torch.randn(len(days), 3, 8)
    shared = body.encode_days(builder.features_by_asset, days)
    g_shared = _grads(policy, (shared * weights).sum())
    naive = body.encode_market(builder.market_view(days))
    g_naive = _grads(policy, (naive * weights).sum())
    torch.testing.assert_close(shared, naive, atol=1e-5, rtol=1e-5)
    assert g_shared.keys() == g_naive.keys()
    assert g_shared["body.patch_embed.weight"].abs().sum() > 0
    for name in g_shared:
        torch.testing.assert_close(g_shared[name], g_naive[name], atol=1e-5, rtol=1e-5, msg=name)


def test_each_distinct_patch_is_embedded_once():
    _, builder, policy = _setup()
    rows = []
    policy.body.patch_embed.register_forward_hook(lambda m, inp, out: rows.append(inp[0].shape))
    consecutive = torch.arange(builder.min_day, builder.min_day + 10)
    policy.body.encode_days(builder.features_by_asset, consecutive)
    # Patch ends d - 15, d - 10, d - 5, d over 10 consecutive days d: 10 + 15 distinct ends,
    # instead of 10 windows x 4 patches.
    assert rows == [torch.Size([3, 25, PATCH * 5])]


def _plain_forward(policy, builder, obs):
    """The extractor as first written: nn.TransformerEncoder forwards, one join layer."""
    body = policy.body
    view = builder.market_view(obs.day)
    u, lookback, a, _ = view.shape
    patches = view.permute(0, 2, 1, 3).reshape(u * a, lookback // PATCH, -1)
    tokens = body.temporal(body.patch_embed(patches) + body.time_pos)
    assets = body.norm(body.cross(tokens.mean(dim=1).reshape(u, a, -1) + body.asset_pos))
    per_asset, global_state = split_portfolio(obs.portfolio, a)
    joined = torch.cat((assets, per_asset, global_state.unsqueeze(1).expand(-1, a, -1)), dim=-1)
    h = body.join(joined)
    return body.pi_head(h), body.vf(h.mean(dim=1)).squeeze(-1)


@pytest.mark.parametrize("unique_days", [True, False])
def test_lean_layers_and_split_join_equal_the_plain_modules(unique_days):
    _, builder, policy = _setup()
    policy.unique_days = unique_days
    gen = torch.Generator().manual_seed(3)
    n = 24
    day = builder.min_day + torch.randint(0, 6, (n,), generator=gen)
    obs = CompactObs(day, torch.rand((n, builder.portfolio_dim), generator=gen))
    actions = torch.randint(0, 3, (n, 3), generator=gen)
    dist, value = policy(obs, builder)
    g_fast = _grads(policy, dist.log_prob(actions).sum() + value.square().sum())
    logits, value_ref = _plain_forward(policy, builder, obs)
    log_prob = logits.log_softmax(-1).gather(-1, actions.unsqueeze(-1)).sum(dim=(1, 2))
    g_plain = _grads(policy, log_prob.sum() + value_ref.square().sum())
    torch.testing.assert_close(dist.logits, logits.log_softmax(-1), atol=1e-5, rtol=1e-5)
    torch.testing.assert_close(value, value_ref, atol=1e-5, rtol=1e-5)
    assert g_fast.keys() == g_plain.keys()
    for name in g_fast:
        torch.testing.assert_close(g_fast[name], g_plain[name], atol=1e-5, rtol=1e-5, msg=name)
