"""Actor-critic networks: MLP (v6) and Transformer (v7) over a shared per-day market encoding."""

from ploutos.models.policy import ActorCritic, make_policy, parameter_counts, parameter_summary

__all__ = ["ActorCritic", "make_policy", "parameter_counts", "parameter_summary"]
