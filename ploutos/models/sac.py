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

    def _mean(self, obs: CompactObs, obs_builder: ObsBuilderLike) -> torch.Tensor:
        return self.body.decide(self.encode_market(obs_builder, obs.day), obs.portfolio)[0]

    def sample(
        self, obs: CompactObs, obs_builder: ObsBuilderLike
    ) -> tuple[torch.Tensor, torch.Tensor]:
        """(squashed logits [N, A + 1], log pi [N]), differentiable (reparameterized)."""
        mean = self._mean(obs, obs_builder)
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
    ) -> torch.Tensor:
        """[2, N]: each critic's Q(s, a); `critics` another pair (the target copies)."""
        joined = torch.cat((obs.portfolio, actions.to(obs.portfolio.dtype)), dim=-1)
        return torch.stack(
            [
                q.body.decide(q.encode_market(obs_builder, obs.day), joined)[1]
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
