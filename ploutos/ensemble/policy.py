"""Ensemble: a Policy over member policies, combined by one rule of ploutos.ensemble.rules.

Every evaluator calls a Policy with ONE observation builder. Members may read other
observations (a v6 MLP beside a v7 transformer), so the ensemble renders each member's own
observation from the caller's `obs_builder.market`: a member whose obs config matches the
caller's builder reads through that builder itself, any other gets make_obs_builder(its obs
config, the caller's market), one builder per distinct obs config, so members reading the
same observation share it. The builders are cached for the last caller's builder, so a backtest
(one builder for its whole run) builds them once, and a permuted market (permutation
importance passes a new builder over it) gets fresh builders over the permuted features
instead of stale ones over the original market.

`market_table(obs_builder, days)` is ActorCritic's window table for the whole ensemble: every
active member encodes the window's days once up front, and the members reading one builder
render each chunk of days from it once between them (a per-step backtest of one env would
otherwise render and encode every day once per member). Inside the table, v6 MLP members of
one shape decide as one batch (stacked.py): a step costs about one member's dispatch
overhead instead of one per member, with each member's own numbers.

Members are nn.Modules (ActorCritic), held in a ModuleList so eval()/train() reach them.
Members with weight zero (all but the pick of best_val) are not run.
"""

from __future__ import annotations

from collections.abc import Iterator, Sequence
from contextlib import ExitStack, contextmanager
from typing import Any

import torch
from omegaconf import DictConfig
from torch import nn

from ploutos.ensemble.rules import (
    RULES,
    member_weights,
    mixture,
    vote,
    vote_shares,
    weights_to_logits,
)
from ploutos.ensemble.stacked import StackedMembers
from ploutos.errors import ConfigError
from ploutos.models.policy import ObsBuilderLike
from ploutos.obs.builders import make_obs_builder, obs_lookback
from ploutos.obs.compact import CompactObs


def _reads_like(obs_cfg: DictConfig, builder: ObsBuilderLike) -> bool:
    """Whether `builder` renders the observation `obs_cfg` describes."""
    return obs_cfg.get("name") == builder.name and obs_lookback(obs_cfg) == getattr(
        builder, "lookback", 1
    )


def _obs_key(obs_cfg: DictConfig) -> tuple[str, int]:
    return str(obs_cfg.get("name")), obs_lookback(obs_cfg)


class _SharedRendering:
    """A member's view of a builder whose market_view renders each requested set of days once
    for every member reading through it; all else is the builder's own (its market,
    shapes, a v7 builder's features_by_asset copy). Lives for one market table only."""

    def __init__(self, builder: ObsBuilderLike) -> None:
        self._builder = builder
        self._views: dict[tuple[int, ...], torch.Tensor] = {}

    def market_view(self, days: torch.Tensor) -> torch.Tensor:
        key = tuple(days.tolist())
        if key not in self._views:
            self._views[key] = self._builder.market_view(days)
        return self._views[key]

    def __getattr__(self, name: str) -> Any:
        return getattr(self._builder, name)


