"""The Policy contract, and ActorCritic: a shared per-day market encoding joined with each
env's portfolio state.

Every evaluator (backtest, compare, walk-forward, importance, ensembles, paper trading) sees
the `Policy` protocol below. A policy holds weights only: the market it reads comes in with
each call as an observation builder (`ploutos.obs`), passed by whoever runs the policy, so
several policies share one Market and a permuted copy of the market is just another builder.

An observation is compact (day index + portfolio state). ActorCritic renders the market part
only for the distinct days of a batch (torch.unique with return_inverse), encodes each once,
gathers the encodings back per env and joins them with the portfolio state (invariant 5 in
docs/design.md). A body with `encode_days` (the transformer) reads the distinct days straight
from the feature tensor, sharing work between overlapping windows. With `unique_days=False`
it renders and encodes per env instead: the same numbers, kept for tests and for the
benchmark's comparison.
"""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager
from typing import Any, Protocol, runtime_checkable

import torch
from omegaconf import DictConfig
from torch import nn

from ploutos.env.actions import ActionSpace
from ploutos.env.distributions import ActionDist
from ploutos.errors import ConfigError
from ploutos.market import Market
from ploutos.models.mlp import MLPBody
from ploutos.models.per_asset import CONTEXT_POOLS, PerAssetMLPBody
from ploutos.models.transformer import TransformerBody
from ploutos.obs.compact import CompactObs


class ObsBuilderLike(Protocol):
    name: str
    market: Market
    market_shape: tuple[int, ...]
    portfolio_dim: int

    def market_view(self, days: torch.Tensor) -> torch.Tensor: ...


@runtime_checkable
class Policy(Protocol):
    """What every evaluator calls. `obs_builder` renders the market part of `obs`.

    act: actions in the env's format (action_space.shape, action_space.dtype);
    action_probs: per-asset probabilities [N, A, 3] (discrete) or target weights [N, A + 1]
      summing to one (weights) of the deterministic policy;
    value: the state value [N], or None for an algorithm without one.
    """

    action_space: ActionSpace

    def act(
        self, obs: CompactObs, obs_builder: ObsBuilderLike, deterministic: bool = False
    ) -> torch.Tensor: ...

    def action_probs(self, obs: CompactObs, obs_builder: ObsBuilderLike) -> torch.Tensor: ...

    def value(self, obs: CompactObs, obs_builder: ObsBuilderLike) -> torch.Tensor | None: ...


