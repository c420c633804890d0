"""Branching dueling Q-network (Tavakoli et al. 2018, "Action Branching Architectures").

Per-asset HOLD / BUY / SELL over 15 assets is 3^15 joint actions, so the network has one
advantage branch per asset over its 3 sub-actions and one shared state value:

    Q_d(s, a) = V(s) + A_d(s, a) - mean_a' A_d(s, a')

It is the actor-critic network with its outputs read differently: the same bodies (MLP over
v6, transformer over v7), the same per-day market encoding shared across envs (and its
rollout table), the policy head's A x 3 outputs as the branch advantages and the value head
as V. So a checkpoint's weights load into the network `make_policy` builds for the config.

As a `Policy`: act is the greedy action per asset (the deterministic flag changes nothing,
exploration is the learner's business); action_probs is the one-hot of the greedy actions,
the distribution the deployed greedy policy actually follows (an ensemble averaging those
votes counts majority actions); value is the mean over branches of max_a Q_d(s, a).
"""

from __future__ import annotations

import torch

from ploutos.env.types import N_DISCRETE_ACTIONS
from ploutos.models.policy import ActorCritic, ObsBuilderLike
from ploutos.obs.compact import CompactObs


class BranchingQNetwork(ActorCritic):
    def forward(self, obs: CompactObs, obs_builder: ObsBuilderLike) -> torch.Tensor:  # type: ignore[override]
        """Q-values [N, A, 3]."""
        return self.q_from_encoding(self.encode_market(obs_builder, obs.day), obs.portfolio)

    def q_from_encoding(self, market: torch.Tensor, portfolio: torch.Tensor) -> torch.Tensor:
        """Q-values [N, A, 3] from per-env market encodings (encode_market's, or rows of a
        table of them) and portfolio states [N, P]."""
        advantages, value = self.body.decide(market, portfolio)
        advantages = advantages.reshape(-1, self.n_assets, N_DISCRETE_ACTIONS)
        centred = advantages - advantages.mean(dim=-1, keepdim=True)
        return value.unsqueeze(-1).unsqueeze(-1) + centred

    @torch.no_grad()
    def act(
        self, obs: CompactObs, obs_builder: ObsBuilderLike, deterministic: bool = False
    ) -> torch.Tensor:
        return self(obs, obs_builder).argmax(dim=-1)

    @torch.no_grad()
    def action_probs(self, obs: CompactObs, obs_builder: ObsBuilderLike) -> torch.Tensor:
        greedy = self(obs, obs_builder).argmax(dim=-1)
        return torch.nn.functional.one_hot(greedy, N_DISCRETE_ACTIONS).to(torch.float32)

    def value(self, obs: CompactObs, obs_builder: ObsBuilderLike) -> torch.Tensor:
        return self(obs, obs_builder).amax(dim=-1).mean(dim=-1)