class Ensemble(nn.Module):
    """members[i] reads observations made from obs_cfgs[i]; weights default to the rule's
    (uniform for vote and mean_probs; best_val and weighted need them from validation)."""

    def __init__(
        self,
        members: Sequence[nn.Module],
        obs_cfgs: Sequence[DictConfig],
        rule: str,
        weights: Sequence[float] | None = None,
        names: Sequence[str] | None = None,
    ) -> None:
        super().__init__()
        if rule not in RULES:
            raise ConfigError("ensemble.name", f"must be one of {RULES}, got {rule!r}")
        if not members or len(members) != len(obs_cfgs):
            raise ValueError("an ensemble needs at least one member and one obs config each")
        space = members[0].action_space
        for m in members[1:]:
            if (m.action_space.name, m.action_space.n_assets) != (space.name, space.n_assets):
                raise ConfigError(
                    "ensemble.members",
                    f"members act in different spaces: {space.name} over {space.n_assets} "
                    f"assets vs {m.action_space.name} over {m.action_space.n_assets}",
                )
        if rule == "vote" and space.name != "discrete":
            raise ConfigError(
                "ensemble.name",
                f"vote needs discrete actions, the members act in '{space.name}'; "
                "use mean_probs (mean target weights) or best_val",
            )
        self.members = nn.ModuleList(members)
        self.obs_cfgs = list(obs_cfgs)
        self.rule = rule
        self.action_space = space
        self.names = (
            list(names) if names is not None else [f"member{i}" for i in range(len(members))]
        )
        if weights is None:
            weights = member_weights(rule, None, self.names)
        if len(weights) != len(members) or min(weights) < 0 or abs(sum(weights) - 1) > 1e-9:
            raise ValueError(f"weights must be {len(members)} non-negative numbers summing to 1")
        self.weights = [float(w) for w in weights]
        # Members that take part: all for vote, those with positive weight otherwise.
        self.active = [i for i, w in enumerate(self.weights) if rule == "vote" or w > 0]
        # The mixing weights as a buffer: built once, moved with the members by .to(device).
        mix = self._normalized([self.weights[i] for i in self.active])
        self.register_buffer(
            "_active_weights", torch.tensor(mix, dtype=torch.float64), persistent=False
        )
        self._builders: tuple[ObsBuilderLike, list[ObsBuilderLike]] | None = None
        self._stacked: StackedMembers | None = None  # inside a market table only

    def member_builders(self, obs_builder: ObsBuilderLike) -> list[ObsBuilderLike]:
        """Each member's builder over obs_builder.market; members with one obs config share
        one builder (and the caller's, where it renders that observation)."""
        if self._builders is None or self._builders[0] is not obs_builder:
            market = obs_builder.market
            by_obs: dict[tuple[str, int], ObsBuilderLike] = {}
            for cfg in self.obs_cfgs:
                if _obs_key(cfg) not in by_obs:
                    reads = _reads_like(cfg, obs_builder)
                    by_obs[_obs_key(cfg)] = obs_builder if reads else make_obs_builder(cfg, market)
            self._builders = (obs_builder, [by_obs[_obs_key(cfg)] for cfg in self.obs_cfgs])
        return self._builders[1]

    @contextmanager
    def market_table(
        self, obs_builder: ObsBuilderLike, days: torch.Tensor, chunk: int = 512
    ) -> Iterator[None]:
        """Inside the block, every active member with a market table (ActorCritic's) reads
        its encodings of the consecutive `days` from it, each day encoded once per member up
        front; members reading one builder share its rendering of every chunk of days, and
        members that can be stacked decide as one batch."""
        builders = self.member_builders(obs_builder)
        shared = {id(b): _SharedRendering(b) for b in builders}
        with ExitStack() as tables:
            for i in self.active:
                table = getattr(self.members[i], "market_table", None)
                if table is not None:
                    tables.enter_context(table(shared[id(builders[i])], days, chunk))
            self._stacked = StackedMembers.build([self.members[i] for i in self.active])
            try:
                yield
            finally:
                self._stacked = None

    def _each(self, method: str, obs: CompactObs, obs_builder: ObsBuilderLike, **kw: Any) -> list:
        builders = self.member_builders(obs_builder)
        return [getattr(self.members[i], method)(obs, builders[i], **kw) for i in self.active]

    @torch.no_grad()
    def act(
        self, obs: CompactObs, obs_builder: ObsBuilderLike, deterministic: bool = False
    ) -> torch.Tensor:
        """vote: plurality of the members' actions (their modes when deterministic, else
        their samples); mean_probs/weighted: the mode of the mixed probabilities (or a sample
        from them), or the mixed target weights as logits; best_val: the picked member."""
        active = self.active
        if self.rule == "best_val" or len(active) == 1:
            (i,) = active[:1]
            return self.members[i].act(obs, self.member_builders(obs_builder)[i], deterministic)
        if self.rule == "vote":
            if deterministic:
                return vote(self._modes(obs, obs_builder))
            return vote(torch.stack(self._each("act", obs, obs_builder, deterministic=False)))
        if self.action_space.name == "discrete":
            probs = self.action_probs(obs, obs_builder)
            if deterministic:
                return probs.argmax(dim=-1)  # a tie goes to the first action, HOLD
            return torch.distributions.Categorical(probs=probs).sample()
        if deterministic:
            return weights_to_logits(self.action_probs(obs, obs_builder))
        sampled = self._each("act", obs, obs_builder, deterministic=False)
        targets = torch.stack([torch.softmax(a, dim=-1) for a in sampled])
        return weights_to_logits(mixture(targets, self._active_weights))

    def _batch(
        self, kind: str, obs: CompactObs, obs_builder: ObsBuilderLike
    ) -> StackedMembers | None:
        """The members' batched decision, where it is open and gives their own numbers."""
        stacked = self._stacked
        if stacked is None:
            return None
        builders = [self.member_builders(obs_builder)[i] for i in self.active]
        return stacked if stacked.usable(kind, obs, builders) else None

    def _modes(self, obs: CompactObs, obs_builder: ObsBuilderLike) -> torch.Tensor:
        """The active members' deterministic actions [M, N, ...]."""
        stacked = self._batch("modes", obs, obs_builder)
        if stacked is not None:
            return stacked.modes(obs.day, obs.portfolio)
        return torch.stack(self._each("act", obs, obs_builder, deterministic=True))

    @staticmethod
    def _normalized(weights: list[float]) -> list[float]:
        total = sum(weights)
        return [w / total for w in weights]

    @torch.no_grad()
    def action_probs(self, obs: CompactObs, obs_builder: ObsBuilderLike) -> torch.Tensor:
        """Mixed probabilities [N, A, 3] or target weights [N, A + 1]; for vote, the share
        of members choosing each action."""
        if self.rule == "vote":
            return vote_shares(self._modes(obs, obs_builder))
        stacked = self._batch("probabilities", obs, obs_builder)
        if stacked is not None:
            outputs = stacked.probabilities(obs.day, obs.portfolio)
        else:
            outputs = torch.stack(self._each("action_probs", obs, obs_builder))
        mixed = mixture(outputs, self._active_weights)
        if self.action_space.name != "discrete":
            mixed = mixed / mixed.sum(dim=-1, keepdim=True)
        return mixed

    @torch.no_grad()
    def value(self, obs: CompactObs, obs_builder: ObsBuilderLike) -> torch.Tensor | None:
        """The members' weighted mean value, or None when a member has no value head."""
        stacked = self._batch("values", obs, obs_builder)
        if stacked is not None:
            return mixture(stacked.values(obs.day, obs.portfolio), self._active_weights)
        values = self._each("value", obs, obs_builder)
        if any(v is None for v in values):
            return None
        return mixture(torch.stack(values), self._active_weights)

    def describe(self) -> dict[str, Any]:
        return {
            "rule": self.rule,
            "members": [
                {"name": n, "weight": w, "obs": str(c.get("name"))}
                for n, w, c in zip(self.names, self.weights, self.obs_cfgs, strict=True)
            ],
        }
