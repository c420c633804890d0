"""Env steps are the user's clock: events fire when the env-step count crosses a multiple."""

from __future__ import annotations


def crossed(before: int, after: int, every: int) -> bool:
    """True when a multiple of `every` lies in (before, after].

    One PPO iteration advances by n_envs * n_steps env steps, which rarely divides the
    user's frequency; firing on the crossing keeps the count of events right either way.
    """
    return after // every > before // every
