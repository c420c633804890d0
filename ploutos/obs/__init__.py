"""Observation builders (v6, v7) and the portfolio state vector."""

from ploutos.obs.builders import ObsBuilder, V6Builder, V7Builder, make_obs_builder
from ploutos.obs.portfolio import fresh_portfolio, portfolio_dim, portfolio_state

__all__ = [
    "ObsBuilder",
    "V6Builder",
    "V7Builder",
    "fresh_portfolio",
    "make_obs_builder",
    "portfolio_dim",
    "portfolio_state",
]
