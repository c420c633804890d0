"""Ploutos: reinforcement-learning trading research on batched torch environments."""

import gymnasium as _gym

__version__ = "0.1.0"

if "Ploutos-v0" not in _gym.registry:
    _gym.register(
        id="Ploutos-v0",
        entry_point="ploutos.apps.gym:make_gym_env",
        vector_entry_point="ploutos.apps.gym:make_gym_vector_env",
    )