class ActorCritic(nn.Module):
    def __init__(
        self,
        body: MLPBody | PerAssetMLPBody | TransformerBody,
        action_space: ActionSpace,
        unique_days: bool = True,
        init_log_std: float = -0.5,
    ) -> None:
        super().__init__()
        self.body = body
        self.action_space = action_space
        self.n_assets = action_space.n_assets
        self.unique_days = unique_days
        self._table: tuple[int, torch.Tensor] | None = None
        self.log_std = (
            nn.Parameter(torch.full(action_space.shape, float(init_log_std)))
            if action_space.learned_log_std
            else None
        )

    @contextmanager
    def market_table(
        self, obs_builder: ObsBuilderLike, days: torch.Tensor, chunk: int = 512
    ) -> Iterator[None]:
        """Inside the block, encodings come from a table of the consecutive `days`, each
        encoded once up front (no grad). A rollout visits far more (env, step) pairs than its
        split has days, and the parameters do not move during it, so one table serves it all.
        """
        with torch.no_grad():
            table = torch.cat(
                [self.encode_distinct_days(obs_builder, c) for c in days.split(chunk)]
            )
        self._table = (int(days[0]), table)
        try:
            yield
        finally:
            self._table = None

    def encode_distinct_days(self, obs_builder: ObsBuilderLike, days: torch.Tensor) -> torch.Tensor:
        """Market encodings of distinct days [U] -> [U, ...] (the one encoder entry point)."""
        if isinstance(self.body, TransformerBody):
            return self.body.encode_days(obs_builder.features_by_asset, days)
        return self.body.encode_market(obs_builder.market_view(days))

    def encode_market(self, obs_builder: ObsBuilderLike, day: torch.Tensor) -> torch.Tensor:
        """Market encoding per env [N, ...], computed once per distinct day when sharing."""
        if self._table is not None:
            first, table = self._table
            return table.index_select(0, day - first)
        if not self.unique_days:
            return self.body.encode_market(obs_builder.market_view(day))
        days, inverse = torch.unique(day, return_inverse=True)
        # index_select, not [inverse]: same values and gradient, its backward is ~40% cheaper
        # on the CPU (an index_add instead of advanced-indexing's accumulate).
        return self.encode_distinct_days(obs_builder, days).index_select(0, inverse)

    def forward(
        self, obs: CompactObs, obs_builder: ObsBuilderLike
    ) -> tuple[ActionDist, torch.Tensor]:
        params, value = self.body.decide(self.encode_market(obs_builder, obs.day), obs.portfolio)
        return self.action_space.distribution(params, self.log_std), value

    @torch.no_grad()
    def act(
        self, obs: CompactObs, obs_builder: ObsBuilderLike, deterministic: bool = False
    ) -> torch.Tensor:
        """Actions in the env's format: int64 [N, A] (discrete) or float32 [N, A + 1]."""
        dist, _ = self(obs, obs_builder)
        return dist.mode() if deterministic else dist.sample()

    @torch.no_grad()
    def action_probs(self, obs: CompactObs, obs_builder: ObsBuilderLike) -> torch.Tensor:
        dist, _ = self(obs, obs_builder)
        return self.action_space.probabilities(dist)

    def value(self, obs: CompactObs, obs_builder: ObsBuilderLike) -> torch.Tensor:
        return self.body.decide(self.encode_market(obs_builder, obs.day), obs.portfolio)[1]


# Model name -> rank of the market part it reads, and the observation that has that rank.
MODELS = {"mlp": 2, "transformer": 3}
MODEL_OBS = {"mlp": "v6", "transformer": "v7"}
# model.actor of the MLP: one head over all assets (joint) or one head shared by the assets.
MLP_ACTORS = ("joint", "per_asset")


def _positive_int(model_cfg: DictConfig, key: str) -> int:
    value = model_cfg.get(key)
    if not isinstance(value, int) or value < 1:
        raise ConfigError(f"model.{key}", f"must be an integer >= 1, got {value!r}")
    return value


def _require_market_rank(obs_builder: ObsBuilderLike, model: str) -> None:
    shape = tuple(obs_builder.market_shape)
    if len(shape) != MODELS[model]:
        pairs = ", ".join(f"model={m} obs={o}" for m, o in MODEL_OBS.items())
        raise ConfigError(
            "model.name",
            f"model '{model}' does not read obs '{obs_builder.name}' (market shape {shape}); "
            f"pairs that train: {pairs} (leave model= out and the obs picks its model)",
        )


def _non_negative_int(model_cfg: DictConfig, key: str) -> int:
    value = model_cfg.get(key, 0)
    if not isinstance(value, int) or value < 0:
        raise ConfigError(f"model.{key}", f"must be an integer >= 0, got {value!r}")
    return value


