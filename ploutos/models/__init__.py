"""Policy networks over a shared per-day market encoding: the actor-critic (MLP for v6,
Transformer for v7), DQN's branching Q-network and SAC's actor with twin critics."""

from ploutos.models.builders import make_policy
from ploutos.models.policy import ActorCritic, parameter_counts, parameter_summary

__all__ = ["ActorCritic", "make_policy", "parameter_counts", "parameter_summary"]
