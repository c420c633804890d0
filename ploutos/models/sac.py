"""SAC's networks for target weights: a squashed Gaussian actor and twin Q critics, all on
the actor-critic bodies and their shared per-day market encoding.

Actor: the weights-mode actor-critic body gives the mean of a Gaussian over the A + 1
logits, with a state-independent log std (clamped to [-5, 2]); a sample u is squashed to
logits a = action_scale * tanh(u), which the env's softmax turns into target weights. The
squash keeps the entropy bounded: an unsquashed Gaussian over logits could raise its entropy
forever without changing the weights it trades (the softmax saturates), which fights the
automatic temperature. log pi(a|s) carries the tanh change of variables.

Critics: Q(s, a) is the value head of an actor-critic body whose portfolio input is
[portfolio state | a] (the action joins where the portfolio joins, after the per-day market
encoding); their policy heads are built by the same constructor and unused.

As a `Policy`: act is the squashed mean (deterministic) or a squashed sample; action_probs
is the softmax of the squashed mean (target weights, >= 0, summing to 1); value is
min(Q1, Q2) at the deterministic action.
"""

from __future__ import annotations

import math

import torch
from torch import nn

from ploutos.models.policy import ActorCritic, ObsBuilderLike
from ploutos.obs.compact import CompactObs

LOG_STD_MIN, LOG_STD_MAX = -5.0, 2.0
_LOG_SQRT_2PI = 0.5 * math.log(2.0 * math.pi)


class BatchMarket:
    """The distinct days of one batch of observations and their rendered market part, for
    every network that encodes that batch in one gradient step: torch.unique and the
    feature gather run once per batch, not once per network (SAC encodes a batch's days
    with the actor and four critics). It stands in for the obs builder where
    ActorCritic.encode_distinct_days reads the market, and gives the encoding each network's
    encode_market would.
    """

    def __init__(self, obs_builder: ObsBuilderLike, day: torch.Tensor) -> None:
        self.obs_builder, self.day = obs_builder, day
        self.days, self.inverse = torch.unique(day, return_inverse=True)
        self._view: torch.Tensor | None = None

    @property
    def features_by_asset(self) -> torch.Tensor:
        return self.obs_builder.features_by_asset  # type: ignore[attr-defined]

    def market_view(self, days: torch.Tensor) -> torch.Tensor:
        if days is not self.days:
            raise ValueError("a BatchMarket renders its own distinct days only")
        if self._view is None:
            self._view = self.obs_builder.market_view(days)
        return self._view

    def encode(self, net: ActorCritic) -> torch.Tensor:
        """net's market encoding per observation [N, ...]."""
        if not net.unique_days:
            return net.encode_market(self.obs_builder, self.day)
        # index_select, whose backward (index_add_) costs less than advanced indexing's.
        return net.encode_distinct_days(self, self.days).index_select(0, self.inverse)


def _encode(
    net: ActorCritic, obs: CompactObs, obs_builder: ObsBuilderLike, market: BatchMarket | None
) -> torch.Tensor:
    return net.encode_market(obs_builder, obs.day) if market is None else market.encode(net)


class SquashedGaussianPolicy(ActorCritic):
    """The actor (this module's body and log std) plus the twin critics it is judged by."""

    def __init__(
        self,
        actor: ActorCritic,
        critics: list[ActorCritic],
        action_scale: float,
        init_log_std: float,
    ) -> None:
        super().__init__(actor.body, actor.action_space, actor.unique_days, init_log_std)
        self.critics = nn.ModuleList(critics)
        self.action_scale = float(action_scale)

    def _mean(
        self, obs: CompactObs, obs_builder: ObsBuilderLike, market: BatchMarket | None = None
    ) -> torch.Tensor:
        return self.body.decide(_encode(self, obs, obs_builder, market), obs.portfolio)[0]

    def sample(
        self, obs: CompactObs, obs_builder: ObsBuilderLike, market: BatchMarket | None = None
    ) -> tuple[torch.Tensor, torch.Tensor]:
        """(squashed logits [N, A + 1], log pi [N]), differentiable (reparameterized);
        `market` the batch's shared rendering of obs's days, if any."""
        mean = self._mean(obs, obs_builder, market)
        log_std = self.log_std.clamp(LOG_STD_MIN, LOG_STD_MAX).expand_as(mean)
        noise = torch.randn_like(mean)
        squashed = torch.tanh(mean + log_std.exp() * noise)
        gaussian = -0.5 * noise.square() - log_std - _LOG_SQRT_2PI
        jacobian = torch.log(self.action_scale * (1.0 - squashed.square()) + 1e-6)
        return self.action_scale * squashed, (gaussian - jacobian).sum(dim=-1)

    def deterministic(self, obs: CompactObs, obs_builder: ObsBuilderLike) -> torch.Tensor:
        return self.action_scale * torch.tanh(self._mean(obs, obs_builder))

    def q_values(
        self,
        obs: CompactObs,
        obs_builder: ObsBuilderLike,
        actions: torch.Tensor,
        critics: nn.ModuleList | None = None,
        market: BatchMarket | None = None,
    ) -> torch.Tensor:
        """[2, N]: each critic's Q(s, a); `critics` another pair (the target copies),
        `market` the batch's shared rendering of obs's days, if any."""
        joined = torch.cat((obs.portfolio, actions.to(obs.portfolio.dtype)), dim=-1)
        return torch.stack(
            [
                q.body.decide(_encode(q, obs, obs_builder, market), joined)[1]
                for q in (self.critics if critics is None else critics)
            ]
        )

    @torch.no_grad()
    def act(
        self, obs: CompactObs, obs_builder: ObsBuilderLike, deterministic: bool = False
    ) -> torch.Tensor:
        if deterministic:
            return self.deterministic(obs, obs_builder)
        return self.sample(obs, obs_builder)[0]

    @torch.no_grad()
    def action_probs(self, obs: CompactObs, obs_builder: ObsBuilderLike) -> torch.Tensor:
        return torch.softmax(self.deterministic(obs, obs_builder), dim=-1)

    @torch.no_grad()
    def value(self, obs: CompactObs, obs_builder: ObsBuilderLike) -> torch.Tensor:
        actions = self.deterministic(obs, obs_builder)
        return self.q_values(obs, obs_builder, actions).amin(dim=0)