def _build_mlp(m: DictConfig, obs_builder: ObsBuilderLike, space: ActionSpace):
    _require_market_rank(obs_builder, "mlp")
    hidden = list(m.get("hidden_sizes") or [])
    if not hidden or any(not isinstance(h, int) or h < 1 for h in hidden):
        raise ConfigError("model.hidden_sizes", f"must be a non-empty list of ints >= 1: {hidden}")
    asset_dim = _non_negative_int(m, "asset_dim")
    _, n_features = obs_builder.market_shape
    actor = m.get("actor", "joint")
    if actor not in MLP_ACTORS:
        raise ConfigError("model.actor", f"must be one of {MLP_ACTORS}, got {actor!r}")
    pool = m.get("context_pool", "mean")  # absent in checkpoints from before the option
    if pool not in CONTEXT_POOLS:
        raise ConfigError("model.context_pool", f"must be one of {CONTEXT_POOLS}, got {pool!r}")
    if actor == "joint":
        if _non_negative_int(m, "context_dim"):
            raise ConfigError("model.context_dim", "is read only by model.actor=per_asset")
        return MLPBody(
            space.n_assets, n_features, obs_builder.portfolio_dim, hidden, asset_dim, space.head_dim
        )
    return PerAssetMLPBody(
        space.n_assets,
        n_features,
        obs_builder.portfolio_dim,
        hidden,
        asset_dim,
        _non_negative_int(m, "context_dim"),
        per_asset_outputs=space.per_asset_outputs,
        cash_output=space.cash_output,
        context_pool=pool,
    )


def _build_transformer(m: DictConfig, obs_builder: ObsBuilderLike, space: ActionSpace):
    _require_market_rank(obs_builder, "transformer")
    lookback, _, n_features = obs_builder.market_shape
    sizes = {
        key: _positive_int(m, key)
        for key in (
            "patch_days",
            "d_model",
            "n_heads",
            "temporal_layers",
            "cross_layers",
            "ff_mult",
            "head_hidden",
        )
    }
    if lookback % sizes["patch_days"]:
        raise ConfigError(
            "model.patch_days",
            f"must divide the lookback window ({lookback} days), got {sizes['patch_days']}",
        )
    if sizes["d_model"] % sizes["n_heads"]:
        raise ConfigError(
            "model.n_heads",
            f"must divide model.d_model ({sizes['d_model']}), got {sizes['n_heads']}",
        )
    return TransformerBody(
        space.n_assets,
        n_features,
        obs_builder.portfolio_dim,
        lookback,
        per_asset_outputs=space.per_asset_outputs,
        cash_output=space.cash_output,
        **sizes,
    )


def make_policy(
    cfg: DictConfig, obs_builder: ObsBuilderLike, action_space: ActionSpace
) -> ActorCritic:
    """Build the actor-critic named by cfg.model (cfg is the root config). The builder gives
    the shapes only; the policy does not keep it."""
    m = cfg.model
    if m.name == "mlp":
        body: MLPBody | PerAssetMLPBody | TransformerBody = _build_mlp(m, obs_builder, action_space)
    elif m.name == "transformer":
        body = _build_transformer(m, obs_builder, action_space)
    else:
        raise ConfigError("model.name", f"must be one of {tuple(MODELS)}, got {m.name!r}")
    return ActorCritic(
        body,
        action_space,
        unique_days=bool(m.get("unique_days", True)),
        init_log_std=float(m.get("init_log_std", -0.5)),
    )


def parameter_counts(policy: ActorCritic) -> dict[str, Any]:
    """Trainable parameters per top-level part of the network, and the total."""
    counts = {
        name: sum(p.numel() for p in child.parameters() if p.requires_grad)
        for name, child in policy.body.named_children()
    }
    counts.update({name: p.numel() for name, p in policy.body.named_parameters(recurse=False)})
    if policy.log_std is not None:
        counts["log_std"] = policy.log_std.numel()
    counts["total"] = sum(p.numel() for p in policy.parameters() if p.requires_grad)
    return counts


def parameter_summary(policy: ActorCritic) -> str:
    """One line per part, for the training app to print at start."""
    counts = parameter_counts(policy)
    total = counts.pop("total")
    kind = {"PerAssetMLPBody": "mlp (per_asset)"}.get(
        type(policy.body).__name__, type(policy.body).__name__.removesuffix("Body").lower()
    )
    lines = [
        f"policy: {kind}, {policy.action_space.name} actions, {total:,} trainable parameters"
    ]
    lines += [f"  {name:<16} {n:>10,}" for name, n in counts.items()]
    return "\n".join(lines)
